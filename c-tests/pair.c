/*
 * pair.c: the deterministic two-context harness described in pair.h.
 */
#include "pair.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- failure reporting -------------------------------------------------------------------- */

static const pair *g_current; /* the pair whose seed and clock a failure message reports */

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (g_current) {
        fprintf(stderr, "  [virtual time %.6f s]", (double)pair_now_us(g_current) / 1e6);
    }
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

void test_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ---- PRNG and pattern ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t splitmix64(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    return mix64(*state);
}

static uint64_t pattern_block(uint64_t key, uint64_t block)
{
    return mix64(key ^ (block * 0x9E3779B97F4A7C15ull) ^ 0xD1B54A32D192ED03ull);
}

void pattern_fill(uint64_t key, uint64_t offset, unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t pos = offset + i;
        uint64_t v = pattern_block(key, pos >> 3);
        unsigned k;
        for (k = (unsigned)(pos & 7); k < 8 && i < len; k++, i++) {
            buf[i] = (unsigned char)(v >> (8 * k));
        }
    }
}

long pattern_check(uint64_t key, uint64_t offset, const unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t pos = offset + i;
        uint64_t v = pattern_block(key, pos >> 3);
        unsigned k;
        for (k = (unsigned)(pos & 7); k < 8 && i < len; k++, i++) {
            if (buf[i] != (unsigned char)(v >> (8 * k))) return (long)i;
        }
    }
    return -1;
}

/* ---- wire helpers --------------------------------------------------------------------------- */

static unsigned be16(const unsigned char *b) { return ((unsigned)b[0] << 8) | b[1]; }
static void put16(unsigned char *b, unsigned v)
{
    b[0] = (unsigned char)(v >> 8);
    b[1] = (unsigned char)v;
}
static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

unsigned pkt_type(const unsigned char *buf) { return buf[0] >> 4; }
unsigned pkt_version(const unsigned char *buf) { return buf[0] & 15; }
unsigned pkt_connid(const unsigned char *buf) { return be16(buf + 2); }
unsigned pkt_seq(const unsigned char *buf) { return be16(buf + 16); }
unsigned pkt_ack(const unsigned char *buf) { return be16(buf + 18); }

void pkt_build(unsigned char out[20], unsigned type, unsigned connid, uint32_t ts_us,
               uint32_t ts_diff_us, uint32_t wnd, unsigned seq, unsigned ack)
{
    out[0] = (unsigned char)((type << 4) | 1);
    out[1] = 0;
    put16(out + 2, connid);
    put32(out + 4, ts_us);
    put32(out + 8, ts_diff_us);
    put32(out + 12, wnd);
    put16(out + 16, seq);
    put16(out + 18, ack);
}

