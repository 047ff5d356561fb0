/*
 * utp_pingpong: round-trip latency of small messages over one uTP connection, written only
 * against the public libutp C API (utp.h), so the same file links against the reference libutp
 * and against rutp's libutp-compatible library. For scripts/bench-perf.sh (issue 9).
 *
 *   utp_pingpong server [-b SOCKBUF]
 *   utp_pingpong client PORT [-n COUNT] [-w WARMUP] [-s SIZE] [-b SOCKBUF]
 *
 * The server binds 127.0.0.1 on any free port, prints "listening on 127.0.0.1:PORT" on stderr
 * and echoes everything one connection sends, until the peer's FIN. The client connects to
 * 127.0.0.1:PORT and writes SIZE bytes (default 64), then waits until the same SIZE bytes came
 * back, WARMUP times (default 200) unmeasured and COUNT times (default 2000) timed with the
 * monotonic clock; every echoed byte is checked. It then prints, as examples/pingpong.rs does:
 *
 *   rtt_us count N min A median B p99 C max D
 *
 * One datagram per sendto()/recvfrom() call; the loop sleeps in poll() on the socket, so a
 * reply is handled as soon as it arrives. SOCKBUF (default 4 MiB) sets SO_RCVBUF and SO_SNDBUF,
 * 0 leaves the OS defaults. Only 127.0.0.1 is used. Exit status: 0 success, 1 error, 2 usage.
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

#include "utp.h"

#define DGRAM_MAX 65536
#define POLL_MS 10      /* how often utp_check_timeouts runs while nothing arrives */
#define RUN_LIMIT_S 120 /* give up after this long */
#define CLOSE_WAIT_S 3  /* bound on waiting for the close after the last round trip */

