/* tmm: a simulated traffic daemon. Commands: "add A B", "route A.B.C.D", "ping". */
#include "simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cmd_add(const char *args, char *out, size_t outlen) {
    long a = 0, b = 0;
    if (sscanf(args, "%ld %ld", &a, &b) != 2) {
        snprintf(out, outlen, "ERR usage: add A B");
        return;
    }
    snprintf(out, outlen, "%ld", a + b);
}

static void cmd_route(const char *args, char *out, size_t outlen) {
    unsigned a, b, c, d;
    if (sscanf(args, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 || c > 255 || d > 255) {
        snprintf(out, outlen, "ERR bad address");
        return;
    }
    if (a == 10 || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168)) {
        snprintf(out, outlen, "internal");
    } else if (a == 127) {
        snprintf(out, outlen, "loopback");
    } else {
        snprintf(out, outlen, "external via gateway");
    }
}

static void handle(const char *line, char *out, size_t outlen) {
    if (strncmp(line, "add ", 4) == 0) {
        cmd_add(line + 4, out, outlen);
    } else if (strncmp(line, "route ", 6) == 0) {
        cmd_route(line + 6, out, outlen);
    } else if (strcmp(line, "ping") == 0) {
        snprintf(out, outlen, "pong");
    } else {
        snprintf(out, outlen, "ERR unknown command");
    }
}

int main(void) { return simd_main("tmm", handle); }
