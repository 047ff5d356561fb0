/*
 * udp_blast: the raw UDP ceiling over 127.0.0.1, for scripts/bench-loopback.sh.
 *
 *   udp_blast recv [-b SOCKBUF] [-G]                     prints "port N", then counts datagrams
 *   udp_blast send PORT [-s SIZE] [-t SECONDS] [-b SOCKBUF] [-g SEGMENTS]
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
 *
 * With -g SEGMENTS the sender instead hands the kernel up to SEGMENTS datagrams of SIZE bytes per
 * sendmsg() as one buffer with a UDP_SEGMENT control message (UDP GSO, Linux 4.18+: udp(7)); the
 * count is lowered to what fits the 65,507-byte limit of one UDP payload (46 of 1402 bytes).
 * With -G the receiver enables UDP_GRO (Linux 5.0+) and reads with recvmmsg(), 64 buffers of
 * 64 KiB per call; a coalesced buffer counts as the datagrams its UDP_GRO control message's
 * segment size says it holds. Both print the same lines as without them.
 * Only 127.0.0.1 is ever used. Exit status: 0 success, 1 error, 2 usage.
 */
#define _GNU_SOURCE /* recvmmsg() */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_DGRAM 65507
#define END_MARKERS 8
#define SILENCE_MS 2000
/* UDP GSO/GRO, from the kernel's include/uapi/linux/udp.h (udp(7)): spelled out because glibc
 * hides or lacks them under _POSIX_C_SOURCE. */
#define SOL_UDP_LEVEL 17   /* IPPROTO_UDP */
#define UDP_SEGMENT_OPT 103
#define UDP_GRO_OPT 104
#define GSO_MAX_SEGMENTS 64 /* the kernel's UDP_MAX_SEGMENTS */
#define GRO_BATCH 64        /* recvmmsg() buffers per call with -G */
#define GRO_BUF 65536

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

static int do_recv_gro(int fd);

