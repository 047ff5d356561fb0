/*
 * test_misuse.c: API misuse must fail cleanly (rutp only).
 *
 * The reference libutp is built with live assert()s, so every call below aborts it (SIGABRT):
 * this program is only built when RUTP_CTESTS_MISUSE is ON, which is the default unless
 * RUTP_CTESTS_REFERENCE=ON.  The expected results are libutp's own error values, i.e. what its
 * code returns when the asserts are compiled out: NULL for pointers, -1 for int/ssize_t results
 * that have an error value, 0 for utp_process_* ("not uTP"), nothing for void functions.
 *
 *   init           utp_init(version != 2) returns NULL
 *   null_context   every context function with a NULL context
 *   null_socket    every socket function with a NULL socket
 *   options        zero or negative UTP_SNDBUF/UTP_RCVBUF return -1 and change nothing;
 *                  out-of-range callback indices are ignored
 *   unconnected    calls on a created, never-connected socket; utp_close of it; a second one
 *                  left to utp_destroy (libutp leaks it; ASan and valgrind watch for leaks here)
 *   connect_twice  utp_connect on a connecting or connected socket returns -1 and leaves the
 *                  connection working
 *   bad_address    NULL, short or foreign-family addresses: utp_connect returns -1 and the
 *                  socket can still be connected; utp_process_udp returns 0
 *   closed_socket  calls after utp_close and before DESTROYING: writes take nothing, a second
 *                  close or shutdown does nothing, DESTROYING comes once
 *   bad_arguments  NULL buffers and vectors, zero vector counts, runt ICMP payloads
 */
#include "pair.h"

#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static pair *g_p;
static utp_socket *g_a, *g_b;
static unsigned g_connect, g_destroying_a, g_destroying_b, g_errors, g_b_rx;

static uint64 on_state(utp_callback_arguments *a)
{
    int side = pair_side_of(g_p, a->context);
    if (a->state == UTP_STATE_CONNECT) g_connect++;
    if (a->state == UTP_STATE_DESTROYING) {
        if (side == PAIR_A && a->socket == g_a) g_destroying_a++;
        if (side == PAIR_B && a->socket == g_b) g_destroying_b++;
    }
    if (a->state == UTP_STATE_EOF && !(side == PAIR_A && a->socket == g_a)) utp_close(a->socket);
    return 0;
}

static uint64 on_accept(utp_callback_arguments *a)
{
    g_b = a->socket;
    return 0;
}

static uint64 on_read(utp_callback_arguments *a)
{
    if (a->socket == g_b) g_b_rx += (unsigned)a->len;
    return 0;
}

static uint64 on_error(utp_callback_arguments *a)
{
    (void)a;
    g_errors++;
    return 0;
}

static uint64 never_called(utp_callback_arguments *a)
{
    (void)a;
    test_fail(__FILE__, __LINE__, "a callback installed with an invalid index was called");
}

static void setup(uint64_t seed)
{
    int k;
    g_p = pair_new(seed);
    g_a = g_b = NULL;
    g_connect = g_destroying_a = g_destroying_b = g_errors = g_b_rx = 0;
    for (k = 0; k < PAIR_SIDES; k++) {
        pair_set_callback(g_p, k, UTP_ON_STATE_CHANGE, on_state);
        pair_set_callback(g_p, k, UTP_ON_ERROR, on_error);
        pair_set_callback(g_p, k, UTP_ON_READ, on_read);
    }
    pair_set_callback(g_p, PAIR_B, UTP_ON_ACCEPT, on_accept);
}

static int connected(void *arg)
{
    (void)arg;
    return g_connect > 0;
}

static int a_destroyed(void *arg)
{
    (void)arg;
    return g_destroying_a > 0;
}

static unsigned g_want_rx;
static int b_got(void *arg)
{
    (void)arg;
    return g_b_rx >= g_want_rx;
}

/* A's socket works: data reaches B; then A closes and is destroyed once, without errors. */
static void check_working_then_close(void)
{
    if (!g_connect && !pair_run_until(g_p, connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "the connection did not complete");
    }
    CHECK_EQ(utp_write(g_a, (void *)"still works", 11), 11);
    g_want_rx = g_b_rx + 11;
    if (!pair_run_until(g_p, b_got, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "data did not arrive");
    }
    utp_close(g_a);
    if (!pair_run_until(g_p, a_destroyed, NULL, PAIR_S(30))) {
        test_fail(__FILE__, __LINE__, "no DESTROYING after close");
    }
    pair_run_for(g_p, PAIR_S(10));
    CHECK_EQ(g_destroying_a, 1);
    CHECK_EQ(g_errors, 0);
}

