#!/usr/bin/env python3
"""Cross-node visibility latency of a cluster filesystem (stdlib only).

    bench/cluster-latency.py [-n N] [--timeout S] [--md FILE] [--label L] A_MOUNT B_MOUNT

For each kind of change (create, overwrite, append, rename, unlink, mkdir, chmod, setxattr), N times: make the
change through A's mount, then poll B's mount through the kernel (no cache dropping: B's caches are invalidated by
the filesystem's notifications, or not) until the change is visible there. Records the time from the change's
return on A to the first poll on B that sees it. Polls back to back for the first millisecond, then with 50 us
sleeps (so that the poller does not take a CPU from the nodes on a small machine for long waits). A wait is bounded
by --timeout (5 s): it then counts as timed out. Prints per kind: n, median, p99, max (ms), timed out.
"""
import argparse, errno, os, statistics, sys, time

def now():
    return time.perf_counter()

class Poller:
    def __init__(self, timeout):
        self.timeout = timeout

    def wait(self, visible):
        """Seconds from now until visible() is true, or None after the timeout."""
        t0 = now()
        while True:
            try:
                if visible():
                    return now() - t0
            except OSError:
                pass
            t = now() - t0
            if t > self.timeout:
                return None
            if t > 0.001:
                time.sleep(50e-6)

def exists(p):
    try:
        os.stat(p)
        return True
    except FileNotFoundError:
        return False

def read_all(p):
    with open(p, "rb") as f:
        return f.read()

