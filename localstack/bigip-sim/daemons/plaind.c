/* plaind: a simulated daemon built without the coverage signal handlers (compiled with
 * -DSIMD_PLAIN and -DPLAIND_NAME='"<name>"' by `up --plain-module NAME`).
 * Commands: "echo TEXT", "count", "ping". */
#include "simd.h"

#include <stdio.h>
#include <string.h>

#ifndef PLAIND_NAME
#define PLAIND_NAME "plaind"
#endif

static long served = 0;

static void cmd_echo(const char *args, char *out, size_t outlen) {
    served++;
    snprintf(out, outlen, "%s", args);
}

static void handle(const char *line, char *out, size_t outlen) {
    if (strncmp(line, "echo ", 5) == 0) {
        cmd_echo(line + 5, out, outlen);
    } else if (strcmp(line, "count") == 0) {
        snprintf(out, outlen, "%ld", served);
    } else if (strcmp(line, "ping") == 0) {
        snprintf(out, outlen, "pong");
    } else {
        snprintf(out, outlen, "ERR unknown command");
    }
}

int main(void) { return simd_main(PLAIND_NAME, handle); }
