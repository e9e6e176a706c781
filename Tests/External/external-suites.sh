#!/usr/bin/env bash
# Runs the external POSIX suites (pjdfstest, fsx) against FuseActors mounts or any directory. Run as root.
#   Tests/External/external-suites.sh quick      short CI pass: a pjdfstest subset and 20,000 fsx ops (mmap, O_DIRECT)
#                                                on MemoryFs and PassthroughFs (kernel passthrough on)
#   Tests/External/external-suites.sh full       all pjdfstest files and long fsx runs on memfs, passthrough with
#                                                kernel passthrough on, and off
#   Tests/External/external-suites.sh dir PATH   the full suites against an existing directory (no mount)
# Environment overrides (README.md): TARGETS="memfs passthrough passthrough-nokp cluster" (cluster: a one-node
#   cluster filesystem on a fresh SQLite store; not in the default lists),
#   PJD_DIRS="chmod rename" (directories or files under pjdfstest's tests/; "all"; "" = skip pjdfstest),
#   PJD_JOBS=N (pjdfstest files at once, each in its own directory; quick: 4, else 1),
#   FSX_OPS=N, FSX_VARIANTS="plain mmap odirect multi uring" ("" = skip fsx), PJD_TIMEOUT, FSX_TIMEOUT (seconds),
#   PJDFSTEST_FS=NAME (file system name pjdfstest sees; default EXT4 on our mounts, so rename/22.t runs),
#   EXTERNAL_CACHE=DIR (where the suites are built; default ${XDG_CACHE_HOME:-/tmp}/fuseactors-external).
# Prints one summary line per target; exits 1 if anything failed, 2 on bad usage.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
third=$(cd "$repo/.." && pwd)/shared/third-party
cache=${EXTERNAL_CACHE:-${XDG_CACHE_HOME:-/tmp}/fuseactors-external}
cli=$repo/Cli/bin/Release/net10.0/fuseactors

usage() { sed -n '2,/^# Prints/p' "$0" >&2; exit 2; }
exec 3>&2   # progress goes to the original stderr, also from traps that run inside a redirected step
log() { echo "[$(date +%H:%M:%S)] $*" >&3; }

mode=${1:-}
case "$mode" in
  quick)
    : "${PJD_DIRS=chmod chown link mkdir open rename rmdir symlink truncate unlink utimensat}"
    : "${FSX_OPS=20000}" "${FSX_VARIANTS=mmap odirect}" "${TARGETS=memfs passthrough}" "${PJD_JOBS=4}" ;;
  full)
    : "${PJD_DIRS=all}" "${FSX_OPS=50000}" "${FSX_VARIANTS=plain mmap odirect multi uring}"
    : "${TARGETS=memfs passthrough passthrough-nokp}" ;;
  dir)
    [ -n "${2:-}" ] && [ -d "$2" ] || usage
    : "${PJD_DIRS=all}" "${FSX_OPS=50000}" "${FSX_VARIANTS=plain mmap odirect multi uring}"
    TARGETS="dir:$(cd "$2" && pwd)" ;;
  *) usage ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "external-suites: run as root (pjdfstest needs it, mounting needs it)" >&2; exit 1; }

# --- state the EXIT trap cleans up: mounts and processes this script started, by path and pid ---
mounted=()      # mountpoints we mounted
pids=()         # pids of fuseactors hosts we started
children=()     # pids of timeout(1) wrappers running suite steps in the background
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuseactors-external.XXXXXX")

is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

unmount_target() {  # $1 mountpoint, $2 pid of its fuseactors host
  local mnt=$1 pid=$2 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if is_mounted "$mnt"; then
    log "$mnt still mounted after SIGTERM: lazy unmount"
    umount -l "$mnt" 2>/dev/null || true
  fi
  if kill -0 "$pid" 2>/dev/null; then
    log "fuseactors host $pid did not exit: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  local rc=$?
  is_mounted "$mnt" && umount -l "$mnt" 2>/dev/null
  return $rc
}

