# shellcheck shell=bash
# Sourced by scripts/test.d/45-console.sh, 60-demo.sh and 70-session-scale.sh: three distinct free loopback
# ports for a private emulator, ccaas-local and a simulator, in moto_port, api_port, sim_port.
# Exits the sourcing script when no three distinct ports are found.

free_port() {
    local p
    # Below the kernel's ephemeral range (32768-60999 by default), so that no outgoing
    # connection's source port can take a port between this check and the bind.
    for p in $(shuf -i 20000-32000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "no free port" >&2; exit 1
}
moto_port="$(free_port)"; api_port="$(free_port)"; sim_port="$(free_port)"
if [ "$moto_port" = "$api_port" ] || [ "$api_port" = "$sim_port" ] || [ "$moto_port" = "$sim_port" ]; then
    echo "FAIL: no three distinct free ports" >&2; exit 1
fi
