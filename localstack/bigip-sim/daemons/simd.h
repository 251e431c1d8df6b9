/* simd: the tiny runtime shared by the simulated BIG-IP daemons.
 *
 * A daemon listens on 127.0.0.1 (an ephemeral port written to $SIM_RUN_DIR/<name>.port),
 * answers one line per connection, and handles:
 *   SIGUSR1 -> __gcov_dump()  (from a helper thread, never inside the signal handler)
 *   SIGUSR2 -> __gcov_reset() (same)
 *   SIGTERM -> exit(0), which writes the counters at exit like a real daemon.
 * Built with -DSIMD_PLAIN, the daemon has no SIGUSR1/SIGUSR2 handler (default action:
 * terminate); only gdb (`call __gcov_dump()`) or SIGTERM makes it write its counters.
 */
#ifndef SIMD_H
#define SIMD_H
#include <stddef.h>

/* Handles one request line; writes a reply (NUL-terminated) into out. */
typedef void (*simd_handler)(const char *line, char *out, size_t outlen);

int simd_main(const char *name, simd_handler handler);

#endif