cleanup() {
  local i p
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null; done   # timeout(1) passes it on to its command
  for p in "${children[@]}"; do wait "$p" 2>/dev/null; done
  children=()
  for i in "${!mounted[@]}"; do unmount_target "${mounted[$i]}" "${pids[$i]}"; done
  mounted=() pids=()
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Runs "timeout SECS COMMAND..." in the background and waits for it, so INT/TERM reach the trap at once
# (timeout(1) runs in its own process group, out of reach of the terminal's Ctrl-C).
bounded() {
  local secs=$1 pid rc; shift
  timeout "$secs" "$@" &
  pid=$!; children+=("$pid")
  wait "$pid"; rc=$?
  drop_child "$pid"
  return $rc
}
drop_child() { local keep=() c; for c in "${children[@]}"; do [ "$c" = "$1" ] || keep+=("$c"); done; children=("${keep[@]}"); }

# --- build the suites once into the cache ---
build() {
  mkdir -p "$cache"
  if [ ! -x "$cache/pjdfstest/pjdfstest" ]; then
    log "building pjdfstest into $cache/pjdfstest"
    rm -rf "$cache/pjdfstest" && tar -xzf "$third/pjdfstest.tar.gz" -C "$cache" || return 1
    # Let PJDFSTEST_FS override the file system name conf derives from df (see README.md: rename/22.t).
    printf '\n# added by FuseActors external-suites.sh\nif [ -n "${PJDFSTEST_FS:-}" ]; then fs="$PJDFSTEST_FS"; fi\n' \
      >> "$cache/pjdfstest/tests/conf"
    ( cd "$cache/pjdfstest" && timeout 600 autoreconf -ifs && timeout 300 ./configure && timeout 300 make pjdfstest ) \
      > "$cache/pjdfstest-build.log" 2>&1 || { echo "pjdfstest build failed, see $cache/pjdfstest-build.log" >&2; return 1; }
  fi
  if [ ! -x "$cache/fsx/fsx" ]; then
    log "building fsx into $cache/fsx"
    timeout 300 "$third/build-fsx.sh" "$cache/fsx" > "$cache/fsx-build.log" 2>&1 \
      || { echo "fsx build failed, see $cache/fsx-build.log" >&2; return 1; }
  fi
}
if ! command -v autoreconf >/dev/null || ! command -v prove >/dev/null; then
  echo "external-suites: needs autoconf, automake and perl (./build.sh deps installs them)" >&2; exit 1
fi
build || exit 1

# --- mount a target: sets $target_dir (where the suites run) ---
mount_target() {  # $1 target name
  local name=$1 src mnt conf out pid i
  mnt=$tmp/$name-mnt; conf=$tmp/$name.conf; out=$tmp/$name.out
  mkdir -p "$mnt"
  echo 'fuseactors.mount.subtype = "fuseactors-external"' > "$conf"
  case "$name" in
    memfs) set -- mount memfs "$mnt" ;;
    passthrough|passthrough-nokp)
      src=$tmp/$name-src; mkdir -p "$src"
      if [ "$name" = passthrough-nokp ]; then echo 'fuseactors.passthrough-fs.kernel-passthrough = off' >> "$conf"; fi
      set -- mount passthrough "$src" "$mnt" ;;
    cluster)
      # A one-node cluster filesystem on a fresh SQLite store (the same code path as three nodes, minus the hops).
      local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      set -- mount cluster "$mnt" --port "$port" --store "sqlite:$tmp/cluster.db" ;;
    dir:*) target_dir=${name#dir:}; return 0 ;;
    *) echo "unknown target $name" >&2; return 1 ;;
  esac
  [ -x "$cli" ] || { echo "no $cli: build it first (dotnet build Cli -c Release)" >&2; return 1; }
  "$cli" "$@" --config "$conf" > "$out" 2> "$tmp/$name.err" &
  pid=$!
  mounted+=("$mnt") pids+=("$pid")
  for i in $(seq 1 900); do   # 90 s for the ready line (a cluster node joins first)
    if grep -q 'mounted at' "$out" 2>/dev/null && is_mounted "$mnt"; then target_dir=$mnt; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "mount of $name failed:" >&2; cat "$out" "$tmp/$name.err" >&2
  return 1
}

