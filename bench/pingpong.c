/*
 * pingpong: how the scheduler places a caller whose server answers on the caller's own CPU, as FUSE over io_uring
 * does (a request goes to the queue of the caller's CPU, whose thread is pinned there), with nothing of FUSE in it.
 *
 * One server thread is pinned to each of CPUs 0 and 1, each reading its own pipe. The caller (unpinned) sends each
 * request to the server of the CPU it runs on and blocks for the reply. A server spins THINK microseconds between
 * taking a request and answering it (its handling), then blocks for the next.
 *
 *   gcc -O2 -pthread -o pingpong bench/pingpong.c
 *   perf stat -e cpu-migrations ./pingpong THINK N      # prints µs per round trip; perf counts the caller's moves
 *
 * On this machine (session 21, 20 000 round trips, three to six runs each): THINK 0 or 0.5 -> 6.2-7.7 µs, 13-63
 * moves; THINK 1, 1.5, 2 or 3 -> 9.2-12.3 µs, 740-4 700 moves. See bench/README.md (FUSE over io_uring, one caller).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int requests[2][2], replies[2];
static double think_us;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *server(void *arg)
{
    long cpu = (long)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    char c;
    for (;;) {
        if (read(requests[cpu][0], &c, 1) != 1) break;
        double until = now_us() + think_us;
        while (think_us > 0 && now_us() < until) {}
        if (write(replies[1], &c, 1) != 1) break;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pingpong THINK_US ROUND_TRIPS\n");
        return 2;
    }
    think_us = atof(argv[1]);
    long n = atol(argv[2]);
    if (pipe(requests[0]) || pipe(requests[1]) || pipe(replies)) { perror("pipe"); return 1; }
    pthread_t t;
    pthread_create(&t, NULL, server, (void *)0);
    pthread_create(&t, NULL, server, (void *)1);
    char c = 'x';
    for (long i = 0; i < n + 1000; i++) {   // the first 1000 are a warm-up, not timed
        static double t0;
        if (i == 1000) t0 = now_us();
        int cpu = sched_getcpu() & 1;
        if (write(requests[cpu][1], &c, 1) != 1 || read(replies[0], &c, 1) != 1) { perror("pipe"); return 1; }
        if (i == n + 999) printf("%.2f us per round trip\n", (now_us() - t0) / n);
    }
    return 0;
}
