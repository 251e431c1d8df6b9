# Shared helpers of the BIG-IP simulator scripts (sourced, not run).
SIM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SIM_MODULES=(tmm mcpd)

# The daemons of a sim root, one per line: the instrumented ones, then any --plain-module
# (written by `up` to <root>/etc/modules; the defaults when absent).
sim_modules() {
    if [ -f "$1/etc/modules" ]; then cat "$1/etc/modules"; else printf '%s\n' "${SIM_MODULES[@]}"; fi
}

die() { echo "bigip-sim: $*" >&2; exit 1; }

# The default sim root of a port.
sim_root_for_port() { echo "/tmp/bigip-sim-$1"; }

# Resolves --root/--port into SIM_ROOT (and SIM_PORT when known).
parse_root_args() {
    SIM_ROOT=""; SIM_PORT=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --root) SIM_ROOT="$2"; shift 2 ;;
            --port) SIM_PORT="$2"; shift 2 ;;
            *) REST+=("$1"); shift ;;
        esac
    done
    if [ -z "$SIM_ROOT" ]; then SIM_ROOT="$(sim_root_for_port "${SIM_PORT:-2222}")"; fi
}

# Prints the pids of a process and all its descendants, children first.
descendants() {
    local p c
    p="$1"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$c"; done
    echo "$p"
}

# Stops the sshd of a sim root, with every session it spawned.
stop_sshd() {
    local pid p
    [ -f "$1/run/sshd.pid" ] || return 0
    pid="$(cat "$1/run/sshd.pid")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        for p in $(descendants "$pid"); do kill -TERM "$p" 2>/dev/null || true; done
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        for p in $(descendants "$pid"); do kill -KILL "$p" 2>/dev/null || true; done
    fi
    rm -f "$1/run/sshd.pid"
}

start_sshd() {
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
    /usr/sbin/sshd -f "$1/etc/ssh/sshd_config" -E "$1/log/sshd.log" \
        || die "sshd failed to start; see $1/log/sshd.log"
    local port
    port="$(awk '/^Port /{print $2}' "$1/etc/ssh/sshd_config")"
    # Up to 30 s: a loaded CI machine can be slow to start sshd.
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "sshd does not answer on 127.0.0.1:$port; see $1/log/sshd.log"
}