unmount_last() {
  local n=$((${#mounted[@]} - 1)) rc
  [ "$n" -ge 0 ] || return 0
  unmount_target "${mounted[$n]}" "${pids[$n]}"; rc=$?
  unset "mounted[$n]" "pids[$n]"
  mounted=("${mounted[@]}") pids=("${pids[@]}")
  return $rc
}

# --- pjdfstest: sets pjd_summary, returns 0 when nothing failed ---
run_pjd() {  # $1 directory to run in
  local work=$1/pjdfstest.$$ logf=$2 args=() d files tests ffiles ftests rc
  if [ "$PJD_DIRS" = all ]; then args=("$cache/pjdfstest/tests")
  else for d in $PJD_DIRS; do args+=("$cache/pjdfstest/tests/$d"); done; fi
  mkdir -p "$work" || { pjd_summary="pjdfstest: cannot create $work"; return 1; }
  # More than one job: each test file runs in its own new directory (pjd-own-dir.sh), so files never share a cwd.
  local jobs=()
  [ "${PJD_JOBS:-1}" -gt 1 ] && jobs=(-j "$PJD_JOBS" --exec "$here/pjd-own-dir.sh")
  bounded "${PJD_TIMEOUT:-3600}" env -C "$work" PJDFSTEST_FS="$pjd_fs" prove "${jobs[@]}" -r "${args[@]}" > "$logf" 2>&1; rc=$?
  rm -rf "$work"
  files=$(sed -nE 's/^Files=([0-9]+), Tests=([0-9]+).*/\1/p' "$logf" | tail -1)
  tests=$(sed -nE 's/^Files=([0-9]+), Tests=([0-9]+).*/\2/p' "$logf" | tail -1)
  # prove's "Test Summary Report" names each file with failures, a non-zero exit or parse errors (and also files
  # whose TODO tests passed, which are no failure): "/…/rename/22.t (Wstat: 0 Tests: 30 Failed: 2)" then
  # "  Failed tests:  4, 8". The detail names each failed file and its failed test numbers: "rename/22.t: 4, 8".
  pjd_failed=$(awk '
    function flush() { if (f != "" && bad) { n++; out = out sep f ": " (why == "" ? "exit status" : why); sep = "; " } }
    /^\/.*\.t +\(Wstat: / { flush(); f = $1; sub(".*/tests/", "", f); why = ""
                           bad = !/Wstat: 0 / || !/Failed: 0\)/; next }
    /^ +Failed tests?: / { sub(/^ +Failed tests?: +/, ""); why = $0 }
    /^ +Parse errors: / { bad = 1; why = why (why == "" ? "" : ", ") "parse errors" }
    /^Files=/ { flush(); f = "" }
    END { printf "%d|%s", n, out }' "$logf")
  ffiles=${pjd_failed%%|*}
  ftests=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$logf" | awk '{ split($2, a, "/"); s += a[1] } END { print s + 0 }')
  if [ -z "$files" ]; then
    pjd_summary="pjdfstest: no summary from prove (exit $rc; 124 = timed out), see $logf"; return 1
  fi
  pjd_summary="pjdfstest: $ffiles/$files files failed, $ftests/$tests tests failed"
  if [ "$ffiles" -gt 0 ] || [ "$rc" -ne 0 ]; then
    pjd_summary+=" [${pjd_failed#*|}]"
    return 1
  fi
  return 0
}

# --- fsx: one variant; sets fsx_line, returns 0 when every process finished A-OK ---
fsx_args() {  # $1 variant
  case "$1" in
    plain)   echo "-R -W" ;;                              # read(2)/write(2) only, no mmap
    mmap)    echo "" ;;                                   # fsx's default: mapped reads and writes too
    odirect) echo "-Z -R -W -r 4096 -w 4096 -t 4096" ;;   # O_DIRECT needs block-aligned offsets and sizes
    multi)   echo "" ;;                                   # three default fsx processes at once, separate files
    uring)   echo "-U -R -W" ;;                           # io_uring reads and writes
  esac
}
run_fsx() {  # $1 dir, $2 variant, $3 log dir
  local dir=$1 v=$2 logd=$3 n=1 i rc=0 ok=0 p
  [ "$v" = multi ] && n=3
  if [ "$v" = uring ] && ! grep -q "with io_uring" "$cache/fsx-build.log"; then fsx_line="$v: skipped (no io_uring)"; return 0; fi
  local mine=()
  for i in $(seq 1 $n); do
    # shellcheck disable=SC2046
    timeout "${FSX_TIMEOUT:-1800}" "$cache/fsx/fsx" $(fsx_args "$v") -N "$FSX_OPS" -S $((i * 7)) -P "$logd" \
      "$dir/fsx-$v-$i" > "$logd/fsx-$v-$i.out" 2>&1 &
    mine+=($!) children+=($!)
  done
  for p in "${mine[@]}"; do wait "$p" || rc=1; drop_child "$p"; done
  for i in $(seq 1 $n); do
    grep -q 'operations completed A-OK' "$logd/fsx-$v-$i.out" && ok=$((ok + 1))
    rm -f "$dir/fsx-$v-$i" "$dir/fsx-$v-$i".*
  done
  if [ $rc -eq 0 ] && [ $ok -eq $n ]; then
    fsx_line="$v: $((n * FSX_OPS)) ops ok"
  else
    fsx_line="$v: FAILED ($ok/$n processes A-OK, see $logd/fsx-$v-*.out)"; rc=1
  fi
  return $rc
}