size_t pkt_header_len(const unsigned char *b, size_t len)
{
    size_t off = 20;
    unsigned ext;
    if (len < 20) return 0;
    ext = b[1];
    while (ext) {
        if (off + 2 > len) return 0;
        ext = b[off];
        off += 2u + b[off + 1];
        if (off > len) return 0;
    }
    return off;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct dgram {
    uint64_t t;     /* delivery time */
    uint64_t order; /* tie-break: FIFO among datagrams due at the same instant */
    int from, to;
    size_t len;
    unsigned char data[1];
} dgram;

typedef struct tracked {
    const utp_socket *s;
    int side;
    int alive;
} tracked;

struct pair {
    uint64_t seed;
    uint64_t now;
    uint64_t next_tick;
    uint64_t order;
    uint64_t net_rng;
    uint64_t side_rng[PAIR_SIDES];
    utp_context *ctx[PAIR_SIDES];
    struct sockaddr_in addr[PAIR_SIDES];
    pair_link link[PAIR_SIDES];
    uint64_t link_busy_until[PAIR_SIDES];
    utp_callback_t *user_cb[PAIR_SIDES][UTP_ARRAY_SIZE];
    pair_filter_fn filter;
    void *filter_arg;
    pair_tick_fn tick;
    void *tick_arg;
    pair_counters counters;
    unsigned ncb[PAIR_SIDES][UTP_ARRAY_SIZE];
    unsigned nstate[PAIR_SIDES][5];
    unsigned nerr[PAIR_SIDES][3];
    dgram **heap;
    size_t heap_len, heap_cap;
    tracked *socks;
    size_t nsocks, socks_cap;
    int trace;
    stream *listen[PAIR_SIDES];
    stream *streams[32];
    size_t nstreams;
    const utp_context *detached[4]; /* destroyed by the test itself (pair_detach) */
    size_t ndetached;
};

/* Contexts alive in the process, so that callbacks can find their pair without using the
 * context userdata (which stays free for the tests). */
#define MAX_REG 16
static struct {
    const utp_context *ctx;
    pair *p;
    int side;
} g_reg[MAX_REG];

static void reg_add(const utp_context *ctx, pair *p, int side)
{
    int i;
    for (i = 0; i < MAX_REG; i++) {
        if (!g_reg[i].ctx) {
            g_reg[i].ctx = ctx;
            g_reg[i].p = p;
            g_reg[i].side = side;
            return;
        }
    }
    test_fail(__FILE__, __LINE__, "harness: too many contexts");
}

static void reg_del(const utp_context *ctx)
{
    int i;
    for (i = 0; i < MAX_REG; i++) {
        if (g_reg[i].ctx == ctx) g_reg[i].ctx = NULL;
    }
}

static pair *reg_find(const utp_context *ctx, int *side)
{
    int i;
    for (i = 0; i < MAX_REG; i++) {
        if (ctx && g_reg[i].ctx == ctx) {
            *side = g_reg[i].side;
            return g_reg[i].p;
        }
    }
    test_fail(__FILE__, __LINE__, "callback for a context the harness does not know (%p)",
              (const void *)ctx);
}

/* ---- queue (binary min-heap on (t, order)) -------------------------------------------------- */

static int dg_before(const dgram *a, const dgram *b)
{
    return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void heap_push(pair *p, dgram *d)
{
    size_t i;
    if (p->heap_len == p->heap_cap) {
        p->heap_cap = p->heap_cap ? p->heap_cap * 2 : 256;
        p->heap = (dgram **)realloc(p->heap, p->heap_cap * sizeof(*p->heap));
        if (!p->heap) test_fail(__FILE__, __LINE__, "out of memory");
    }
    i = p->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!dg_before(d, p->heap[parent])) break;
        p->heap[i] = p->heap[parent];
        i = parent;
    }
    p->heap[i] = d;
}

static dgram *heap_pop(pair *p)
{
    dgram *top = p->heap[0];
    dgram *last = p->heap[--p->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= p->heap_len) break;
        if (c + 1 < p->heap_len && dg_before(p->heap[c + 1], p->heap[c])) c++;
        if (!dg_before(p->heap[c], last)) break;
        p->heap[i] = p->heap[c];
        i = c;
    }
    if (p->heap_len) p->heap[i] = last;
    return top;
}

static void enqueue(pair *p, int from, int to, const unsigned char *buf, size_t len, uint64_t t)
{
    /* Exactly the datagram's bytes, no slack: a read past the end is an invalid read under
     * valgrind and ASan, as it would be past a real receive buffer. */
    size_t size = offsetof(dgram, data) + len;
    dgram *d = (dgram *)malloc(size < sizeof(dgram) ? sizeof(dgram) : size);
    if (!d) test_fail(__FILE__, __LINE__, "out of memory");
    d->t = t;
    d->order = p->order++;
    d->from = from;
    d->to = to;
    d->len = len;
    if (len) memcpy(d->data, buf, len);
    heap_push(p, d);
}

/* ---- lifecycle tracking --------------------------------------------------------------------- */

static tracked *track_find(const pair *p, const utp_socket *s)
{
    size_t i;
    for (i = 0; i < p->nsocks; i++) {
        if (p->socks[i].s == s) return &p->socks[i];
    }
    return NULL;
}

static void track_birth(pair *p, int side, const utp_socket *s, const char *how)
{
    tracked *t = track_find(p, s);
    if (t) {
        if (t->alive) {
            test_fail(__FILE__, __LINE__, "%s returned socket %p, which is still alive", how,
                      (const void *)s);
        }
    } else {
        if (p->nsocks == p->socks_cap) {
            p->socks_cap = p->socks_cap ? p->socks_cap * 2 : 16;
            p->socks = (tracked *)realloc(p->socks, p->socks_cap * sizeof(*p->socks));
            if (!p->socks) test_fail(__FILE__, __LINE__, "out of memory");
        }
        t = &p->socks[p->nsocks++];
        t->s = s;
    }
    t->side = side;
    t->alive = 1;
}