def write_file(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(p, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)

def content(i, size=4096):
    s = b"%08d\n" % i
    return (s * (size // len(s) + 1))[:size]

def run(a, b, n, timeout, log):
    poll = Poller(timeout)
    tag = "lat.%d.%d" % (os.getpid(), int(time.time()))
    da, db = os.path.join(a, tag), os.path.join(b, tag)
    os.mkdir(da)
    if poll.wait(lambda: os.path.isdir(db)) is None:
        raise SystemExit("cluster-latency: %s never appeared on %s" % (tag, b))
    results = {}

    def measure(kind, setup, change, visible, per_iter_setup=None):
        ts, timeouts = [], 0
        if setup:
            setup()
        for i in range(n):
            if per_iter_setup:
                per_iter_setup(i)
            change(i)
            t = poll.wait(lambda: visible(i))
            if t is None:
                timeouts += 1
            else:
                ts.append(t * 1000.0)
        results[kind] = (ts, timeouts)
        log("%-9s done: %d samples, %d timed out" % (kind, len(ts), timeouts))

    def sub(name):
        p_a, p_b = os.path.join(da, name), os.path.join(db, name)
        os.mkdir(p_a)
        if poll.wait(lambda: os.path.isdir(p_b)) is None:
            raise SystemExit("cluster-latency: %s never appeared on %s" % (name, b))
        return p_a, p_b

    # create: a new name appears (B looks it up: negative dentries must have been invalidated)
    ca, cb = sub("create")
    measure("create", None,
            lambda i: os.close(os.open(os.path.join(ca, "f%06d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)),
            lambda i: exists(os.path.join(cb, "f%06d" % i)))

    # overwrite: same size, new content (B has read the previous content)
    oa, ob = sub("overwrite")
    fa, fb = os.path.join(oa, "f"), os.path.join(ob, "f")
    def ow_setup():
        write_file(fa, content(-1))
        if poll.wait(lambda: read_all(fb) == content(-1)) is None:
            raise SystemExit("cluster-latency: overwrite setup not visible on B")
    measure("overwrite", ow_setup,
            lambda i: write_file(fa, content(i), os.O_WRONLY),
            lambda i: read_all(fb) == content(i))

    # append: size grows, the new bytes read back (B has seen the previous size)
    pa, pb = sub("append")
    ga, gb = os.path.join(pa, "f"), os.path.join(pb, "f")
    chunk = 100
    def ap_setup():
        write_file(ga, b"")
        if poll.wait(lambda: exists(gb)) is None:
            raise SystemExit("cluster-latency: append setup not visible on B")
    def ap_visible(i):
        want = (i + 1) * chunk
        if os.stat(gb).st_size != want:
            return False
        with open(gb, "rb") as f:
            f.seek(i * chunk)
            return f.read() == content(i, chunk)
    measure("append", ap_setup,
            lambda i: write_file(ga, content(i, chunk), os.O_WRONLY | os.O_APPEND),
            ap_visible)

    # rename: the old name is gone and the new one present (B has seen the old name)
    ra, rb = sub("rename")
    def rn_setup():
        write_file(os.path.join(ra, "r000000"), b"x")
        if poll.wait(lambda: exists(os.path.join(rb, "r000000"))) is None:
            raise SystemExit("cluster-latency: rename setup not visible on B")
    measure("rename", rn_setup,
            lambda i: os.rename(os.path.join(ra, "r%06d" % i), os.path.join(ra, "r%06d" % (i + 1))),
            lambda i: not exists(os.path.join(rb, "r%06d" % i)) and exists(os.path.join(rb, "r%06d" % (i + 1))))

    # unlink: the name is gone (B has looked every one of them up)
    ua, ub = sub("unlink")
    def ul_setup():
        for i in range(n):
            write_file(os.path.join(ua, "u%06d" % i), b"")
        for i in range(n):
            if poll.wait(lambda: exists(os.path.join(ub, "u%06d" % i))) is None:
                raise SystemExit("cluster-latency: unlink setup not visible on B")
    measure("unlink", ul_setup,
            lambda i: os.unlink(os.path.join(ua, "u%06d" % i)),
            lambda i: not exists(os.path.join(ub, "u%06d" % i)))

    # mkdir: a new directory appears
    ma, mb = sub("mkdir")
    measure("mkdir", None,
            lambda i: os.mkdir(os.path.join(ma, "d%06d" % i)),
            lambda i: os.path.isdir(os.path.join(mb, "d%06d" % i)))

    # chmod: the new mode is seen (B has stat'ed the previous one)
    ha, hb = sub("chmod")
    modes = [0o640, 0o604, 0o600, 0o644]
    def ch_setup():
        write_file(os.path.join(ha, "f"), b"")
        os.chmod(os.path.join(ha, "f"), 0o644)
        if poll.wait(lambda: os.stat(os.path.join(hb, "f")).st_mode & 0o7777 == 0o644) is None:
            raise SystemExit("cluster-latency: chmod setup not visible on B")
    measure("chmod", ch_setup,
            lambda i: os.chmod(os.path.join(ha, "f"), modes[i % 4]),
            lambda i: os.stat(os.path.join(hb, "f")).st_mode & 0o7777 == modes[i % 4])

    # setxattr: the new value is read back
    xa, xb = sub("setxattr")
    def xa_setup():
        write_file(os.path.join(xa, "f"), b"")
        if poll.wait(lambda: exists(os.path.join(xb, "f"))) is None:
            raise SystemExit("cluster-latency: setxattr setup not visible on B")
    measure("setxattr", xa_setup,
            lambda i: os.setxattr(os.path.join(xa, "f"), "user.fsbench", b"v%06d" % i),
            lambda i: os.getxattr(os.path.join(xb, "f"), "user.fsbench") == b"v%06d" % i)

    # clean up through A
    for root, dirs, files in os.walk(da, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            os.rmdir(os.path.join(root, d))
    os.rmdir(da)
    return results

def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]

def fmt(x):
    if x is None:
        return "–"
    return "%.0f" % x if x >= 100 else ("%.1f" % x if x >= 10 else "%.2f" % x)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--label", default=None)
    ap.add_argument("--md", default=None, help="also write the table (markdown) to this file")
    args = ap.parse_args()
    label = args.label or "%s -> %s" % (args.a, args.b)
    log = lambda s: print("cluster-latency: %s: %s" % (label, s), file=sys.stderr, flush=True)
    res = run(args.a, args.b, args.n, args.timeout, log)
    L = ["%s, %d changes per kind, wait bounded at %.0f s (ms from the change's return on the first mount to "
         "visibility on the second):" % (label, args.n, args.timeout), "",
         "| change | n | median ms | p99 ms | max ms | timed out |", "|---|---|---|---|---|---|"]
    for kind, (ts, to) in res.items():
        L.append("| %s | %d | %s | %s | %s | %d |" % (kind, len(ts) + to, fmt(statistics.median(ts) if ts else None),
                                                     fmt(pct(ts, 99)), fmt(max(ts) if ts else None), to))
    out = "\n".join(L) + "\n"
    print(out)
    if args.md:
        with open(args.md, "w") as f:
            f.write(out)

if __name__ == "__main__":
    main()