static struct {
    int server;
    int fd;
    utp_context *ctx;
    utp_socket *sock;
    int connected, peer_eof, destroyed, failed, closed;
    /* client */
    size_t size;
    long count, warmup, done;
    unsigned char *msg;
    size_t got;
    int mismatch;
    double t_sent;
    double *rtts;
    /* server: bytes received but not yet accepted by utp_write */
    unsigned char *pending;
    size_t pending_len, pending_cap;
} pp;

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
        fprintf(stderr, "utp_pingpong: bad number '%s' (%ld to %ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static void fill_msg(long i)
{
    for (size_t k = 0; k < pp.size; k++)
        pp.msg[k] = (unsigned char)((unsigned long)i * 31u + k);
}

static void send_ping(void)
{
    fill_msg(pp.done);
    pp.got = 0;
    pp.t_sent = now_s();
    ssize_t n = utp_write(pp.sock, pp.msg, pp.size);
    if (n != (ssize_t)pp.size) {
        fprintf(stderr, "utp_pingpong: utp_write took %zd of %zu bytes\n", n, pp.size);
        pp.failed = 1;
    }
}

/* server: hand what is pending to utp_write, keep what it refuses */
static void flush_pending(void)
{
    if (pp.pending_len == 0 || pp.sock == NULL)
        return;
    ssize_t n = utp_write(pp.sock, pp.pending, pp.pending_len);
    if (n > 0) {
        memmove(pp.pending, pp.pending + n, pp.pending_len - (size_t)n);
        pp.pending_len -= (size_t)n;
    }
}

static uint64 cb_sendto(utp_callback_arguments *a)
{
    while (sendto(pp.fd, a->buf, a->len, 0, a->address, a->address_len) < 0 && errno == EINTR)
        ;
    return 0;
}

static uint64 cb_firewall(utp_callback_arguments *a)
{
    (void)a;
    return pp.sock != NULL; /* one connection */
}

static uint64 cb_accept(utp_callback_arguments *a)
{
    if (pp.sock != NULL) {
        utp_close(a->socket);
        return 0;
    }
    pp.sock = a->socket;
    pp.connected = 1;
    return 0;
}

static uint64 cb_read(utp_callback_arguments *a)
{
    if (a->socket != pp.sock)
        return 0;
    if (pp.server) {
        if (pp.pending_len + a->len > pp.pending_cap) {
            size_t cap = (pp.pending_len + a->len) * 2;
            unsigned char *p = realloc(pp.pending, cap);
            if (p == NULL) {
                pp.failed = 1;
                return 0;
            }
            pp.pending = p;
            pp.pending_cap = cap;
        }
        memcpy(pp.pending + pp.pending_len, a->buf, a->len);
        pp.pending_len += a->len;
        flush_pending(); /* the echo leaves at once, carrying the ACK */
    } else {
        if (pp.got + a->len > pp.size || memcmp(a->buf, pp.msg + pp.got, a->len) != 0)
            pp.mismatch = 1;
        pp.got += a->len;
        if (pp.got >= pp.size) {
            double rtt = now_s() - pp.t_sent;
            if (pp.done >= pp.warmup)
                pp.rtts[pp.done - pp.warmup] = rtt * 1e6;
            pp.done++;
            if (pp.done < pp.warmup + pp.count && !pp.mismatch)
                send_ping();
        }
    }
    return 0;
}

static uint64 cb_state(utp_callback_arguments *a)
{
    if (a->socket != pp.sock)
        return 0;
    switch (a->state) {
    case UTP_STATE_CONNECT:
        pp.connected = 1;
        if (!pp.server)
            send_ping();
        break;
    case UTP_STATE_WRITABLE:
        if (pp.server)
            flush_pending();
        break;
    case UTP_STATE_EOF:
        pp.peer_eof = 1;
        break;
    case UTP_STATE_DESTROYING:
        pp.destroyed = 1;
        pp.sock = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static uint64 cb_error(utp_callback_arguments *a)
{
    if (a->socket != pp.sock)
        return 0;
    fprintf(stderr, "utp_pingpong: uTP error %d\n", a->error_code);
    pp.failed = 1;
    if (!pp.closed) {
        pp.closed = 1;
        utp_close(pp.sock);
    }
    return 0;
}

static void drain_udp(void)
{
    static unsigned char dgram[DGRAM_MAX];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t r = recvfrom(pp.fd, dgram, sizeof dgram, MSG_DONTWAIT, (struct sockaddr *)&from,
                             &fromlen);
        if (r < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            break;
        }
        utp_process_udp(pp.ctx, dgram, (size_t)r, (const struct sockaddr *)&from, fromlen);
    }
    if (pp.sock != NULL)
        utp_read_drained(pp.sock);
    utp_issue_deferred_acks(pp.ctx);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double p)
{
    long rank = (long)(p / 100.0 * (double)n + 0.999999999); /* nearest rank */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void usage(void)
{
    fprintf(stderr, "usage: utp_pingpong server [-b SOCKBUF]\n"
                    "       utp_pingpong client PORT [-n COUNT] [-w WARMUP] [-s SIZE] "
                    "[-b SOCKBUF]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    pp.server = strcmp(argv[1], "server") == 0;
    if (!pp.server && strcmp(argv[1], "client") != 0)
        usage();
    long port = 0, sockbuf = 4L << 20;
    pp.size = 64;
    pp.count = 2000;
    pp.warmup = 200;
    int i = 2;
    if (!pp.server) {
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
        else if (!pp.server && strcmp(argv[i], "-n") == 0)
            pp.count = parse_num(argv[++i], 1, 10000000);
        else if (!pp.server && strcmp(argv[i], "-w") == 0)
            pp.warmup = parse_num(argv[++i], 0, 10000000);
        else if (!pp.server && strcmp(argv[i], "-s") == 0)
            pp.size = (size_t)parse_num(argv[++i], 1, 1 << 20);
        else
            usage();
    }

    pp.fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (pp.fd < 0) {
        perror("utp_pingpong: socket");
        return 1;
    }
    if (sockbuf > 0) {
        int v = (int)sockbuf;
        setsockopt(pp.fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
        setsockopt(pp.fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(pp.fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("utp_pingpong: bind");
        return 1;
    }
    socklen_t alen = sizeof a;
    getsockname(pp.fd, (struct sockaddr *)&a, &alen);

    pp.ctx = utp_init(2);
    if (pp.ctx == NULL) {
        fprintf(stderr, "utp_pingpong: utp_init failed\n");
        return 1;
    }
    utp_set_callback(pp.ctx, UTP_SENDTO, cb_sendto);
    utp_set_callback(pp.ctx, UTP_ON_READ, cb_read);
    utp_set_callback(pp.ctx, UTP_ON_STATE_CHANGE, cb_state);
    utp_set_callback(pp.ctx, UTP_ON_ERROR, cb_error);
    if (pp.server) {
        utp_set_callback(pp.ctx, UTP_ON_FIREWALL, cb_firewall);
        utp_set_callback(pp.ctx, UTP_ON_ACCEPT, cb_accept);
        fprintf(stderr, "listening on 127.0.0.1:%u\n", (unsigned)ntohs(a.sin_port));
    } else {
        pp.msg = malloc(pp.size);
        pp.rtts = malloc(sizeof(double) * (size_t)pp.count);
        if (pp.msg == NULL || pp.rtts == NULL)
            return 1;
        struct sockaddr_in to = a;
        to.sin_port = htons((unsigned short)port);
        pp.sock = utp_create_socket(pp.ctx);
        if (pp.sock == NULL || utp_connect(pp.sock, (struct sockaddr *)&to, sizeof to) != 0) {
            fprintf(stderr, "utp_pingpong: connect failed\n");
            return 1;
        }
    }

    double limit = now_s() + RUN_LIMIT_S, close_by = 0;
    for (;;) {
        int finished = pp.server ? pp.peer_eof
                                 : (pp.done >= pp.warmup + pp.count || pp.mismatch);
        if ((finished || pp.failed) && !pp.closed && pp.sock != NULL) {
            pp.closed = 1;
            close_by = now_s() + CLOSE_WAIT_S;
            utp_close(pp.sock);
        }
        if (pp.destroyed || (pp.closed && now_s() > close_by))
            break;
        if (now_s() > limit) {
            fprintf(stderr, "utp_pingpong: gave up after %d s (%ld round trips)\n", RUN_LIMIT_S,
                    pp.done);
            return 1;
        }
        struct pollfd pf = {.fd = pp.fd, .events = POLLIN};
        int r = poll(&pf, 1, POLL_MS);
        if (r > 0)
            drain_udp();
        utp_check_timeouts(pp.ctx);
    }
    utp_destroy(pp.ctx);
    close(pp.fd);
    if (pp.server)
        return pp.failed;
    if (pp.mismatch) {
        fprintf(stderr, "utp_pingpong: wrong bytes echoed\n");
        return 1;
    }
    if (pp.failed || pp.done < pp.warmup + pp.count)
        return 1;
    qsort(pp.rtts, (size_t)pp.count, sizeof(double), cmp_double);
    printf("rtt_us count %ld min %.1f median %.1f p99 %.1f max %.1f\n", pp.count, pp.rtts[0],
           percentile(pp.rtts, pp.count, 50), percentile(pp.rtts, pp.count, 99),
           pp.rtts[pp.count - 1]);
    return 0;
}