static const char *cb_name(int cb)
{
    static const char *names[] = {"ON_FIREWALL", "ON_ACCEPT", "ON_CONNECT", "ON_ERROR",
                                  "ON_READ", "ON_OVERHEAD_STATISTICS", "ON_STATE_CHANGE",
                                  "GET_READ_BUFFER_SIZE", "ON_DELAY_SAMPLE", "GET_UDP_MTU",
                                  "GET_UDP_OVERHEAD", "GET_MILLISECONDS", "GET_MICROSECONDS",
                                  "GET_RANDOM", "LOG", "SENDTO"};
    return cb >= 0 && cb < 16 ? names[cb] : "?";
}

static void track_require_alive(pair *p, int side, const utp_socket *s, int cb)
{
    tracked *t;
    if (!s) test_fail(__FILE__, __LINE__, "%s with a NULL socket", cb_name(cb));
    t = track_find(p, s);
    if (!t) {
        test_fail(__FILE__, __LINE__,
                  "%s for socket %p, which the application never created nor accepted",
                  cb_name(cb), (const void *)s);
    }
    if (!t->alive) {
        test_fail(__FILE__, __LINE__, "%s for socket %p after its UTP_STATE_DESTROYING",
                  cb_name(cb), (const void *)s);
    }
    if (t->side != side) {
        test_fail(__FILE__, __LINE__, "%s for socket %p on the wrong context", cb_name(cb),
                  (const void *)s);
    }
}

/* ---- callbacks owned by the harness ---------------------------------------------------------- */

static int route(const pair *p, const struct sockaddr *sa, socklen_t len)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    int i;
    if (!sa || len < (socklen_t)sizeof(struct sockaddr_in) || sa->sa_family != AF_INET) return -1;
    for (i = 0; i < PAIR_SIDES; i++) {
        if (in->sin_port == p->addr[i].sin_port &&
            in->sin_addr.s_addr == p->addr[i].sin_addr.s_addr) {
            return i;
        }
    }
    return -1;
}

static uint32_t rnd_ppm(pair *p) { return (uint32_t)(splitmix64(&p->net_rng) % 1000000u); }

static void trace_dgram(const pair *p, const char *what, int from, const unsigned char *b,
                        size_t len)
{
    if (!p->trace) return;
    if (len >= 20) {
        fprintf(stderr, "%12.6f %c %-8s type=%u conn=%u seq=%u ack=%u len=%zu\n",
                (double)p->now / 1e6, 'A' + from, what, pkt_type(b), pkt_connid(b), pkt_seq(b),
                pkt_ack(b), len);
    } else {
        fprintf(stderr, "%12.6f %c %-8s len=%zu\n", (double)p->now / 1e6, 'A' + from, what, len);
    }
}

static uint64 cb_sendto(utp_callback_arguments *a)
{
    int from;
    pair *p = reg_find(a->context, &from);
    pair_counters *c = &p->counters;
    const pair_link *l = &p->link[from];
    unsigned type;
    int to;
    uint64_t t, depart;

    CHECKF(a->callback_type == UTP_SENDTO, "SENDTO with callback_type %d", a->callback_type);
    CHECKF(a->buf != NULL && a->len > 0 && a->len <= 65507, "SENDTO with a bad buffer (len %zu)",
           a->len);
    c->sent[from]++;
    type = a->len >= 20 ? pkt_type(a->buf) : 7;
    c->type_sent[from][type < 7 ? type : 7]++;
    if (a->flags & UTP_UDP_DONTFRAG) c->dontfrag[from]++;

    to = route(p, a->address, a->address_len);
    if (to < 0) {
        c->blackholed[from]++;
        trace_dgram(p, "nowhere", from, a->buf, a->len);
        return 0;
    }
    if (p->filter && p->filter(p->filter_arg, p, from, a->buf, a->len)) {
        c->filtered[from]++;
        trace_dgram(p, "filtered", from, a->buf, a->len);
        return 0;
    }
    if (l->loss_ppm && rnd_ppm(p) < l->loss_ppm) {
        c->lost[from]++;
        trace_dgram(p, "lost", from, a->buf, a->len);
        return 0;
    }
    depart = p->now;
    if (l->rate_kbps) {
        uint64_t ser = ((uint64_t)a->len * 8000u + l->rate_kbps - 1) / l->rate_kbps;
        if (p->link_busy_until[from] > depart) depart = p->link_busy_until[from];
        p->link_busy_until[from] = depart + ser;
        depart += ser;
    }
    t = depart + (l->delay_us ? l->delay_us : 1);
    if (l->reorder_ppm && l->reorder_us && rnd_ppm(p) < l->reorder_ppm) {
        t += 1 + splitmix64(&p->net_rng) % l->reorder_us;
        c->reordered[from]++;
    }
    trace_dgram(p, "send", from, a->buf, a->len);
    enqueue(p, from, to, a->buf, a->len, t);
    if (l->dup_ppm && rnd_ppm(p) < l->dup_ppm) {
        c->duplicated[from]++;
        enqueue(p, from, to, a->buf, a->len, t + 1 + splitmix64(&p->net_rng) % 1000u);
    }
    return 0;
}

