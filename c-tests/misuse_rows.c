/*
 * misuse_rows.c: the rows of test_misuse_table.c, one per function of utp.h.
 *
 * Each call reduces its result to a number: the return value for int and ssize_t, 0 = NULL /
 * 1 = the expected pointer / 2 = another pointer for pointer results, 0 for void functions
 * (which only must not crash), and a few rows add a check of what the call did.
 */
#include "misuse_table.h"

#include <string.h>

#define BUF 1048576 /* libutp's default UTP_SNDBUF / UTP_RCVBUF */

static long ptr_is(const void *got, const void *want)
{
    return got == NULL ? 0 : got == want ? 1 : 2;
}

static uint64 never_called(utp_callback_arguments *a)
{
    (void)a;
    test_fail(__FILE__, __LINE__, "a callback installed at an invalid index was called");
}

static uint64 count_overhead(utp_callback_arguments *a)
{
    (void)a;
    return 0;
}

/* The address of the other side of the pair, seen from ctx (B's when ctx is unknown). */
static const struct sockaddr *other_side(utp_context *ctx)
{
    int side = pair_side_of(g_p, ctx);
    return pair_addr(g_p, side == PAIR_B ? PAIR_A : PAIR_B);
}

/* ---- context functions ---------------------------------------------------------------------- */

static long r_init(utp_context *ctx, utp_socket *s)
{
    utp_context *other;
    (void)ctx;
    (void)s;
    if (utp_init(3) != NULL) return 9;
    other = utp_init(2);
    if (!other) return 0;
    utp_destroy(other);
    return 1;
}

/* From a callback: utp_destroy of the context (deferred when it is the callback's own). At the
 * top level: pair_restart; the result is how many DESTROYING the socket under test got. */
static long r_destroy(utp_context *ctx, utp_socket *s)
{
    int side;
    (void)s;
    if (!ctx) {
        utp_destroy(NULL);
        return 0;
    }
    side = pair_side_of(g_p, ctx);
    CHECK(side >= 0);
    if (g_fx.in_callback) {
        utp_destroy(ctx);
        pair_detach(g_p, side);
        g_fx.gone[side] = 1;
        return 0;
    }
    pair_restart(g_p, side);
    g_fx.gone[side] = 2;
    return g_fx.t_destroying;
}

static long r_set_callback(utp_context *ctx, utp_socket *s)
{
    (void)s;
    utp_set_callback(ctx, UTP_ON_OVERHEAD_STATISTICS, count_overhead);
    utp_set_callback(ctx, -1, never_called);
    utp_set_callback(ctx, UTP_ARRAY_SIZE, never_called);
    return 0;
}

static long r_ctx_set_userdata(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return ptr_is(utp_context_set_userdata(ctx, &g_ctag2), &g_ctag2);
}

static long r_ctx_get_userdata(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return ptr_is(utp_context_get_userdata(ctx), &g_ctag);
}

static long r_set_option(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return utp_context_set_option(ctx, UTP_TARGET_DELAY, 100000);
}

static long r_get_option(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return utp_context_get_option(ctx, UTP_RCVBUF);
}

/* A STATE packet for a connection id nobody uses: uTP (1), answered with a RESET. */
static long r_process_udp(utp_context *ctx, utp_socket *s)
{
    unsigned char pkt[20];
    (void)s;
    pkt_build(pkt, PKT_STATE, 0x5a5a, 0, 0, 0, 7, 7);
    return utp_process_udp(ctx, pkt, sizeof(pkt), other_side(ctx), pair_addrlen());
}

/* An ICMP error quoting a packet of no connection: no match (0). */
static long r_icmp_error(utp_context *ctx, utp_socket *s)
{
    unsigned char pkt[20];
    (void)s;
    pkt_build(pkt, PKT_DATA, 0x5a5a, 0, 0, 0, 7, 7);
    return utp_process_icmp_error(ctx, pkt, sizeof(pkt), other_side(ctx), pair_addrlen());
}

static long r_icmp_fragmentation(utp_context *ctx, utp_socket *s)
{
    unsigned char pkt[20];
    (void)s;
    pkt_build(pkt, PKT_DATA, 0x5a5a, 0, 0, 0, 7, 7);
    return utp_process_icmp_fragmentation(ctx, pkt, sizeof(pkt), other_side(ctx),
                                          pair_addrlen(), 1200);
}

static long r_check_timeouts(utp_context *ctx, utp_socket *s)
{
    (void)s;
    utp_check_timeouts(ctx);
    return 0;
}

static long r_deferred_acks(utp_context *ctx, utp_socket *s)
{
    (void)s;
    utp_issue_deferred_acks(ctx);
    return 0;
}

static long r_context_stats(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return utp_get_context_stats(ctx) != NULL;
}

/* The new socket is left to utp_destroy, which frees it (libutp leaks it). */
static long r_create_socket(utp_context *ctx, utp_socket *s)
{
    (void)s;
    return utp_create_socket(ctx) != NULL;
}

/* ---- socket functions ----------------------------------------------------------------------- */

static long r_set_userdata(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return ptr_is(utp_set_userdata(s, &g_tag2), &g_tag2);
}

static long r_get_userdata(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return ptr_is(utp_get_userdata(s), &g_tag);
}

static long r_setsockopt(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return utp_setsockopt(s, UTP_SNDBUF, 65536);
}

static long r_getsockopt(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return utp_getsockopt(s, UTP_RCVBUF);
}

