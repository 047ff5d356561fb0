/*
 * utp_netcat: a small netcat over one uTP connection, written only against the public libutp C
 * API (utp.h). It links unchanged against the reference libutp and against rutp's
 * libutp-compatible C library, which makes it our interop probe between the two.
 *
 *   utp_netcat -l [-N] [-s BIND_ADDR] -p PORT [options] > out      listen, accept one peer
 *   utp_netcat [-N] [-s BIND_ADDR] [-p LOCAL_PORT] [options] HOST PORT < in
 *
 * Whatever arrives is written to stdout; whatever stdin holds is sent (unless -N). When stdin
 * ends, the sending half is shut down (utp_shutdown SHUT_WR). Once both our stdin is finished
 * and the peer's EOF has arrived, the socket is closed, and the program exits after the library
 * reports UTP_STATE_DESTROYING. Exit status 0 means: no error was reported and the close
 * completed (for libutp that means our FIN, and so all our data, was acknowledged). When the
 * peer's FIN was the last to arrive, the program first keeps answering datagrams for
 * CLOSE_LINGER_MS, as TCP's TIME-WAIT does: if our acknowledgement of that FIN is lost, the
 * peer resends the FIN and must get an answer, or it waits until its own timeout.
 *
 * Addresses are numeric IPv4 or IPv6 literals; there is no name resolution.
 * Build: cc -std=c99 -Wall -Wextra -Werror -I INCDIR utp_netcat.c -L LIBDIR -lutp [-lstdc++]
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "utp.h" /* note: in C it typedefs `bool`, so <stdbool.h> is not used here */

enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_TIMEOUT = 3,
    EXIT_SIGNAL = 4,
};

#define POLL_MS 10                 /* poll() timeout: how often timers and writes are serviced */
#define MAX_DGRAMS_PER_DRAIN 1024  /* bound one drain so ACKs and timers still get their turn */
#define DGRAM_MAX 65536
#ifdef __linux__
/* Linux's don't-fragment control per socket (ip(7), ipv6(7)). glibc hides the names under
 * _POSIX_C_SOURCE, so the kernel's values are spelled out. */
#ifndef IP_MTU_DISCOVER
#define IP_MTU_DISCOVER 10
#endif
#ifndef IPV6_MTU_DISCOVER
#define IPV6_MTU_DISCOVER 23
#endif
#define PMTUDISC_WANT 1  /* the default: fragment datagrams larger than the route's MTU */
#define PMTUDISC_PROBE 3 /* DF set: a datagram too large for the link fails with EMSGSIZE */
#endif
#define CLOSE_LINGER_MS 2000       /* libutp resends a FIN after its RTO, at least 1 s */

/* ------------------------------------------------------------------------------------------ */
/* program state (one connection per process)                                                 */

struct netcat {
    /* options */
    int listen_mode;
    int no_stdin;
    int verbose;
    long sockbuf;          /* SO_RCVBUF/SO_SNDBUF, 0 = leave the OS default */
    long utpbuf;           /* UTP_SNDBUF/UTP_RCVBUF, 0 = leave the library default */
    size_t chunk;          /* stdin read size */
    double timeout_s;

    /* sockets */
    int fd;
    int family;
    utp_context *ctx;
    utp_socket *sock;      /* NULL before connect/accept and after DESTROYING */

    /* connection progress */
    int connected;         /* we know the socket is CONNECTED (see pump_stdin) */
    int write_blocked;     /* utp_write refused more; cleared by UTP_STATE_WRITABLE */
    int stdin_eof;
    int shut_wr;           /* utp_shutdown(SHUT_WR) issued */
    int peer_eof;          /* UTP_STATE_EOF seen */
    int closed;            /* utp_close issued */
    int destroyed;         /* UTP_STATE_DESTROYING seen */
    int failed;            /* any error: exit non-zero */
    int error_code;        /* last UTP_ON_ERROR code, -1 if none */
    int drained_pending;   /* data was consumed since the last utp_read_drained */

