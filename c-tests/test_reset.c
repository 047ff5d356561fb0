/*
 * test_reset.c: a connection torn down from the other end in the middle of a transfer.
 *
 *   mid_transfer       A streams 4 MiB to B; after 1 MiB, B's process restarts (its context is
 *                      destroyed and recreated at the same address).  A's data in flight is
 *                      answered with RESETs: A gets ON_ERROR(UTP_ECONNRESET) exactly once, no
 *                      more data, WRITABLE or EOF events, utp_write takes nothing; the
 *                      application closes later and DESTROYING follows once.
 *   close_in_error     the same, with utp_close called from inside ON_ERROR (as ucat does).
 *   icmp_mid_transfer  an ICMP error quoting one of A's data packets (utp_process_icmp_error)
 *                      while connected: UTP_ECONNRESET once, then close and DESTROYING.
 *
 * libutp fires ON_ERROR for every RESET that reaches the socket, also after utp_close; rutp
 * reports an error once (README), and tells A how much of what it wrote B acknowledged
 * (utp_managed_progress: every byte written counted, no more acknowledged than B received).  Without RUTP_EXPECT_FIXED_BEHAVIOUR the count is only
 * required to be at least one.
 */
#include "pair.h"
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
#include "utp_managed.h"
#endif

#include <stdio.h>
#include <string.h>

static stream g_a, g_b;
/* What B had received when it restarted; 0 when B stays up (then its count so far bounds what
 * A can have seen acknowledged). */
static uint64_t g_b_rx_at_restart;
static unsigned char g_data_pkt[1500];
static size_t g_data_len;

static int capture(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    if (from == PAIR_A && len >= 20 && pkt_type(buf) == PKT_DATA && len <= sizeof(g_data_pkt)) {
        memcpy(g_data_pkt, buf, len);
        g_data_len = len;
    }
    return 0;
}

static int b_has_1mib(void *arg)
{
    (void)arg;
    return g_b.rx >= (1u << 20);
}

static int a_failed(void *arg)
{
    (void)arg;
    return g_a.n_error[0] + g_a.n_error[1] + g_a.n_error[2] > 0;
}

static int a_destroyed(void *arg)
{
    (void)arg;
    return g_a.n_destroying > 0;
}

static pair *start(uint64_t seed, int close_on_error)
{
    pair *p = pair_new(seed);
    static const pair_link link = {10000, 100000, 0, 0, 0, 0};
    pair_set_link(p, PAIR_A, &link);
    pair_set_link(p, PAIR_B, &link);
    pair_set_filter(p, capture, NULL);
    stream_install(p, PAIR_A);
    stream_install(p, PAIR_B);
    stream_init(&g_a, 7, 8, 4u << 20, 0);
    stream_init(&g_b, 8, 7, 0, 4u << 20);
    g_a.close_on_error = close_on_error;
    g_b.auto_close = 0; /* B only reads: no FIN from B before its restart */
    g_data_len = 0;
    stream_listen(p, PAIR_B, &g_b);
    stream_connect(p, PAIR_A, &g_a);
    if (!pair_run_until(p, b_has_1mib, NULL, PAIR_S(60))) {
        test_fail(__FILE__, __LINE__, "1 MiB did not arrive (B got %llu)",
                  (unsigned long long)g_b.rx);
    }
    return p;
}

