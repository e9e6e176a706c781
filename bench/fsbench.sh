#!/usr/bin/env bash
# Filesystem benchmark (issues 4 and 11): mounts a target, runs fio and metadata workloads on it, unmounts, prints
# one line per workload; the driver runs every target and compares ours with go-fuse's and libfuse's peers and the
# host directory.
#
#   bench/fsbench.sh all                    every target, three rounds (FSBENCH_ROUNDS), medians -> bench/results/latest.md
#   bench/fsbench.sh TARGET...              one round of the named targets: host memfs passthrough passthrough-kpt
#                                           passthrough-cached passthrough-kpt-cached gofuse-memfs gofuse-loopback
#                                           gofuse-loopback-kpt libfuse-memfs libfuse-hp libfuse-hp-nopt, the
#                                           FUSE-over-io_uring variants memfs-uring passthrough-uring
#                                           passthrough-kpt-uring passthrough-cached-uring passthrough-kpt-cached-uring
#                                           libfuse-memfs-uring
#                                           libfuse-hp-uring libfuse-hp-nopt-uring, and (not in all: slow) the cluster
#                                           filesystem: cluster cluster-pg (three local nodes on one SQLite file /
#                                           a private PostgreSQL server; the workloads run on node B's mount) and
#                                           cluster-latency cluster-latency-pg (cross-node visibility latency)
#   bench/fsbench.sh custom 'CMD' [NAME]    any mount command; {mnt} and {src} in CMD are replaced by the mountpoint
#                                           and an empty source directory on the backing storage
#   bench/fsbench.sh report RUN_DIR         print a finished run's tables again (RUN_DIR = bench/results/<stamp>)
#
# Environment:
#   FSBENCH_QUICK=1        a quick check that everything runs: 32 MiB fio file, 3 s random reads, 500 files,
#                          200 small files, one round (not comparable with a full run)
#   FSBENCH_ROUNDS         rounds (3 for all, 1 otherwise; even rounds run the targets in reverse order);
#                          FSBENCH_SIZE fio file (256M); FSBENCH_RUNTIME random read seconds (10);
#                          FSBENCH_NFILES metadata files (5000); FSBENCH_NSMALL small files (2000);
#                          FSBENCH_COLD_REPS runs of each cold sequential read per round, the median kept (3; quick 1)
#                          cluster targets default to smaller sizes when only cluster targets run: 64M, 1000 files,
#                          500 small files, 5000 stats (quick: 16M, 200, 100, 500)
#   FSBENCH_WARMUP=0       no untimed warm-up pass before each target's measured phases (see warmup());
#                          FSBENCH_WARMUP_SIZE its fio file (64M, quick 8M)
#   FSBENCH_LAT_N          changes per kind for the cluster-latency targets (200, quick 30)
#   FSBENCH_CONFIG         a HOCON file handed to our daemon with --config (the script's own settings win)
#   FSBENCH_DAEMON_SESSION=own  start every daemon (ours and the peers) in a session of its own (setsid), as a
#                          service runs, instead of in the benchmark's session with the programs it measures: on
#                          this kernel that changes where the scheduler wakes a caller (bench/README.md, sessions)
#   FSBENCH_NO_BUILD=1     measure the fuseactors binary as it is (no dotnet build)
#   FSBENCH_BACKING        ext4 (ext4 on a RAM loop image, the default) or tmpfs
#   FSBENCH_DEBIAN_MIRROR  the Debian mirror for unstable's libfuse source, Go and go-fuse (default: the one
#                          /etc/apt/sources* uses for this release); FSBENCH_GOFUSE=bookworm keeps Debian 12's
#                          go-fuse 2.1 with Go 1.19; FSBENCH_PEERS_REFRESH=1 fetches and builds the peers anew
#                          (otherwise bench/.peers/ caches them)
#   FSBENCH_TIMEOUT        seconds a workload may take before the FUSE connection is aborted (a hung daemon; 150
#                          for fio, 300 for metadata); FSBENCH_OP_TIMEOUT the same for rm/mkdir/sync (60)
# Needs root. Every mount it makes (backing store, FUSE mounts) is unmounted on exit, also on failure or Ctrl-C;
# the fuse module's enable_uring parameter, turned on for the -uring targets, is put back as it was, and so is the
# kernel's free page reporting, held off for the run (see "guest memory" below).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RESULTS=$ROOT/bench/results
BIN=$RESULTS/bin
# Our daemon as a user deploys it: `dotnet publish` for this machine, the mount path precompiled (ReadyToRun: see
# Cli/FuseActors.Cli.csproj), so each daemon does not spend its first workloads in the JIT. Git-ignored.
FUSEACTORS=$ROOT/bench/.fuseactors/fuseactors