static uint64 cb_milliseconds(utp_callback_arguments *a)
{
    int side;
    pair *p = reg_find(a->context, &side);
    return p->now / 1000u;
}

static uint64 cb_microseconds(utp_callback_arguments *a)
{
    int side;
    pair *p = reg_find(a->context, &side);
    return p->now;
}

static uint64 cb_random(utp_callback_arguments *a)
{
    int side;
    pair *p = reg_find(a->context, &side);
    return (uint32_t)(splitmix64(&p->side_rng[side]) >> 16);
}

/* ---- wrappers around test callbacks ---------------------------------------------------------- */

static uint64 dispatch(int cb, utp_callback_arguments *a)
{
    int side;
    pair *p = reg_find(a->context, &side);
    utp_callback_t *fn;
    uint64 ret;
    int destroying = 0;

    if (a->callback_type != cb) {
        test_fail(__FILE__, __LINE__, "callback %s delivered with callback_type %d", cb_name(cb),
                  a->callback_type);
    }
    p->ncb[side][cb]++;
    switch (cb) {
    case UTP_ON_ACCEPT:
        CHECKF(a->socket != NULL, "ON_ACCEPT with a NULL socket");
        track_birth(p, side, a->socket, "ON_ACCEPT");
        break;
    case UTP_ON_ERROR:
        track_require_alive(p, side, a->socket, cb);
        CHECKF(a->error_code >= 0 && a->error_code <= 2, "ON_ERROR with error_code %d",
               a->error_code);
        p->nerr[side][a->error_code]++;
        break;
    case UTP_ON_STATE_CHANGE:
        track_require_alive(p, side, a->socket, cb);
        CHECKF(a->state >= 1 && a->state <= 4, "ON_STATE_CHANGE with state %d", a->state);
        p->nstate[side][a->state]++;
        destroying = a->state == UTP_STATE_DESTROYING;
        break;
    case UTP_ON_CONNECT:
    case UTP_ON_READ:
    case UTP_ON_DELAY_SAMPLE:
        track_require_alive(p, side, a->socket, cb);
        break;
    default:
        break;
    }
    fn = p->user_cb[side][cb];
    ret = fn ? fn(a) : 0;
    if (destroying) {
        tracked *t = track_find(p, a->socket);
        if (t) t->alive = 0;
    }
    return ret;
}

#define TRAMPOLINE(name, cb)                                                                   \
    static uint64 name(utp_callback_arguments *a) { return dispatch(cb, a); }
TRAMPOLINE(tr_firewall, UTP_ON_FIREWALL)
TRAMPOLINE(tr_accept, UTP_ON_ACCEPT)
TRAMPOLINE(tr_connect, UTP_ON_CONNECT)
TRAMPOLINE(tr_error, UTP_ON_ERROR)
TRAMPOLINE(tr_read, UTP_ON_READ)
TRAMPOLINE(tr_overhead, UTP_ON_OVERHEAD_STATISTICS)
TRAMPOLINE(tr_state, UTP_ON_STATE_CHANGE)
TRAMPOLINE(tr_rbsize, UTP_GET_READ_BUFFER_SIZE)
TRAMPOLINE(tr_delay, UTP_ON_DELAY_SAMPLE)
TRAMPOLINE(tr_mtu, UTP_GET_UDP_MTU)
TRAMPOLINE(tr_udp_overhead, UTP_GET_UDP_OVERHEAD)
TRAMPOLINE(tr_log, UTP_LOG)

static utp_callback_t *trampoline_for(int cb)
{
    switch (cb) {
    case UTP_ON_FIREWALL: return tr_firewall;
    case UTP_ON_ACCEPT: return tr_accept;
    case UTP_ON_CONNECT: return tr_connect;
    case UTP_ON_ERROR: return tr_error;
    case UTP_ON_READ: return tr_read;
    case UTP_ON_OVERHEAD_STATISTICS: return tr_overhead;
    case UTP_ON_STATE_CHANGE: return tr_state;
    case UTP_GET_READ_BUFFER_SIZE: return tr_rbsize;
    case UTP_ON_DELAY_SAMPLE: return tr_delay;
    case UTP_GET_UDP_MTU: return tr_mtu;
    case UTP_GET_UDP_OVERHEAD: return tr_udp_overhead;
    case UTP_LOG: return tr_log;
    default: return NULL;
    }
}

