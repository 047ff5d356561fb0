/*
 * test_misuse_managed.c: every function of utp_managed.h against every handle condition, as a
 * table (rutp only), over real loopback UDP.
 *
 * Columns:
 *   null      NULL handles (utp_managed_create: a NULL address; set_threads: 257)
 *   plain     a context from utp_init (not managed) and its socket (create: an AF_UNIX
 *             address; set_threads: -1)
 *   live      a managed context and a connected socket of it
 *   freed     the context as in live; the socket after utp_close and its DESTROYING (detected
 *             while its context lives, as in test_misuse_table.c)
 *   callback  from inside ON_STATE_CHANGE on the runtime's thread, on that callback's context
 *             and socket; blocking calls (every call with a timeout here) give -EDEADLK
 * Expected values are utp_managed.h's: -EINVAL for a handle that is not managed (except
 * utp_managed_progress, which reads any socket of the library: -ENOTCONN for the plain column's
 * socket, never connected), -ENOTCONN for a closed socket, -EDEADLK for blocking from a callback; utp_managed_create reports its errno.
 *
 * Each cell uses two fresh managed contexts (client and server, both pulling: no ON_ACCEPT or
 * ON_READ) with a healthy connection that moves 4 KiB each way, byte-exact, after the call.
 * Usage: test_misuse_managed (one test; every cell).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "utp.h"
#include "utp_managed.h"

#define FAILF(...)                                                                             \
    do {                                                                                       \
        fprintf(stderr, "FAIL test_misuse_managed.c:%d: ", __LINE__);                          \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fprintf(stderr, "\n");                                                                 \
        exit(1);                                                                               \
    } while (0)
#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) FAILF("check failed: %s", #cond);                                        \
    } while (0)

enum { M_NULL, M_PLAIN, M_LIVE, M_FREED, M_CALLBACK, NCOLS };
static const char *const COL_NAMES[NCOLS] = {"null", "plain", "live", "freed", "callback"};

#define WAIT_MS 1000

static utp_context *g_cli, *g_srv, *g_plain, *g_spare[4];
static utp_socket *g_cs, *g_ss;   /* the healthy connection */
static struct sockaddr_in g_srv_addr;
static int g_col, g_cli_destroyed;
static atomic_int g_armed, g_fired;
static atomic_long g_result;
static int g_row;

/* ---- rows --------------------------------------------------------------------------------- */

static long m_create(utp_context *ctx, utp_socket *s)
{
    struct sockaddr_in lo;
    struct sockaddr_un un;
    utp_context *made;
    size_t k;
    (void)ctx;
    (void)s;
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    errno = 0;
    if (g_col == M_NULL) {
        made = utp_managed_create(NULL, 0);
    } else if (g_col == M_PLAIN) {
        made = utp_managed_create((struct sockaddr *)&un, sizeof(un));
    } else {
        made = utp_managed_create((struct sockaddr *)&lo, sizeof(lo));
    }
    if (!made) return -errno;
    /* destroyed by the main thread (utp_managed_destroy from the runtime's thread is refused) */
    for (k = 0; k < sizeof(g_spare) / sizeof(g_spare[0]) && g_spare[k]; k++) {
    }
    CHECK(k < sizeof(g_spare) / sizeof(g_spare[0]));
    g_spare[k] = made;
    return 1;
}

static long m_destroy(utp_context *ctx, utp_socket *s)
{
    int r;
    (void)s;
    r = utp_managed_destroy(ctx);
    if (r == 0 && ctx == g_cli) g_cli_destroyed = 1;
    return r;
}

static long m_local_address(utp_context *ctx, utp_socket *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r;
    (void)s;
    r = utp_managed_local_address(ctx, (struct sockaddr *)&ss, &len);
    if (r == 0 && (len != sizeof(struct sockaddr_in) || ss.ss_family != AF_INET)) return 9;
    return r;
}

static long m_connect(utp_context *ctx, utp_socket *s)
{
    utp_socket *out = NULL;
    int r;
    (void)s;
    r = utp_managed_connect(ctx, (struct sockaddr *)&g_srv_addr, sizeof(g_srv_addr), WAIT_MS,
                            &out);
    if ((r == 0) != (out != NULL)) return 9; /* *out is set exactly on success */
    if (out) utp_close(out);
    return r;
}

