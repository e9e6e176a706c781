#!/usr/bin/env bash
# One entry point for a fresh clone on a fresh Debian 12 machine with the .NET 10 SDK.
#   ./build.sh mount [DIR]   mount the in-memory filesystem at DIR (default /tmp/fuseactors) in the foreground; Ctrl-C unmounts
#   ./build.sh test          install the test programs (attr, git, fio, ...) and run every test suite, then the quick
#                            pass of the external suites (pjdfstest, fsx: Tests/External/README.md)
#   ./build.sh cluster-demo [DIR]  three cluster filesystem nodes on this machine, mounted at DIR/a, DIR/b, DIR/c
#                            (default /tmp/fuseactors-cluster) on one SQLite store; Ctrl-C stops them
#   ./build.sh deps          only install the system packages the tests and benchmarks use
set -euo pipefail
cd "$(dirname "$0")"

deps() {
  local need=()
  # autoconf, automake, make and perl's prove build and run the external suites (Tests/External/)
  # fusermount3 (fuse3) mounts for a user without CAP_SYS_ADMIN and keeps auto_unmount mounts honest
  for tool in setfattr:attr git:git fio:fio gcc:gcc tar:tar autoreconf:autoconf automake:automake make:make prove:perl fusermount3:fuse3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
  done
  [ -f /usr/include/linux/fuse.h ] || need+=(linux-libc-dev)
  [ -f /usr/include/liburing.h ] || need+=(liburing-dev)   # fsx's io_uring variant (-U)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "need root to install ${need[*]}" >&2; exit 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

case "${1:-}" in
  deps)
    deps ;;
  mount)
    dir="${2:-/tmp/fuseactors}"
    mkdir -p "$dir"
    dotnet build Cli -c Release -v q -nologo >/dev/null
    exec Cli/bin/Release/net10.0/fuseactors mount memfs "$dir" "${@:3}" ;;
  cluster-demo)
    dir="${2:-/tmp/fuseactors-cluster}"
    dotnet build Cli -c Release -v q -nologo >/dev/null
    exec Cli/bin/Release/net10.0/fuseactors cluster demo "$dir" "${@:3}" ;;
  test)
    deps
    dotnet build FuseActors.sln -c Release -v q -nologo
    status=0 passed=0 failed=0
    log=$(mktemp)
    # Every temporary directory of this run (mountpoints included: .NET's temp path and mktemp follow TMPDIR) lives
    # under one folder of its own, so the leftover-mount check below sees only the mounts this run made.
    run_tmp=$(mktemp -d /tmp/fuseactors-test-run.XXXXXX)
    chmod 1777 "$run_tmp"   # like /tmp: tests that run programs as another user make their folders here too
    for project in Tests/Engine.Tests Tests/Actors.Tests Tests/Filesystems.Tests Tests/Testing.Tests Tests/Hosting.Tests Tests/Cluster.Tests Tests/Integration.Tests; do
      echo "== $project"
      progress=()
      # The real-mount tests take minutes: one line per finished test shows a person watching that it moves.
      # Hosting.Tests (xunit v3) says only "[FAIL]" at quiet verbosity; normal shows why.
      case "$project" in Tests/Integration.Tests|Tests/Hosting.Tests) progress=(--logger "console;verbosity=normal") ;; esac
      TMPDIR="$run_tmp" dotnet test "$project" -c Release --no-build -v q -nologo --blame-hang-timeout 5m "${progress[@]}" 2>&1 | tee "$log" || status=1
      # dotnet test's summary: "Passed!  - Failed:     0, Passed:    12, Skipped: ..." (quiet), or "Total tests: 17",
      # "     Passed: 17", "     Failed: 1" (normal verbosity)
      p=$(grep -oE 'Passed: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
      f=$(grep -oE 'Failed: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
      passed=$((passed + p)); failed=$((failed + f))
      grep -qE '^(Passed|Failed)!|^Test Run (Successful|Failed|Aborted)' "$log" || { echo "no test summary from $project" >&2; status=1; }
    done
    # The external suites' quick pass: each suite run on each target counts as one test.
    echo "== Tests/External (quick)"
    TMPDIR="$run_tmp" timeout 1200 Tests/External/external-suites.sh quick 2>&1 | tee "$log" || status=1
    if summary=$(grep -E '^external suites: [0-9]+ passed, [0-9]+ failed$' "$log"); then
      p=$(echo "$summary" | awk '{ print $3 }'); f=$(echo "$summary" | awk '{ print $5 }')
      passed=$((passed + p)); failed=$((failed + f))
    else
      echo "no summary from Tests/External/external-suites.sh" >&2; status=1; failed=$((failed + 1))
    fi
    rm -f "$log"
    # A mount of this run that is still there is a leak; another program's mount elsewhere is none of our business.
    if leaked=$(awk -v prefix="$run_tmp/" 'index($2, prefix) == 1' /proc/mounts) && [ -n "$leaked" ]; then
      echo "a test left a mount behind:" >&2; echo "$leaked" >&2; status=1
    else
      rm -rf --one-file-system "$run_tmp"
    fi
    [ "$failed" -eq 0 ] || status=1
    echo "$passed passed, $failed failed"
    exit $status ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