QUICK=${FSBENCH_QUICK:-}
[ "$QUICK" = 0 ] && QUICK=""
# The cluster filesystem's metadata runs at hundreds of operations per second and its writes at ~10 MB/s: when only
# cluster targets run, smaller defaults keep a target under ~10 minutes (explicit FSBENCH_* values still win).
unset SIZE NFILES NSMALL STATLAT_N
CLUSTER_ONLY=1
for a in "$@"; do case "$a" in cluster|cluster-pg|cluster-latency|cluster-latency-pg) ;; *) CLUSTER_ONLY="" ;; esac; done
[ $# -gt 0 ] || CLUSTER_ONLY=""
if [ -n "$CLUSTER_ONLY" ]; then
  SIZE=${FSBENCH_SIZE:-${QUICK:+16M}}; SIZE=${SIZE:-64M}
  NFILES=${FSBENCH_NFILES:-${QUICK:+200}}; NFILES=${NFILES:-1000}
  NSMALL=${FSBENCH_NSMALL:-${QUICK:+100}}; NSMALL=${NSMALL:-500}
  STATLAT_N=${QUICK:+500}; STATLAT_N=${STATLAT_N:-5000}
fi
SIZE=${SIZE:-${FSBENCH_SIZE:-${QUICK:+32M}}}; SIZE=${SIZE:-256M}
RUNTIME=${FSBENCH_RUNTIME:-${QUICK:+3}}; RUNTIME=${RUNTIME:-10}
NFILES=${NFILES:-${FSBENCH_NFILES:-${QUICK:+500}}}; NFILES=${NFILES:-5000}
COLD_REPS=${FSBENCH_COLD_REPS:-${QUICK:+1}}; COLD_REPS=${COLD_REPS:-3}
WARMUP_SIZE=${FSBENCH_WARMUP_SIZE:-${QUICK:+8M}}; WARMUP_SIZE=${WARMUP_SIZE:-64M}
NSMALL=${NSMALL:-${FSBENCH_NSMALL:-${QUICK:+200}}}; NSMALL=${NSMALL:-2000}
SMALLSIZE=4096
# readdir lists the metadata directory until ~1 000 000 entries were read (200 rounds of 5000). Five rounds took ~10 ms,
# short enough that the first listing's one-time costs (a managed daemon compiling its READDIR path) decided the result;
# 50 rounds (~25 ms, until session 21) still moved up to 20 % from one listing to the next on one mount (by hand,
# passthrough-cached and passthrough_hp alike), more than the gap the targets look for. The first listing of the
# freshly stat-ed directory (the one that reads the host's, ~5 ms) is still in it.
READDIR_ROUNDS=$(( (1000000 + NFILES - 1) / NFILES )); [ "$READDIR_ROUNDS" -ge 5 ] || READDIR_ROUNDS=5
STATLAT_N=${STATLAT_N:-${QUICK:+2000}}; STATLAT_N=${STATLAT_N:-20000}
LAT_N=${FSBENCH_LAT_N:-${QUICK:+30}}; LAT_N=${LAT_N:-200}
BACKING_KIND=${FSBENCH_BACKING:-ext4}
# In the order of the comparisons: each of ours runs next to the peers its ratios are taken against, and every other
# round runs the list backwards (see the rounds loop), so the machine's drift over a run (a stat's round trip here
# moves between ~10 and ~30 us from one half hour to the next, for every daemon alike) lands on both sides of a ratio
# instead of on whichever side ran later. Until session 24 the peers ran after all of ours, ~10 minutes apart.
ALL_TARGETS=(host memfs libfuse-memfs gofuse-memfs
             passthrough passthrough-cached libfuse-hp-nopt gofuse-loopback
             passthrough-kpt passthrough-kpt-cached libfuse-hp gofuse-loopback-kpt
             memfs-uring libfuse-memfs-uring
             passthrough-uring passthrough-cached-uring libfuse-hp-nopt-uring
             passthrough-kpt-uring passthrough-kpt-cached-uring libfuse-hp-uring)
PEERS=$HERE/.peers   # git-ignored: the private apt state, downloaded packages, libfuse's build, Go and go-fuse
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_PREV=""        # enable_uring's value before the script turned it on (restored after each -uring target)
REPORTING_PARAM=/sys/module/page_reporting/parameters/page_reporting_order
REPORTING_PREV=""    # page_reporting_order before the script held reporting off (restored on exit)
REPORTED_PARAM=/sys/module/page_reporting/parameters/reported_kib   # where the kernel counts what it reported
REPORTING_SAVED=/run/fsbench.page_reporting_order   # the machine's value while a run holds reporting off
TOUCH_FILE=""        # the tmpfs file that touches memory before the first target (removed at once, and on exit)
CLUSTER_TARGETS=(cluster cluster-pg cluster-latency cluster-latency-pg)   # named only: not in all
WORKLOADS=(seqwrite-buffered seqwrite-direct seqread-buffered seqread-direct randread-1job randread-4jobs
           create stat-cold readdir unlink smallfile-write smallfile-read stat-latency peak-rss cpu-data cpu-total)

WORK=""          # scratch dir under /tmp: mountpoints, fifo
BACK=""          # the backing store mountpoint (ext4 on a RAM image, or tmpfs)
IMG=""           # the RAM image file
BACKING_DESC=""
PHASE_PID=""     # the workload process running now
WD_PID=""        # its watchdog
DAEMON_PID=""    # the FUSE daemon of the target being measured
MNT=""           # its mountpoint
CONN=""          # its /sys/fs/fuse/connections id
BROKEN=""        # set when the current target's mount stopped answering
RUN_DIR=""       # bench/results/<stamp>: logs, tsv
TSV=""
NOTES=""
DROP_WARNED=""
MEASURE_PID=""   # the process whose RSS and CPU time are measured (the daemon; node B's for cluster targets)
CLUSTER_WD=""    # a cluster target's helper directory (nodes' pids, A's and C's mountpoints)
STOP_TICKS=100   # 0.2 s ticks stop_daemon waits after SIGTERM (longer for the three-node helper)
PG_PID=""        # the private PostgreSQL server of a -pg cluster target
PG_DIR=""
PG_PORT=""
PG_BIN=""

say() { echo "fsbench: $*" >&2; }
note() { say "$*"; [ -n "$NOTES" ] && echo "- $*" >>"$NOTES"; }

is_mounted() { [ -n "$1" ] && awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

abort_conn() {
  if [ -n "$CONN" ] && [ -e "/sys/fs/fuse/connections/$CONN/abort" ]; then
    echo 1 >"/sys/fs/fuse/connections/$CONN/abort" 2>/dev/null || true
  fi
}

cleanup() {
  local rc=$?
  # A subshell forked a moment before a signal can still run the parent's traps: only the script itself cleans up.
  [ "$BASHPID" = "$MAIN_PID" ] || exit "$rc"
  trap - EXIT INT TERM
  restore_page_reporting
  [ "$rc" -eq 0 ] || say "stopping (exit $rc): unmounting and cleaning up"
  [ -n "$WD_PID" ] && kill -KILL "$WD_PID" 2>/dev/null
  [ -n "$PHASE_PID" ] && kill -KILL "$PHASE_PID" 2>/dev/null
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    for _ in $(seq 1 $((STOP_TICKS / 2))); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then abort_conn; kill -KILL "$DAEMON_PID" 2>/dev/null; fi
    wait "$DAEMON_PID" 2>/dev/null
  fi
  kill_cluster_leftovers
  if is_mounted "$MNT"; then abort_conn; umount -l "$MNT" 2>/dev/null; fi
  pg_stop
  uring_restore
  if is_mounted "$BACK"; then umount -l "$BACK" 2>/dev/null; fi
  [ -n "$IMG" ] && rm -f "$IMG"
  [ -n "${FUSECTL_MOUNTED:-}" ] && umount /sys/fs/fuse/connections 2>/dev/null
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if awk -v w="$WORK/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
      say "something is still mounted under $WORK; leaving it"
    else
      rm -rf --one-file-system "$WORK"
    fi
  fi
  exit "$rc"
}
MAIN_PID=$BASHPID
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kill_cluster_leftovers: after the three-node helper is gone, a node it could not stop (it was killed itself) is
# killed by the pid it wrote, and A's and C's mountpoints are detached.
kill_cluster_leftovers() {
  [ -n "$CLUSTER_WD" ] || return 0
  local n p
  for n in a b c; do
    p=$(cat "$CLUSTER_WD/$n.pid" 2>/dev/null) || continue
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; fi
  done
  for n in a c; do is_mounted "$CLUSTER_WD/$n" && umount -l "$CLUSTER_WD/$n" 2>/dev/null; done
  CLUSTER_WD=""
}

# ---------------------------------------------------------------------------------------------------- postgresql

# pg_start NAME: a private PostgreSQL server (trust authentication on 127.0.0.1 only, a free port, its data and
# socket in a directory on the backing store owned by the postgres user) with a database NAME; sets PG_STORE.
pg_start() {
  local db=$1
  if [ -z "$PG_BIN" ]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/postgres" ]; then
      apt_install postgresql
      PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
    [ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || { note "no PostgreSQL server binaries after installing postgresql"; return 1; }
  fi
  id postgres >/dev/null 2>&1 || { note "there is no postgres user"; return 1; }
  # The postgres user must be able to reach its directory on the backing store: traverse only, no listing.
  chmod o+x "$WORK" "$BACK"
  PG_DIR=$BACK/pg.$db
  mkdir -p "$PG_DIR"; chown postgres:postgres "$PG_DIR"; chmod 700 "$PG_DIR"
  PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  local log=$RUN_DIR/postgres.$db.log
  if ! "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$log" 2>&1; then
    note "initdb failed (see $log)"; return 1
  fi
  "${as[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -p "$PG_PORT" -c listen_addresses=127.0.0.1 >>"$log" 2>&1 &
  PG_PID=$!
  local i
  for i in $(seq 1 150); do
    kill -0 "$PG_PID" 2>/dev/null || { note "postgres exited at start (see $log)"; PG_PID=""; return 1; }
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.2
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { note "postgres not ready after 30 s (see $log)"; return 1; }
  "${as[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db" >>"$log" 2>&1 || { note "createdb failed (see $log)"; return 1; }
  PG_STORE="postgresql:Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=$db"
  say "postgresql $("$PG_BIN/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT (pid $PG_PID, data $PG_DIR/data)"
}

pg_stop() {
  [ -n "$PG_PID" ] || return 0
  if kill -0 "$PG_PID" 2>/dev/null; then
    setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w -t 30 >/dev/null 2>&1
    local i
    for i in $(seq 1 50); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$PG_PID" 2>/dev/null && kill -KILL "$PG_PID" 2>/dev/null
  fi
  wait "$PG_PID" 2>/dev/null
  PG_PID=""
  [ -n "$PG_DIR" ] && rm -rf --one-file-system "$PG_DIR"
  PG_DIR=""
}

# ---------------------------------------------------------------------------------------------------- set-up

apt_install() {
  apt_try "$@" || { say "apt-get install $* failed"; exit 1; }
}

apt_try() { # PACKAGE...: apt_install that returns 1 on failure instead of stopping the script
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  # Someone else's apt may hold the dpkg lock for a while: wait for it rather than fail.
  local lock=(-o DPkg::Lock::Timeout=600)
  apt-get "${lock[@]}" install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get "${lock[@]}" update -qq >/dev/null 2>&1; apt-get "${lock[@]}" install -y -qq "$@" >/dev/null; }
}

ensure_tools() {
  local need=()
  command -v fio >/dev/null || need+=(fio)
  command -v gcc >/dev/null || need+=(gcc)
  command -v python3 >/dev/null || need+=(python3)
  command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  mkdir -p "$BIN"
  # Always rebuilt (a fraction of a second): a checkout does not always leave meta.c newer than an old binary.
  gcc -O2 -Wall -o "$BIN/meta" "$HERE/meta.c" || { say "cannot compile bench/meta.c"; exit 1; }
}

# ---------------------------------------------------------------------------------------------------- peers

# debian_mirror: "URI KEYRING" of the Debian archive this machine's apt uses for its own release (deb822 or
# one-line sources), so that the private configuration below asks the same host for unstable.
debian_mirror() {
  if [ -n "${FSBENCH_DEBIAN_MIRROR:-}" ]; then
    echo "$FSBENCH_DEBIAN_MIRROR /usr/share/keyrings/debian-archive-keyring.gpg"; return
  fi
  python3 - <<'PY'
import glob, re
codename = ""
for line in open("/etc/os-release"):
    if line.startswith("VERSION_CODENAME="): codename = line.split("=", 1)[1].strip().strip('"')
default_key = "/usr/share/keyrings/debian-archive-keyring.gpg"
found = []
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(f).read()):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace(): continue
            k, v = line.split(":", 1); fields[k.strip().lower()] = v.strip()
        if "deb" in fields.get("types", "").split() and codename in fields.get("suites", "").split():
            for uri in fields.get("uris", "").split():
                found.append((uri, fields.get("signed-by", default_key)))
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try: lines = open(f).read().splitlines()
    except OSError: continue
    for line in lines:
        w = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(w) >= 3 and w[0] == "deb" and w[2] == codename: found.append((w[1], default_key))
found = [x for x in found if "security" not in x[0]] or [("http://deb.debian.org/debian", default_key)]
uri, key = found[0]
print(uri.rstrip("/"), key if key.startswith("/") else default_key)
PY
}

# peers_apt: a private apt configuration for Debian unstable (deb and deb-src lines for the mirror this machine
# uses), with its own lists and cache under bench/.peers/apt: the machine's apt setup is neither used for it nor
# changed. Sets PAPT (the apt-get/apt-cache options).
PAPT=()
peers_apt() {
  [ ${#PAPT[@]} -eq 0 ] || return 0
  local d=$PEERS/apt mirror key
  read -r mirror key < <(debian_mirror)
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  printf 'deb [signed-by=%s] %s unstable main\ndeb-src [signed-by=%s] %s unstable main\n' \
    "$key" "$mirror" "$key" "$mirror" >"$d/sources.list"
  local opts=(-o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" -o APT::Sandbox::User=root)
  # Refreshed once a day (unstable moves); a failed refresh keeps the old lists if there are any.
  if [ -n "${FSBENCH_PEERS_REFRESH:-}" ] ||
     [ -z "$(find "$d/lists" -maxdepth 1 -name '*unstable*Sources*' -mmin -1440 2>/dev/null)" ]; then
    say "apt-get update for Debian unstable from $mirror (private configuration in $d)"
    if ! apt-get "${opts[@]}" update >"$RUN_DIR/peers-apt-update.log" 2>&1; then
      if [ -z "$(find "$d/lists" -maxdepth 1 -name '*unstable*Sources*')" ]; then
        note "apt-get update for Debian unstable ($mirror) failed: $(tail -n 2 "$RUN_DIR/peers-apt-update.log" | tr '\n' ' ')"
        return 1
      fi
    fi
  fi
  PAPT=("${opts[@]}")
}

# setup_go: the Go and the go-fuse that the go-fuse peers build with; sets GO_CMD and GOFUSE_DESC. The newest:
# Debian unstable's golang-github-hanwen-go-fuse-dev (it is Go source) with the -dev packages it depends on, and
# the Go that unstable's golang-go depends on, each unpacked with dpkg-deb under bench/.peers/go (nothing is
# installed), built in GOPATH mode (no network). Else (FSBENCH_GOFUSE=bookworm, or unstable's cannot be had):
# Debian 12's go-fuse 2.1 and Go 1.19, installed with apt-get.
GO_CMD=()
GO_TAGS=""
GOFUSE_DESC=""
setup_go() {
  [ ${#GO_CMD[@]} -eq 0 ] || return 0
  local d=$PEERS/go log=$RUN_DIR/peers-go.log
  if [ "${FSBENCH_GOFUSE:-}" != bookworm ] && fetch_unstable_go "$d" >"$log" 2>&1; then
    GO_CMD=(env GO111MODULE=off GOTOOLCHAIN=local GOFLAGS= GOROOT="$d/goroot" GOCACHE="$d/gocache"
            GOPATH="$d/gopath:$d/root/usr/share/gocode" "$d/goroot/bin/go")
    GOFUSE_DESC="go-fuse $(cat "$d/gofuse.version") (Debian unstable), $("$d/goroot/bin/go" version | awk '{ print $3 }')"
    # go-fuse 2.7+ has kernel passthrough: the loopback peer then needs its plain-path wrapper (plain_new.go)
    if grep -q FilePassthroughFder "$d/root/usr/share/gocode/src/github.com/hanwen/go-fuse/fs/api.go"; then
      GO_TAGS=gofuse_passthrough
    fi
    return 0
  fi
  [ "${FSBENCH_GOFUSE:-}" = bookworm ] ||
    note "go-fuse from Debian unstable could not be had (see $log): the go-fuse peers use Debian 12's go-fuse 2.1"
  local need=()
  command -v go >/dev/null || need+=(golang-go)
  [ -d /usr/share/gocode/src/github.com/hanwen/go-fuse ] || need+=(golang-github-hanwen-go-fuse-dev)
  [ ${#need[@]} -eq 0 ] || apt_try "${need[@]}" || return 1
  # go-fuse's Debian package is GOPATH source whose import path ends in /v2: a symlink in a private GOPATH gives
  # it that name.
  local gopath=$RESULTS/gopath
  mkdir -p "$gopath/src/github.com/hanwen/go-fuse"
  ln -sfn /usr/share/gocode/src/github.com/hanwen/go-fuse "$gopath/src/github.com/hanwen/go-fuse/v2"
  GO_CMD=(env GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" GOCACHE="$RESULTS/gocache" go)
  GOFUSE_DESC="go-fuse $(dpkg-query -W -f '${Version}' golang-github-hanwen-go-fuse-dev 2>/dev/null) (Debian 12), $(go version | awk '{ print $3 }')"
  grep -q FilePassthroughFder /usr/share/gocode/src/github.com/hanwen/go-fuse/fs/api.go 2>/dev/null && GO_TAGS=gofuse_passthrough
  return 0
}

fetch_unstable_go() { # DIR
  local d=$1
  [ -z "${FSBENCH_PEERS_REFRESH:-}" ] && [ -f "$d/ready" ] && return 0
  peers_apt || return 1
  rm -rf "$d"; mkdir -p "$d/debs" "$d/root"
  local gopkg deps f
  gopkg=$(apt-cache "${PAPT[@]}" depends golang-go | awk '$1 == "Depends:" && $2 ~ /^golang-1\.[0-9]+-go$/ { print $2; exit }')
  [ -n "$gopkg" ] || { echo "unstable's golang-go depends on no golang-1.N-go"; return 1; }
  (cd "$d/debs" && apt-get "${PAPT[@]}" download golang-github-hanwen-go-fuse-dev "$gopkg" "${gopkg%-go}-src") || return 1
  deps=$(dpkg-deb -f "$d"/debs/golang-github-hanwen-go-fuse-dev_*.deb Depends | tr ',' '\n' | awk '$1 ~ /-dev$/ { print $1 }')
  # shellcheck disable=SC2086
  [ -z "$deps" ] || (cd "$d/debs" && apt-get "${PAPT[@]}" download $deps) || return 1
  for f in "$d"/debs/*.deb; do dpkg-deb -x "$f" "$d/root" || return 1; done
  local ver=${gopkg#golang-}
  ln -sfn "root/usr/lib/go-${ver%-go}" "$d/goroot"
  "$d/goroot/bin/go" version || return 1
  mkdir -p "$d/gopath/src/github.com/hanwen/go-fuse"
  ln -sfn "$d/root/usr/share/gocode/src/github.com/hanwen/go-fuse" "$d/gopath/src/github.com/hanwen/go-fuse/v2"
  dpkg-deb -f "$d"/debs/golang-github-hanwen-go-fuse-dev_*.deb Version >"$d/gofuse.version"
  touch "$d/ready"
}

# build_go_peer NAME: bench/go-peers/NAME -> $BIN/gofuse-NAME, rebuilt when its source or the go-fuse changed
build_go_peer() {
  local name=$1 out=$BIN/gofuse-$1
  # Without a Go and a go-fuse no binary is left to measure under another version's name.
  setup_go || { rm -f "$out" "$out.built-with"; return 1; }
  if [ -x "$out" ] && [ "$(cat "$out.built-with" 2>/dev/null)" = "$GOFUSE_DESC $GO_TAGS" ] &&
     [ -z "$(find "$HERE/go-peers/$name" -newer "$out" -name '*.go')" ]; then return 0; fi
  rm -f "$out" "$out.built-with"
  (cd "$ROOT" && "${GO_CMD[@]}" build -tags "$GO_TAGS" -o "$out" "./bench/go-peers/$name") >"$RUN_DIR/build-gofuse-$name.log" 2>&1 &&
    echo "$GOFUSE_DESC $GO_TAGS" >"$out.built-with"
}

# build_libfuse: libfuse's passthrough_hp and memfs_ll from the source of Debian unstable's fuse3 (apt-get source
# through the private configuration, dpkg-source -x), built with meson and ninja under bench/.peers/libfuse and
# run from there (not installed: the examples find their libfuse3.so through their rpath). FUSE over io_uring is
# built in when meson finds liburing (with IORING_SETUP_SQE128) and libnuma: liburing-dev and libnuma-dev from
# Debian 12. Sets LIBFUSE_DESC.
LIBFUSE=$PEERS/libfuse
LIBFUSE_DESC=""
build_libfuse() {
  [ -n "$LIBFUSE_DESC" ] && return 0
  local d=$LIBFUSE log=$RUN_DIR/build-libfuse.log
  if [ -n "${FSBENCH_PEERS_REFRESH:-}" ] || [ ! -f "$d/ready" ]; then
    local need=()
    command -v meson >/dev/null || need+=(meson)
    command -v ninja >/dev/null || need+=(ninja-build)
    command -v g++ >/dev/null || need+=(g++)
    command -v pkg-config >/dev/null || need+=(pkg-config)
    command -v dpkg-source >/dev/null || need+=(dpkg-dev)
    [ -f /usr/include/liburing.h ] || need+=(liburing-dev)
    [ -f /usr/include/numa.h ] || need+=(libnuma-dev)
    if [ ${#need[@]} -gt 0 ] && ! apt_try "${need[@]}"; then note "installing ${need[*]} failed: no libfuse peers"; return 1; fi
    peers_apt || return 1
    say "building libfuse from Debian unstable's fuse3 source (log: $log)"
    rm -rf "$d"; mkdir -p "$d/src"
    if ! { (cd "$d/src" && apt-get "${PAPT[@]}" source --download-only fuse3) &&
           dpkg-source -x "$d"/src/fuse3_*.dsc "$d/fuse3" &&
           meson setup "$d/build" "$d/fuse3" -Dbuildtype=release -Dexamples=true -Dutils=false -Dtests=false \
             -Denable-io-uring=true -Duseroot=false -Dinitscriptdir= &&
           ninja -C "$d/build" example/memfs_ll example/passthrough_hp; } >"$log" 2>&1; then
      note "building libfuse failed: $(tail -n 3 "$log" | tr '\n' ' ' | cut -c1-300)"; return 1
    fi
    local v uring="not built in (see $log)"
    v=$(awk '$1 == "Version:" { print $2; exit }' "$d"/src/fuse3_*.dsc)
    grep -q '^#define HAVE_URING' "$d/build/fuse_config.h" &&
      uring="built in (liburing $(pkg-config --modversion liburing), libnuma $(pkg-config --modversion numa))"
    echo "libfuse ${v%-*} (Debian unstable's fuse3 $v), io_uring $uring" >"$d/ready"
  fi
  LIBFUSE_DESC=$(cat "$d/ready")
}

# ---------------------------------------------------------------------------------------------------- io_uring

# The fuse module offers FUSE over io_uring (Linux 6.14+) only while its parameter enable_uring is on: a -uring
# target turns it on for its mount and the previous value is put back after it (and by the EXIT trap).
uring_on() { # sets URING_WHY when it cannot
  URING_WHY=""
  [ -e "$URING_PARAM" ] || { URING_WHY="this kernel has no $URING_PARAM (FUSE over io_uring needs Linux 6.14+)"; return 1; }
  [ -n "$URING_PREV" ] || URING_PREV=$(cat "$URING_PARAM")
  [ "$(cat "$URING_PARAM")" = Y ] && return 0
  echo Y >"$URING_PARAM" 2>/dev/null || { URING_WHY="cannot write Y to $URING_PARAM"; return 1; }
}

uring_restore() {
  [ -n "$URING_PREV" ] || return 0
  [ "$(cat "$URING_PARAM" 2>/dev/null)" = "$URING_PREV" ] || echo "$URING_PREV" >"$URING_PARAM" 2>/dev/null
  URING_PREV=""
}

# uring_rings PID: how many io_uring instances the process holds (0: it serves /dev/fuse with read and write)
uring_rings() {
  local n=0 f
  for f in /proc/"$1"/fd/*; do [ "$(readlink "$f" 2>/dev/null)" = "anon_inode:[io_uring]" ] && n=$((n + 1)); done
  echo "$n"
}

# ---------------------------------------------------------------------------------------------------- guest memory

# A VM that reports free memory to its host (free page reporting: virtio-balloon, Firecracker) gives back pages left
# free for a few seconds, and the next use of such a page faults it in from the host again. Measured on this machine:
# writing 2 GiB into tmpfs took 2.4 s of CPU after 12 s idle, 0.75 s when done again at once. Which target met such
# memory first (for its page cache, the loop image's pages) was chance, and the one that did paid several times the
# CPU for its writes: the first target of a run wrote at 214 MiB/s in round 1 and 1 041 in round 2. So for its run the
# benchmark holds reporting off (the highest page_reporting_order the kernel takes, where one above every free block's
# order is accepted) and touches once the memory the targets will use, which then stays the guest's; the parameter is
# put back on exit. Where the kernel has no such parameter, nothing changes.
hold_page_reporting() {
  [ -w "$REPORTING_PARAM" ] || return 0
  local current; current=$(cat "$REPORTING_PARAM")
  # A run killed before it could put the value back (SIGKILL) left the one it found in REPORTING_SAVED: that is the
  # machine's own, not what the parameter holds now.
  if [ -f "$REPORTING_SAVED" ]; then REPORTING_PREV=$(cat "$REPORTING_SAVED"); else REPORTING_PREV=$current; fi
  # -1: no reporting device registered (nothing is reported, and the kernel would not take -1 back).
  [[ $REPORTING_PREV =~ ^[0-9]+$ ]] || { REPORTING_PREV=""; return 0; }
  echo "$REPORTING_PREV" >"$REPORTING_SAVED"
  local v
  for v in $(seq 16 -1 "$REPORTING_PREV"); do
    echo "$v" >"$REPORTING_PARAM" 2>/dev/null && break
  done
  local held top
  held=$(cat "$REPORTING_PARAM")
  # Reporting is off only when no free block can reach that order (mainline caps the parameter at MAX_PAGE_ORDER, a
  # real order: there 4 MiB blocks are still reported).
  top=$(awk '{ if (NF - 5 > m) m = NF - 5 } END { print m + 0 }' /proc/buddyinfo 2>/dev/null)
  local what="free page reporting held off for the run (page_reporting_order $REPORTING_PREV -> $held)"
  if [ "$held" -le "$top" ]; then
    what="free page reporting only narrowed (page_reporting_order $REPORTING_PREV -> $held; free blocks reach order $top)"
    note "free page reporting cannot be held off here (page_reporting_order at most $held, free blocks up to order $top): runs may differ by which target meets memory the host took back"
  else
    REPORTED_START=$(cat "$REPORTED_PARAM" 2>/dev/null)   # checked after the run: nothing should have been reported
  fi
  # Touched through tmpfs and freed at once: the freed pages go to the head of the free lists (pages the host took
  # back wait at their tail), so the targets' allocations take these first. As much as a target's data uses at most
  # (the fio file in the FUSE page cache, the host's, and the image), bounded by a third of what is available.
  local want_mib avail_mib size_bytes touched_mib
  size_bytes=$(bytes_of "$SIZE") || size_bytes=""
  [[ $size_bytes =~ ^[0-9]+$ ]] || size_bytes=$((256 << 20))
  want_mib=$(( 4 * size_bytes / 1048576 + 1024 ))
  avail_mib=$(awk '/^MemAvailable/ { print int($2 / 1024 / 3) }' /proc/meminfo)
  [ "$want_mib" -le "$avail_mib" ] || want_mib=$avail_mib
  TOUCH_FILE=/dev/shm/fsbench.$$.touch
  dd if=/dev/zero of="$TOUCH_FILE" bs=1M count="$want_mib" status=none 2>/dev/null
  touched_mib=$(( $(stat -c %s "$TOUCH_FILE" 2>/dev/null || echo 0) / 1048576 ))
  rm -f "$TOUCH_FILE"; TOUCH_FILE=""
  MEMORY_DESC="$what, ${touched_mib} MiB touched before the first target"
}

restore_page_reporting() {
  [ -n "$TOUCH_FILE" ] && rm -f "$TOUCH_FILE"
  [ -n "$REPORTING_PREV" ] || return 0
  if echo "$REPORTING_PREV" >"$REPORTING_PARAM" 2>/dev/null; then rm -f "$REPORTING_SAVED"
  else say "could not put page_reporting_order back to $REPORTING_PREV (kept in $REPORTING_SAVED for the next run)"; fi
  REPORTING_PREV=""
}

# bytes_of SIZE: fio's size spelling (256M, 1g, 64MiB) in bytes; nothing and 1 when it cannot be read
bytes_of() { numfmt --from=iec "$(echo "$1" | tr a-z A-Z | sed 's/I\{0,1\}B$//')" 2>/dev/null; }

# dotnet_rid: this machine's runtime identifier for dotnet publish (linux-x64, linux-arm64)
dotnet_rid() {
  case "$(uname -m)" in aarch64) echo linux-arm64 ;; *) echo linux-x64 ;; esac
}

build_ours() {
  if [ "${FSBENCH_NO_BUILD:-}" = 1 ] && [ -x "$FUSEACTORS" ]; then return 0; fi
  if ! command -v dotnet >/dev/null; then
    [ -x "$FUSEACTORS" ] && return 0
    say "dotnet is not installed and $FUSEACTORS does not exist"; return 1
  fi
  local publish=(dotnet publish Cli -c Release -r "$(dotnet_rid)" --self-contained false -o "$(dirname "$FUSEACTORS")" -v q -nologo)
  if ! (cd "$ROOT" && "${publish[@]}") >"$RUN_DIR/build-fuseactors.log" 2>&1; then
    if [ -x "$FUSEACTORS" ]; then
      note "${publish[*]} failed (see $RUN_DIR/build-fuseactors.log); measuring the existing binary"
    else
      note "${publish[*]} failed (see $RUN_DIR/build-fuseactors.log)"; return 1
    fi
  fi
}

ensure_fusectl() {
  [ -d /sys/fs/fuse/connections ] || modprobe fuse 2>/dev/null
  if ! awk '$2 == "/sys/fs/fuse/connections" { f = 1 } END { exit !f }' /proc/self/mounts; then
    if mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null; then FUSECTL_MOUNTED=1
    else note "fusectl is not mounted and cannot be: a hung daemon cannot be aborted, only killed"; fi
  fi
}

setup_backing() {
  WORK=$(mktemp -d /tmp/fsbench.XXXXXX)
  mkfifo "$WORK/watchdog"
  BACK=$WORK/back
  mkdir -p "$BACK"
  if [ "$BACKING_KIND" = ext4 ]; then
    IMG=/dev/shm/fsbench.$$.img
    if truncate -s 4G "$IMG" && mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$IMG" 2>/dev/null &&
       mount -o loop "$IMG" "$BACK" 2>/dev/null; then
      BACKING_DESC="ext4 on a 4 GiB loop image in /dev/shm (RAM)"
      return
    fi
    rm -f "$IMG"; IMG=""
    note "loop devices unavailable: falling back to tmpfs for the backing store"
  fi
  mount -t tmpfs -o size=4g fsbench "$BACK" || { say "cannot mount a tmpfs at $BACK"; exit 1; }
  BACKING_DESC="tmpfs (4 GiB)"
}

drop_caches() {
  # Sync only the filesystems under test: a global sync could block on someone else's hung FUSE mount.
  fsop sync -f "$1" || return
  sync -f "$BACK" 2>/dev/null
  if ! echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && [ -z "$DROP_WARNED" ]; then
    DROP_WARNED=1; note "cannot write /proc/sys/vm/drop_caches: 'cold' phases run with warm caches"
  fi
}

# ---------------------------------------------------------------------------------------------------- running

# guard SECONDS CMD...: runs CMD; past SECONDS aborts the FUSE connection (which fails every waiting request)
# and kills CMD, so a hung daemon cannot hang the benchmark.
guard() {
  local secs=$1; shift
  "$@" &
  local p=$!
  PHASE_PID=$p
  (
    trap - EXIT INT TERM
    exec 9<>"$WORK/watchdog"
    if ! read -r -t "$secs" -u 9; then
      echo "$secs" >"$WORK/timedout"
      abort_conn
      kill -KILL "$p" 2>/dev/null
    fi
  ) &
  WD_PID=$!
  wait "$p"
  local rc=$?
  PHASE_PID=""
  kill -KILL "$WD_PID" 2>/dev/null; wait "$WD_PID" 2>/dev/null
  WD_PID=""
  return $rc
}

# fsop CMD...: a housekeeping step on the mount under test (rm, mkdir, sync) that runs only while the target is
# alive, with the same watchdog as the workloads, so that a daemon that stopped answering cannot hang the script.
fsop() { fsop_within "${FSBENCH_OP_TIMEOUT:-60}" "$@"; }

# fsop_within SECONDS CMD...: fsop with its own time limit
fsop_within() {
  local secs=$1; shift
  alive || return 1
  rm -f "$WORK/timedout"
  guard "$secs" "$@" 2>/dev/null && return 0
  if [ -f "$WORK/timedout" ]; then
    rm -f "$WORK/timedout"; BROKEN=hung
    note "$TARGET round $ROUND: '$*' got no answer within $secs s; connection aborted"
  fi
  return 1
}

# record TARGET WORKLOAD VALUE UNIT
record() {
  printf '%-16s %-18s %12s %s\n' "$1" "$2" "$3" "$4"
  printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" "$4" >>"$TSV"
}

alive() {
  [ -z "$BROKEN" ] || return 1
  if [ -n "$DAEMON_PID" ]; then
    kill -0 "$DAEMON_PID" 2>/dev/null || { BROKEN="daemon exited"; note "$TARGET: the daemon exited during the run (see $LOG)"; return 1; }
    is_mounted "$MNT" || { BROKEN="unmounted"; note "$TARGET: the mount disappeared during the run"; return 1; }
  fi
}

# phase_failed WORKLOAD UNIT RC ERRFILE WHAT
phase_failed() {
  local why="exit $3"
  if [ -f "$WORK/timedout" ]; then why="no answer within $(cat "$WORK/timedout") s; connection aborted"; rm -f "$WORK/timedout"; BROKEN=hung; fi
  record "$TARGET" "$1" fail "$2"
  note "$TARGET round $ROUND: $1 failed ($why): $5: $(tail -n 3 "$4" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
}

fio_phase() { # WORKLOAD UNIT FIELD(bw|iops) RW fio-args...
  # FIO_REPS=N (default 1): N runs, the median recorded and the daemon's CPU summed over them; FIO_BEFORE=CMD runs
  # before each run, untimed (a cold-cache phase drops caches before every run).
  local w=$1 unit=$2 field=$3 rw=$4; shift 4
  alive || { record "$TARGET" "$w" fail "$unit"; return; }
  local reps=${FIO_REPS:-1} k cpu=0 ios=0 vals=() v c0 c1 rc json
  local err=$RUN_DIR/$TARGET.r$ROUND.$w.err
  for ((k = 1; k <= reps; k++)); do
    json=$RUN_DIR/$TARGET.r$ROUND.$w.json
    [ "$reps" -gt 1 ] && json=$RUN_DIR/$TARGET.r$ROUND.$w.$k.json
    [ -n "${FIO_BEFORE:-}" ] && $FIO_BEFORE
    c0=$(daemon_cpu)
    guard "${FSBENCH_TIMEOUT:-$FIO_TIMEOUT}" fio --name="$w" --directory="$DIR" --filename=fsbench.dat --size="$SIZE" \
      --ioengine=psync --output-format=json --output="$json" "$@" 2>"$err"
    rc=$?
    c1=$(daemon_cpu)
    if [ $rc -ne 0 ]; then
      # fio's JSON has the jobs' error numbers (a short read is EIO: "full resid")
      python3 -c 'import json, os, sys
d = json.load(open(sys.argv[1]))
print("; ".join("job %s: error %d (%s)" % (j["jobname"], j["error"], os.strerror(j["error"])) for j in d["jobs"] if j.get("error")))' \
        "$json" >>"$err" 2>/dev/null
      phase_failed "$w" "$unit" $rc "$err" "fio $*"; return
    fi
    v=$(python3 - "$json" "$rw" "$field" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
j = d["jobs"][0][sys.argv[2]]
print("%.3f %d" % (j["bw_bytes"] / 1048576.0 if sys.argv[3] == "bw" else j["iops"], j["total_ios"]))
EOF2
) || { phase_failed "$w" "$unit" 1 "$err" "parsing fio's json"; return; }
    vals+=("${v% *}")
    ios=$((ios + ${v#* }))
    [ -n "$c0" ] && [ -n "$c1" ] && cpu=$(awk -v s="$cpu" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", s + b - a }')
  done
  # every run kept for a reader who wants the spread (repeats.tsv: round, target, workload, the runs)
  [ "$reps" -gt 1 ] && printf '%s\t%s\t%s\t%s\n' "$ROUND" "$TARGET" "$w" "${vals[*]}" >>"$RUN_DIR/repeats.tsv"
  # bandwidths with no decimals from 100 up, one below; IOPS whole
  v=$(printf '%s\n' "${vals[@]}" | sort -g | awk -v f="$field" '{ a[NR] = $1 } END {
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf((f == "bw" && m < 100) ? "%.1f" : "%.0f", m) }')
  record "$TARGET" "$w" "$v" "$unit"
  [ -n "$c0" ] && record_cpu "$w" 0 "$cpu" "$ios"
}

# record_cpu WORKLOAD CPU_BEFORE CPU_AFTER OPS: the daemon's CPU time in one phase, for the CPU-per-operation
# table (CPU time is far less disturbed by a busy machine than throughput is)
record_cpu() {
  [ -n "$2" ] && [ -n "$3" ] && [ -n "$4" ] || return 0
  printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$TARGET" "$1" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')" "$4" \
    >>"$RUN_DIR/cpu.tsv"
}

meta_phase() { # WORKLOAD UNIT meta-args...
  local w=$1 unit=$2; shift 2
  alive || { record "$TARGET" "$w" fail "$unit"; return; }
  local out=$RUN_DIR/$TARGET.r$ROUND.$w.out err=$RUN_DIR/$TARGET.r$ROUND.$w.err
  local c0; c0=$(daemon_cpu)
  guard "${FSBENCH_TIMEOUT:-300}" "$BIN/meta" "$@" >"$out" 2>"$err"
  local rc=$?
  local c1; c1=$(daemon_cpu)
  if [ $rc -ne 0 ]; then phase_failed "$w" "$unit" $rc "$err" "meta $*"; return; fi
  record "$TARGET" "$w" "$(awk '{ print $1 }' "$out")" "$unit"
  record_cpu "$w" "$c0" "$c1" "$(awk '{ print $3 }' "$out")"
}

# daemon_cpu: CPU seconds (user + system) the daemon has used so far, empty for the host target
daemon_cpu() {
  local p=${1:-${MEASURE_PID:-$DAEMON_PID}}
  [ -n "$p" ] || return 0
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$p/stat" 2>/dev/null
}

# warmup: before the measured phases, one small untimed pass of every kind of workload on a fresh daemon (unless
# FSBENCH_WARMUP=0), the same for every target: the table compares daemons serving steadily, as fio's ramp_time does.
# Without it a short phase (a readdir of 1 000 000 entries takes ~100 ms) also timed whatever its daemon did the first
# time that path ran: a managed daemon compiling it and then recompiling it hot (the JIT's tiers), and, for every
# daemon alike, the kernel's first dentries, inodes and directory blocks. The first daemon CPU of a mount is not
# hidden by it: cpu-total counts the whole run, the warm-up included.
warmup() {
  [ "${FSBENCH_WARMUP:-1}" = 0 ] && return 0
  [ -n "${cluster:-}" ] && return 0   # run_target's: a cluster's own small sizes already take minutes
  local wd=$DIR/warmup n=$(( NFILES / 5 )) m=$(( NSMALL / 4 )) k=$(( STATLAT_N < 5000 ? STATLAT_N : 5000 ))
  [ "$n" -ge 100 ] || n=100
  [ "$m" -ge 50 ] || m=50
  fsop mkdir -p "$wd/meta" "$wd/small" || return 0
  # Never more than the measured phases' own file.
  local size=$WARMUP_SIZE want have
  want=$(bytes_of "$WARMUP_SIZE"); have=$(bytes_of "$SIZE")
  [[ $want =~ ^[0-9]+$ && $have =~ ^[0-9]+$ ]] && [ "$want" -gt "$have" ] && size=$SIZE
  local fio_limit=${FSBENCH_TIMEOUT:-$FIO_TIMEOUT} meta_limit=${FSBENCH_TIMEOUT:-300}
  local job=(fio --directory="$wd" --filename=warmup.dat --size="$size" --ioengine=psync --output=/dev/null)
  # Each step on its own, with the measured phases' time limits: one that fails (a peer refusing O_DIRECT, say)
  # leaves the others to warm their paths, and the note names it.
  WARM_FAILED=""
  warm_step write "$fio_limit" "${job[@]}" --name=write --rw=write --bs=1M --end_fsync=1
  warm_step write-direct "$fio_limit" "${job[@]}" --name=write-direct --rw=write --bs=1M --direct=1 --end_fsync=1
  drop_caches "$DIR"
  warm_step read "$fio_limit" "${job[@]}" --name=read --rw=read --bs=1M
  warm_step read-direct "$fio_limit" "${job[@]}" --name=read-direct --rw=read --bs=1M --direct=1
  warm_step randread "$fio_limit" "${job[@]}" --name=randread --rw=randread --bs=4k --direct=1 --numjobs=2 \
    --time_based --runtime=1 --norandommap
  warm_step create "$meta_limit" "$BIN/meta" create "$wd/meta" "$n"
  warm_step stat "$meta_limit" "$BIN/meta" stat "$wd/meta" "$n"
  warm_step readdir "$meta_limit" "$BIN/meta" readdir "$wd/meta" 20
  warm_step unlink "$meta_limit" "$BIN/meta" unlink "$wd/meta" "$n"
  warm_step smallw "$meta_limit" "$BIN/meta" smallw "$wd/small" "$m" "$SMALLSIZE"
  warm_step smallr "$meta_limit" "$BIN/meta" smallr "$wd/small" "$m" "$SMALLSIZE"
  warm_step statlat "$meta_limit" "$BIN/meta" statlat "$wd/small/f000000" "$k"
  [ -n "$WARM_FAILED" ] && alive && note "$TARGET round $ROUND: warm-up steps failed:$WARM_FAILED (the measured phases run anyway)"
  fsop rm -rf "$wd"
}

# warm_step NAME SECONDS CMD...: one step of warmup, its output dropped; a failure is added to WARM_FAILED
warm_step() {
  local name=$1 secs=$2; shift 2
  alive || return 0
  fsop_within "$secs" "$@" >/dev/null || WARM_FAILED+=" $name"
}

workloads() {
  local fiofile=$DIR/fsbench.dat
  warmup
  CPU_DATA_START=$(daemon_cpu)
  fsop rm -f "$fiofile"
  fio_phase seqwrite-buffered MiB/s bw write --rw=write --bs=1M --direct=0 --end_fsync=1
  fsop rm -f "$fiofile"
  fio_phase seqwrite-direct MiB/s bw write --rw=write --bs=1M --direct=1 --end_fsync=1
  # The cold sequential reads run three times each, caches dropped before every run, and record the median: one
  # cold read of the backing store (ext4 on a loop device) alone varies up to 5x from run to run here (283 to
  # 1 580 MiB/s on the host, six runs in a row), which one run per round handed to every target's ratio.
  # fio also drops the file's cached pages before it reads (invalidate=1), inside the time it measures: without the
  # drop before the O_DIRECT phase that phase also timed dropping what the buffered one left, which depends on each
  # filesystem's cache policy (memfs keeps its pages across opens, 37 ms for this file here; memfs_ll's are gone).
  FIO_REPS=$COLD_REPS FIO_BEFORE="drop_caches $DIR" fio_phase seqread-buffered MiB/s bw read --rw=read --bs=1M --direct=0
  FIO_REPS=$COLD_REPS FIO_BEFORE="drop_caches $DIR" fio_phase seqread-direct MiB/s bw read --rw=read --bs=1M --direct=1
  fio_phase randread-1job IOPS iops read --rw=randread --bs=4k --direct=1 --time_based --runtime="$RUNTIME" \
    --numjobs=1 --norandommap
  fio_phase randread-4jobs IOPS iops read --rw=randread --bs=4k --direct=1 --time_based --runtime="$RUNTIME" \
    --numjobs=4 --group_reporting --norandommap
  fsop rm -f "$fiofile"

  CPU_DATA_END=$(daemon_cpu)
  local md=$DIR/meta
  fsop mkdir -p "$md"
  meta_phase create ops/s create "$md" $NFILES
  drop_caches "$DIR"
  meta_phase stat-cold ops/s stat "$md" $NFILES
  meta_phase readdir entries/s readdir "$md" $READDIR_ROUNDS
  meta_phase unlink ops/s unlink "$md" $NFILES

  local sd=$DIR/small
  fsop mkdir -p "$sd"
  meta_phase smallfile-write files/s smallw "$sd" $NSMALL $SMALLSIZE
  meta_phase smallfile-read files/s smallr "$sd" $NSMALL $SMALLSIZE
  meta_phase stat-latency "us/stat" statlat "$sd/f000000" $STATLAT_N
  fsop rm -rf "$md" "$sd"
}

# latency_workload: cluster-latency targets: cross-node visibility, changes made on A and polled on B, then on C
latency_workload() {
  local to a=$CLUSTER_WD/a
  for to in b c; do
    alive || { note "$TARGET round $ROUND: latency A -> ${to^^} not measured (${BROKEN})"; continue; }
    local dst=$MNT; [ "$to" = c ] && dst=$CLUSTER_WD/c
    local md=$RUN_DIR/$TARGET.r$ROUND.a-$to.latency.md err=$RUN_DIR/$TARGET.r$ROUND.a-$to.latency.err
    rm -f "$WORK/timedout"
    # 8 kinds × N changes, each wait bounded at 5 s by the script itself; the watchdog only catches a hung mount.
    guard "${FSBENCH_TIMEOUT:-$((LAT_N * 8 / 2 + 600))}" python3 "$HERE/cluster-latency.py" -n "$LAT_N" --timeout 5 \
      --label "$TARGET: A -> ${to^^}" --md "$md" "$a" "$dst" >/dev/null 2>"$err"
    local rc=$?
    if [ $rc -ne 0 ]; then
      local why="exit $rc"
      if [ -f "$WORK/timedout" ]; then why="no answer within $(cat "$WORK/timedout") s; connection aborted"; rm -f "$WORK/timedout"; BROKEN=hung; fi
      note "$TARGET round $ROUND: latency A -> ${to^^} failed ($why): $(tail -n 3 "$err" | tr '\n' ' ' | cut -c1-400)"
      rm -f "$md"
    else
      cat "$md"
    fi
  done
}

# daemon_cmd TARGET SRC MNT -> sets CMD (array); returns 1 when the target cannot be started here
daemon_cmd() {
  local t=$1 src=$2 mnt=$3
  CMD=()
  case "$t" in
    memfs|passthrough|passthrough-kpt|passthrough-cached|passthrough-kpt-cached|memfs-uring|passthrough-uring|\
    passthrough-kpt-uring|passthrough-cached-uring|passthrough-kpt-cached-uring)
      [ -x "$FUSEACTORS" ] || return 1
      local cfg=$RUN_DIR/fuseactors.$t.hocon
      # A subtype of our own: build.sh test treats any "fuseactors" line in /proc/mounts as a leaked test mount.
      # passthrough is the plain path (every read and write through the daemon, comparable with go-fuse's
      # loopback); passthrough-kpt lets the kernel hand opened files' I/O to the host file (FUSE_PASSTHROUGH).
      # The -uring targets serve the connection over FUSE-over-io_uring instead of read/write on /dev/fuse.
      # These lines come after FSBENCH_CONFIG's, so they win.
      { [ -n "${FSBENCH_CONFIG:-}" ] && cat "$FSBENCH_CONFIG"
        echo 'fuseactors.mount.subtype = "fsbench"'
        case "${t%-uring}" in
          passthrough) echo 'fuseactors.passthrough-fs.kernel-passthrough = off' ;;
          passthrough-kpt) echo 'fuseactors.passthrough-fs.kernel-passthrough = on' ;;
          # passthrough_hp's own cache policy (its default unless --nocache), for comparing the two engines rather
          # than two policies: entries, attributes and "no such name" trusted for a day, pages kept across opens,
          # the kernel's writeback cache (which kernel passthrough leaves out, there as here). Only for a SOURCE
          # that nothing but the mount changes, as there.
          passthrough-cached|passthrough-kpt-cached)
            [ "${t%-uring}" = passthrough-cached ] && echo 'fuseactors.passthrough-fs.kernel-passthrough = off'
            [ "${t%-uring}" = passthrough-kpt-cached ] && echo 'fuseactors.passthrough-fs.kernel-passthrough = on'
            echo 'fuseactors.passthrough-fs.keep-kernel-cache = on'
            echo 'fuseactors.connection.writeback-cache = on'
            echo 'fuseactors.connection.entry-timeout = 86400s'
            echo 'fuseactors.connection.attr-timeout = 86400s'
            echo 'fuseactors.connection.negative-timeout = 86400s' ;;
        esac
        [[ $t == *-uring ]] && echo 'fuseactors.connection.transport = io-uring'; } >"$cfg"
      if [ "${t%-uring}" = memfs ]; then CMD=("$FUSEACTORS" mount memfs "$mnt" --config "$cfg")
      else CMD=("$FUSEACTORS" mount passthrough "$src" "$mnt" --config "$cfg"); fi ;;
    cluster|cluster-pg|cluster-latency|cluster-latency-pg)
      [ -x "$FUSEACTORS" ] || return 1
      local cfg=$RUN_DIR/fuseactors.$t.hocon
      { [ -n "${FSBENCH_CONFIG:-}" ] && cat "$FSBENCH_CONFIG"
        echo 'fuseactors.mount.subtype = "fsbench"'; } >"$cfg"
      local store="sqlite:$src/store.db"
      if [[ $t == *-pg ]]; then
        pg_start "fsbench_r$ROUND" || return 1
        store=$PG_STORE
      fi
      CLUSTER_WD=$WORK/cluster.$TARGET.r$ROUND
      mkdir -p "$RUN_DIR/$TARGET.r$ROUND.nodes"
      CMD=(env CLUSTER_LOGDIR="$RUN_DIR/$TARGET.r$ROUND.nodes" FUSEACTORS="$FUSEACTORS"
           bash "$HERE/cluster-nodes.sh" "$mnt" "$CLUSTER_WD" "$store" "$cfg") ;;
    # go-fuse 2.7+ loopback: plain path (gofuse-loopback), or its default as root, kernel passthrough (-kpt)
    gofuse-loopback) [ -x "$BIN/gofuse-loopback" ] || return 1; CMD=("$BIN/gofuse-loopback" "$mnt" "$src") ;;
    gofuse-loopback-kpt)
      [ -x "$BIN/gofuse-loopback" ] || return 1; CMD=("$BIN/gofuse-loopback" -kernel-passthrough "$mnt" "$src") ;;
    gofuse-memfs) [ -x "$BIN/gofuse-memfs" ] || return 1; CMD=("$BIN/gofuse-memfs" "$mnt" "$src/mem-") ;;
    # libfuse's examples as upstream runs them, in the foreground, with allow_other as ours. memfs_ll gets
    # default_permissions (ours and the go-fuse memfs have it; passthrough_hp always adds it itself).
    # passthrough_hp: kernel passthrough unless --nopassthrough, splice, 86400 s entry/attr timeouts (writeback
    # cache on the plain path), libfuse's multi-threaded loop; -o io_uring: FUSE over io_uring (a ring per core).
    libfuse-memfs|libfuse-memfs-uring)
      [ -x "$LIBFUSE/build/example/memfs_ll" ] || return 1
      local o=allow_other,default_permissions
      [[ $t == *-uring ]] && o+=,io_uring
      CMD=("$LIBFUSE/build/example/memfs_ll" -f -o "$o" "$mnt") ;;
    libfuse-hp|libfuse-hp-uring|libfuse-hp-nopt|libfuse-hp-nopt-uring)
      [ -x "$LIBFUSE/build/example/passthrough_hp" ] || return 1
      CMD=("$LIBFUSE/build/example/passthrough_hp" --foreground -o allow_other)
      [[ $t == libfuse-hp-nopt* ]] && CMD+=(--nopassthrough)
      [[ $t == *-uring ]] && CMD+=(-o io_uring)
      CMD+=("$src" "$mnt") ;;
    custom)
      local c=${CUSTOM_CMD//\{mnt\}/$mnt}
      CMD=(bash -c "exec ${c//\{src\}/$src}") ;;
    *) return 1 ;;
  esac
}

na_target() { # TARGET WHY
  local w
  note "$1 round $ROUND: n/a: $2"
  for w in "${WORKLOADS[@]}"; do record "$1" "$w" n/a -; done
}

run_target() { # KIND [NAME]
  local kind=$1
  TARGET=${2:-$1}
  BROKEN=""; DAEMON_PID=""; CONN=""; MNT=""; MEASURE_PID=""; CLUSTER_WD=""; STOP_TICKS=100
  local cluster=""
  FIO_TIMEOUT=$((RUNTIME * 3 + 120))
  # A cluster's writes can run at 1 MB/s on a busy machine: 64 MiB then takes a minute.
  case "$kind" in cluster*) cluster=1; STOP_TICKS=500; FIO_TIMEOUT=600 ;; esac
  LOG=$RUN_DIR/$TARGET.r$ROUND.log
  local src=$BACK/$TARGET.r$ROUND
  mkdir -p "$src"
  if [ "$kind" = host ]; then
    DIR=$src
    workloads
    record "$TARGET" peak-rss - -
    record "$TARGET" cpu-data - -
    record "$TARGET" cpu-total - -
  else
    # A fresh mountpoint for every mount: a mount that could only be detached lazily never gets in the next one's way.
    local mnt=$WORK/mnt.$TARGET.r$ROUND
    mkdir -p "$mnt"
    if ! daemon_cmd "$kind" "$src" "$mnt"; then
      if [ -n "$cluster" ]; then
        na_target "$TARGET" "cannot start $TARGET (no binary, or PostgreSQL: see the notes and the logs in $RUN_DIR)"; pg_stop
      else
        na_target "$TARGET" "no binary for $TARGET (see the build logs in $RUN_DIR)"
      fi
      rm -rf "$src"; return
    fi
    if [[ $kind == *-uring ]]; then
      if ! uring_on; then na_target "$TARGET" "$URING_WHY"; uring_restore; rm -rf "$src"; return; fi
    fi
    MNT=$mnt
    DIR=$MNT
    rm -f "$WORK/timedout"
    # setsid from this background subshell (not a process group leader) does not fork: DAEMON_PID stays the daemon's.
    if [ "${FSBENCH_DAEMON_SESSION:-}" = own ]; then (cd "$ROOT" && exec setsid "${CMD[@]}") >"$LOG" 2>&1 &
    else (cd "$ROOT" && exec "${CMD[@]}") >"$LOG" 2>&1 &
    fi
    DAEMON_PID=$!
    local ok=""
    # Three cluster nodes start one after the other (B last, at MNT): up to 150 s each on a busy machine.
    local ticks=300
    [ -n "$cluster" ] && ticks=4500
    for _ in $(seq 1 $ticks); do
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      if is_mounted "$MNT" && { [ -z "$cluster" ] || [ -f "$CLUSTER_WD/ready" ]; }; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] && [ -n "$cluster" ] && MEASURE_PID=$(cat "$CLUSTER_WD/b.pid" 2>/dev/null)
    local why=""
    if [ -n "$ok" ]; then
      # The connection's fusectl id is the mount's device minor (major 0), read from mountinfo, which never
      # blocks; a stat would wait for INIT, so it runs under the watchdog (abort if INIT is never answered).
      CONN=$(awk -v m="$MNT" '$5 == m { split($3, d, ":"); if (d[1] == 0) print d[2] }' /proc/self/mountinfo | tail -n 1)
      if [ -z "$CONN" ] || [ ! -d "/sys/fs/fuse/connections/$CONN" ]; then
        ok=""; CONN=""; why="mounted, but no fusectl connection found for it"
      elif ! guard 30 stat "$MNT" >/dev/null 2>&1; then
        ok=""; why="mounted, but the root did not answer stat within 30 s (INIT?); connection aborted"; rm -f "$WORK/timedout"
      elif [[ $kind == *-uring ]] && [ "$(uring_rings "$DAEMON_PID")" -eq 0 ]; then
        # INIT has been answered (the stat came back): a daemon that serves FUSE over io_uring holds its rings now.
        ok=""; why="mounted, but FUSE over io_uring is not in effect (the daemon holds no io_uring instance: it serves /dev/fuse)"
        [[ $kind == libfuse-* ]] || why+="; its config asked for fuseactors.connection.transport = io-uring"
      fi
      [ -n "$ok" ] && [[ $kind == *-uring ]] && note "$TARGET round $ROUND: FUSE over io_uring in effect ($(uring_rings "$DAEMON_PID") rings in the daemon)"
    fi
    if [ -z "$ok" ]; then
      if [ -n "$why" ]; then :
      elif kill -0 "$DAEMON_PID" 2>/dev/null; then why="not mounted after $((ticks / 10)) s"
      else wait "$DAEMON_PID"; why="the daemon exited with $? before mounting"; DAEMON_PID=""; fi
      na_target "$TARGET" "$why: $(grep -v '^\s*at ' "$LOG" | head -n 3 | tr '\n' ' ' | cut -c1-300)"
      stop_daemon
      rm -rf "$src"; return
    fi
    if [[ $kind == cluster-latency* ]]; then
      latency_workload
      stop_daemon
      rm -rf --one-file-system "$src"
      return
    fi
    workloads
    local hwm
    hwm=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/${MEASURE_PID:-$DAEMON_PID}/status" 2>/dev/null)
    if [ -n "$cluster" ]; then
      # Only node B's numbers go into the table; A's and C's (A probably holds the namespace entity) in the notes.
      local n p others=""
      for n in a c; do
        p=$(cat "$CLUSTER_WD/$n.pid" 2>/dev/null)
        [ -n "$p" ] || continue
        others+=" node $n: peak RSS $(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$p/status" 2>/dev/null) MiB, CPU $(daemon_cpu "$p") s;"
      done
      note "$TARGET round $ROUND: peak-rss and cpu are node B's (the mount measured);${others%;}"
    fi
    record "$TARGET" peak-rss "${hwm:-fail}" MiB
    # The daemon's CPU time in the fio phases (with kernel passthrough in effect it should be near 0: the kernel
    # reads and writes the host file itself) and over the whole run.
    local total
    total=$(daemon_cpu)
    if [ -n "$CPU_DATA_START" ] && [ -n "$CPU_DATA_END" ]; then
      record "$TARGET" cpu-data "$(awk -v a="$CPU_DATA_START" -v b="$CPU_DATA_END" 'BEGIN { printf "%.2f", b - a }')" "s"
    else record "$TARGET" cpu-data fail s; fi
    record "$TARGET" cpu-total "${total:-fail}" s
    stop_daemon
  fi
  rm -rf --one-file-system "$src"
  fstrim "$BACK" >/dev/null 2>&1 || true
}

stop_daemon() {
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    local i
    for i in $(seq 1 "$STOP_TICKS"); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
      note "$TARGET round $ROUND: the daemon did not exit $((STOP_TICKS / 5)) s after SIGTERM; aborting the connection and killing it"
      abort_conn; umount -l "$MNT" 2>/dev/null; kill -KILL "$DAEMON_PID" 2>/dev/null
    fi
    wait "$DAEMON_PID" 2>/dev/null
    local rc=$?
    # libfuse's examples exit with 1 (the loop returns the signal's number) or die of the SIGTERM itself.
    if [ $rc -ne 0 ] && [ -z "$BROKEN" ] && ! { [[ $TARGET == libfuse-* ]] && { [ $rc -eq 1 ] || [ $rc -eq 143 ]; }; }; then
      note "$TARGET round $ROUND: the daemon exited with $rc after SIGTERM (see $LOG)"
    fi
    DAEMON_PID=""
  fi
  kill_cluster_leftovers
  MEASURE_PID=""
  if is_mounted "$MNT"; then
    note "$TARGET round $ROUND: still mounted after the daemon exited; lazy unmount"
    abort_conn; umount -l "$MNT" 2>/dev/null
  fi
  pg_stop
  uring_restore
  if [[ $TARGET == libfuse-* ]] && [ -s "$LOG" ]; then
    note "$TARGET round $ROUND: the daemon printed: $(head -n 3 "$LOG" | tr '\n' ' ' | cut -c1-300)"
  fi
  if [ -n "$LOG" ] && grep -qE ' (ERR|FTL|WRN) |Unhandled exception' "$LOG" 2>/dev/null; then
    note "$TARGET round $ROUND: daemon log has warnings/errors: $(grep -E ' (ERR|FTL|WRN) |Unhandled exception' "$LOG" | head -n 3 | tr '\n' ' ' | cut -c1-400)"
  fi
  CONN=""; MNT=""
}

# ---------------------------------------------------------------------------------------------------- report

report() { # RUN_DIR: renders RUN_DIR/results.tsv and RUN_DIR/run.env into RUN_DIR/table.md
  python3 - "$1" "${WORKLOADS[@]}" <<'EOF'
import sys, statistics, os, platform, shlex
run_dir = sys.argv[1]
workloads = sys.argv[2:]
tsv, out, notes = (os.path.join(run_dir, f) for f in ("results.tsv", "table.md", "notes.md"))
env = {}
for line in open(os.path.join(run_dir, "run.env")):
    k, _, v = line.rstrip("\n").partition("=")
    env[k] = shlex.split(v)[0] if v else ""
order = ["host", "memfs", "passthrough", "passthrough-kpt", "passthrough-cached", "passthrough-kpt-cached", "gofuse-memfs",
         "gofuse-loopback", "gofuse-loopback-kpt", "memfs-uring", "passthrough-uring", "passthrough-kpt-uring",
         "passthrough-cached-uring", "passthrough-kpt-cached-uring", "libfuse-memfs", "libfuse-hp-nopt", "libfuse-hp",
         "libfuse-memfs-uring", "libfuse-hp-nopt-uring", "libfuse-hp-uring", "cluster", "cluster-pg"]
# Ours against libfuse 3.18's examples, each pair on the same transport (read/write on /dev/fuse, or io_uring).
# passthrough_hp trusts what it cached for a day (and its plain path runs the writeback cache): the targets check ours
# under that same policy (the -cached targets); the default-policy pairs are in the table for reference.
LIBFUSE_PAIRS = [("memfs", "libfuse-memfs"), ("passthrough", "libfuse-hp-nopt"), ("passthrough-cached", "libfuse-hp-nopt"),
                 ("passthrough-kpt", "libfuse-hp"), ("passthrough-kpt-cached", "libfuse-hp"),
                 ("memfs-uring", "libfuse-memfs-uring"), ("passthrough-uring", "libfuse-hp-nopt-uring"),
                 ("passthrough-cached-uring", "libfuse-hp-nopt-uring"), ("passthrough-kpt-uring", "libfuse-hp-uring"),
                 ("passthrough-kpt-cached-uring", "libfuse-hp-uring")]
LIBFUSE_CHECKED = [(o, p) for o, p in LIBFUSE_PAIRS
                   if o not in ("passthrough", "passthrough-uring", "passthrough-kpt", "passthrough-kpt-uring")]
vals, units, targets, by_round = {}, {}, [], {}
for line in open(tsv):
    r, t, w, v, u = line.rstrip("\n").split("\t")
    if t not in targets: targets.append(t)
    vals.setdefault((t, w), []).append(v)
    by_round.setdefault((t, w), {})[r] = v
    if u != "-": units[w] = u
targets.sort(key=lambda t: order.index(t) if t in order else len(order))
def num(x):
    try: return float(x)
    except ValueError: return None
def med(t, w):
    xs = [num(x) for x in vals.get((t, w), [])]
    ok = [x for x in xs if x is not None]
    if ok: return statistics.median(ok), len(ok) < len(xs)
    raw = vals.get((t, w))
    return (raw[0] if raw else None), False
def fmt(x):
    if x is None: return ""
    if isinstance(x, str): return x
    if x >= 100: return "{:,.0f}".format(x).replace(",", " ")
    return "%.1f" % x if x >= 10 else "%.2f" % x
lower_better = {"stat-latency", "peak-rss", "cpu-data", "cpu-total"}
L = []
L.append("date: %s · machine: %s vCPU (%s), %s RAM, kernel %s · backing: %s"
         % (env["DATE"], env["NPROC"], env["CPU"], env["RAM"], env["KERNEL"], env["BACKING"]))
L.append(("%s round(s), medians · fio file %s, random reads %s s · %s files (metadata), %s × 4 KiB (small files)"
          % (env["ROUNDS"], env["SIZE"], env["RUNTIME"], env["NFILES"], env["NSMALL"]) if targets else
          "%s round(s)" % env["ROUNDS"])
         + (" · QUICK MODE: reduced sizes, not comparable with full runs" if env.get("QUICK") else ""))
L.append("load average (1 min) at start %s, at end %s (above %s means other work shared the CPUs)"
         % (env["LOAD_START"], env["LOAD_END"], env["NPROC"]))
if env.get("PEERS"): L.append("peers: " + env["PEERS"])
if env.get("MEMORY"): L.append("memory: " + env["MEMORY"])
if env.get("SESSION") == "own": L.append("daemons: each in a session of its own (setsid), apart from the programs measured")
# Two tables when the libfuse and io_uring targets ran with the others: 15 columns do not read well.
second = [t for t in targets if t.startswith("libfuse-") or t.endswith("-uring")]
groups = [g for g in ([t for t in targets if t not in second], second) if g]
for g in groups:
    L.append("")
    L.append("| workload | unit | " + " | ".join(g) + " |")
    L.append("|---|---|" + "---|" * len(g))
    for w in workloads:
        cells = []
        for t in g:
            v, partial = med(t, w)
            cells.append(fmt(v) + (" (1 failed round)" if partial else ""))
        L.append("| %s | %s | %s |" % (w, units.get(w, ""), " | ".join(cells)))
pairs = [(o, p) for o, p in (("memfs", "gofuse-memfs"), ("memfs", "host"), ("passthrough", "gofuse-loopback"),
                              ("passthrough", "host"), ("passthrough-kpt", "host"),
                              ("passthrough-kpt", "gofuse-loopback-kpt"))
         if o in targets and p in targets]
def ratio(o, p, w):
    """ours/theirs for throughput, theirs/ours for stat latency (above 1 is better for ours); None when missing."""
    a, _ = med(o, w); b, _ = med(p, w)
    if not isinstance(a, float) or not isinstance(b, float) or a == 0 or b == 0: return None
    return (b / a) if w == "stat-latency" else (a / b)
def round_ratios(o, p, w):
    """The ratio in each round where both sides have a number: in all, a pair runs next to each other every round."""
    a, b = by_round.get((o, w), {}), by_round.get((p, w), {})
    xs = [(num(a[r]), num(b[r])) for r in a if r in b]
    return sorted((y / x if w == "stat-latency" else x / y) for x, y in xs if x and y)
def spread(o, p, w):
    rs = round_ratios(o, p, w)
    return " (rounds %.2f-%.2f)" % (rs[0], rs[-1]) if len(rs) > 1 else ""
ratio_workloads = [w for w in workloads if w not in ("peak-rss", "cpu-data", "cpu-total")]
lpairs = [(o, p) for o, p in LIBFUSE_PAIRS if o in targets and p in targets]
for title, ps in (("Ours as a ratio (above 1 is better for ours: throughput ours/theirs, stat latency theirs/ours):", pairs),
                  ("Ours against libfuse, same transport on both sides (above 1 is better for ours):", lpairs)):
    if not ps: continue
    L.append("")
    L.append(title)
    L.append("")
    L.append("| workload | " + " | ".join("%s / %s" % p for p in ps) + " |")
    L.append("|---|" + "---|" * len(ps))
    for w in ratio_workloads:
        cells = []
        for o, p in ps:
            r = ratio(o, p, w)
            if r is None:
                a, _ = med(o, w); b, _ = med(p, w)
                cells.append("n/a" if a in (None, "n/a") or b in (None, "n/a") else "–")
            else:
                cells.append("%.2f×" % r)
        L.append("| %s | %s |" % (w, " | ".join(cells)))
# Daemon CPU per operation: CPU time is much less disturbed by other work on the machine than throughput is.
cpu_path = os.path.join(run_dir, "cpu.tsv")
per = {}
if os.path.exists(cpu_path) and os.path.getsize(cpu_path):
    for line in open(cpu_path):
        r, t, w, c, n = line.rstrip("\n").split("\t")
        if float(n) > 0: per.setdefault((t, w), []).append(float(c) / float(n) * 1e6)
    per_unit = {"MiB/s": "µs per MiB", "IOPS": "µs per read", "entries/s": "µs per entry", "files/s": "µs per file",
                "ops/s": "µs per op", "us/stat": "µs per stat"}
    gofuse_pairs = [(o, p) for o, p in (("memfs", "gofuse-memfs"), ("passthrough", "gofuse-loopback"),
                                        ("passthrough-kpt", "gofuse-loopback-kpt")) if o in targets and p in targets]
    cgroups = [([t for t in targets if t != "host" and t not in second], gofuse_pairs), (second, lpairs)]
    first = True
    for fuse_targets, cpairs in cgroups:
        # Targets without CPU numbers (n/a) and pairs with a side missing would only add empty columns.
        has_cpu = lambda t: any((t, w) in per for w in ratio_workloads)
        fuse_targets = [t for t in fuse_targets if has_cpu(t)]
        cpairs = [(o, p) for o, p in cpairs if has_cpu(o) and has_cpu(p)]
        rows = [w for w in ratio_workloads if any((t, w) in per for t in fuse_targets)]
        if not fuse_targets or not rows: continue
        if first:
            L.append("")
            L.append("Daemon CPU time (user + system) per operation, medians (less disturbed by a busy machine than "
                     "the throughput; for ratios below 1 ours uses less CPU):")
            first = False
        L.append("")
        L.append("| workload | unit | " + " | ".join(fuse_targets) + "".join(" | %s / %s" % cp for cp in cpairs) + " |")
        L.append("|---|---|" + "---|" * (len(fuse_targets) + len(cpairs)))
        for w in rows:
            cells = []
            for t in fuse_targets:
                xs = per.get((t, w))
                cells.append(fmt(statistics.median(xs)) if xs else "")
            for o, p in cpairs:
                a, b = per.get((o, w)), per.get((p, w))
                cells.append("%.2f×" % (statistics.median(a) / statistics.median(b)) if a and b and statistics.median(b) > 0 else "–")
            L.append("| %s | %s | %s |" % (w, per_unit.get(units.get(w, ""), ""), " | ".join(cells)))
# The issue's targets, checked against this run's medians.
checks = []
def check(name, o, p, ws, floor):
    if o not in targets or p not in targets: return
    miss, unknown, peer_failed, every_round = [], [], [], []
    for w in ws:
        r = ratio(o, p, w)
        if r is None and isinstance(med(o, w)[0], float) and med(p, w)[0] == "fail": peer_failed.append(w)
        elif r is None: unknown.append(w)
        elif r < floor:
            miss.append("%s %.2f×%s" % (w, r, spread(o, p, w)))
            rs = round_ratios(o, p, w)
            if len(rs) > 1 and rs[-1] < floor: every_round.append(w)
    if len(unknown) == len(ws) and any(med(t, ws[0])[0] in (None, "n/a") for t in (o, p)):
        checks.append("- %s: **n/a** (%s could not be measured: see the notes)"
                      % (name, " and ".join(t for t in (o, p) if med(t, ws[0])[0] in (None, "n/a"))))
        return
    verdict = "met" if not miss and not unknown else "MISSED"
    # A workload that only the peer failed cannot be compared; it is listed, not counted against ours.
    # Below the floor in every round, or only in the median: the rounds' spread says which misses are the machine's.
    detail = "; ".join(x for x in (", ".join(miss), ("below in every round: " + ", ".join(every_round)) if every_round else "",
                                   ("no result: " + ", ".join(unknown)) if unknown else "",
                                   ("%s failed (not compared): %s" % (p, ", ".join(peer_failed))) if peer_failed else "") if x)
    checks.append("- %s: **%s**%s" % (name, verdict, (" (" + detail + ")") if detail else ""))
check("memfs ≥ 1.0× gofuse-memfs on every workload (both with default_permissions)", "memfs", "gofuse-memfs", ratio_workloads, 1.0)
check("passthrough (plain path) ≥ 1.0× gofuse-loopback on every workload", "passthrough", "gofuse-loopback", ratio_workloads, 1.0)
check("passthrough-kpt ≥ 0.8× host on sequential and random direct I/O", "passthrough-kpt", "host",
      ["seqwrite-direct", "seqread-direct", "randread-1job", "randread-4jobs"], 0.8)
targets_4 = checks
checks = []
for o, p in LIBFUSE_CHECKED:
    floor = 1.2 if o.startswith("memfs") else 1.0
    check("%s ≥ %.1f× %s on every workload" % (o, floor, p), o, p, ratio_workloads, floor)
# FUSE over io_uring against our own /dev/fuse path, where its per-CPU queues matter most: a request per stat.
check("memfs-uring cold stat ≥ 1.5× memfs (our own /dev/fuse path)", "memfs-uring", "memfs", ["stat-cold"], 1.5)
check("passthrough-uring cold stat ≥ 1.5× passthrough (our own /dev/fuse path)", "passthrough-uring", "passthrough", ["stat-cold"], 1.5)
check("memfs unlink ≥ 1.0× gofuse-memfs (both with default_permissions)", "memfs", "gofuse-memfs", ["unlink"], 1.0)
check("passthrough (plain path) create and small files ≥ 1.0× gofuse-loopback", "passthrough", "gofuse-loopback",
      ["create", "smallfile-write", "smallfile-read"], 1.0)
targets_11 = checks
checks = targets_4
for t in ("memfs", "passthrough", "passthrough-kpt", "passthrough-cached", "passthrough-kpt-cached", "memfs-uring",
          "passthrough-uring", "passthrough-kpt-uring", "passthrough-cached-uring", "passthrough-kpt-cached-uring"):
    if t in targets:
        xs = [num(x) for x in vals.get((t, "peak-rss"), [])]
        ok = [x for x in xs if x is not None]
        if not ok and xs and all(x == "n/a" for x in vals.get((t, "peak-rss"), [])):
            checks.append("- %s peak RSS < 300 MiB: **n/a** (not measured: see the notes)" % t)
        elif not ok: checks.append("- %s peak RSS < 300 MiB: **no result**" % t)
        else: checks.append("- %s peak RSS < 300 MiB: **%s** (highest round %.0f MiB)" % (t, "met" if max(ok) < 300 else "MISSED", max(ok)))
# With kernel passthrough in effect the random reads never reach the daemon: its CPU per read drops to ~1 µs
# (plain path ~20 µs). Compare the two passthrough targets there (or over all fio phases without cpu.tsv).
for kt, pt in (("passthrough-kpt", "passthrough"), ("passthrough-kpt-uring", "passthrough-uring"),
               ("passthrough-kpt-cached", "passthrough-cached"), ("passthrough-kpt-cached-uring", "passthrough-cached-uring")):
    if kt not in targets or pt not in targets: continue
    kp = [x for w in ("randread-1job", "randread-4jobs") for x in per.get((kt, w), [])] if per else []
    pp = [x for w in ("randread-1job", "randread-4jobs") for x in per.get((pt, w), [])] if per else []
    if kp and pp:
        k, p, what = statistics.median(kp), statistics.median(pp), "µs of CPU per random read"
    else:
        k, _ = med(kt, "cpu-data"); p, _ = med(pt, "cpu-data"); what = "s of CPU in the fio phases"
    if isinstance(k, float) and isinstance(p, float) and p > 0 and k > 0.25 * p:
        checks.append("- %s: the daemon used %.2f %s (%s %.2f): kernel passthrough does not "
                      "seem to be in effect for the files" % (kt, k, what, pt, p))
for issue, cs in (("4", checks), ("11: libfuse 3.18", targets_11)):
    if not cs: continue
    L.append("")
    L.append("Targets (issue %s), from these medians:" % issue)
    L.append("")
    L.extend(cs)
# Cluster targets: cross-node visibility latency tables written by bench/cluster-latency.py
import glob
lat = sorted(glob.glob(os.path.join(run_dir, "*.latency.md")))
if lat:
    L.append("")
    L.append("Cross-node visibility (cluster-latency targets, %s changes per kind; bench/cluster-latency.py):" % env.get("LAT_N", "?"))
    for f in lat:
        L.append("")
        L.extend(l.rstrip("\n") for l in open(f))
    while L and L[-1] == "": L.pop()
if os.path.exists(notes) and os.path.getsize(notes):
    L.append("")
    L.append("Notes from the run:")
    L.append("")
    L.extend(l.rstrip("\n") for l in open(notes))
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
}

# ---------------------------------------------------------------------------------------------------- main

usage() { sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
write_env() { printf '%s=%q\n' "$1" "$2" >>"$RUN_DIR/run.env"; }
if [ "$1" = report ]; then   # re-render a finished run's table: bench/fsbench.sh report bench/results/STAMP
  [ $# -eq 2 ] && [ -f "$2/results.tsv" ] && [ -f "$2/run.env" ] || usage
  RUN_DIR=$2; report "$RUN_DIR" >/dev/null; cat "$RUN_DIR/table.md"; exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "needs root (mount, loop devices, drop_caches)"; exit 1; }

TARGETS=()
CUSTOM_CMD=""
case "$1" in
  all) TARGETS=("${ALL_TARGETS[@]}"); ROUNDS=${FSBENCH_ROUNDS:-${QUICK:+1}}; ROUNDS=${ROUNDS:-3} ;;
  custom)
    [ $# -ge 2 ] || usage
    CUSTOM_CMD=$2; CUSTOM_NAME=${3:-custom}; TARGETS=(custom); ROUNDS=${FSBENCH_ROUNDS:-1} ;;
  -h|--help) usage ;;
  *)
    for t in "$@"; do
      [[ " ${ALL_TARGETS[*]} ${CLUSTER_TARGETS[*]} " == *" $t "* ]] ||
        { say "unknown target $t (${ALL_TARGETS[*]} ${CLUSTER_TARGETS[*]}, all, custom)"; exit 2; }
    done
    TARGETS=("$@"); ROUNDS=${FSBENCH_ROUNDS:-1} ;;
esac

RUN_DIR=$RESULTS/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN_DIR"
TSV=$RUN_DIR/results.tsv; : >"$TSV"
NOTES=$RUN_DIR/notes.md; : >"$NOTES"
ROUND=0
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
say "logs and raw results in $RUN_DIR"

ensure_tools
for t in "${TARGETS[@]}"; do
  case "$t" in
    memfs*|passthrough*|cluster*) [ -n "${OURS_BUILT:-}" ] || { build_ours; OURS_BUILT=1; } ;;
    gofuse-*)
      g=${t#gofuse-}; g=${g%-kpt}
      build_go_peer "$g" || note "building the go-fuse peer $t failed: $(tail -n 3 "$RUN_DIR/build-gofuse-$g.log" 2>/dev/null | tr '\n' ' ')" ;;
    libfuse-*) [ -n "${LIBFUSE_TRIED:-}" ] || { LIBFUSE_TRIED=1; build_libfuse; } ;;
  esac
done
ensure_fusectl
setup_backing
say "backing store: $BACKING_DESC"
MEMORY_DESC=""
hold_page_reporting
[ -n "$MEMORY_DESC" ] && say "$MEMORY_DESC"
: >"$RUN_DIR/run.env"
write_env DATE "$(date -u '+%Y-%m-%d %H:%M UTC')"
write_env NPROC "$(nproc)"
write_env CPU "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
write_env RAM "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
write_env KERNEL "$(uname -r)"
write_env BACKING "$BACKING_DESC"
write_env ROUNDS "$ROUNDS"; write_env SIZE "$SIZE"; write_env RUNTIME "$RUNTIME"
write_env NFILES "$NFILES"; write_env NSMALL "$NSMALL"; write_env QUICK "$QUICK"; write_env LAT_N "$LAT_N"
write_env LOAD_START "$LOAD_START"
write_env MEMORY "$MEMORY_DESC"
write_env SESSION "${FSBENCH_DAEMON_SESSION:-}"
write_env PEERS "$(for x in "$GOFUSE_DESC" "$LIBFUSE_DESC"; do [ -n "$x" ] && printf '%s; ' "$x"; done | sed 's/; $//')"

for ROUND in $(seq 1 "$ROUNDS"); do
  # Odd rounds in the given order, even ones backwards: neighbours stay neighbours, and neither side of a pair always
  # runs first (right after the other pair's daemon) or last.
  ORDER=("${TARGETS[@]}")
  if [ $((ROUND % 2)) -eq 0 ]; then
    ORDER=(); for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do ORDER+=("${TARGETS[i]}"); done
  fi
  for t in "${ORDER[@]}"; do
    say "round $ROUND/$ROUNDS: $t"
    if [ "$t" = custom ]; then run_target custom "$CUSTOM_NAME"; else run_target "$t"; fi
  done
done

write_env LOAD_END "$(cut -d' ' -f1 /proc/loadavg)"
if [ -n "$REPORTING_PREV" ] && [ -n "${REPORTED_START:-}" ] && [ -r "$REPORTED_PARAM" ]; then
  reported=$(( $(cat "$REPORTED_PARAM") - REPORTED_START ))
  [ "$reported" -eq 0 ] || note "free page reporting was held off, yet the kernel reported $((reported / 1024)) MiB to the host during the run"
fi
echo
report "$RUN_DIR" >/dev/null
cat "$RUN_DIR/table.md"
if [ "$1" = all ]; then cp "$RUN_DIR/table.md" "$RESULTS/latest.md"; say "wrote $RESULTS/latest.md"; fi
