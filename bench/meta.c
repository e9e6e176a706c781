/* meta: the metadata and small-file phases of bench/fsbench.sh, one process so that the per-operation cost
 * is the filesystem's and not a process spawn's. Each phase prints one line "VALUE UNIT OPS" on stdout
 * (OPS: how many operations it made, warm-up included, for the caller's CPU-per-operation figures).
 *
 *   meta create    DIR N          create N empty files DIR/f<i> (open O_CREAT|O_EXCL, close)      ops/s
 *   meta stat      DIR N          stat DIR/f<i> for every i                                       ops/s
 *   meta readdir   DIR ROUNDS     list DIR ROUNDS times with getdents64 (32 KiB buffer)           entries/s
 *   meta unlink    DIR N          unlink DIR/f<i>                                                 ops/s
 *   meta smallw    DIR N SIZE     write N files of SIZE bytes (open O_CREAT|O_TRUNC, write, close) files/s
 *   meta smallr    DIR N SIZE     read them back (open, read SIZE, close; checks the content)     files/s
 *   meta statlat   PATH N         statx(PATH, AT_STATX_FORCE_SYNC) N times, one thread: the kernel
 *                                 asks a FUSE daemon for the attributes every time (GETATTR round
 *                                 trip); a local filesystem answers from its inode                µs/op
 *
 * The caller drops caches between phases where a cold cache is wanted (stat after create).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "meta: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void name(char *buf, size_t len, const char *dir, long i)
{
    snprintf(buf, len, "%s/f%06ld", dir, i);
}

static void fill(char *buf, size_t size, long i)
{
    for (size_t k = 0; k < size; k++) buf[k] = (char)((i * 31 + k) & 0xff);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: meta create|stat|readdir|unlink DIR N | smallw|smallr DIR N SIZE | statlat PATH N\n");
        return 2;
    }
    const char *op = argv[1], *dir = argv[2];
    long n = atol(argv[3]);
    char path[4096];
    double t0 = now(), t;

    if (!strcmp(op, "create")) {
        for (long i = 0; i < n; i++) {
            name(path, sizeof path, dir, i);
            int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0) die("create", path);
            close(fd);
        }
        t = now() - t0;
        printf("%.0f ops/s %ld\n", n / t, n);
    } else if (!strcmp(op, "stat")) {
        struct stat st;
        for (long i = 0; i < n; i++) {
            name(path, sizeof path, dir, i);
            if (stat(path, &st) < 0) die("stat", path);
        }
        t = now() - t0;
        printf("%.0f ops/s %ld\n", n / t, n);
    } else if (!strcmp(op, "unlink")) {
        for (long i = 0; i < n; i++) {
            name(path, sizeof path, dir, i);
            if (unlink(path) < 0) die("unlink", path);
        }
        t = now() - t0;
        printf("%.0f ops/s %ld\n", n / t, n);
    } else if (!strcmp(op, "readdir")) {
        static char buf[32768];
        long entries = 0;
        for (long r = 0; r < n; r++) {
            int fd = open(dir, O_RDONLY | O_DIRECTORY);
            if (fd < 0) die("opendir", dir);
            for (;;) {
                long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
                if (got < 0) die("getdents64", dir);
                if (got == 0) break;
                for (long off = 0; off < got;) {
                    struct dirent64 *d = (struct dirent64 *)(buf + off);
                    if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) entries++;
                    off += d->d_reclen;
                }
            }
            close(fd);
        }
        t = now() - t0;
        printf("%.0f entries/s %ld\n", entries / t, entries);
        fprintf(stderr, "meta: readdir saw %ld entries in %ld rounds\n", entries, n);
    } else if (!strcmp(op, "smallw") || !strcmp(op, "smallr")) {
        if (argc < 5) { fprintf(stderr, "meta: %s needs SIZE\n", op); return 2; }
        size_t size = (size_t)atol(argv[4]);
        char *want = malloc(size), *got = malloc(size);
        int write_phase = !strcmp(op, "smallw");
        t = 0;
        for (long i = 0; i < n; i++) {
            name(path, sizeof path, dir, i);
            fill(want, size, i);
            double s = now();
            if (write_phase) {
                int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
                if (fd < 0) die("open for write", path);
                if (write(fd, want, size) != (ssize_t)size) die("write", path);
                if (close(fd) < 0) die("close", path);
            } else {
                int fd = open(path, O_RDONLY);
                if (fd < 0) die("open for read", path);
                ssize_t r = read(fd, got, size);
                if (r != (ssize_t)size) die("read", path);
                close(fd);
            }
            t += now() - s;
            if (!write_phase && memcmp(want, got, size)) {
                fprintf(stderr, "meta: %s: content differs from what was written\n", path);
                return 1;
            }
        }
        printf("%.0f files/s %ld\n", n / t, n);
    } else if (!strcmp(op, "statlat")) {
        struct statx stx;
        for (long i = 0; i < n / 10 + 1; i++) /* warm-up */
            if (statx(AT_FDCWD, dir, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) < 0) die("statx", dir);
        t0 = now();
        for (long i = 0; i < n; i++)
            if (statx(AT_FDCWD, dir, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) < 0) die("statx", dir);
        t = now() - t0;
        printf("%.2f us/op %ld\n", t / n * 1e6, n + n / 10 + 1);
    } else {
        fprintf(stderr, "meta: unknown phase %s\n", op);
        return 2;
    }
    return 0;
}