    /* stdin buffer */
    unsigned char *buf;
    size_t buf_len, buf_off;

    /* statistics */
    unsigned long long bytes_in, bytes_out;
    unsigned long long dgrams_in, dgrams_out, dgrams_not_utp, send_errors;
    unsigned long long writes, partial_writes, zero_writes, writable_events;
    double t_begin, t_start, t_peer_eof, t_stdin_done, t_end;
    int have_sock_stats;
    utp_socket_stats sock_stats;
};

static struct netcat nc;
static volatile sig_atomic_t got_signal;

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                     */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logf_(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "utp_netcat[%s]: ", nc.listen_mode ? "listen" : "connect");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define VLOG(...)                                                                              \
    do {                                                                                       \
        if (nc.verbose)                                                                        \
            logf_(__VA_ARGS__);                                                                \
    } while (0)

static void fail(const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logf_("error: %s", msg);
    nc.failed = 1;
}

static const char *addr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%u", host, port);
    } else {
        snprintf(out, outlen, "(family %d)", (int)sa->sa_family);
    }
    return out;
}

/* Numeric IPv4 or IPv6 literal plus port into a sockaddr; 0 on success. */
static int parse_addr(const char *host, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((unsigned short)port);
        *len = sizeof *a4;
        return 0;
    }
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)port);
        *len = sizeof *a6;
        return 0;
    }
    return -1;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Write all of it to stdout (blocking), retrying on EINTR and short writes. */
static int write_stdout(const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pf = {.fd = STDOUT_FILENO, .events = POLLOUT};
                poll(&pf, 1, 100);
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Received data waits here and goes to stdout in large writes: before the loop sleeps, and when
 * the buffer is full. One write per packet (about 1.4 KB) made stdout, not uTP, the cost that
 * decided a fast transfer into a pipe. */
static unsigned char out_buf[65536];
static size_t out_len;

static int flush_stdout(void)
{
    int r = write_stdout(out_buf, out_len);
    out_len = 0;
    return r;
}

/* Queue `n` received bytes for stdout. */
static int buffer_stdout(const unsigned char *p, size_t n)
{
    if (out_len + n > sizeof out_buf && flush_stdout() < 0)
        return -1;
    if (n > sizeof out_buf)
        return write_stdout(p, n);
    memcpy(out_buf + out_len, p, n);
    out_len += n;
    return 0;
}

static void refill_stdin(int known_readable);

/* ------------------------------------------------------------------------------------------ */
/* libutp callbacks                                                                            */

static uint64 cb_sendto(utp_callback_arguments *a)
{
    const struct sockaddr *to = a->address;
    socklen_t tolen = a->address_len;
    struct sockaddr_in6 mapped;

    /* The library reports IPv4 (and v4-mapped) peers as sockaddr_in. On a dual-stack IPv6
     * socket those must be sent to as v4-mapped IPv6 addresses. */
    if (nc.family == AF_INET6 && to->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)to;
        memset(&mapped, 0, sizeof mapped);
        mapped.sin6_family = AF_INET6;
        mapped.sin6_port = a4->sin_port;
        mapped.sin6_addr.s6_addr[10] = 0xff;
        mapped.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&mapped.sin6_addr.s6_addr[12], &a4->sin_addr, 4);
        to = (const struct sockaddr *)&mapped;
        tolen = sizeof mapped;
    }
#ifdef __linux__
    /* The library asks for DF on its path-MTU probes: a probe too large for the path must be
     * lost (here: refused with EMSGSIZE), not fragmented, or the search learns nothing. */
    int df = (a->flags & UTP_UDP_DONTFRAG) != 0;
    int level = nc.family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    int opt = nc.family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
    int mode = PMTUDISC_PROBE;
    if (df)
        setsockopt(nc.fd, level, opt, &mode, sizeof mode);