static void case_init(void)
{
    utp_context *ctx;
    CHECK(utp_init(0) == NULL);
    CHECK(utp_init(1) == NULL);
    CHECK(utp_init(3) == NULL);
    CHECK(utp_init(-1) == NULL);
    ctx = utp_init(2);
    CHECK(ctx != NULL);
    utp_destroy(ctx);
}

static void case_null_context(void)
{
    unsigned char pkt[20];
    struct sockaddr_in in;
    int tag;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    pkt_build(pkt, PKT_STATE, 1, 0, 0, 0, 1, 1);
    utp_destroy(NULL);
    utp_set_callback(NULL, UTP_ON_READ, never_called);
    CHECK(utp_context_set_userdata(NULL, &tag) == NULL);
    CHECK(utp_context_get_userdata(NULL) == NULL);
    CHECK_EQ(utp_context_set_option(NULL, UTP_SNDBUF, 1000), -1);
    CHECK_EQ(utp_context_get_option(NULL, UTP_SNDBUF), -1);
    CHECK_EQ(utp_process_udp(NULL, pkt, sizeof(pkt), (struct sockaddr *)&in, sizeof(in)), 0);
    CHECK_EQ(utp_process_icmp_error(NULL, pkt, sizeof(pkt), (struct sockaddr *)&in, sizeof(in)),
             0);
    CHECK_EQ(utp_process_icmp_fragmentation(NULL, pkt, sizeof(pkt), (struct sockaddr *)&in,
                                            sizeof(in), 1200),
             0);
    utp_check_timeouts(NULL);
    utp_issue_deferred_acks(NULL);
    CHECK(utp_get_context_stats(NULL) == NULL);
    CHECK(utp_create_socket(NULL) == NULL);
}

static void case_null_socket(void)
{
    struct sockaddr_storage ss;
    struct sockaddr_in in;
    socklen_t len = sizeof(ss);
    struct utp_iovec iov;
    uint32 ours = 7, theirs = 7, age = 7;
    int tag;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    iov.iov_base = &tag;
    iov.iov_len = 1;
    CHECK(utp_set_userdata(NULL, &tag) == NULL);
    CHECK(utp_get_userdata(NULL) == NULL);
    CHECK_EQ(utp_setsockopt(NULL, UTP_SNDBUF, 1000), -1);
    CHECK_EQ(utp_getsockopt(NULL, UTP_SNDBUF), -1);
    CHECK_EQ(utp_connect(NULL, (struct sockaddr *)&in, sizeof(in)), -1);
    CHECK_EQ(utp_write(NULL, &tag, 1), -1);
    CHECK_EQ(utp_writev(NULL, &iov, 1), -1);
    CHECK_EQ(utp_getpeername(NULL, (struct sockaddr *)&ss, &len), -1);
    utp_read_drained(NULL);
    CHECK_EQ(utp_get_delays(NULL, &ours, &theirs, &age), -1);
    CHECK(utp_get_stats(NULL) == NULL);
    CHECK(utp_get_context(NULL) == NULL);
    utp_shutdown(NULL, SHUT_WR);
    utp_close(NULL);
}

static void case_options(void)
{
    utp_context *ctx;
    utp_socket *s;
    setup(501);
    ctx = pair_ctx(g_p, PAIR_A);
    CHECK_EQ(utp_context_set_option(ctx, UTP_SNDBUF, 0), -1);
    CHECK_EQ(utp_context_set_option(ctx, UTP_SNDBUF, -1), -1);
    CHECK_EQ(utp_context_set_option(ctx, UTP_RCVBUF, 0), -1);
    CHECK_EQ(utp_context_set_option(ctx, UTP_RCVBUF, -65536), -1);
    CHECK_EQ(utp_context_get_option(ctx, UTP_SNDBUF), 1048576);
    CHECK_EQ(utp_context_get_option(ctx, UTP_RCVBUF), 1048576);
    s = pair_create_socket(g_p, PAIR_A);
    g_a = s;
    CHECK_EQ(utp_setsockopt(s, UTP_SNDBUF, 0), -1);
    CHECK_EQ(utp_setsockopt(s, UTP_SNDBUF, -1), -1);
    CHECK_EQ(utp_setsockopt(s, UTP_RCVBUF, 0), -1);
    CHECK_EQ(utp_setsockopt(s, UTP_RCVBUF, -1), -1);
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 1048576);
    CHECK_EQ(utp_getsockopt(s, UTP_RCVBUF), 1048576);
    /* libutp stores callbacks in a 22-slot array without a range check */
    utp_set_callback(ctx, UTP_ARRAY_SIZE, never_called);
    utp_set_callback(ctx, UTP_ARRAY_SIZE + 1000, never_called);
    utp_set_callback(ctx, -1, never_called);
    utp_set_callback(ctx, -100000, never_called);
    CHECK_EQ(utp_connect(s, pair_addr(g_p, PAIR_B), pair_addrlen()), 0);
    check_working_then_close();
    pair_free(g_p);
}

