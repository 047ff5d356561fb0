/*
 * inmem_pair: two libutp contexts in one process, joined by an in-memory link, moving N MiB
 * from one to the other; written only against the public libutp C API (utp.h), so the same
 * source links against rutp's libutp and against the reference libutp.
 *
 *   inmem_pair [MIB]        (default 64)
 *
 * Side A connects to side B and writes MIB MiB of a deterministic pattern with utp_write
 * (partial writes wait for UTP_STATE_WRITABLE), then closes. Side B accepts, checks every byte
 * in UTP_ON_READ, and closes when its EOF arrives. The program exits 0 only when every byte
 * arrived exactly, no error was reported and both sockets reached UTP_STATE_DESTROYING; it then
 * prints the MiB moved and the datagram counts.
 *
 * Nothing touches a socket, the real clock or a random source, so two runs execute the same
 * instructions (what scripts/bench-callgrind.sh counts):
 * - The link: UTP_SENDTO appends the datagram to a queue towards the other context. The loop
 *   runs in rounds: A's application writes (or closes), then B is handed, as one batch, every
 *   datagram queued for it (utp_process_udp), calls utp_read_drained once if data was read (as
 *   examples/c/utp_netcat.c does after a drain) and utp_issue_deferred_acks; then the same for
 *   A; then utp_check_timeouts on both. What a batch provokes waits for the next batch to that
 *   side. No loss, no reordering, no duplication.
 * - Time: UTP_GET_MILLISECONDS and UTP_GET_MICROSECONDS return a virtual clock that advances
 *   HOP_US before each batch (the link's one-way delay), and IDLE_US at the end of a round in
 *   which nothing is left in flight and A cannot write (a real loop would sleep in poll() until
 *   its timeout), so that timers fire.
 * - Randomness: UTP_GET_RANDOM returns a fixed pseudo-random sequence.
 * - Buffers: UTP_SNDBUF and UTP_RCVBUF are set to 1 MiB on both contexts, libutp's own default,
 *   so both libraries start from the same sizes whatever their defaults. UTP_GET_READ_BUFFER_SIZE
 *   is not installed: the reader consumes everything inside UTP_ON_READ, so nothing is buffered.
 *   The MTU callbacks keep each library's default, as a normal client does.
 *
 * The reference libutp frees the sender once its FIN is acknowledged, so the receiver's own FIN
 * meets no socket and the receiver gets ECONNRESET while closing. That comes after its EOF and
 * every byte, so it is printed as a note, not counted as a failure; any other error fails.
 *
 * For callgrind: every callback is named harness_cb_* and calls nothing in the library, and all
 * library calls happen inside harness_transfer(); `--toggle-collect='harness_transfer*'
 * --toggle-collect='harness_cb_*'` (the * also matches a compiler's clone, such as
 * harness_transfer.constprop.0) then counts the library's instructions, plus this loop's few,
 * and leaves out process start-up, the pattern, and the harness's copying and checking.
 *
 * Build: cc -std=c99 -O2 -Wall -Wextra -Werror -I INCDIR inmem_pair.c -L LIBDIR -lutp [-lstdc++]
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "utp.h" /* in C, libutp's utp_types.h typedefs `bool`, so <stdbool.h> is not used */

#define MIB 1048576ULL
#define DEFAULT_MIB 64
/* The clock advances this much before each batch is delivered, so every datagram is seen
 * 50 us after it was sent (a LAN-like round trip of 100 us). Our choice; it must not be 0:
 * libutp ignores a one-way delay sample of 0 and then never grows its window. */
#define HOP_US 50ULL
/* Clock jump when nothing is in flight: 10 ms, the poll() timeout of examples/c/utp_netcat.c
 * (POLL_MS), i.e. how late a real loop services timers when no datagram wakes it. */
#define IDLE_US 10000ULL
/* The virtual clock starts at 1000 s: far from 0, which some code may treat as "never". */
#define START_US 1000000000ULL
/* Give up after this much virtual time per MiB, plus a minute: a stalled transfer fails
 * instead of looping. The reference moves a MiB in well under a virtual second here. */