#endif
    for (;;) {
        ssize_t r = sendto(nc.fd, a->buf, a->len, 0, to, tolen);
        if (r >= 0) {
            nc.dgrams_out++;
            break;
        }
        if (errno == EINTR)
            continue;
        /* EAGAIN/ENOBUFS, or EMSGSIZE for a probe: the datagram is lost; uTP deals with it. */
        nc.send_errors++;
        if (nc.verbose > 1)
            logf_("sendto: %s", strerror(errno));
        break;
    }
#ifdef __linux__
    if (df) {
        mode = PMTUDISC_WANT;
        setsockopt(nc.fd, level, opt, &mode, sizeof mode);
    }
#endif
    return 0;
}

static uint64 cb_log(utp_callback_arguments *a)
{
    fprintf(stderr, "libutp: %s\n", (const char *)a->buf);
    return 0;
}

static uint64 cb_firewall(utp_callback_arguments *a)
{
    char s[80];
    /* accept exactly one connection */
    if (nc.sock != NULL || nc.closed || nc.destroyed) {
        VLOG("rejecting extra connection from %s", addr_str(a->address, s, sizeof s));
        return 1;
    }
    return 0;
}

static uint64 cb_accept(utp_callback_arguments *a)
{
    char s[80];
    if (nc.sock != NULL || nc.closed || nc.destroyed) {
        utp_close(a->socket);
        return 0;
    }
    nc.sock = a->socket;
    utp_set_userdata(a->socket, &nc);
    nc.t_start = now_s();
    logf_("accepted connection from %s", addr_str(a->address, s, sizeof s));
    return 0;
}

static uint64 cb_read(utp_callback_arguments *a)
{
    if (a->socket != nc.sock)
        return 0;
    nc.connected = 1; /* data only flows on a connected socket */
    if (buffer_stdout(a->buf, a->len) < 0) {
        fail("write to stdout: %s", strerror(errno));
        return 0;
    }
    nc.bytes_in += a->len;
    nc.drained_pending = 1;
    return 0;
}

static uint64 cb_read_buffer_size(utp_callback_arguments *a)
{
    (void)a;
    return out_len; /* received, not yet written to stdout (at most 64 KiB) */
}

static void snapshot_stats(utp_socket *s)
{
    utp_socket_stats *st = utp_get_stats(s); /* NULL in libutp builds without _DEBUG */
    if (st != NULL) {
        nc.sock_stats = *st;
        nc.have_sock_stats = 1;
    }
}

static uint64 cb_state(utp_callback_arguments *a)
{
    if (a->socket != nc.sock || a->socket == NULL)
        return 0;
    switch (a->state) {
    case UTP_STATE_CONNECT:
        nc.connected = 1;
        nc.t_start = now_s();
        logf_("connected");
        refill_stdin(0); /* data that is already waiting goes out as the first packet */
        if (nc.buf_off == nc.buf_len) {
            /* Nothing of ours to send yet. The acceptor cannot send until it has received a
             * data packet, so unblock it with an empty one (as go-libutp does). */
            ssize_t r = utp_write(nc.sock, NULL, 0);
            VLOG("empty write on connect returned %zd", r);
        }
        break;
    case UTP_STATE_WRITABLE:
        nc.writable_events++;
        nc.write_blocked = 0;
        break;
    case UTP_STATE_EOF:
        if (!nc.peer_eof) {
            nc.peer_eof = 1;
            nc.connected = 1;
            nc.t_peer_eof = now_s();
            VLOG("peer EOF after %llu bytes", nc.bytes_in);
        }
        break;
    case UTP_STATE_DESTROYING:
        snapshot_stats(a->socket);
        nc.destroyed = 1;
        nc.sock = NULL;
        nc.t_end = now_s();
        VLOG("socket destroyed");
        break;
    default:
        VLOG("unknown state %d", a->state);
        break;
    }
    return 0;
}

