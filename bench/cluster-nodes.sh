#!/usr/bin/env bash
# Three cluster filesystem nodes on this machine, each its own `fuseactors mount cluster` process, on one store:
#
#   bench/cluster-nodes.sh MNT WORKDIR STORE [CONFIG]
#
# A forms the cluster (mounted at WORKDIR/a), C joins it (WORKDIR/c), then B joins it mounted at MNT, so MNT appears
# only once the other two serve. STORE is sqlite:PATH or postgresql:CONNSTRING; CONFIG a HOCON file for --config.
# Each node's output goes to WORKDIR/{a,b,c}.log (CLUSTER_LOGDIR overrides), its pid to WORKDIR/{a,b,c}.pid.
# Prints "cluster-nodes: mounted at MNT (...)" once all three printed their ready lines, then "cluster-nodes: ready"
# to WORKDIR/ready. On SIGTERM/SIGINT (or when a node exits by itself) stops B, C, then A (SIGTERM, SIGKILL after
# 30 s, lazy unmount if still mounted), prints the nodes' warnings and errors, and exits (0 after a clean stop).
# CLUSTER_DEBUG=1 starts the nodes with --debug (per-request timings in their logs).
set -uo pipefail

[ $# -ge 3 ] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
MNT=$(realpath -m "$1"); WORKDIR=$(realpath -m "$2"); STORE=$3; CONFIG=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
FUSEACTORS=${FUSEACTORS:-$(dirname "$HERE")/Cli/bin/Release/net10.0/fuseactors}
LOGDIR=${CLUSTER_LOGDIR:-$WORKDIR}
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-150}
mkdir -p "$WORKDIR" "$LOGDIR" "$WORKDIR/a" "$WORKDIR/c" "$MNT"
rm -f "$WORKDIR/ready"

declare -A PID MP PORT
MP[a]=$WORKDIR/a; MP[b]=$MNT; MP[c]=$WORKDIR/c
STOPPING=""

say() { echo "cluster-nodes: $*"; }
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_all() {
  local rc=${1:-0} n i
  [ -n "$STOPPING" ] && return
  STOPPING=1
  trap - TERM INT HUP
  for n in b c a; do
    [ -n "${PID[$n]:-}" ] || continue
    kill -0 "${PID[$n]}" 2>/dev/null || continue
    kill -TERM "${PID[$n]}" 2>/dev/null
    for i in $(seq 1 150); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "${PID[$n]}" 2>/dev/null; then
      say "node $n did not exit 30 s after SIGTERM: SIGKILL"; kill -KILL "${PID[$n]}" 2>/dev/null; rc=1
    fi
    wait "${PID[$n]}" 2>/dev/null
    local st=$?
    [ $st -eq 0 ] || [ $st -eq 137 ] || { say "node $n exited with $st"; rc=1; }
  done
  for n in b c a; do
    if is_mounted "${MP[$n]}"; then say "${MP[$n]} still mounted: lazy unmount"; umount -l "${MP[$n]}" 2>/dev/null; fi
  done
  for n in a b c; do
    # A node leaving logs its peers' disassociation (WRN/ERR) and the singleton hand-over: normal, left out here.
    [ -f "$LOGDIR/$n.log" ] && grep -E ' (ERR|FTL|WRN) |Unhandled exception' "$LOGDIR/$n.log" |
      grep -vE 'Association with remote system|ERR Disassociated|OldestChanged in state|EndpointDisassociatedException' |
      head -n 5 | sed "s/^/[$n] /"
  done
  exit "$rc"
}
trap 'stop_all 0' TERM INT HUP

start_node() { # NAME [SEED_PORT]
  local n=$1 args
  PORT[$n]=$(free_port)
  args=(mount cluster "${MP[$n]}" --port "${PORT[$n]}" --store "$STORE")
  [ $# -ge 2 ] && args+=(--seed "127.0.0.1:$2")
  [ -n "$CONFIG" ] && args+=(--config "$CONFIG")
  [ "${CLUSTER_DEBUG:-}" = 1 ] && args+=(--debug)
  "$FUSEACTORS" "${args[@]}" >"$LOGDIR/$n.log" 2>&1 </dev/null &
  PID[$n]=$!
  echo "${PID[$n]}" >"$WORKDIR/$n.pid"
}

wait_ready() { # NAME
  local n=$1 i
  for i in $(seq 1 $((READY_TIMEOUT * 5))); do
    grep -q "mounted at" "$LOGDIR/$n.log" 2>/dev/null && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || { say "node $n exited before it was ready: $(tail -n 3 "$LOGDIR/$n.log" | tr '\n' ' ' | cut -c1-300)"; return 1; }
    sleep 0.2
  done
  say "node $n not ready after $READY_TIMEOUT s"; return 1
}

start_node a;                 wait_ready a || stop_all 1
start_node c "${PORT[a]}";    wait_ready c || stop_all 1
start_node b "${PORT[a]}";    wait_ready b || stop_all 1
say "mounted at $MNT (node b, pid ${PID[b]}; a at ${MP[a]}, pid ${PID[a]}; c at ${MP[c]}, pid ${PID[c]}; store $STORE)"
echo ready >"$WORKDIR/ready"

# Runs until signalled; a node that exits on its own stops the others.
while :; do
  wait -n "${PID[a]}" "${PID[b]}" "${PID[c]}" 2>/dev/null
  [ -n "$STOPPING" ] && break
  for n in a b c; do
    if ! kill -0 "${PID[$n]}" 2>/dev/null; then say "node $n exited by itself: stopping the others"; stop_all 1; fi
  done
done