#define LIMIT_US_PER_MIB 10000000ULL
#define LIMIT_US_BASE 60000000ULL
/* The pattern repeats every 65521 bytes (the largest prime below 2^16), so its period never
 * lines up with a packet size. */
#define PATTERN_LEN 65521u
/* Largest single utp_write: our choice, a typical application buffer. */
#define WRITE_MAX 65536u
/* Buffer options for both contexts: 1 MiB, libutp's default for both (API notes, utp_init). */
#define SOCKET_BUFFER 1048576
/* Datagram queue records are aligned to this many bytes. */
#define RECORD_ALIGN 8u

/* ------------------------------------------------------------------------------------------ */
/* the in-memory link                                                                          */

/* Datagrams in order, each stored as a uint32_t length followed by the bytes, padded to
 * RECORD_ALIGN. Appending may move the storage; a queue is never appended to while read. */
struct queue {
    unsigned char *buf;
    size_t used;
    size_t cap;
    uint64_t count; /* datagrams ever appended */
};

/* One direction: `fill` collects what the sender sends; a round swaps it with `drain` and
 * delivers `drain`, so datagrams sent during a round wait for the next. */
struct direction {
    struct queue q[2];
    int fill;
};

struct side {
    const char *name;
    utp_context *ctx;
    utp_socket *sock;
    struct sockaddr_in addr;
    struct direction inbound; /* datagrams on their way to this side */
    struct side *peer;
    int destroyed;
};

static struct {
    struct side a, b;
    uint64_t now_us;
    uint64_t rng;
    unsigned char *pattern;
    uint64_t total;         /* bytes to move */
    uint64_t written;       /* accepted by utp_write on A */
    uint64_t received;      /* checked on B */
    int connected;          /* A saw UTP_STATE_CONNECT */
    int write_blocked;      /* a write was short; wait for UTP_STATE_WRITABLE */
    int eof_b;              /* B saw UTP_STATE_EOF */
    int drained_pending;    /* B read data since its last utp_read_drained */
    int failed;             /* a callback saw something wrong (already printed) */
    uint64_t stray;         /* datagrams sent to an address that is neither side */
    int late_error;         /* error code the receiver got while closing after its EOF, or -1 */
} h;

static void fail(const char *what)
{
    if (!h.failed)
        fprintf(stderr, "inmem_pair: %s\n", what);
    h.failed = 1;
}

static void queue_push(struct queue *q, const unsigned char *data, size_t len)
{
    size_t need = (sizeof(uint32_t) + len + RECORD_ALIGN - 1) & ~(size_t)(RECORD_ALIGN - 1);
    if (len > UINT32_MAX) {
        fail("datagram too large");
        return;
    }
    if (q->used + need > q->cap) {
        size_t cap = q->cap ? q->cap : 1u << 20;
        while (q->used + need > cap)
            cap *= 2;
        unsigned char *grown = realloc(q->buf, cap);
        if (!grown) {
            fail("out of memory");
            return;
        }
        q->buf = grown;
        q->cap = cap;
    }
    uint32_t len32 = (uint32_t)len;
    memcpy(q->buf + q->used, &len32, sizeof len32);
    memcpy(q->buf + q->used + sizeof len32, data, len);
    q->used += need;
    q->count++;
}

static int direction_pending(const struct direction *d)
{
    return d->q[d->fill].used != 0;
}

