#!/bin/sh
# prove --exec wrapper for external-suites.sh: runs one pjdfstest file in its own new directory under the current
# one, so that test files run in parallel (prove -j) never share a working directory.
d=$(mktemp -d ./t.XXXXXX) || exit 1
chmod 755 "$d" && cd "$d" || exit 1
sh "$1"; rc=$?
cd .. && rm -rf "$d"
exit $rc