/* ---- construction ----------------------------------------------------------------------------- */

static utp_context *make_ctx(pair *p, int side)
{
    int cb;
    utp_context *ctx = utp_init(2);
    if (!ctx) test_fail(__FILE__, __LINE__, "utp_init(2) returned NULL");
    reg_add(ctx, p, side);
    utp_set_callback(ctx, UTP_SENDTO, cb_sendto);
    utp_set_callback(ctx, UTP_GET_MILLISECONDS, cb_milliseconds);
    utp_set_callback(ctx, UTP_GET_MICROSECONDS, cb_microseconds);
    utp_set_callback(ctx, UTP_GET_RANDOM, cb_random);
    for (cb = 0; cb < 16; cb++) {
        if (p->user_cb[side][cb]) utp_set_callback(ctx, cb, trampoline_for(cb));
    }
    return ctx;
}

pair *pair_new(uint64_t seed)
{
    pair *p = (pair *)calloc(1, sizeof(*p));
    const char *tr = getenv("RUTP_CTESTS_TRACE");
    int i;
    if (!p) test_fail(__FILE__, __LINE__, "out of memory");
    p->seed = seed;
    p->now = PAIR_T0_US;
    p->next_tick = PAIR_T0_US + PAIR_TICK_US;
    p->net_rng = seed ^ 0x6E6574776F726B21ull;
    p->trace = tr && *tr && *tr != '0';
    for (i = 0; i < PAIR_SIDES; i++) {
        p->side_rng[i] = seed * 31u + 0x5EED0000u + (uint64_t)i;
        p->addr[i].sin_family = AF_INET;
        p->addr[i].sin_port = htons((unsigned short)(10001 + i));
        p->addr[i].sin_addr.s_addr = htonl(0x7F000001u);
        p->ctx[i] = make_ctx(p, i);
    }
    g_current = p;
    return p;
}

void pair_free(pair *p)
{
    int i;
    size_t k;
    for (i = 0; i < PAIR_SIDES; i++) {
        utp_destroy(p->ctx[i]);
        reg_del(p->ctx[i]);
        p->ctx[i] = NULL;
    }
    for (k = 0; k < p->ndetached; k++) reg_del(p->detached[k]);
    for (k = 0; k < p->nstreams; k++) {
        free(p->streams[k]->chunk);
        p->streams[k]->chunk = NULL;
    }
    for (k = 0; k < p->heap_len; k++) free(p->heap[k]);
    free(p->heap);
    free(p->socks);
    if (g_current == p) g_current = NULL;
    free(p);
}

/* utp_destroy freed every socket of a side's context, with or without DESTROYING (sockets never
 * connected get none): none of them is alive any more, and their addresses may be reused. */
static void track_side_gone(pair *p, int side)
{
    size_t i;
    for (i = 0; i < p->nsocks; i++) {
        if (p->socks[i].side == side) p->socks[i].alive = 0;
    }
}

utp_context *pair_restart(pair *p, int side)
{
    utp_context *old = p->ctx[side];
    utp_destroy(old);
    reg_del(old);
    track_side_gone(p, side);
    p->ctx[side] = make_ctx(p, side);
    return p->ctx[side];
}

void pair_detach(pair *p, int side)
{
    if (!p->ctx[side]) return;
    if (p->ndetached == sizeof(p->detached) / sizeof(p->detached[0])) {
        test_fail(__FILE__, __LINE__, "harness: too many detached contexts");
    }
    p->detached[p->ndetached++] = p->ctx[side];
    p->ctx[side] = NULL;
}

utp_context *pair_ctx(const pair *p, int side) { return p->ctx[side]; }

int pair_side_of(const pair *p, const utp_context *ctx)
{
    int i;
    for (i = 0; i < PAIR_SIDES; i++) {
        if (p->ctx[i] == ctx) return i;
    }
    return -1;
}

const struct sockaddr *pair_addr(const pair *p, int side)
{
    return (const struct sockaddr *)&p->addr[side];
}

socklen_t pair_addrlen(void) { return (socklen_t)sizeof(struct sockaddr_in); }

const struct sockaddr *pair_nowhere(void)
{
    static struct sockaddr_in nowhere;
    nowhere.sin_family = AF_INET;
    nowhere.sin_port = htons(9);
    nowhere.sin_addr.s_addr = htonl(0x7F000009u);
    return (const struct sockaddr *)&nowhere;
}

