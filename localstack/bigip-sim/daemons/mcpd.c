/* mcpd: a simulated configuration daemon. Commands: "set K V", "get K", "count", "ping". */
#include "simd.h"

#include <stdio.h>
#include <string.h>

#define SLOTS 64
static char keys[SLOTS][64];
static char vals[SLOTS][128];
static int used;

static void cmd_set(const char *args, char *out, size_t outlen) {
    char k[64], v[128];
    if (sscanf(args, "%63s %127s", k, v) != 2) {
        snprintf(out, outlen, "ERR usage: set K V");
        return;
    }
    for (int i = 0; i < used; i++) {
        if (strcmp(keys[i], k) == 0) {
            snprintf(vals[i], sizeof vals[i], "%s", v);
            snprintf(out, outlen, "updated");
            return;
        }
    }
    if (used == SLOTS) {
        snprintf(out, outlen, "ERR full");
        return;
    }
    snprintf(keys[used], sizeof keys[used], "%s", k);
    snprintf(vals[used], sizeof vals[used], "%s", v);
    used++;
    snprintf(out, outlen, "stored");
}

static void cmd_get(const char *args, char *out, size_t outlen) {
    for (int i = 0; i < used; i++) {
        if (strcmp(keys[i], args) == 0) {
            snprintf(out, outlen, "%s", vals[i]);
            return;
        }
    }
    snprintf(out, outlen, "ERR not found");
}

static void handle(const char *line, char *out, size_t outlen) {
    if (strncmp(line, "set ", 4) == 0) {
        cmd_set(line + 4, out, outlen);
    } else if (strncmp(line, "get ", 4) == 0) {
        cmd_get(line + 4, out, outlen);
    } else if (strcmp(line, "count") == 0) {
        snprintf(out, outlen, "%d", used);
    } else if (strcmp(line, "ping") == 0) {
        snprintf(out, outlen, "pong");
    } else {
        snprintf(out, outlen, "ERR unknown command");
    }
}

int main(void) { return simd_main("mcpd", handle); }
