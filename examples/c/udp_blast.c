/*
 * udp_blast: the raw UDP ceiling over 127.0.0.1, for scripts/bench-loopback.sh.
 *
 *   udp_blast recv [-b SOCKBUF]                          prints "port N", then counts datagrams
 *   udp_blast send PORT [-s SIZE] [-t SECONDS] [-b SOCKBUF]
 *
 * The sender sends SIZE-byte datagrams (default 1402: what libutp puts on the wire for a full
 * packet on loopback) as fast as plain sendto() allows for SECONDS (default 3), then a few
 * one-byte end markers. The receiver counts full-size datagrams with plain recv() and, at the
 * first end marker (or after 2 s of silence once traffic started), prints one line:
 *
 *   received DGRAMS datagrams, BYTES bytes in SECS s (first to last datagram)
 *
 * The sender prints "sent DGRAMS datagrams, BYTES bytes in SECS s (errors E)". One datagram per
 * system call on both ends, as the uTP peers do it: no GSO, GRO, sendmmsg or recvmmsg.
 * Only 127.0.0.1 is ever used. Exit status: 0 success, 1 error, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DGRAM 65507
#define END_MARKERS 8
#define SILENCE_MS 2000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_num(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "udp_blast: bad number '%s' (%ld to %ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static int open_socket(long sockbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_blast: socket");
        exit(1);
    }
    if (sockbuf > 0) {
        int v = (int)sockbuf;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0)
            perror("udp_blast: setsockopt (continuing)");
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("udp_blast: bind");
        exit(1);
    }
    return fd;
}

static int do_recv(long sockbuf)
{
    static unsigned char buf[MAX_DGRAM + 1];
    int fd = open_socket(sockbuf);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    printf("port %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    unsigned long long dgrams = 0, bytes = 0;
    double first = 0, last = 0;
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, dgrams ? SILENCE_MS : -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            perror("udp_blast: poll");
            return 1;
        }
        if (r == 0)
            break; /* silence after traffic: the end markers were lost */
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("udp_blast: recv");
            return 1;
        }
        if (n <= 1)
            break; /* end marker */
        last = now_s();
        if (dgrams == 0)
            first = last;
        dgrams++;
        bytes += (unsigned long long)n;
    }
    printf("received %llu datagrams, %llu bytes in %.6f s (first to last datagram)\n", dgrams,
           bytes, last - first);
    return 0;
}

static int do_send(long port, long size, long seconds, long sockbuf)
{
    static unsigned char buf[MAX_DGRAM];
    int fd = open_socket(sockbuf);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons((unsigned short)port);
    for (long i = 0; i < size; i++)
        buf[i] = (unsigned char)(i * 131 + 7);

    unsigned long long dgrams = 0, errors = 0;
    double start = now_s(), stop = start + (double)seconds, t = start;
    while (t < stop) {
        /* check the clock every 256 datagrams only */
        for (int k = 0; k < 256; k++) {
            ssize_t n = sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&to, sizeof to);
            if (n == size)
                dgrams++;
            else if (n < 0 && errno != EINTR)
                errors++;
        }
        t = now_s();
    }
    for (int k = 0; k < END_MARKERS; k++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        sendto(fd, buf, 1, 0, (struct sockaddr *)&to, sizeof to);
    }
    printf("sent %llu datagrams, %llu bytes in %.6f s (errors %llu)\n", dgrams,
           dgrams * (unsigned long long)size, t - start, errors);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: udp_blast recv [-b SOCKBUF]\n"
                    "       udp_blast send PORT [-s SIZE] [-t SECONDS] [-b SOCKBUF]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    int sending = strcmp(argv[1], "send") == 0;
    if (!sending && strcmp(argv[1], "recv") != 0)
        usage();
    int i = 2;
    long port = 0, size = 1402, seconds = 3, sockbuf = 4L << 20;
    if (sending) {
        if (argc < 3)
            usage();
        port = parse_num(argv[2], 1, 65535);
        i = 3;
    }
    for (; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "-b") == 0)
            sockbuf = parse_num(argv[++i], 0, 0x7fffffff);
        else if (sending && strcmp(argv[i], "-s") == 0)
            size = parse_num(argv[++i], 2, MAX_DGRAM);
        else if (sending && strcmp(argv[i], "-t") == 0)
            seconds = parse_num(argv[++i], 1, 3600);
        else
            usage();
    }
    return sending ? do_send(port, size, seconds, sockbuf) : do_recv(sockbuf);
}