static long r_connect(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return utp_connect(s, pair_addr(g_p, PAIR_B), pair_addrlen());
}

static long r_write(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return (long)utp_write(s, (void *)"0123456789", 10);
}

static long r_writev(utp_context *ctx, utp_socket *s)
{
    struct utp_iovec iov[2];
    (void)ctx;
    iov[0].iov_base = (void *)"0123";
    iov[0].iov_len = 4;
    iov[1].iov_base = (void *)"456789";
    iov[1].iov_len = 6;
    return (long)utp_writev(s, iov, 2);
}

/* 0 only with a whole IPv4 address; 9 for a success with anything else. */
static long r_getpeername(utp_context *ctx, utp_socket *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r;
    (void)ctx;
    memset(&ss, 0, sizeof(ss));
    r = utp_getpeername(s, (struct sockaddr *)&ss, &len);
    if (r == 0 && (len != pair_addrlen() || ss.ss_family != AF_INET)) return 9;
    return r;
}

static long r_read_drained(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    utp_read_drained(s);
    return 0;
}

static long r_get_delays(utp_context *ctx, utp_socket *s)
{
    uint32 ours = 7, theirs = 7, age = 7;
    int r;
    (void)ctx;
    r = utp_get_delays(s, &ours, &theirs, &age);
    if (r != 0 && (ours || theirs || age)) return 9; /* failures zero the outputs */
    return r;
}

static long r_get_stats(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return utp_get_stats(s) != NULL;
}

static long r_get_context(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    return ptr_is(utp_get_context(s), g_fx.subject_ctx);
}

static long r_shutdown(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    utp_shutdown(s, SHUT_RDWR);
    return 0;
}

/* 1 when the handle is refused right after (freed at once), 0 while it stays valid. */
static long r_close(utp_context *ctx, utp_socket *s)
{
    (void)ctx;
    utp_close(s);
    return s != NULL && utp_get_context(s) == NULL;
}

/* Where rutp's value is not what libutp's code would return (the table runs against rutp only):
 *   utp_write/utp_writev while connecting: rutp queues the bytes and sends them once connected
 *     (10); libutp returns 0 in SYN_SENT.
 *   utp_destroy at the top level: the number of DESTROYING the socket under test got (a socket
 *     never connected gets none, as in libutp, but rutp frees it where libutp leaks it).
 *   utp_close after shutdown: our FIN was acknowledged, so nothing is left to finish and the
 *     socket is destroyed at once (1), as after a close in SYN_SENT. */
/* clang-format off */
const misuse_row ROWS[] = {
    /*                                               null created connecting connected shutdown closed freed   callbacks */
    {"utp_init",                        0, r_init,               {1,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_destroy",                     0, r_destroy,            {0,  0,   1,   1,   1,   1,   1},    0,   0},
    {"utp_set_callback",                0, r_set_callback,       {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_context_set_userdata",        0, r_ctx_set_userdata,   {0,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_context_get_userdata",        0, r_ctx_get_userdata,   {0,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_context_set_option",          0, r_set_option,         {-1, 0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_context_get_option",          0, r_get_option,         {-1, BUF, BUF, BUF, BUF, BUF, BUF},  BUF, BUF},
    {"utp_process_udp",                 0, r_process_udp,        {0,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_process_icmp_error",          0, r_icmp_error,         {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_process_icmp_fragmentation",  0, r_icmp_fragmentation, {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_check_timeouts",              0, r_check_timeouts,     {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_issue_deferred_acks",         0, r_deferred_acks,      {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_get_context_stats",           0, r_context_stats,      {0,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_create_socket",               0, r_create_socket,      {0,  1,   1,   1,   1,   1,   1},    1,   1},
    {"utp_set_userdata",                1, r_set_userdata,       {0,  1,   1,   1,   1,   1,   0},    1,   1},
    {"utp_get_userdata",                1, r_get_userdata,       {0,  1,   1,   1,   1,   1,   0},    1,   1},
    {"utp_setsockopt",                  1, r_setsockopt,         {-1, 0,   0,   0,   0,   0,   -1},   0,   0},
    {"utp_getsockopt",                  1, r_getsockopt,         {-1, BUF, BUF, BUF, BUF, BUF, -1},   BUF, BUF},
    {"utp_connect",                     1, r_connect,            {-1, 0,   -1,  -1,  -1,  -1,  -1},   -1,  -1},
    {"utp_write",                       1, r_write,              {-1, 0,   10,  10,  0,   0,   -1},   0,   10},
    {"utp_writev",                      1, r_writev,             {-1, 0,   10,  10,  0,   0,   -1},   0,   10},
    {"utp_getpeername",                 1, r_getpeername,        {-1, -1,  0,   0,   0,   0,   -1},   -1,  0},
    {"utp_read_drained",                1, r_read_drained,       {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_get_delays",                  1, r_get_delays,         {-1, -1,  0,   0,   0,   0,   -1},   -1,  0},
    {"utp_get_stats",                   1, r_get_stats,          {0,  0,   1,   1,   1,   1,   0},    0,   1},
    {"utp_get_context",                 1, r_get_context,        {0,  1,   1,   1,   1,   1,   0},    1,   1},
    {"utp_shutdown",                    1, r_shutdown,           {0,  0,   0,   0,   0,   0,   0},    0,   0},
    {"utp_close",                       1, r_close,              {0,  1,   1,   0,   1,   0,   1},    0,   1},
};
/* clang-format on */
const int NROWS = (int)(sizeof(ROWS) / sizeof(ROWS[0]));