static long m_accept(utp_context *ctx, utp_socket *s)
{
    utp_socket *out = NULL;
    (void)s;
    return utp_managed_accept(ctx, 100, &out); /* the client has nothing to accept */
}

static long m_read(utp_context *ctx, utp_socket *s)
{
    char buf[64];
    (void)ctx;
    return (long)utp_managed_read(s, buf, sizeof(buf), 100); /* nothing was sent on it */
}

static long m_write(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return (long)utp_managed_write(s, "0123456789", 10, WAIT_MS);
}

static long m_flush(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return utp_managed_flush(s, WAIT_MS);
}

static long m_progress(utp_context *ctx, utp_socket *s)
{
    uint64_t written = 7, acked = 7;
    long r;
    (void)ctx;
    r = utp_managed_progress(s, &written, &acked);
    if (r == 0 && acked > written) return 9;
    if (r != 0 && (written != 7 || acked != 7)) return 8; /* outputs untouched on failure */
    return r;
}

static long m_udp_handler(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return utp_managed_set_udp_handler(ctx, NULL, NULL);
}

static long m_sendto(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return (long)utp_managed_sendto(ctx, "x", 1, (struct sockaddr *)&g_srv_addr,
                                    sizeof(g_srv_addr));
}

static long m_set_threads(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    (void)s;
    return utp_managed_set_threads(g_col == M_NULL ? 257 : g_col == M_PLAIN ? -1 : 0);
}

typedef struct {
    const char *name;
    int on_socket;
    long (*fn)(utp_context *, utp_socket *);
    long want[NCOLS];
} mrow;

#define EINV (-EINVAL)
#define ENC (-ENOTCONN)
#define EDL (-EDEADLK)
/* clang-format off */
static const mrow ROWS[] = {
    /*                                                null  plain live        freed       callback */
    {"utp_managed_create",          0, m_create,      {EINV, EINV, 1,          1,          1}},
    {"utp_managed_destroy",         0, m_destroy,     {EINV, EINV, 0,          0,          EDL}},
    {"utp_managed_local_address",   0, m_local_address, {EINV, EINV, 0,        0,          0}},
    {"utp_managed_connect",         0, m_connect,     {EINV, EINV, 0,          0,          EDL}},
    {"utp_managed_accept",          0, m_accept,      {EINV, EINV, -EAGAIN,    -EAGAIN,    EDL}},
    {"utp_managed_read",            1, m_read,        {EINV, EINV, -EAGAIN,    ENC,        EDL}},
    {"utp_managed_write",           1, m_write,       {EINV, EINV, 10,         ENC,        EDL}},
    {"utp_managed_flush",           1, m_flush,       {EINV, EINV, 0,          ENC,        EDL}},
    {"utp_managed_progress",        1, m_progress,    {EINV, ENC,  0,          ENC,        0}},
    {"utp_managed_set_udp_handler", 0, m_udp_handler, {EINV, EINV, 0,          0,          0}},
    {"utp_managed_sendto",          0, m_sendto,      {EINV, EINV, 1,          1,          1}},
    {"utp_managed_set_threads",     0, m_set_threads, {EINV, EINV, 0,          0,          0}},
};
/* clang-format on */
#define NROWS ((int)(sizeof(ROWS) / sizeof(ROWS[0])))

/* ---- fixture ------------------------------------------------------------------------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static utp_context *make_managed(void)
{
    struct sockaddr_in lo;
    utp_context *ctx;
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctx = utp_managed_create((struct sockaddr *)&lo, sizeof(lo));
    if (!ctx) FAILF("utp_managed_create: errno %d", errno);
    return ctx;
}

static utp_socket *connect_pair(utp_socket **accepted)
{
    utp_socket *c = NULL;
    int r = utp_managed_connect(g_cli, (struct sockaddr *)&g_srv_addr, sizeof(g_srv_addr), 5000,
                                &c);
    if (r != 0) FAILF("utp_managed_connect: %d", r);
    r = utp_managed_accept(g_srv, 5000, accepted);
    if (r != 0) FAILF("utp_managed_accept: %d", r);
    return c;
}

/* 4 KiB each way on the healthy connection, every byte checked. */
static void healthy_check(void)
{
    unsigned char out[4096], in[4096];
    int dir;
    for (dir = 0; dir < 2; dir++) {
        utp_socket *from = dir ? g_ss : g_cs, *to = dir ? g_cs : g_ss;
        size_t got = 0, i;
        for (i = 0; i < sizeof(out); i++) out[i] = (unsigned char)(i * 7u + (unsigned)dir * 13u);
        if (utp_managed_write(from, out, sizeof(out), 5000) != (ssize_t)sizeof(out)) {
            FAILF("healthy write failed (direction %d)", dir);
        }
        while (got < sizeof(in)) {
            ssize_t n = utp_managed_read(to, in + got, sizeof(in) - got, 5000);
            if (n <= 0) FAILF("healthy read gave %ld after %zu bytes", (long)n, got);
            got += (size_t)n;
        }
        if (memcmp(in, out, sizeof(in)) != 0) FAILF("healthy connection corrupted");
    }
}