uint64_t pair_now_us(const pair *p) { return p->now; }
const pair_counters *pair_stats(const pair *p) { return &p->counters; }
size_t pair_in_flight(const pair *p) { return p->heap_len; }

void pair_set_link(pair *p, int from, const pair_link *link) { p->link[from] = *link; }

void pair_set_filter(pair *p, pair_filter_fn fn, void *arg)
{
    p->filter = fn;
    p->filter_arg = arg;
}

void pair_set_tick_hook(pair *p, pair_tick_fn fn, void *arg)
{
    p->tick = fn;
    p->tick_arg = arg;
}

void pair_set_callback(pair *p, int side, int callback, utp_callback_t *fn)
{
    utp_callback_t *tr = trampoline_for(callback);
    if (!tr) {
        test_fail(__FILE__, __LINE__, "pair_set_callback: callback %d belongs to the harness",
                  callback);
    }
    p->user_cb[side][callback] = fn;
    utp_set_callback(p->ctx[side], callback, fn ? tr : NULL);
}

utp_socket *pair_create_socket(pair *p, int side)
{
    utp_socket *s = utp_create_socket(p->ctx[side]);
    if (!s) test_fail(__FILE__, __LINE__, "utp_create_socket returned NULL");
    track_birth(p, side, s, "utp_create_socket");
    return s;
}

utp_socket *pair_connect(pair *p, int from)
{
    utp_socket *s = pair_create_socket(p, from);
    int r = utp_connect(s, pair_addr(p, 1 - from), pair_addrlen());
    if (r != 0) test_fail(__FILE__, __LINE__, "utp_connect returned %d", r);
    return s;
}

void pair_inject(pair *p, int from, const void *buf, size_t len, uint64_t delay_us)
{
    trace_dgram(p, "inject", from, (const unsigned char *)buf, len);
    enqueue(p, from, 1 - from, (const unsigned char *)buf, len, p->now + (delay_us ? delay_us : 1));
}

/* ---- event loop ------------------------------------------------------------------------------- */

void pair_step(pair *p)
{
    int i;
    if (p->heap_len && p->heap[0]->t <= p->next_tick) {
        uint64_t t = p->heap[0]->t;
        int got[PAIR_SIDES] = {0, 0};
        if (t > p->now) p->now = t;
        while (p->heap_len && p->heap[0]->t <= t) {
            dgram *d = heap_pop(p);
            int r;
            trace_dgram(p, "deliver", d->from, d->data, d->len);
            r = utp_process_udp(p->ctx[d->to], d->data, d->len, pair_addr(p, d->from),
                                pair_addrlen());
            CHECKF(r == 0 || r == 1, "utp_process_udp returned %d", r);
            p->counters.delivered[d->from]++;
            if (!r) p->counters.not_utp[d->from]++;
            got[d->to] = 1;
            free(d);
        }
        for (i = 0; i < PAIR_SIDES; i++) {
            if (got[i]) utp_issue_deferred_acks(p->ctx[i]);
        }
    } else {
        p->now = p->next_tick;
        p->next_tick += PAIR_TICK_US;
        for (i = 0; i < PAIR_SIDES; i++) {
            utp_check_timeouts(p->ctx[i]);
            utp_issue_deferred_acks(p->ctx[i]);
        }
        if (p->tick) p->tick(p->tick_arg, p);
    }
}

int pair_run_until(pair *p, int (*pred)(void *), void *arg, uint64_t max_us)
{
    uint64_t deadline = p->now + max_us;
    while (!pred(arg)) {
        if (p->now >= deadline) return 0;
        pair_step(p);
    }
    return 1;
}

void pair_run_for(pair *p, uint64_t us)
{
    uint64_t deadline = p->now + us;
    for (;;) {
        uint64_t next = p->next_tick;
        if (p->heap_len && p->heap[0]->t < next) next = p->heap[0]->t;
        if (next > deadline) break;
        pair_step(p);
    }
    if (p->now < deadline) p->now = deadline;
}

/* ---- counters --------------------------------------------------------------------------------- */

unsigned pair_count_cb(const pair *p, int side, int callback) { return p->ncb[side][callback]; }

unsigned pair_count_state(const pair *p, int side, int state)
{
    return state >= 1 && state <= 4 ? p->nstate[side][state] : 0;
}

unsigned pair_count_error(const pair *p, int side, int error_code)
{
    return error_code >= 0 && error_code <= 2 ? p->nerr[side][error_code] : 0;
}