static void expect_one_reset_then_destroy(pair *p, const char *how, int close_in_error)
{
    unsigned resets;
    uint64_t rx_at_error;
    if (!pair_run_until(p, a_failed, NULL, PAIR_S(30))) {
        test_fail(__FILE__, __LINE__, "%s: A got no error", how);
    }
    rx_at_error = g_a.tx;
    /* Let every datagram in flight arrive and be answered. */
    pair_run_for(p, PAIR_S(3));
    resets = g_a.n_error[UTP_ECONNRESET];
    test_note("%s: ON_ERROR(ECONNRESET) x%u after %llu of %llu bytes; RESETs sent by B: %llu",
              how, resets, (unsigned long long)g_a.tx, (unsigned long long)g_a.tx_total,
              (unsigned long long)pair_stats(p)->type_sent[PAIR_B][PKT_RESET]);
    CHECK_EQ(g_a.n_error[UTP_ECONNREFUSED] + g_a.n_error[UTP_ETIMEDOUT], 0);
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    CHECKF(resets == 1, "ECONNRESET reported %u times", resets);
#else
    CHECKF(resets >= 1, "ECONNRESET never reported");
#endif
    CHECKF(g_a.tx == rx_at_error, "A's socket took data after the error");
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    if (!g_a.closed) {
        uint64_t written = 0, acked = 0;
        uint64_t b_rx = g_b_rx_at_restart ? g_b_rx_at_restart : g_b.rx;
        CHECK_EQ(utp_managed_progress(g_a.s, &written, &acked), 0);
        test_note("%s: utp_managed_progress: %llu written, %llu acknowledged (B had %llu)", how,
                  (unsigned long long)written, (unsigned long long)acked,
                  (unsigned long long)b_rx);
        CHECKF(written == g_a.tx, "written %llu, utp_write took %llu", (unsigned long long)written,
               (unsigned long long)g_a.tx);
        CHECKF(acked > 0 && acked <= b_rx && acked < written,
               "acknowledged %llu of %llu written, B received %llu", (unsigned long long)acked,
               (unsigned long long)written, (unsigned long long)b_rx);
    }
#endif
    CHECK_EQ(g_a.n_event_after_error, 0);
    CHECK_EQ(g_a.n_eof, 0);
    if (!g_a.closed) {
        CHECKF(utp_write(g_a.s, (void *)"x", 1) == 0, "utp_write on a reset socket took data");
        utp_close(g_a.s);
        g_a.closed = 1;
    }
    if (!pair_run_until(p, a_destroyed, NULL, PAIR_S(5))) {
#ifndef RUTP_EXPECT_FIXED_BEHAVIOUR
        if (close_in_error) {
            /* libutp: utp_close on a socket in the RESET state marks it DESTROY without
             * recording the close, so the next RESET that arrives puts it back into RESET (and
             * reports ON_ERROR again): it is freed only by utp_destroy.  [seen] */
            test_note("%s: no DESTROYING after close (libutp: freed only by utp_destroy)", how);
            return;
        }
#endif
        (void)close_in_error;
        test_fail(__FILE__, __LINE__, "%s: no DESTROYING after close", how);
    }
    pair_run_for(p, PAIR_S(30));
    CHECK_EQ(g_a.n_destroying, 1);
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    CHECK_EQ(g_a.n_error[UTP_ECONNRESET], 1);
#endif
    CHECK_EQ(pair_live_sockets(p, PAIR_A), 0);
}

static void case_restart(int close_in_error)
{
    pair *p = start(close_in_error ? 202 : 201, close_in_error);
    unsigned before = g_b.n_destroying;
    g_b_rx_at_restart = g_b.rx;
    pair_restart(p, PAIR_B);
    CHECKF(g_b.n_destroying == before + 1, "utp_destroy did not report DESTROYING");
    expect_one_reset_then_destroy(p, close_in_error ? "close_in_error" : "mid_transfer",
                                  close_in_error);
    CHECK_EQ(pair_count_cb(p, PAIR_B, UTP_ON_ACCEPT), 1);
    pair_free(p);
    CHECKF(g_a.n_destroying == 1, "A's socket reported DESTROYING %u times", g_a.n_destroying);
}

static void case_mid_transfer(void) { case_restart(0); }
static void case_close_in_error(void) { case_restart(1); }

static void case_icmp_mid_transfer(void)
{
    pair *p = start(203, 0);
    int r;
    g_b_rx_at_restart = 0;
    CHECK(g_data_len >= 20);
    /* The quoted packet is one of A's data packets; `to` is its destination, B. */
    r = utp_process_icmp_error(pair_ctx(p, PAIR_A), g_data_pkt, g_data_len, pair_addr(p, PAIR_B),
                               pair_addrlen());
    CHECK_EQ(r, 1);
    CHECK_EQ(g_a.n_error[UTP_ECONNRESET], 1);
    expect_one_reset_then_destroy(p, "icmp_mid_transfer", 0);
    pair_free(p);
}

int main(int argc, char **argv)
{
    static const pair_case cases[] = {
        {"mid_transfer", case_mid_transfer},
        {"close_in_error", case_close_in_error},
        {"icmp_mid_transfer", case_icmp_mid_transfer},
    };
    return pair_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