static uint64 on_state(utp_callback_arguments *a)
{
    long r;
    if (a->socket == g_cs || !atomic_load(&g_armed)) return 0;
    atomic_store(&g_armed, 0);
    r = ROWS[g_row].fn(a->context, a->socket);
    atomic_store(&g_result, r);
    atomic_store(&g_fired, 1);
    return 0;
}

static void cell(int row, int col)
{
    const mrow *r = &ROWS[row];
    socklen_t len = sizeof(g_srv_addr);
    utp_socket *tb = NULL;
    utp_context *ctx = NULL;
    utp_socket *s = NULL;
    long got;
    size_t k;
    int waited;

    g_row = row;
    g_col = col;
    g_cli_destroyed = 0;
    g_srv = make_managed();
    g_cli = make_managed();
    CHECK(utp_managed_local_address(g_srv, (struct sockaddr *)&g_srv_addr, &len) == 0);
    g_cs = connect_pair(&g_ss);
    g_plain = utp_init(2);
    CHECK(g_plain != NULL);

    switch (col) {
    case M_NULL:
        break;
    case M_PLAIN:
        ctx = g_plain;
        s = utp_create_socket(g_plain);
        break;
    case M_LIVE:
        ctx = g_cli;
        s = connect_pair(&tb);
        break;
    case M_FREED:
        ctx = g_cli;
        s = connect_pair(&tb);
        utp_close(s);
        utp_close(tb);
        for (waited = 0; utp_get_context(s) != NULL && waited < 5000; waited += 10) sleep_ms(10);
        CHECK(utp_get_context(s) == NULL);
        break;
    case M_CALLBACK: {
        utp_socket *pending = NULL;
        utp_set_callback(g_cli, UTP_ON_STATE_CHANGE, on_state);
        atomic_store(&g_fired, 0);
        atomic_store(&g_armed, 1);
        CHECK(utp_managed_connect(g_cli, (struct sockaddr *)&g_srv_addr, sizeof(g_srv_addr), 0,
                                  &pending) == -EINPROGRESS);
        for (waited = 0; !atomic_load(&g_fired) && waited < 5000; waited += 10) sleep_ms(10);
        if (!atomic_load(&g_fired)) FAILF("%s: the callback never fired", r->name);
        break;
    }
    default:
        break;
    }

    got = col == M_CALLBACK ? atomic_load(&g_result) : r->fn(r->on_socket ? NULL : ctx, s);
    if (got != r->want[col]) {
        FAILF("%s, %s: got %ld, expected %ld", r->name, COL_NAMES[col], got, r->want[col]);
    }

    if (g_cli_destroyed) { /* the row destroyed the client: a fresh one, a fresh connection */
        g_cli = make_managed();
        g_cs = connect_pair(&g_ss);
    }
    healthy_check();
    for (k = 0; k < sizeof(g_spare) / sizeof(g_spare[0]); k++) {
        if (g_spare[k]) CHECK(utp_managed_destroy(g_spare[k]) == 0);
        g_spare[k] = NULL;
    }
    utp_destroy(g_plain);
    CHECK(utp_managed_destroy(g_cli) == 0);
    CHECK(utp_managed_destroy(g_srv) == 0);
}

int main(void)
{
    int row, col;
    for (row = 0; row < NROWS; row++) {
        for (col = 0; col < NCOLS; col++) cell(row, col);
    }
    printf("ok managed misuse table: %d cells\n", NROWS * NCOLS);
    return 0;
}