unsigned pair_live_sockets(const pair *p, int side)
{
    unsigned n = 0;
    size_t i;
    for (i = 0; i < p->nsocks; i++) {
        if (p->socks[i].alive && p->socks[i].side == side) n++;
    }
    return n;
}

int pair_socket_alive(const pair *p, const utp_socket *s)
{
    const tracked *t = track_find(p, s);
    return t && t->alive;
}

/* ---- the stream application ------------------------------------------------------------------- */

#define STREAM_CHUNK 65536u

void stream_init(stream *st, uint64_t tx_key, uint64_t rx_key, uint64_t tx_total,
                 uint64_t rx_total)
{
    memset(st, 0, sizeof(*st));
    st->tx_key = tx_key;
    st->rx_key = rx_key;
    st->tx_total = tx_total;
    st->rx_total = rx_total;
    st->auto_close = 1;
    st->first_write = -2;
}

static void stream_register(pair *p, int side, stream *st)
{
    if (p->nstreams == sizeof(p->streams) / sizeof(p->streams[0])) {
        test_fail(__FILE__, __LINE__, "harness: too many streams");
    }
    st->p = p;
    st->side = side;
    p->streams[p->nstreams++] = st;
}

static int stream_errors(const stream *st)
{
    return (int)(st->n_error[0] + st->n_error[1] + st->n_error[2]);
}

static void stream_maybe_close(stream *st)
{
    if (st->auto_close && st->shut && st->n_eof && !st->closed && !st->n_destroying) {
        st->closed = 1;
        utp_close(st->s);
    }
}

void stream_pump(stream *st)
{
    if (!st->s || st->closed || st->n_destroying || stream_errors(st)) return;
    while (st->tx < st->tx_total) {
        size_t n;
        ssize_t r;
        /* st->chunk caches the pattern of [chunk_off, chunk_off + chunk_len): a socket that takes
         * one packet per WRITABLE event must not cost a 64 KiB refill each time. */
        if (st->tx < st->chunk_off || st->tx >= st->chunk_off + st->chunk_len) {
            uint64_t left = st->tx_total - st->tx;
            if (!st->chunk) {
                st->chunk = (unsigned char *)malloc(STREAM_CHUNK);
                if (!st->chunk) test_fail(__FILE__, __LINE__, "out of memory");
            }
            st->chunk_off = st->tx;
            st->chunk_len = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
            pattern_fill(st->tx_key, st->chunk_off, st->chunk, st->chunk_len);
        }
        n = (size_t)(st->chunk_off + st->chunk_len - st->tx);
        r = utp_write(st->s, st->chunk + (st->tx - st->chunk_off), n);
        if (st->first_write == -2) st->first_write = (int)r;
        if (r < 0 || (size_t)r > n) {
            test_fail(__FILE__, __LINE__, "side %c: utp_write(%zu) returned %ld", 'A' + st->side,
                      n, (long)r);
        }
        if (r == 0) {
            st->n_zero_writes++;
            break;
        }
        st->tx += (uint64_t)r;
        if ((size_t)r < n) break; /* the window is full: wait for WRITABLE */
    }
    /* Shut down only once the connection is established: libutp sends no FIN for a shutdown in
     * SYN_SENT or SYN_RECV. */
    if (st->tx == st->tx_total && st->auto_close && !st->shut &&
        (st->n_connect || st->tx || st->n_read)) {
        st->shut = 1;
        utp_shutdown(st->s, SHUT_WR);
    }
    stream_maybe_close(st);
}

static stream *stream_of(const utp_callback_arguments *a)
{
    stream *st = (stream *)utp_get_userdata(a->socket);
    if (!st) test_fail(__FILE__, __LINE__, "event for a socket without its stream");
    return st;
}

static uint64 stream_on_accept(utp_callback_arguments *a)
{
    int side;
    pair *p = reg_find(a->context, &side);
    stream *st = p->listen[side];
    if (!st) test_fail(__FILE__, __LINE__, "side %c: unexpected ON_ACCEPT", 'A' + side);
    p->listen[side] = NULL;
    st->s = a->socket;
    st->n_accept++;
    CHECK(utp_set_userdata(a->socket, st) == st);
    stream_pump(st);
    return 0;
}