static void case_unconnected(void)
{
    utp_socket *s, *left;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct utp_iovec iov;
    uint32 ours = 7, theirs = 7, age = 7;
    char byte0 = 'x';
    setup(502);
    s = pair_create_socket(g_p, PAIR_A);
    iov.iov_base = &byte0;
    iov.iov_len = 1;
    CHECK_EQ(utp_write(s, &byte0, 1), 0); /* not connected: takes nothing */
    CHECK_EQ(utp_writev(s, &iov, 1), 0);
    CHECK_EQ(utp_getpeername(s, (struct sockaddr *)&ss, &len), -1);
    CHECK_EQ(utp_get_delays(s, &ours, &theirs, &age), -1);
    CHECK(ours == 0 && theirs == 0 && age == 0); /* outputs zeroed, as libutp does */
    utp_read_drained(s);
    utp_shutdown(s, SHUT_RDWR);
    CHECK(utp_get_context(s) == pair_ctx(g_p, PAIR_A));
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 1048576);
    pair_run_for(g_p, PAIR_S(1));
    CHECK_EQ(pair_stats(g_p)->sent[PAIR_A], 0);
    /* closing a socket that never connected frees it (DESTROYING at most once) */
    utp_close(s);
    pair_run_for(g_p, PAIR_S(2));
    CHECK(pair_count_state(g_p, PAIR_A, UTP_STATE_DESTROYING) <= 1);
    /* one more, never connected and never closed, is freed by utp_destroy */
    left = pair_create_socket(g_p, PAIR_A);
    (void)left;
    pair_free(g_p);
}

static void case_connect_twice(void)
{
    setup(503);
    g_a = pair_connect(g_p, PAIR_A);
    CHECK_EQ(utp_connect(g_a, pair_addr(g_p, PAIR_B), pair_addrlen()), -1); /* in SYN_SENT */
    if (!pair_run_until(g_p, connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "the first connect no longer completes");
    }
    CHECK_EQ(utp_connect(g_a, pair_addr(g_p, PAIR_B), pair_addrlen()), -1); /* connected */
    CHECK_EQ(utp_connect(g_a, pair_nowhere(), pair_addrlen()), -1);
    CHECK_EQ(g_connect, 1);
    check_working_then_close();
    pair_free(g_p);
}

static void case_bad_address(void)
{
    struct sockaddr_in in;
    struct sockaddr_un un;
    struct sockaddr_in6 in6;
    unsigned char pkt[20];
    setup(504);
    in = *(const struct sockaddr_in *)pair_addr(g_p, PAIR_B);
    g_a = pair_create_socket(g_p, PAIR_A);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    CHECK_EQ(utp_connect(g_a, NULL, sizeof(in)), -1);
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&in, 0), -1);
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&in, 8), -1);
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&in, sizeof(in) - 1), -1);
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&in6, sizeof(struct sockaddr_in)), -1);
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&un, sizeof(un)), -1);
    CHECK_EQ(pair_stats(g_p)->sent[PAIR_A], 0);
    /* the rejected calls changed nothing: the socket still connects */
    CHECK_EQ(utp_connect(g_a, (struct sockaddr *)&in, sizeof(in)), 0);
    if (!pair_run_until(g_p, connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "no connection after the rejected connects");
    }
    /* utp_process_udp with an unusable source address: not processed */
    pkt_build(pkt, PKT_STATE, 1, 0, 0, 0, 1, 1);
    CHECK_EQ(utp_process_udp(pair_ctx(g_p, PAIR_B), pkt, 20, NULL, sizeof(in)), 0);
    CHECK_EQ(utp_process_udp(pair_ctx(g_p, PAIR_B), pkt, 20, (struct sockaddr *)&in, 8), 0);
    CHECK_EQ(utp_process_udp(pair_ctx(g_p, PAIR_B), pkt, 20, (struct sockaddr *)&un,
                             sizeof(un)),
             0);
    CHECK_EQ(utp_process_icmp_error(pair_ctx(g_p, PAIR_A), pkt, 20, (struct sockaddr *)&in, 8),
             0);
    check_working_then_close();
    pair_free(g_p);
}