/* Hands `to` every datagram queued for it before this call; returns how many. */
static uint64_t deliver(struct side *to)
{
    struct direction *d = &to->inbound;
    struct queue *q = &d->q[d->fill];
    d->fill ^= 1;
    uint64_t n = 0;
    size_t at = 0;
    while (at < q->used) {
        uint32_t len;
        memcpy(&len, q->buf + at, sizeof len);
        const unsigned char *dgram = q->buf + at + sizeof len;
        if (utp_process_udp(to->ctx, dgram, len, (const struct sockaddr *)&to->peer->addr,
                            sizeof to->peer->addr) != 1)
            fail("utp_process_udp did not recognise a datagram as uTP");
        at += (sizeof len + len + RECORD_ALIGN - 1) & ~(size_t)(RECORD_ALIGN - 1);
        n++;
    }
    q->used = 0;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* deterministic data                                                                          */

/* 64-bit linear congruential generator with Knuth's MMIX constants (TAOCP vol. 2, 3.3.4). */
static uint64_t next_random(void)
{
    h.rng = h.rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return h.rng >> 32;
}

static int make_pattern(void)
{
    h.pattern = malloc(PATTERN_LEN);
    if (!h.pattern)
        return -1;
    /* xorshift32 with Marsaglia's shifts 13, 17, 5 ("Xorshift RNGs", 2003). */
    uint32_t x = 2463534242u;
    for (unsigned i = 0; i < PATTERN_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        h.pattern[i] = (unsigned char)(x >> 24);
    }
    return 0;
}

/* Checks `len` received bytes against the pattern at stream offset h.received. */
static void check_bytes(const unsigned char *buf, size_t len)
{
    while (len > 0) {
        size_t at = (size_t)(h.received % PATTERN_LEN);
        size_t n = PATTERN_LEN - at < len ? PATTERN_LEN - at : len;
        if (h.received + n > h.total) {
            fail("more bytes arrived than were sent");
            return;
        }
        if (memcmp(buf, h.pattern + at, n) != 0) {
            for (size_t i = 0; i < n; i++) {
                if (buf[i] != h.pattern[at + i]) {
                    fprintf(stderr, "inmem_pair: wrong byte at offset %llu\n",
                            (unsigned long long)(h.received + i));
                    break;
                }
            }
            fail("received data differs from what was sent");
            return;
        }
        h.received += n;
        buf += n;
        len -= n;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* callbacks: they record what happened and never call into the library                       */

static struct side *side_of(utp_context *ctx)
{
    return ctx == h.a.ctx ? &h.a : ctx == h.b.ctx ? &h.b : NULL;
}

static uint64 harness_cb_sendto(utp_callback_arguments *args)
{
    struct side *from = side_of(args->context);
    const struct sockaddr_in *to = (const struct sockaddr_in *)args->address;
    if (!from || args->address_len < (socklen_t)sizeof *to || to->sin_family != AF_INET ||
        to->sin_port != from->peer->addr.sin_port ||
        to->sin_addr.s_addr != from->peer->addr.sin_addr.s_addr) {
        h.stray++;
        return 0;
    }
    struct direction *d = &from->peer->inbound;
    queue_push(&d->q[d->fill], args->buf, args->len);
    return 0;
}

static uint64 harness_cb_on_read(utp_callback_arguments *args)
{
    if (h.failed)
        return 0; /* the first failure was reported; the rest would only repeat it */
    if (args->socket != h.b.sock || h.b.sock == NULL) {
        fail("data arrived on a socket other than the receiver's");
        return 0;
    }
    check_bytes(args->buf, args->len);
    h.drained_pending = 1;
    return 0;
}

static uint64 harness_cb_on_accept(utp_callback_arguments *args)
{
    if (args->context != h.b.ctx || h.b.sock != NULL)
        fail("unexpected incoming connection");
    else
        h.b.sock = args->socket;
    return 0;
}

static uint64 harness_cb_on_state(utp_callback_arguments *args)
{
    utp_socket *s = args->socket;
    switch (args->state) {
    case UTP_STATE_CONNECT:
        if (s == h.a.sock)
            h.connected = 1;
        break;
    case UTP_STATE_WRITABLE:
        if (s == h.a.sock)
            h.write_blocked = 0;
        break;
    case UTP_STATE_EOF:
        if (s == h.b.sock && s != NULL)
            h.eof_b = 1;
        else
            fail("EOF on the sender");
        break;
    case UTP_STATE_DESTROYING:
        if (s == h.a.sock)
            h.a.destroyed = 1;
        else if (s == h.b.sock && s != NULL)
            h.b.destroyed = 1;
        break;
    default:
        break;
    }
    return 0;
}

static uint64 harness_cb_on_error(utp_callback_arguments *args)
{
    /* The reference libutp frees the sender as soon as its FIN is acknowledged, without waiting
     * for the receiver's FIN; that FIN is then answered with a reset (or goes unanswered), and
     * the receiver gets ECONNRESET (or ETIMEDOUT) during its close. By then it has every byte
     * and its EOF, so this is noted, not a failure. */
    if (args->socket == h.b.sock && h.b.sock != NULL && h.eof_b && h.received == h.total) {
        h.late_error = args->error_code;
        return 0;
    }
    fprintf(stderr, "inmem_pair: UTP_ON_ERROR %d on the %s\n", args->error_code,
            args->socket == h.a.sock ? "sender" : "receiver");
    fail("the library reported an error");
    return 0;
}

static uint64 harness_cb_milliseconds(utp_callback_arguments *args)
{
    (void)args;
    return h.now_us / 1000;
}

static uint64 harness_cb_microseconds(utp_callback_arguments *args)
{
    (void)args;
    return h.now_us;
}

static uint64 harness_cb_random(utp_callback_arguments *args)
{
    (void)args;
    return next_random();
}

/* ------------------------------------------------------------------------------------------ */
/* the transfer                                                                                */

static int setup_side(struct side *s, const char *name, uint16_t port, struct side *peer)
{
    s->name = name;
    s->peer = peer;
    memset(&s->addr, 0, sizeof s->addr);
    s->addr.sin_family = AF_INET;
    s->addr.sin_port = htons(port);
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->ctx = utp_init(2);
    if (!s->ctx)
        return -1;
    utp_set_callback(s->ctx, UTP_SENDTO, harness_cb_sendto);
    utp_set_callback(s->ctx, UTP_ON_READ, harness_cb_on_read);
    utp_set_callback(s->ctx, UTP_ON_ACCEPT, harness_cb_on_accept);
    utp_set_callback(s->ctx, UTP_ON_STATE_CHANGE, harness_cb_on_state);
    utp_set_callback(s->ctx, UTP_ON_ERROR, harness_cb_on_error);
    utp_set_callback(s->ctx, UTP_GET_MILLISECONDS, harness_cb_milliseconds);
    utp_set_callback(s->ctx, UTP_GET_MICROSECONDS, harness_cb_microseconds);
    utp_set_callback(s->ctx, UTP_GET_RANDOM, harness_cb_random);
    if (utp_context_set_option(s->ctx, UTP_SNDBUF, SOCKET_BUFFER) != 0 ||
        utp_context_set_option(s->ctx, UTP_RCVBUF, SOCKET_BUFFER) != 0)
        return -1;
    return 0;
}

/* A's application work for one round: write while the library takes bytes, close when done. */
static void sender_work(int *closed_a)
{
    while (h.connected && !h.write_blocked && h.written < h.total && !h.failed) {
        size_t at = (size_t)(h.written % PATTERN_LEN);
        uint64_t left = h.total - h.written;
        size_t n = PATTERN_LEN - at;
        if (n > WRITE_MAX)
            n = WRITE_MAX;
        if (n > left)
            n = (size_t)left;
        ssize_t took = utp_write(h.a.sock, h.pattern + at, n);
        if (took < 0 || (size_t)took > n) {
            fail("utp_write returned an impossible count");
            return;
        }
        h.written += (uint64_t)took;
        if ((size_t)took < n)
            h.write_blocked = 1;
    }
    if (h.written == h.total && !*closed_a) {
        utp_close(h.a.sock);
        *closed_a = 1;
    }
}

struct outcome {
    uint64_t rounds;
    uint64_t elapsed_us;
};

/* Everything that calls the library; see the header comment on callgrind. */
__attribute__((noinline)) static int harness_transfer(struct outcome *out)
{
    if (setup_side(&h.a, "sender", 4001, &h.b) != 0 ||
        setup_side(&h.b, "receiver", 4002, &h.a) != 0) {
        fprintf(stderr, "inmem_pair: utp_init or utp_context_set_option failed\n");
        return -1;
    }
    h.a.sock = utp_create_socket(h.a.ctx);
    if (!h.a.sock ||
        utp_connect(h.a.sock, (const struct sockaddr *)&h.b.addr, sizeof h.b.addr) != 0) {
        fprintf(stderr, "inmem_pair: utp_create_socket or utp_connect failed\n");
        return -1;
    }
    uint64_t limit = h.now_us + LIMIT_US_BASE + LIMIT_US_PER_MIB * (h.total / MIB);
    uint64_t start = h.now_us;
    int closed_a = 0, closed_b = 0;
    while (!(h.a.destroyed && h.b.destroyed) && !h.failed) {
        if (h.now_us > limit) {
            fprintf(stderr, "inmem_pair: stalled: %llu of %llu bytes written, %llu checked\n",
                    (unsigned long long)h.written, (unsigned long long)h.total,
                    (unsigned long long)h.received);
            fail("no progress within the virtual time limit");
            break;
        }
        if (!closed_a)
            sender_work(&closed_a);
        if (h.eof_b && !closed_b) {
            utp_close(h.b.sock);
            closed_b = 1;
        }
        h.now_us += HOP_US;
        deliver(&h.b);
        if (h.drained_pending && !h.b.destroyed) {
            h.drained_pending = 0;
            utp_read_drained(h.b.sock);
        }
        utp_issue_deferred_acks(h.b.ctx);
        h.now_us += HOP_US;
        deliver(&h.a);
        utp_issue_deferred_acks(h.a.ctx);
        utp_check_timeouts(h.a.ctx);
        utp_check_timeouts(h.b.ctx);
        int can_write = h.connected && !h.write_blocked && h.written < h.total;
        int busy = direction_pending(&h.a.inbound) || direction_pending(&h.b.inbound) ||
                   can_write || (h.eof_b && !closed_b);
        if (!busy)
            h.now_us += IDLE_US;
        out->rounds++;
    }
    out->elapsed_us = h.now_us - start;
    utp_destroy(h.a.ctx);
    utp_destroy(h.b.ctx);
    return h.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    long mib = DEFAULT_MIB;
    if (argc > 2 || (argc == 2 && ((mib = strtol(argv[1], NULL, 10)) < 1 || mib > 1048576))) {
        fprintf(stderr, "usage: inmem_pair [MIB]   (1 to 1048576, default %d)\n", DEFAULT_MIB);
        return 2;
    }
    memset(&h, 0, sizeof h);
    h.total = (uint64_t)mib * MIB;
    h.now_us = START_US;
    h.late_error = -1;
    h.rng = 0x2545F4914F6CDD1DULL; /* any fixed seed */
    if (make_pattern() != 0) {
        fprintf(stderr, "inmem_pair: out of memory\n");
        return 1;
    }
    struct outcome out = { 0, 0 };
    int rc = harness_transfer(&out);
    if (rc == 0 && (h.received != h.total || h.written != h.total)) {
        fprintf(stderr, "inmem_pair: %llu of %llu bytes arrived\n",
                (unsigned long long)h.received, (unsigned long long)h.total);
        rc = -1;
    }
    if (h.stray) {
        fprintf(stderr, "inmem_pair: %llu datagrams sent to an unknown address\n",
                (unsigned long long)h.stray);
        rc = -1;
    }
    uint64_t ab = h.b.inbound.q[0].count + h.b.inbound.q[1].count;
    uint64_t ba = h.a.inbound.q[0].count + h.a.inbound.q[1].count;
    printf("inmem_pair: %s: %ld MiB %s (%llu bytes checked), datagrams %llu "
           "(sender->receiver %llu, receiver->sender %llu), %llu rounds, %.3f s virtual\n",
           rc == 0 ? "ok" : "FAILED", mib, rc == 0 ? "moved" : "not moved",
           (unsigned long long)h.received,
           (unsigned long long)(ab + ba), (unsigned long long)ab, (unsigned long long)ba,
           (unsigned long long)out.rounds, (double)out.elapsed_us / 1e6);
    if (h.late_error >= 0)
        printf("inmem_pair: note: the receiver got %s while closing, after its EOF\n",
               h.late_error <= UTP_ETIMEDOUT ? utp_error_code_names[h.late_error] : "an error");
    for (int i = 0; i < 2; i++) {
        free(h.a.inbound.q[i].buf);
        free(h.b.inbound.q[i].buf);
    }
    free(h.pattern);
    return rc == 0 ? 0 : 1;
}