static uint64 stream_on_read(utp_callback_arguments *a)
{
    stream *st = stream_of(a);
    long bad;
    if (st->closed) st->n_read_after_close++;
    if (st->n_eof) st->n_read_after_eof++;
    if (stream_errors(st)) st->n_event_after_error++;
    CHECKF(a->buf != NULL && a->len > 0, "ON_READ with an empty buffer (len %zu)", a->len);
    if (st->rx + a->len > st->rx_total) {
        test_fail(__FILE__, __LINE__, "side %c: %llu bytes received, only %llu were sent",
                  'A' + st->side, (unsigned long long)(st->rx + a->len),
                  (unsigned long long)st->rx_total);
    }
    bad = pattern_check(st->rx_key, st->rx, a->buf, a->len);
    if (bad >= 0) {
        test_fail(__FILE__, __LINE__, "side %c: received byte %llu of the stream is wrong",
                  'A' + st->side, (unsigned long long)(st->rx + (uint64_t)bad));
    }
    st->rx += a->len;
    st->n_read++;
    if (st->drain_per_tick) {
        st->buffered += a->len;
        if (st->buffered > st->max_buffered) st->max_buffered = st->buffered;
    } else {
        utp_read_drained(a->socket); /* as ucat does after consuming the data */
    }
    stream_pump(st);
    return 0;
}

static uint64 stream_on_state(utp_callback_arguments *a)
{
    stream *st = stream_of(a);
    if (stream_errors(st) && a->state != UTP_STATE_DESTROYING) st->n_event_after_error++;
    switch (a->state) {
    case UTP_STATE_CONNECT:
        st->n_connect++;
        stream_pump(st);
        break;
    case UTP_STATE_WRITABLE:
        st->n_writable++;
        stream_pump(st);
        break;
    case UTP_STATE_EOF:
        st->n_eof++;
        if (st->n_eof > 1) test_fail(__FILE__, __LINE__, "side %c: second EOF", 'A' + st->side);
        if (st->rx != st->rx_total) {
            test_fail(__FILE__, __LINE__, "side %c: EOF after %llu of %llu bytes", 'A' + st->side,
                      (unsigned long long)st->rx, (unsigned long long)st->rx_total);
        }
        stream_pump(st);
        stream_maybe_close(st);
        break;
    case UTP_STATE_DESTROYING:
        st->n_destroying++;
        break;
    default:
        break;
    }
    return 0;
}

static uint64 stream_on_error(utp_callback_arguments *a)
{
    stream *st = stream_of(a);
    st->n_error[a->error_code]++;
    if (st->close_on_error && !st->closed) {
        st->closed = 1;
        utp_close(a->socket);
    }
    return 0;
}

static uint64 stream_read_buffer_size(utp_callback_arguments *a)
{
    stream *st = a->socket ? (stream *)utp_get_userdata(a->socket) : NULL;
    return st ? st->buffered : 0;
}

static void stream_tick(void *arg, pair *p)
{
    size_t i;
    (void)arg;
    for (i = 0; i < p->nstreams; i++) {
        stream *st = p->streams[i];
        if (st->drain_per_tick && st->buffered && st->s && !st->n_destroying) {
            st->buffered -= st->buffered < st->drain_per_tick ? st->buffered : st->drain_per_tick;
            utp_read_drained(st->s);
        }
    }
}

void stream_install(pair *p, int side)
{
    pair_set_callback(p, side, UTP_ON_ACCEPT, stream_on_accept);
    pair_set_callback(p, side, UTP_ON_READ, stream_on_read);
    pair_set_callback(p, side, UTP_ON_STATE_CHANGE, stream_on_state);
    pair_set_callback(p, side, UTP_ON_ERROR, stream_on_error);
    pair_set_callback(p, side, UTP_GET_READ_BUFFER_SIZE, stream_read_buffer_size);
    pair_set_tick_hook(p, stream_tick, NULL);
}

void stream_listen(pair *p, int side, stream *st)
{
    stream_register(p, side, st);
    p->listen[side] = st;
}

void stream_connect(pair *p, int side, stream *st)
{
    stream_register(p, side, st);
    st->s = pair_create_socket(p, side);
    CHECK(utp_set_userdata(st->s, st) == st);
    if (utp_connect(st->s, pair_addr(p, 1 - side), pair_addrlen()) != 0) {
        test_fail(__FILE__, __LINE__, "utp_connect failed");
    }
}

int pair_run_cases(int argc, char **argv, const pair_case *cases, size_t count)
{
    size_t i;
    int ran = 0;
    for (i = 0; i < count; i++) {
        if (argc < 2 || strcmp(argv[1], cases[i].name) == 0) {
            cases[i].fn();
            printf("ok %s\n", cases[i].name);
            ran++;
        }
    }
    if (!ran) {
        fprintf(stderr, "unknown case %s\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    return 0;
}