static void case_closed_socket(void)
{
    struct utp_iovec iov;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char c = 'x';
    setup(505);
    g_a = pair_connect(g_p, PAIR_A);
    if (!pair_run_until(g_p, connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "no connection");
    }
    CHECK_EQ(utp_write(g_a, (void *)"data", 4), 4);
    pair_run_for(g_p, PAIR_MS(200));
    utp_close(g_a);
    /* closed, not yet destroyed: the handle is still valid */
    CHECK(pair_socket_alive(g_p, g_a));
    iov.iov_base = &c;
    iov.iov_len = 1;
    CHECK_EQ(utp_write(g_a, &c, 1), 0);
    CHECK_EQ(utp_writev(g_a, &iov, 1), 0);
    CHECK_EQ(utp_connect(g_a, pair_addr(g_p, PAIR_B), pair_addrlen()), -1);
    CHECK_EQ(utp_getpeername(g_a, (struct sockaddr *)&ss, &len), 0);
    utp_read_drained(g_a);
    utp_shutdown(g_a, SHUT_RDWR);
    utp_close(g_a); /* twice: nothing more */
    if (!pair_run_until(g_p, a_destroyed, NULL, PAIR_S(30))) {
        test_fail(__FILE__, __LINE__, "no DESTROYING after close");
    }
    pair_run_for(g_p, PAIR_S(10));
    CHECK_EQ(g_destroying_a, 1);
    CHECK_EQ(g_errors, 0);
    CHECK_EQ(g_b_rx, 4);
    pair_free(g_p);
}

static void case_bad_arguments(void)
{
    ssize_t r;
    unsigned taken;
    struct utp_iovec iov[2];
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    unsigned char pkt[20];
    setup(506);
    g_a = pair_connect(g_p, PAIR_A);
    if (!pair_run_until(g_p, connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "no connection");
    }
    CHECK_EQ(utp_writev(g_a, NULL, 1), -1);
    iov[0].iov_base = (void *)"ab";
    iov[0].iov_len = 2;
    CHECK_EQ(utp_writev(g_a, iov, 0), -1);
    /* A NULL data pointer with a non-zero length: libutp has no error value for this (it
     * copies from NULL); taking nothing (0) or refusing (-1) are both accepted. */
    CHECK(utp_write(g_a, NULL, 5) <= 0);
    /* The same in the second of two vectors: refusing the call, or taking exactly the bytes
     * before the bad vector (a partial write, reported as such), are both accepted. */
    iov[1].iov_base = NULL;
    iov[1].iov_len = 3;
    r = utp_writev(g_a, iov, 2);
    CHECKF(r <= 2, "utp_writev with a NULL vector took %ld bytes", (long)r);
    taken = r > 0 ? (unsigned)r : 0;
    CHECK_EQ(utp_getpeername(g_a, NULL, &len), -1);
    CHECK_EQ(utp_getpeername(g_a, (struct sockaddr *)&ss, NULL), -1);
    CHECK_EQ(utp_get_delays(g_a, NULL, NULL, NULL), 0); /* NULL outputs are allowed */
    pkt_build(pkt, PKT_STATE, 1, 0, 0, 0, 1, 1);
    CHECK_EQ(utp_process_udp(pair_ctx(g_p, PAIR_B), NULL, 20, pair_addr(g_p, PAIR_A),
                             pair_addrlen()),
             0);
    CHECK_EQ(utp_process_udp(pair_ctx(g_p, PAIR_B), pkt, 0, pair_addr(g_p, PAIR_A),
                             pair_addrlen()),
             0);
    CHECK_EQ(utp_process_icmp_error(pair_ctx(g_p, PAIR_A), NULL, 20, pair_addr(g_p, PAIR_B),
                                    pair_addrlen()),
             0);
    CHECK_EQ(utp_process_icmp_error(pair_ctx(g_p, PAIR_A), pkt, 8, pair_addr(g_p, PAIR_B),
                                    pair_addrlen()),
             0);
    CHECK_EQ(utp_process_icmp_fragmentation(pair_ctx(g_p, PAIR_A), NULL, 20,
                                            pair_addr(g_p, PAIR_B), pair_addrlen(), 1200),
             0);
    check_working_then_close();
    /* nothing but what the calls reported as taken was sent */
    CHECK_EQ(g_b_rx, taken + 11);
    pair_free(g_p);
}

int main(int argc, char **argv)
{
    static const pair_case cases[] = {
        {"init", case_init},
        {"null_context", case_null_context},
        {"null_socket", case_null_socket},
        {"options", case_options},
        {"unconnected", case_unconnected},
        {"connect_twice", case_connect_twice},
        {"bad_address", case_bad_address},
        {"closed_socket", case_closed_socket},
        {"bad_arguments", case_bad_arguments},
    };
    return pair_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