# --- main: a function, so bash has read all of it before it runs (a script edited while running stays intact) ---
main() {
results=$(mktemp "$cache/results.XXXXXX")
logroot=$cache/logs/$(date +%Y%m%d-%H%M%S)-$mode-$$; mkdir -p "$logroot"
suites_passed=0 suites_failed=0
start=$(date +%s)
for t in $TARGETS; do
  tname=${t#dir:}; [ "$t" = "${t#dir:}" ] || tname=dir
  logd=$logroot/$tname; mkdir -p "$logd"
  log "== $t"
  target_dir=""
  # pjdfstest runs rename/22.t (rename updates ctime) only where df says EXT4, UFS or ZFS; our filesystems do update
  # it, so on our mounts it runs as on ext4 (the name only changes that check on Linux).
  if [ "$t" = "${t#dir:}" ]; then pjd_fs=${PJDFSTEST_FS-EXT4}; else pjd_fs=${PJDFSTEST_FS-}; fi
  if ! mount_target "$t"; then
    echo "$tname: mount FAILED" >> "$results"; suites_failed=$((suites_failed + 1)); continue
  fi
  line="$tname:"
  if [ -n "$PJD_DIRS" ]; then
    log "pjdfstest ($PJD_DIRS) on $target_dir"
    t0=$(date +%s)
    if run_pjd "$target_dir" "$logd/pjdfstest.log"; then suites_passed=$((suites_passed + 1)); else suites_failed=$((suites_failed + 1)); fi
    line+=" $pjd_summary ($(( $(date +%s) - t0 ))s);"
  fi
  fsx_ok=0 fsx_bad=0 parts=()
  for v in $FSX_VARIANTS; do
    log "fsx $v, $FSX_OPS ops"
    t0=$(date +%s)
    if run_fsx "$target_dir" "$v" "$logd"; then fsx_ok=$((fsx_ok + 1)); else fsx_bad=$((fsx_bad + 1)); fi
    parts+=("$fsx_line ($(( $(date +%s) - t0 ))s)")
  done
  if [ -n "$FSX_VARIANTS" ]; then
    if [ $fsx_bad -eq 0 ]; then suites_passed=$((suites_passed + 1)); else suites_failed=$((suites_failed + 1)); fi
    line+=" fsx: $(IFS=,; echo "${parts[*]}" | sed 's/,/, /g')"
  fi
  if [ "${t#dir:}" = "$t" ]; then
    if ! unmount_last; then line+="; unmount: host exited non-zero"; suites_failed=$((suites_failed + 1)); fi
    if grep -q "$tmp/$t-mnt" /proc/mounts; then line+="; mount LEFT BEHIND"; suites_failed=$((suites_failed + 1)); fi
  fi
  echo "$line" | tee -a "$results" >&2
done
echo "== external suites ($mode, $(( $(date +%s) - start ))s, logs in $logroot)"
cat "$results"; rm -f "$results"
echo "external suites: $suites_passed passed, $suites_failed failed"
[ $suites_failed -eq 0 ]
}
main; exit $?