static uint64 cb_error(utp_callback_arguments *a)
{
    int code = a->error_code;
    const char *name = (code >= 0 && code <= 2) ? utp_error_code_names[code] : "?";
    if (a->socket != nc.sock)
        return 0;
    nc.error_code = code;
    fail("uTP error %d (%s)", code, name);
    if (!nc.closed && nc.sock != NULL) {
        snapshot_stats(nc.sock);
        nc.closed = 1;
        utp_close(nc.sock); /* a socket in the error state is only freed after utp_close */
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stdin -> uTP                                                                                */

static int stdin_readable_now(void)
{
    struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
    int r = poll(&pf, 1, 0);
    return r > 0 && (pf.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

/* Refill the stdin buffer if it is empty; only when a read will not block. */
static void refill_stdin(int known_readable)
{
    if (nc.stdin_eof || nc.buf_off < nc.buf_len)
        return;
    if (!known_readable && !stdin_readable_now())
        return;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, nc.buf, nc.chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fail("read stdin: %s", strerror(errno));
            nc.stdin_eof = 1;
        } else if (r == 0) {
            nc.stdin_eof = 1;
            nc.t_stdin_done = now_s();
            VLOG("stdin EOF after %llu bytes", nc.bytes_out);
        }
        nc.buf_off = 0;
        nc.buf_len = r > 0 ? (size_t)r : 0;
        return;
    }
}

/*
 * Offer buffered stdin to utp_write until it refuses more. libutp's acceptor gets no event when
 * it becomes connected (it only learns it from the initiator's first data packet), so until
 * something proves the socket connected, a refusal is not treated as "blocked": the write is
 * simply retried on the next loop iteration.
 */
static void pump_stdin(int stdin_ready)
{
    int rounds = 0;
    if (nc.sock == NULL || nc.closed || nc.shut_wr || nc.failed)
        return;
    if (!nc.listen_mode && !nc.connected)
        return; /* connector: wait for UTP_STATE_CONNECT */
    while (!nc.write_blocked && rounds++ < 256) {
        refill_stdin(stdin_ready);
        stdin_ready = 0;
        if (nc.buf_off == nc.buf_len)
            break;
        size_t want = nc.buf_len - nc.buf_off;
        ssize_t n = utp_write(nc.sock, nc.buf + nc.buf_off, want);
        nc.writes++;
        if (n < 0) {
            fail("utp_write returned %zd", n);
            return;
        }
        if (n == 0) {
            nc.zero_writes++;
            if (nc.connected)
                nc.write_blocked = 1;
            break;
        }
        if ((size_t)n > want) {
            fail("utp_write returned %zd for %zu bytes", n, want);
            return;
        }
        if ((size_t)n < want)
            nc.partial_writes++;
        if (!nc.connected)
            VLOG("first write accepted: socket is connected");
        nc.connected = 1;
        nc.buf_off += (size_t)n;
        nc.bytes_out += (unsigned long long)n;
    }
}

/* Shut down our sending half, or close, once the respective conditions hold. */
static void advance_close(void)
{
    if (nc.sock == NULL || nc.closed)
        return;
    int our_side_done = nc.stdin_eof && nc.buf_off == nc.buf_len;
    if (our_side_done && nc.peer_eof) {
        snapshot_stats(nc.sock);
        nc.closed = 1;
        VLOG("closing (sent %llu, received %llu)", nc.bytes_out, nc.bytes_in);
        utp_close(nc.sock); /* sends our FIN too if SHUT_WR was not issued yet */
        return;
    }
    /* A FIN can only be queued on a connected socket; libutp ignores shutdown before that. */
    if (our_side_done && !nc.shut_wr && nc.connected) {
        nc.shut_wr = 1;
        VLOG("stdin done: shutdown(SHUT_WR) after %llu bytes", nc.bytes_out);
        utp_shutdown(nc.sock, SHUT_WR);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* UDP socket                                                                                  */

static int open_udp(const struct sockaddr_storage *bind_ss, socklen_t bind_len)
{
    int fd = socket(bind_ss->ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        fail("socket: %s", strerror(errno));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        fail("fcntl(O_NONBLOCK): %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (nc.sockbuf > 0) {
        /* The default buffers (~208 KiB) overflow under one window burst on loopback, and every
         * loss then costs an RTO of at least a second. */
        int v = (int)nc.sockbuf;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0)
            logf_("warning: setting socket buffers: %s", strerror(errno));
        int got_r = 0, got_s = 0;
        socklen_t l1 = sizeof got_r, l2 = sizeof got_s;
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got_r, &l1);
        getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got_s, &l2);
        /* Linux reports twice the requested value; less than the request means a clamp. */
        if (got_r < v || got_s < v)
            logf_("warning: socket buffers clamped by the kernel (rcv %d, snd %d, wanted %d);"
                  " raise net.core.rmem_max/wmem_max",
                  got_r, got_s, v);
        VLOG("socket buffers: rcv %d snd %d", got_r, got_s);
    }
    if (bind(fd, (const struct sockaddr *)bind_ss, bind_len) < 0) {
        char s[80];
        fail("bind %s: %s", addr_str((const struct sockaddr *)bind_ss, s, sizeof s),
             strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Feed every waiting datagram to the library, then flush its deferred ACKs. */
static void drain_udp(void)
{
    static unsigned char dgram[DGRAM_MAX];
    int n;
    for (n = 0; n < MAX_DGRAMS_PER_DRAIN; n++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t r = recvfrom(nc.fd, dgram, sizeof dgram, 0, (struct sockaddr *)&from, &fromlen);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
                continue; /* a queued ICMP report; the connection's own timers deal with it */
            fail("recvfrom: %s", strerror(errno));
            break;
        }
        nc.dgrams_in++;
        if (!utp_process_udp(nc.ctx, dgram, (size_t)r, (const struct sockaddr *)&from, fromlen))
            nc.dgrams_not_utp++;
    }
    if (nc.drained_pending && nc.sock != NULL && !nc.closed) {
        nc.drained_pending = 0;
        utp_read_drained(nc.sock);
    }
    utp_issue_deferred_acks(nc.ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* main                                                                                        */

static void on_signal(int sig)
{
    got_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: utp_netcat -l [options] -p PORT              listen for one connection\n"
            "       utp_netcat [options] HOST PORT                connect to HOST (IP literal)\n"
            "Received data goes to stdout; stdin is sent to the peer.\n"
            "  -l          listen mode (-p 0 binds an ephemeral port; the port is printed)\n"
            "  -p PORT     local port (listen mode: required)\n"
            "  -s ADDR     local address to bind (IPv4/IPv6 literal; listen default 127.0.0.1,\n"
            "              connect default: the wildcard of HOST's family)\n"
            "  -N          do not read stdin (send nothing)\n"
            "  -b BYTES    SO_RCVBUF/SO_SNDBUF of the UDP socket (default 4194304, 0 = OS default)\n"
            "  -w BYTES    UTP_SNDBUF/UTP_RCVBUF (default: the library's)\n"
            "  -B BYTES    stdin read size (default 65536)\n"
            "  -t SECONDS  overall timeout (default 120); on expiry exit with status 3\n"
            "  -v          verbose; -vv also enables the library's own log, -vvv its debug log\n"
            "  -h          this help\n"
            "Exit status: 0 clean transfer, 1 error, 2 usage, 3 timeout, 4 signal.\n");
}

static void print_summary(void)
{
    double t_last = nc.t_end > 0 ? nc.t_end : now_s();
    double t0 = nc.t_start > 0 ? nc.t_start : nc.t_begin;
    if (nc.bytes_in > 0 || (nc.bytes_out == 0 && nc.t_start > 0)) {
        /* receiving: from connect/accept until the peer's EOF */
        double d = (nc.t_peer_eof > 0 ? nc.t_peer_eof : t_last) - t0;
        logf_("received %llu bytes in %.3f s (%.1f MiB/s, connect to peer EOF)", nc.bytes_in, d,
              d > 0 ? (double)nc.bytes_in / 1048576.0 / d : 0.0);
    }
    if (nc.bytes_out > 0) {
        /* sending: until the last byte was accepted by utp_write (at most one window early) */
        double d = (nc.t_stdin_done > 0 ? nc.t_stdin_done : t_last) - t0;
        logf_("sent %llu bytes in %.3f s (%.1f MiB/s, connect to last byte accepted by utp_write)",
              nc.bytes_out, d, d > 0 ? (double)nc.bytes_out / 1048576.0 / d : 0.0);
    }
    logf_("total %.3f s from start to %s", t_last - nc.t_begin,
          nc.t_end > 0 ? "UTP_STATE_DESTROYING" : "exit");
    logf_("datagrams in %llu (not uTP %llu), out %llu (send errors %llu); utp_write calls %llu "
          "(partial %llu, refused %llu), WRITABLE events %llu",
          nc.dgrams_in, nc.dgrams_not_utp, nc.dgrams_out, nc.send_errors, nc.writes,
          nc.partial_writes, nc.zero_writes, nc.writable_events);
    if (nc.have_sock_stats) {
        const utp_socket_stats *s = &nc.sock_stats;
        logf_("socket stats: recv %llu B, xmit %llu B, rexmit %u, fastrexmit %u, nxmit %u, "
              "nrecv %u, nduprecv %u, mtu_guess %u",
              (unsigned long long)s->nbytes_recv, (unsigned long long)s->nbytes_xmit,
              (unsigned)s->rexmit, (unsigned)s->fastrexmit, (unsigned)s->nxmit,
              (unsigned)s->nrecv, (unsigned)s->nduprecv, (unsigned)s->mtu_guess);
    } else {
        logf_("socket stats: not available (utp_get_stats returned NULL)");
    }
    utp_context_stats *cs = nc.ctx ? utp_get_context_stats(nc.ctx) : NULL;
    if (cs != NULL) {
        logf_("context stats: recv by size %u/%u/%u/%u/%u, send by size %u/%u/%u/%u/%u",
              cs->_nraw_recv[0], cs->_nraw_recv[1], cs->_nraw_recv[2], cs->_nraw_recv[3],
              cs->_nraw_recv[4], cs->_nraw_send[0], cs->_nraw_send[1], cs->_nraw_send[2],
              cs->_nraw_send[3], cs->_nraw_send[4]);
    }
}

int main(int argc, char **argv)
{
    const char *bind_host = NULL;
    long local_port = -1, v;
    int opt;

    memset(&nc, 0, sizeof nc);
    nc.fd = -1;
    nc.sockbuf = 4L << 20;
    nc.chunk = 65536;
    nc.timeout_s = 120;
    nc.error_code = -1;
    nc.t_begin = now_s();

    while ((opt = getopt(argc, argv, "lNp:s:b:w:B:t:vh")) != -1) {
        switch (opt) {
        case 'l': nc.listen_mode = 1; break;
        case 'N': nc.no_stdin = 1; break;
        case 'v': nc.verbose++; break;
        case 's': bind_host = optarg; break;
        case 'p':
            if (parse_long(optarg, 0, 65535, &local_port) < 0)
                goto bad;
            break;
        case 'b':
            if (parse_long(optarg, 0, INT_MAX, &nc.sockbuf) < 0)
                goto bad;
            break;
        case 'w':
            if (parse_long(optarg, 1, INT_MAX, &nc.utpbuf) < 0)
                goto bad;
            break;
        case 'B':
            if (parse_long(optarg, 1, 1L << 26, &v) < 0)
                goto bad;
            nc.chunk = (size_t)v;
            break;
        case 't':
            if (parse_long(optarg, 1, 86400 * 7, &v) < 0)
                goto bad;
            nc.timeout_s = (double)v;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: goto bad;
        }
    }

    struct sockaddr_storage peer_ss, bind_ss;
    socklen_t peer_len = 0, bind_len = 0;
    if (nc.listen_mode) {
        if (optind != argc || local_port < 0)
            goto bad;
        if (parse_addr(bind_host ? bind_host : "127.0.0.1", (unsigned)local_port, &bind_ss,
                       &bind_len) < 0) {
            logf_("not a numeric IP address: %s", bind_host);
            return EXIT_USAGE;
        }
    } else {
        long port;
        if (optind + 2 != argc || parse_long(argv[optind + 1], 1, 65535, &port) < 0)
            goto bad;
        if (parse_addr(argv[optind], (unsigned)port, &peer_ss, &peer_len) < 0) {
            logf_("not a numeric IP address: %s", argv[optind]);
            return EXIT_USAGE;
        }
        const char *wild = peer_ss.ss_family == AF_INET6 ? "::" : "0.0.0.0";
        if (parse_addr(bind_host ? bind_host : wild, local_port < 0 ? 0 : (unsigned)local_port,
                       &bind_ss, &bind_len) < 0) {
            logf_("not a numeric IP address: %s", bind_host);
            return EXIT_USAGE;
        }
        if (bind_ss.ss_family != peer_ss.ss_family) {
            logf_("bind address and HOST must be of the same family");
            return EXIT_USAGE;
        }
    }
    nc.family = bind_ss.ss_family;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    nc.buf = malloc(nc.chunk);
    if (nc.buf == NULL) {
        logf_("out of memory");
        return EXIT_FAIL;
    }
    if (nc.no_stdin)
        nc.stdin_eof = 1;

    nc.fd = open_udp(&bind_ss, bind_len);
    if (nc.fd < 0)
        return EXIT_FAIL;
    {
        struct sockaddr_storage local;
        socklen_t ll = sizeof local;
        char s[80];
        if (getsockname(nc.fd, (struct sockaddr *)&local, &ll) == 0 && nc.listen_mode)
            logf_("listening on %s", addr_str((struct sockaddr *)&local, s, sizeof s));
    }

    nc.ctx = utp_init(2);
    if (nc.ctx == NULL) {
        logf_("utp_init(2) failed");
        return EXIT_FAIL;
    }
    utp_context_set_userdata(nc.ctx, &nc);
    utp_set_callback(nc.ctx, UTP_SENDTO, cb_sendto);
    utp_set_callback(nc.ctx, UTP_ON_READ, cb_read);
    utp_set_callback(nc.ctx, UTP_ON_STATE_CHANGE, cb_state);
    utp_set_callback(nc.ctx, UTP_ON_ERROR, cb_error);
    utp_set_callback(nc.ctx, UTP_GET_READ_BUFFER_SIZE, cb_read_buffer_size);
    if (nc.listen_mode) {
        utp_set_callback(nc.ctx, UTP_ON_FIREWALL, cb_firewall);
        utp_set_callback(nc.ctx, UTP_ON_ACCEPT, cb_accept);
    }
    if (nc.verbose > 1) {
        utp_set_callback(nc.ctx, UTP_LOG, cb_log);
        utp_context_set_option(nc.ctx, UTP_LOG_NORMAL, 1);
        utp_context_set_option(nc.ctx, UTP_LOG_MTU, 1);
    }
    if (nc.verbose > 2)
        utp_context_set_option(nc.ctx, UTP_LOG_DEBUG, 1);
    if (nc.utpbuf > 0) {
        if (utp_context_set_option(nc.ctx, UTP_SNDBUF, (int)nc.utpbuf) != 0 ||
            utp_context_set_option(nc.ctx, UTP_RCVBUF, (int)nc.utpbuf) != 0)
            logf_("warning: setting UTP_SNDBUF/UTP_RCVBUF failed");
    }

    if (!nc.listen_mode) {
        char s[80];
        nc.sock = utp_create_socket(nc.ctx);
        if (nc.sock == NULL) {
            logf_("utp_create_socket failed");
            return EXIT_FAIL;
        }
        utp_set_userdata(nc.sock, &nc);
        VLOG("connecting to %s", addr_str((struct sockaddr *)&peer_ss, s, sizeof s));
        if (utp_connect(nc.sock, (struct sockaddr *)&peer_ss, peer_len) != 0) {
            logf_("utp_connect failed");
            return EXIT_FAIL;
        }
    }

    int status = EXIT_OK;
    double deadline = nc.t_begin + nc.timeout_s;
    while (!nc.destroyed) {
        if (got_signal) {
            logf_("interrupted by signal %d", (int)got_signal);
            status = EXIT_SIGNAL;
            break;
        }
        if (now_s() > deadline) {
            logf_("error: timeout after %.0f s (sent %llu, received %llu%s%s)", nc.timeout_s,
                  nc.bytes_out, nc.bytes_in, nc.peer_eof ? ", peer EOF seen" : "",
                  nc.closed ? ", close pending" : "");
            status = EXIT_TIMEOUT;
            break;
        }

        struct pollfd pf[2];
        int nfds = 1, stdin_slot = -1;
        pf[0].fd = nc.fd;
        pf[0].events = POLLIN;
        pf[0].revents = 0;
        /* Watch stdin only when its data could be handed to utp_write right away. */
        if (nc.sock != NULL && !nc.stdin_eof && nc.buf_off == nc.buf_len && !nc.closed &&
            !nc.write_blocked && (nc.connected || nc.listen_mode)) {
            stdin_slot = nfds++;
            pf[stdin_slot].fd = STDIN_FILENO;
            pf[stdin_slot].events = POLLIN;
            pf[stdin_slot].revents = 0;
        }
        if (out_len > 0 && flush_stdout() < 0) {
            fail("write to stdout: %s", strerror(errno));
            break;
        }
        int r = poll(pf, (nfds_t)nfds, POLL_MS);
        if (r < 0 && errno != EINTR) {
            fail("poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && (pf[0].revents & (POLLIN | POLLERR)))
            drain_udp();
        int stdin_ready = stdin_slot >= 0 && r > 0 && pf[stdin_slot].revents != 0;
        pump_stdin(stdin_ready);
        advance_close();
        utp_check_timeouts(nc.ctx);
        if (nc.failed && !nc.closed && nc.sock != NULL) {
            nc.closed = 1;
            utp_close(nc.sock);
        }
    }

    if (out_len > 0 && flush_stdout() < 0) {
        logf_("error: write to stdout: %s", strerror(errno));
        status = EXIT_FAIL;
    }
    if (status == EXIT_OK && nc.destroyed && nc.t_peer_eof > nc.t_stdin_done) {
        /* TIME-WAIT: the peer's FIN came last; answer it again should our ACK have been lost. */
        VLOG("lingering %d ms for the peer's FIN", CLOSE_LINGER_MS);
        double until = now_s() + CLOSE_LINGER_MS / 1000.0;
        while (now_s() < until && !got_signal) {
            struct pollfd pf;
            pf.fd = nc.fd;
            pf.events = POLLIN;
            pf.revents = 0;
            if (poll(&pf, 1, POLL_MS) > 0 && (pf.revents & (POLLIN | POLLERR)))
                drain_udp();
            utp_check_timeouts(nc.ctx);
        }
    }
    if (nc.failed && status == EXIT_OK)
        status = EXIT_FAIL;
    if (status == EXIT_OK && !(nc.peer_eof && nc.stdin_eof && nc.buf_off == nc.buf_len)) {
        logf_("error: connection ended before the transfer completed");
        status = EXIT_FAIL;
    }
    if (!nc.destroyed && nc.sock != NULL)
        snapshot_stats(nc.sock);
    print_summary();
    utp_destroy(nc.ctx); /* fires DESTROYING for a socket still alive */
    nc.ctx = NULL;
    close(nc.fd);
    free(nc.buf);
    if (status == EXIT_OK)
        logf_("done");
    return status;

bad:
    usage(stderr);
    return EXIT_USAGE;
}