static int do_recv(long sockbuf, int gro)
{
    static unsigned char buf[MAX_DGRAM + 1];
    int fd = open_socket(sockbuf);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    printf("port %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    if (gro)
        return do_recv_gro(fd);

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

/* A recvmmsg() receiver with UDP_GRO on: one buffer may hold several datagrams of one size. */
static int do_recv_gro(int fd)
{
    int on = 1;
    if (setsockopt(fd, SOL_UDP_LEVEL, UDP_GRO_OPT, &on, sizeof on) < 0) {
        perror("udp_blast: setsockopt UDP_GRO");
        return 1;
    }
    static unsigned char bufs[GRO_BATCH][GRO_BUF];
    static union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl[GRO_BATCH];
    struct mmsghdr msgs[GRO_BATCH];
    struct iovec iov[GRO_BATCH];
    unsigned long long dgrams = 0, bytes = 0, calls = 0;
    double first = 0, last = 0;
    int done = 0;
    /* Blocking reads that give up after SILENCE_MS without a datagram once traffic started. */
    struct timeval tv = {.tv_sec = SILENCE_MS / 1000, .tv_usec = (SILENCE_MS % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("udp_blast: setsockopt SO_RCVTIMEO");
        return 1;
    }
    while (!done) {
        for (int k = 0; k < GRO_BATCH; k++) {
            iov[k].iov_base = bufs[k];
            iov[k].iov_len = GRO_BUF;
            memset(&msgs[k], 0, sizeof msgs[k]);
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            msgs[k].msg_hdr.msg_control = ctl[k].buf;
            msgs[k].msg_hdr.msg_controllen = sizeof ctl[k].buf;
        }
        int n = recvmmsg(fd, msgs, GRO_BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (dgrams)
                    break; /* silence after traffic: the end markers were lost */
                continue;
            }
            perror("udp_blast: recvmmsg");
            return 1;
        }
        calls++;
        for (int k = 0; k < n; k++) {
            size_t len = msgs[k].msg_len;
            size_t seg = len;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c;
                 c = CMSG_NXTHDR(&msgs[k].msg_hdr, c)) {
                if (c->cmsg_level == SOL_UDP_LEVEL && c->cmsg_type == UDP_GRO_OPT) {
                    int g;
                    memcpy(&g, CMSG_DATA(c), sizeof g);
                    if (g > 0)
                        seg = (size_t)g;
                }
            }
            if (len <= 1) {
                done = 1; /* end marker */
                break;
            }
            last = now_s();
            if (dgrams == 0)
                first = last;
            /* whole segments, and a shorter tail segment unless it is a 1-byte end marker */
            size_t whole = seg ? len / seg : 0, tail = seg ? len % seg : 0;
            dgrams += whole;
            bytes += (unsigned long long)(whole * seg);
            if (tail > 1) {
                dgrams++;
                bytes += tail;
            } else if (tail == 1) {
                done = 1;
            }
        }
    }
    printf("received %llu datagrams, %llu bytes in %.6f s (first to last datagram; "
           "%llu recvmmsg calls)\n",
           dgrams, bytes, last - first, calls);
    return 0;
}

static int do_send(long port, long size, long seconds, long sockbuf, long segments)
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

    unsigned long long dgrams = 0, errors = 0, calls = 0;
    double start = now_s(), stop = start + (double)seconds, t = start;
    if (segments > 0) {
        static unsigned char super[MAX_DGRAM];
        long fit = MAX_DGRAM / size;
        if (segments > fit)
            segments = fit;
        if (segments > GSO_MAX_SEGMENTS)
            segments = GSO_MAX_SEGMENTS;
        for (long i = 0; i < segments * size; i++)
            super[i] = buf[i % size];
        union {
            char buf[CMSG_SPACE(sizeof(uint16_t))];
            struct cmsghdr align;
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct iovec iov = {.iov_base = super, .iov_len = (size_t)(segments * size)};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_name = &to;
        m.msg_namelen = sizeof to;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = ctl.buf;
        m.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_UDP_LEVEL;
        c->cmsg_type = UDP_SEGMENT_OPT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso = (uint16_t)size;
        memcpy(CMSG_DATA(c), &gso, sizeof gso);
        while (t < stop) {
            for (int k = 0; k < 16; k++) {
                ssize_t n = sendmsg(fd, &m, 0);
                calls++;
                if (n == (ssize_t)iov.iov_len) {
                    dgrams += (unsigned long long)segments;
                } else if (n < 0 && errno != EINTR) {
                    if (errors++ == 0)
                        perror("udp_blast: sendmsg with UDP_SEGMENT");
                    if (errors > 1000)
                        return 1;
                }
            }
            t = now_s();
        }
    }
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
    printf("sent %llu datagrams, %llu bytes in %.6f s (errors %llu", dgrams,
           dgrams * (unsigned long long)size, t - start, errors);
    if (segments > 0)
        printf("; %llu sendmsg calls of %ld segments", calls, segments);
    printf(")\n");
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: udp_blast recv [-b SOCKBUF] [-G]\n"
                    "       udp_blast send PORT [-s SIZE] [-t SECONDS] [-b SOCKBUF] "
                    "[-g SEGMENTS]\n");
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
    long port = 0, size = 1402, seconds = 3, sockbuf = 4L << 20, segments = 0;
    int gro = 0;
    if (sending) {
        if (argc < 3)
            usage();
        port = parse_num(argv[2], 1, 65535);
        i = 3;
    }
    for (; i < argc; i++) {
        if (!sending && strcmp(argv[i], "-G") == 0) {
            gro = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "-b") == 0)
            sockbuf = parse_num(argv[++i], 0, 0x7fffffff);
        else if (sending && strcmp(argv[i], "-s") == 0)
            size = parse_num(argv[++i], 2, MAX_DGRAM);
        else if (sending && strcmp(argv[i], "-t") == 0)
            seconds = parse_num(argv[++i], 1, 3600);
        else if (sending && strcmp(argv[i], "-g") == 0)
            segments = parse_num(argv[++i], 0, GSO_MAX_SEGMENTS);
        else
            usage();
    }
    return sending ? do_send(port, size, seconds, sockbuf, segments) : do_recv(sockbuf, gro);
}
