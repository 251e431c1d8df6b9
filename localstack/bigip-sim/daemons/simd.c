/* simd: signal thread, pid/port files and the accept loop of a simulated daemon.
 * Built with -DSIMD_PLAIN, it installs no SIGUSR1/SIGUSR2 handler (a daemon built with
 * --coverage but without the coverage handlers: either signal kills it). */
#define _GNU_SOURCE
#include "simd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern void __gcov_dump(void);
extern void __gcov_reset(void);

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    /* Only async-signal-safe work here: hand the signal number to the helper thread. */
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    ssize_t n = write(sig_pipe[1], &b, 1);
    (void)n;
    errno = saved;
}

static void *signal_thread(void *arg) {
    (void)arg;
    for (;;) {
        unsigned char b;
        ssize_t n = read(sig_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1) continue;
        if (b == SIGUSR1) {
            __gcov_dump();
        } else if (b == SIGUSR2) {
            __gcov_reset();
        } else if (b == SIGTERM) {
            exit(0); /* atexit handlers write the .gcda */
        }
    }
    return NULL;
}

static void write_file(const char *dir, const char *name, const char *ext, long value) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { perror(tmp); exit(1); }
    fprintf(f, "%ld\n", value);
    fclose(f);
    rename(tmp, path);
}

int simd_main(const char *name, simd_handler handler) {
    const char *run_dir = getenv("SIM_RUN_DIR");
    if (!run_dir) run_dir = ".";
    if (pipe(sig_pipe) != 0) { perror("pipe"); return 1; }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
#ifndef SIMD_PLAIN
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
#endif
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_t th;
    if (pthread_create(&th, NULL, signal_thread, NULL) != 0) { perror("pthread_create"); return 1; }

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }
    if (listen(fd, 16) != 0) { perror("listen"); return 1; }
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);

    write_file(run_dir, name, "port", ntohs(addr.sin_port));
    write_file(run_dir, name, "pid", (long)getpid());

    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) { if (errno == EINTR) continue; perror("accept"); continue; }
        char line[1024];
        size_t used = 0;
        while (used + 1 < sizeof line) {
            ssize_t n = read(c, line + used, sizeof line - 1 - used);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            used += (size_t)n;
            if (memchr(line, '\n', used)) break;
        }
        line[used] = '\0';
        char *nl = strpbrk(line, "\r\n");
        if (nl) *nl = '\0';
        char out[1024];
        out[0] = '\0';
        handler(line, out, sizeof out);
        size_t olen = strlen(out);
        if (olen + 1 < sizeof out) { out[olen++] = '\n'; }
        ssize_t w = write(c, out, olen);
        (void)w;
        close(c);
    }
}
