/*
 * test_api.c: the documented behaviour of the public calls, one case per CTest test.
 *
 *   options                context and socket options: defaults, copies at socket creation,
 *                          unknown options
 *   userdata               the setters return the new value; userdata is readable in callbacks
 *   process_udp            1 for uTP (even when dropped or answered with RESET), 0 for anything
 *                          else; a RESET for unknown connections, none for RESET or SYN
 *   handshake              SYN from inside utp_connect, SYN-ACK ids (BEP 29), ON_ACCEPT
 *                          arguments, STATE_CONNECT once, utp_get_context, data both ways
 *   empty_write            utp_write(s, NULL, 0) on a connected socket returns 0 and sends an
 *                          empty ST_DATA (go-libutp relies on it to wake libutp acceptors)
 *   writev                 several iovecs, an empty one, more than UTP_IOV_MAX; the caller's
 *                          array is left unchanged
 *   getpeername            address, family and the min(actual, given) length rule
 *   partial_write          a large write is taken in part; WRITABLE follows; all arrives
 *   context_stats          utp_get_context_stats buckets (<=23, <=373, <=723, <=1400, >1400
 *                          bytes) match the datagrams on the wire; the returned pointer stays
 *                          valid and current (libutp's points into the live context)
 *   socket_stats           utp_get_stats: NULL in libutp's default build; rutp returns counters
 *                                                                         [differs on purpose]
 *   acceptor_writes_first  rutp's acceptor can write from inside ON_ACCEPT; libutp's cannot
 *                          before the initiator's first data packet            [differs on purpose]
 *   on_connect             with UTP_ON_CONNECT set it fires instead of STATE_CONNECT
 *   random_source          connection ids and sequence numbers come from UTP_GET_RANDOM: the
 *                          same seed gives the same SYN, another seed another one
 *   mtu_callback           UTP_GET_UDP_MTU bounds every datagram (header included)
 *   overhead_statistics    UTP_ON_OVERHEAD_STATISTICS reports sent (send=1) and received
 *                          (send=0) packets of the socket, with a non-zero length and type
 */
#include "pair.h"

#include <stdio.h>
#include <string.h>

static pair *g_p;

/* ---- a small connected pair used by several cases ----------------------------------------- */

typedef struct side_state {
    utp_socket *s;
    unsigned connect, on_connect, writable, eof, destroying, errors, accepts;
    unsigned char rx[4096];
    size_t rx_len;
    struct sockaddr_in accept_addr;
    socklen_t accept_len;
    int accept_write; /* result of utp_write inside ON_ACCEPT, -2 if not tried */
    int write_in_accept;
} side_state;

static side_state g_side[PAIR_SIDES];

static side_state *st_of(utp_callback_arguments *a)
{
    return &g_side[pair_side_of(g_p, a->context)];
}

static uint64 cb_state(utp_callback_arguments *a)
{
    side_state *st = st_of(a);
    CHECK(a->socket == st->s);
    switch (a->state) {
    case UTP_STATE_CONNECT: st->connect++; break;
    case UTP_STATE_WRITABLE: st->writable++; break;
    case UTP_STATE_EOF: st->eof++; break;
    case UTP_STATE_DESTROYING: st->destroying++; break;
    default: break;
    }
    return 0;
}

static uint64 cb_on_connect(utp_callback_arguments *a)
{
    side_state *st = st_of(a);
    CHECK(a->socket == st->s);
    st->on_connect++;
    return 0;
}

static uint64 cb_error(utp_callback_arguments *a)
{
    test_fail(__FILE__, __LINE__, "unexpected ON_ERROR %s on side %c",
              utp_error_code_names[a->error_code], 'A' + pair_side_of(g_p, a->context));
}

static uint64 cb_read(utp_callback_arguments *a)
{
    side_state *st = st_of(a);
    CHECK(a->socket == st->s);
    CHECKF(st->rx_len + a->len <= sizeof(st->rx), "too much data");
    memcpy(st->rx + st->rx_len, a->buf, a->len);
    st->rx_len += a->len;
    return 0;
}

static const char g_accept_msg[] = "written inside ON_ACCEPT";

static uint64 cb_accept(utp_callback_arguments *a)
{
    side_state *st = st_of(a);
    CHECK(st->s == NULL);
    st->s = a->socket;
    st->accepts++;
    CHECK(a->address != NULL);
    st->accept_len = a->address_len;
    memcpy(&st->accept_addr, a->address,
           a->address_len < sizeof(st->accept_addr) ? a->address_len : sizeof(st->accept_addr));
    if (st->write_in_accept) {
        st->accept_write =
            (int)utp_write(a->socket, (void *)g_accept_msg, sizeof(g_accept_msg));
    }
    return 0;
}

static void setup(uint64_t seed)
{
    static const pair_link link = {5000, 0, 0, 0, 0, 0};
    int k;
    g_p = pair_new(seed);
    memset(g_side, 0, sizeof(g_side));
    for (k = 0; k < PAIR_SIDES; k++) {
        g_side[k].accept_write = -2;
        pair_set_link(g_p, k, &link);
        pair_set_callback(g_p, k, UTP_ON_STATE_CHANGE, cb_state);
        pair_set_callback(g_p, k, UTP_ON_ERROR, cb_error);
        pair_set_callback(g_p, k, UTP_ON_READ, cb_read);
    }
    pair_set_callback(g_p, PAIR_B, UTP_ON_ACCEPT, cb_accept);
}

static int a_connected(void *arg)
{
    (void)arg;
    return g_side[PAIR_A].connect + g_side[PAIR_A].on_connect > 0;
}

static size_t g_want_a, g_want_b;
static int rx_complete(void *arg)
{
    (void)arg;
    return g_side[PAIR_A].rx_len >= g_want_a && g_side[PAIR_B].rx_len >= g_want_b;
}

static void connect_a(void)
{
    if (!g_side[PAIR_A].s) g_side[PAIR_A].s = pair_connect(g_p, PAIR_A);
    if (!pair_run_until(g_p, a_connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "no connection within 10 s");
    }
}

/* A sends `a_msg`, then B answers `b_msg` (B's write waits for A's data: libutp's acceptor
 * cannot write before it). */
static void exchange(const char *a_msg, const char *b_msg)
{
    size_t la = strlen(a_msg), lb = strlen(b_msg);
    size_t a0 = g_side[PAIR_A].rx_len, b0 = g_side[PAIR_B].rx_len;
    CHECK_EQ(utp_write(g_side[PAIR_A].s, (void *)a_msg, la), la);
    g_want_a = a0;
    g_want_b = b0 + la;
    if (!pair_run_until(g_p, rx_complete, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "B did not receive \"%s\"", a_msg);
    }
    CHECK(memcmp(g_side[PAIR_B].rx + b0, a_msg, la) == 0);
    CHECK_EQ(utp_write(g_side[PAIR_B].s, (void *)b_msg, lb), lb);
    g_want_a = a0 + lb;
    if (!pair_run_until(g_p, rx_complete, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "A did not receive \"%s\"", b_msg);
    }
    CHECK(memcmp(g_side[PAIR_A].rx + a0, b_msg, lb) == 0);
}

static int both_destroyed(void *arg)
{
    (void)arg;
    return g_side[PAIR_A].destroying && g_side[PAIR_B].destroying;
}

/* Orderly close from both sides at once; both sockets destroyed exactly once. */
static void close_both(void)
{
    utp_close(g_side[PAIR_A].s);
    utp_close(g_side[PAIR_B].s);
    if (!pair_run_until(g_p, both_destroyed, NULL, PAIR_S(30))) {
        test_fail(__FILE__, __LINE__, "no DESTROYING after both closed (A %u, B %u)",
                  g_side[PAIR_A].destroying, g_side[PAIR_B].destroying);
    }
    pair_run_for(g_p, PAIR_S(10));
    CHECK_EQ(g_side[PAIR_A].destroying, 1);
    CHECK_EQ(g_side[PAIR_B].destroying, 1);
    pair_free(g_p);
}

/* ---- cases ------------------------------------------------------------------------------------ */

static void case_options(void)
{
    utp_context *ctx;
    utp_socket *s;
    setup(401);
    ctx = pair_ctx(g_p, PAIR_A);
    /* defaults (libutp-api.md 2) */
    CHECK_EQ(utp_context_get_option(ctx, UTP_SNDBUF), 1048576);
    CHECK_EQ(utp_context_get_option(ctx, UTP_RCVBUF), 1048576);
    CHECK_EQ(utp_context_get_option(ctx, UTP_TARGET_DELAY), 100000);
    CHECK_EQ(utp_context_get_option(ctx, UTP_LOG_NORMAL), 0);
    CHECK_EQ(utp_context_get_option(ctx, UTP_LOG_MTU), 0);
    CHECK_EQ(utp_context_get_option(ctx, UTP_LOG_DEBUG), 0);
    /* the log options are booleans */
    CHECK_EQ(utp_context_set_option(ctx, UTP_LOG_NORMAL, 7), 0);
    CHECK_EQ(utp_context_get_option(ctx, UTP_LOG_NORMAL), 1);
    CHECK_EQ(utp_context_set_option(ctx, UTP_LOG_NORMAL, 0), 0);
    CHECK_EQ(utp_context_get_option(ctx, UTP_LOG_NORMAL), 0);
    /* unknown options: callback indices, UTP_ARRAY_SIZE, anything else */
    CHECK_EQ(utp_context_set_option(ctx, UTP_ON_READ, 1), -1);
    CHECK_EQ(utp_context_get_option(ctx, UTP_ON_READ), -1);
    CHECK_EQ(utp_context_set_option(ctx, UTP_ARRAY_SIZE, 1), -1);
    CHECK_EQ(utp_context_get_option(ctx, 999), -1);
    /* values */
    CHECK_EQ(utp_context_set_option(ctx, UTP_SNDBUF, 65536), 0);
    CHECK_EQ(utp_context_set_option(ctx, UTP_RCVBUF, 200000), 0);
    CHECK_EQ(utp_context_set_option(ctx, UTP_TARGET_DELAY, 50000), 0);
    CHECK_EQ(utp_context_get_option(ctx, UTP_SNDBUF), 65536);
    CHECK_EQ(utp_context_get_option(ctx, UTP_RCVBUF), 200000);
    CHECK_EQ(utp_context_get_option(ctx, UTP_TARGET_DELAY), 50000);
    /* a socket copies the context's values when it is created */
    s = pair_create_socket(g_p, PAIR_A);
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 65536);
    CHECK_EQ(utp_getsockopt(s, UTP_RCVBUF), 200000);
    CHECK_EQ(utp_getsockopt(s, UTP_TARGET_DELAY), 50000);
    CHECK_EQ(utp_context_set_option(ctx, UTP_SNDBUF, 4096), 0);
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 65536);
    CHECK_EQ(utp_setsockopt(s, UTP_SNDBUF, 12345), 0);
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 12345);
    CHECK_EQ(utp_context_get_option(ctx, UTP_SNDBUF), 4096);
    CHECK_EQ(utp_setsockopt(s, UTP_RCVBUF, 54321), 0);
    CHECK_EQ(utp_getsockopt(s, UTP_RCVBUF), 54321);
    CHECK_EQ(utp_setsockopt(s, UTP_TARGET_DELAY, 25000), 0);
    CHECK_EQ(utp_getsockopt(s, UTP_TARGET_DELAY), 25000);
    /* the log options are context-only */
    CHECK_EQ(utp_setsockopt(s, UTP_LOG_NORMAL, 1), -1);
    CHECK_EQ(utp_getsockopt(s, UTP_LOG_NORMAL), -1);
    CHECK_EQ(utp_getsockopt(s, UTP_ON_READ), -1);
    /* connected (to nowhere), so that utp_destroy frees it in every implementation */
    g_side[PAIR_A].s = s;
    CHECK_EQ(utp_connect(s, pair_nowhere(), pair_addrlen()), 0);
    CHECK_EQ(utp_getsockopt(s, UTP_SNDBUF), 12345);
    pair_run_for(g_p, PAIR_MS(100));
    pair_free(g_p);
    CHECK_EQ(g_side[PAIR_A].destroying, 1);
}

static int g_tag_ctx, g_tag_a, g_tag_b;
static unsigned g_userdata_seen;

static uint64 ud_read(utp_callback_arguments *a)
{
    int side = pair_side_of(g_p, a->context);
    CHECK(utp_context_get_userdata(a->context) == &g_tag_ctx);
    CHECK(utp_get_userdata(a->socket) == (side == PAIR_A ? (void *)&g_tag_a : (void *)&g_tag_b));
    g_userdata_seen++;
    return cb_read(a);
}

static uint64 ud_accept(utp_callback_arguments *a)
{
    CHECK(utp_get_userdata(a->socket) == NULL); /* a new socket starts with NULL */
    CHECK(utp_set_userdata(a->socket, &g_tag_b) == &g_tag_b);
    return cb_accept(a);
}

static void case_userdata(void)
{
    utp_context *ctx;
    setup(402);
    ctx = pair_ctx(g_p, PAIR_A);
    CHECK(utp_context_get_userdata(ctx) == NULL);
    /* the setters return the new value, not the previous one (libutp) */
    CHECK(utp_context_set_userdata(ctx, &g_tag_a) == &g_tag_a);
    CHECK(utp_context_set_userdata(ctx, &g_tag_ctx) == &g_tag_ctx);
    CHECK(utp_context_get_userdata(ctx) == &g_tag_ctx);
    CHECK(utp_context_set_userdata(pair_ctx(g_p, PAIR_B), &g_tag_ctx) == &g_tag_ctx);
    pair_set_callback(g_p, PAIR_A, UTP_ON_READ, ud_read);
    pair_set_callback(g_p, PAIR_B, UTP_ON_READ, ud_read);
    pair_set_callback(g_p, PAIR_B, UTP_ON_ACCEPT, ud_accept);
    g_userdata_seen = 0;
    g_side[PAIR_A].s = pair_create_socket(g_p, PAIR_A);
    CHECK(utp_get_userdata(g_side[PAIR_A].s) == NULL);
    CHECK(utp_set_userdata(g_side[PAIR_A].s, &g_tag_b) == &g_tag_b);
    CHECK(utp_set_userdata(g_side[PAIR_A].s, &g_tag_a) == &g_tag_a);
    CHECK(utp_get_userdata(g_side[PAIR_A].s) == &g_tag_a);
    CHECK_EQ(utp_connect(g_side[PAIR_A].s, pair_addr(g_p, PAIR_B), pair_addrlen()), 0);
    if (!pair_run_until(g_p, a_connected, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "no connection");
    }
    exchange("ping", "pong");
    CHECK(g_userdata_seen >= 2);
    CHECK(utp_set_userdata(g_side[PAIR_A].s, NULL) == NULL);
    CHECK(utp_get_userdata(g_side[PAIR_A].s) == NULL);
    utp_set_userdata(g_side[PAIR_A].s, &g_tag_a);
    close_both();
}

static unsigned char g_last_b[1500];
static size_t g_last_b_len;
static unsigned g_b_sent;

static int record_b(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    if (from == PAIR_B) {
        g_b_sent++;
        g_last_b_len = len < sizeof(g_last_b) ? len : sizeof(g_last_b);
        memcpy(g_last_b, buf, g_last_b_len);
    }
    return 0;
}

/* Feeds a datagram to B as if from A. */
static int feed_b(const void *buf, size_t len)
{
    return utp_process_udp(pair_ctx(g_p, PAIR_B), (const byte *)buf, len, pair_addr(g_p, PAIR_A),
                           pair_addrlen());
}

static void case_process_udp(void)
{
    static const char dht[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    unsigned char pkt[32];
    unsigned before;
    setup(403);
    pair_set_filter(g_p, record_b, NULL);
    g_b_sent = 0;
    /* not uTP */
    CHECK_EQ(feed_b(dht, sizeof(dht) - 1), 0);
    pkt_build(pkt, PKT_STATE, 1000, 1, 0, 65536, 10, 20);
    CHECK_EQ(feed_b(pkt, 19), 0); /* shorter than a header */
    pkt[0] = (unsigned char)((PKT_STATE << 4) | 2);
    CHECK_EQ(feed_b(pkt, 20), 0); /* version 2 */
    pkt[0] = (unsigned char)((5 << 4) | 1);
    CHECK_EQ(feed_b(pkt, 20), 0); /* type 5 */
    CHECK_EQ(g_b_sent, 0);
    /* A first extension of type 3 with a 4-byte body: libtorrent's close reason. */
    pkt_build(pkt, PKT_STATE, 1000, 1, 0, 65536, 10, 20);
    pkt[1] = 3;
    pkt[20] = 0;
    pkt[21] = 4;
    memset(pkt + 22, 0, 4);
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    /* rutp decodes it (libtorrent sends it in FIN packets): uTP, for no connection -> RESET */
    CHECK_EQ(feed_b(pkt, 26), 1);
    pair_run_for(g_p, PAIR_MS(1));
    CHECK_EQ(g_b_sent, 1);
    g_b_sent = 0;
#else
    /* libutp: a first extension type >= 3 fails its version test: not uTP */
    CHECK_EQ(feed_b(pkt, 26), 0);
    CHECK_EQ(g_b_sent, 0);
#endif

    /* uTP for no known connection: 1, and a RESET for anything but RESET and SYN */
    pkt_build(pkt, PKT_STATE, 1000, 1, 0, 65536, 10, 20);
    CHECK_EQ(feed_b(pkt, 20), 1);
    pair_run_for(g_p, PAIR_MS(1));
    CHECKF(g_b_sent == 1, "%u datagrams answered an ST_STATE for no connection", g_b_sent);
    CHECK_EQ(pkt_type(g_last_b), PKT_RESET);
    CHECK_EQ(pkt_version(g_last_b), 1);
    CHECK_EQ(pkt_connid(g_last_b), 1000); /* the received connection id */
    CHECK_EQ(pkt_ack(g_last_b), 10);      /* ack_nr = the received seq_nr */

    pkt_build(pkt, PKT_DATA, 2000, 1, 0, 65536, 77, 20);
    CHECK_EQ(feed_b(pkt, 20), 1);
    pair_run_for(g_p, PAIR_MS(1));
    CHECK_EQ(g_b_sent, 2);
    CHECK_EQ(pkt_type(g_last_b), PKT_RESET);
    CHECK_EQ(pkt_connid(g_last_b), 2000);
    CHECK_EQ(pkt_ack(g_last_b), 77);

    pkt_build(pkt, PKT_FIN, 3000, 1, 0, 65536, 5, 20);
    CHECK_EQ(feed_b(pkt, 20), 1);
    pair_run_for(g_p, PAIR_MS(1));
    CHECK_EQ(g_b_sent, 3);
    CHECK_EQ(pkt_type(g_last_b), PKT_RESET);
    CHECK_EQ(pkt_connid(g_last_b), 3000);

    before = g_b_sent;
    pkt_build(pkt, PKT_RESET, 4000, 1, 0, 0, 5, 20);
    CHECK_EQ(feed_b(pkt, 20), 1); /* a RESET for nothing: ignored */
    pkt_build(pkt, PKT_SYN, 5000, 1, 0, 65536, 5, 0);
    pair_set_callback(g_p, PAIR_B, UTP_ON_ACCEPT, NULL);
    CHECK_EQ(feed_b(pkt, 20), 1); /* a SYN without ON_ACCEPT: ignored */
    /* an extension chain (selective ACK, 4 bytes) is still uTP */
    pkt_build(pkt, PKT_STATE, 6000, 1, 0, 65536, 5, 20);
    pkt[1] = 1;
    pkt[20] = 0;
    pkt[21] = 4;
    memset(pkt + 22, 0, 4);
    CHECK_EQ(feed_b(pkt, 26), 1);
    pair_run_for(g_p, PAIR_MS(1));
    CHECKF(g_b_sent == before + 1, "%u datagrams sent (only the RESET for the ST_STATE)",
           g_b_sent - before);
    CHECK_EQ(pkt_type(g_last_b), PKT_RESET);
    CHECK_EQ(pkt_connid(g_last_b), 6000);
    CHECK_EQ(pair_count_cb(g_p, PAIR_B, UTP_ON_ACCEPT), 0);
    pair_free(g_p);
}

static unsigned char g_syn[64], g_synack[64], g_a_after[64];
static size_t g_syn_len, g_synack_len, g_a_after_len;

static int record_handshake(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    if (len > 64) len = 64;
    if (from == PAIR_A && pkt_type(buf) == PKT_SYN && !g_syn_len) {
        memcpy(g_syn, buf, len);
        g_syn_len = len;
    } else if (from == PAIR_A && g_syn_len && !g_a_after_len) {
        memcpy(g_a_after, buf, len);
        g_a_after_len = len;
    }
    if (from == PAIR_B && !g_synack_len) {
        memcpy(g_synack, buf, len);
        g_synack_len = len;
    }
    return 0;
}

static void case_handshake(void)
{
    const struct sockaddr_in *a_addr;
    setup(404);
    g_syn_len = g_synack_len = g_a_after_len = 0;
    pair_set_filter(g_p, record_handshake, NULL);
    g_side[PAIR_A].s = pair_connect(g_p, PAIR_A);
    /* the SYN goes out from inside utp_connect */
    CHECKF(g_syn_len >= 20, "no SYN sent from inside utp_connect");
    CHECK_EQ(pkt_version(g_syn), 1);
    CHECK(utp_get_context(g_side[PAIR_A].s) == pair_ctx(g_p, PAIR_A));
    connect_a();
    CHECK_EQ(g_side[PAIR_A].connect, 1);
    CHECK_EQ(g_side[PAIR_B].accepts, 1);
    CHECK(utp_get_context(g_side[PAIR_B].s) == pair_ctx(g_p, PAIR_B));
    /* ON_ACCEPT reports the initiator's address: IPv4 -> sockaddr_in, 16 bytes */
    a_addr = (const struct sockaddr_in *)pair_addr(g_p, PAIR_A);
    CHECK_EQ(g_side[PAIR_B].accept_len, sizeof(struct sockaddr_in));
    CHECK_EQ(g_side[PAIR_B].accept_addr.sin_family, AF_INET);
    CHECK(g_side[PAIR_B].accept_addr.sin_port == a_addr->sin_port);
    CHECK(g_side[PAIR_B].accept_addr.sin_addr.s_addr == a_addr->sin_addr.s_addr);
    /* BEP 29: the SYN-ACK is an ST_STATE carrying the SYN's id and acknowledging its seq_nr;
     * the initiator then sends with id + 1 */
    CHECK(g_synack_len >= 20);
    CHECK_EQ(pkt_type(g_synack), PKT_STATE);
    CHECK_EQ(pkt_connid(g_synack), pkt_connid(g_syn));
    CHECK_EQ(pkt_ack(g_synack), pkt_seq(g_syn));
    exchange("hello from A", "hello from B");
    CHECK(g_a_after_len >= 20);
    CHECK_EQ(pkt_connid(g_a_after), (pkt_connid(g_syn) + 1) & 0xFFFF);
    CHECK_EQ(g_side[PAIR_A].connect, 1);
    CHECK_EQ(g_side[PAIR_B].connect, 0); /* CONNECT is for outgoing connections */
    CHECK_EQ(pair_stats(g_p)->blackholed[PAIR_A] + pair_stats(g_p)->blackholed[PAIR_B], 0);
    close_both();
}

static unsigned g_empty_data_from_a;

static int count_empty_data(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    if (from == PAIR_A && pkt_type(buf) == PKT_DATA && pkt_header_len(buf, len) == len) {
        g_empty_data_from_a++;
    }
    return 0;
}

static void case_empty_write(void)
{
    setup(405);
    g_empty_data_from_a = 0;
    pair_set_filter(g_p, count_empty_data, NULL);
    connect_a();
    CHECK_EQ(utp_write(g_side[PAIR_A].s, NULL, 0), 0);
    CHECK_EQ(utp_write(g_side[PAIR_A].s, (void *)"ignored", 0), 0);
    pair_run_for(g_p, PAIR_MS(100));
    CHECKF(g_empty_data_from_a >= 1, "no empty ST_DATA was sent");
    CHECK_EQ(g_side[PAIR_B].rx_len, 0); /* and nothing is delivered for it */
    /* The acceptor can write now (libutp: the initiator's first ST_DATA completes its side). */
    CHECK_EQ(utp_write(g_side[PAIR_B].s, (void *)"awake", 5), 5);
    g_want_a = 5;
    g_want_b = 0;
    if (!pair_run_until(g_p, rx_complete, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "the acceptor's data did not arrive");
    }
    CHECK(memcmp(g_side[PAIR_A].rx, "awake", 5) == 0);
    exchange("x", "y");
    close_both();
}

static void case_writev(void)
{
    char p1[] = "abc", p3[] = "defgh";
    struct utp_iovec iov[3];
    static struct utp_iovec many[UTP_IOV_MAX + 1];
    static unsigned char bytes[UTP_IOV_MAX + 1];
    ssize_t r;
    size_t k;
    setup(406);
    connect_a();
    iov[0].iov_base = p1;
    iov[0].iov_len = 3;
    iov[1].iov_base = NULL;
    iov[1].iov_len = 0;
    iov[2].iov_base = p3;
    iov[2].iov_len = 5;
    CHECK_EQ(utp_writev(g_side[PAIR_A].s, iov, 3), 8);
    CHECK(iov[0].iov_base == p1 && iov[0].iov_len == 3 && iov[2].iov_base == p3 &&
          iov[2].iov_len == 5);
    g_want_a = 0;
    g_want_b = 8;
    if (!pair_run_until(g_p, rx_complete, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "writev data did not arrive");
    }
    CHECK(memcmp(g_side[PAIR_B].rx, "abcdefgh", 8) == 0);

    /* UTP_IOV_MAX + 1 one-byte vectors: libutp uses the first UTP_IOV_MAX; whatever count is
     * returned, exactly those bytes arrive, in order. */
    pattern_fill(99, 0, bytes, sizeof(bytes));
    for (k = 0; k <= UTP_IOV_MAX; k++) {
        many[k].iov_base = &bytes[k];
        many[k].iov_len = 1;
    }
    r = utp_writev(g_side[PAIR_A].s, many, UTP_IOV_MAX + 1);
    CHECKF(r > 0 && r <= UTP_IOV_MAX + 1, "utp_writev of %d vectors returned %ld",
           UTP_IOV_MAX + 1, (long)r);
    CHECK(many[0].iov_base == &bytes[0] && many[UTP_IOV_MAX].iov_len == 1);
    g_want_b = 8 + (size_t)r;
    if (!pair_run_until(g_p, rx_complete, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "%ld bytes of the vectored write did not arrive", (long)r);
    }
    pair_run_for(g_p, PAIR_MS(100));
    CHECK_EQ(g_side[PAIR_B].rx_len, 8 + (size_t)r);
    CHECK(memcmp(g_side[PAIR_B].rx + 8, bytes, (size_t)r) == 0);
    test_note("writev: %d vectors of one byte: %ld taken", UTP_IOV_MAX + 1, (long)r);
    exchange("", "z");
    close_both();
}

static void case_getpeername(void)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    const struct sockaddr_in *b_addr, *a_addr;
    socklen_t len;
    setup(407);
    b_addr = (const struct sockaddr_in *)pair_addr(g_p, PAIR_B);
    a_addr = (const struct sockaddr_in *)pair_addr(g_p, PAIR_A);
    g_side[PAIR_A].s = pair_connect(g_p, PAIR_A);
    /* already known while connecting */
    memset(&ss, 0, sizeof(ss));
    len = sizeof(ss);
    CHECK_EQ(utp_getpeername(g_side[PAIR_A].s, (struct sockaddr *)&ss, &len), 0);
    CHECK_EQ(len, sizeof(struct sockaddr_in));
    CHECK_EQ(in->sin_family, AF_INET);
    CHECK(in->sin_port == b_addr->sin_port && in->sin_addr.s_addr == b_addr->sin_addr.s_addr);
    connect_a();
    exchange("a", "b");
    memset(&ss, 0, sizeof(ss));
    len = sizeof(ss);
    CHECK_EQ(utp_getpeername(g_side[PAIR_B].s, (struct sockaddr *)&ss, &len), 0);
    CHECK_EQ(len, sizeof(struct sockaddr_in));
    CHECK(in->sin_port == a_addr->sin_port && in->sin_addr.s_addr == a_addr->sin_addr.s_addr);
    /* a short buffer gets min(actual, given) bytes and that length back */
    memset(&ss, 0xEE, sizeof(ss));
    len = 4;
    CHECK_EQ(utp_getpeername(g_side[PAIR_B].s, (struct sockaddr *)&ss, &len), 0);
    CHECK_EQ(len, 4);
    CHECK_EQ(in->sin_family, AF_INET);
    CHECK(in->sin_port == a_addr->sin_port);
    CHECK_EQ(((unsigned char *)&ss)[4], 0xEE); /* nothing written past the given length */
    close_both();
}

static stream g_sa, g_sb;

static int streams_done(void *arg)
{
    (void)arg;
    return g_sa.n_destroying && g_sb.n_destroying;
}

static void case_partial_write(void)
{
    const uint64_t total = 3u << 20;
    setup(408);
    stream_install(g_p, PAIR_A);
    stream_install(g_p, PAIR_B);
    stream_init(&g_sa, 21, 22, total, 0);
    stream_init(&g_sb, 22, 21, 0, total);
    stream_listen(g_p, PAIR_B, &g_sb);
    stream_connect(g_p, PAIR_A, &g_sa);
    if (!pair_run_until(g_p, streams_done, NULL, PAIR_S(60))) {
        test_fail(__FILE__, __LINE__, "transfer incomplete: %llu of %llu",
                  (unsigned long long)g_sb.rx, (unsigned long long)total);
    }
    /* the first write (3 MiB... in 64 KiB pieces from inside STATE_CONNECT) was taken in part */
    test_note("partial_write: first utp_write took %d of 65536 bytes; %u WRITABLE events",
              g_sa.first_write, g_sa.n_writable);
    CHECK(g_sa.first_write > 0 && g_sa.first_write <= 65536);
    CHECK(g_sa.n_writable >= 1);
    CHECK(g_sa.n_zero_writes + (g_sa.first_write < 65536 ? 1u : 0u) >= 1);
    CHECK_EQ(g_sb.rx, total);
    CHECK_EQ(g_sa.n_error[0] + g_sa.n_error[1] + g_sa.n_error[2], 0);
    pair_free(g_p);
}

static uint32_t g_hist[PAIR_SIDES][5];

static int bucket(size_t len)
{
    return len <= 23 ? 0 : len <= 373 ? 1 : len <= 723 ? 2 : len <= 1400 ? 3 : 4;
}

static int histogram(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    (void)buf;
    g_hist[from][bucket(len)]++;
    return 0;
}

static int quiet(void *arg)
{
    (void)arg;
    return pair_in_flight(g_p) == 0;
}

static void case_context_stats(void)
{
    utp_context_stats *cs[PAIR_SIDES];
    utp_context_stats held[PAIR_SIDES];
    static unsigned char big[3000];
    int k, b;
    setup(409);
    memset(g_hist, 0, sizeof(g_hist));
    for (k = 0; k < PAIR_SIDES; k++) {
        cs[k] = utp_get_context_stats(pair_ctx(g_p, k));
        CHECK(cs[k] != NULL);
        for (b = 0; b < 5; b++) CHECK(cs[k]->_nraw_recv[b] == 0 && cs[k]->_nraw_send[b] == 0);
    }
    pair_set_filter(g_p, histogram, NULL);
    connect_a();
    exchange("small", "also small");
    pattern_fill(5, 0, big, sizeof(big));
    CHECK(utp_write(g_side[PAIR_A].s, big, 500) == 500);
    pair_run_for(g_p, PAIR_MS(300));
    CHECK(utp_write(g_side[PAIR_A].s, big, sizeof(big)) > 0);
    pair_run_until(g_p, quiet, NULL, PAIR_S(5));
    pair_run_for(g_p, PAIR_MS(500));
    pair_run_until(g_p, quiet, NULL, PAIR_S(5));
    /* what the pointers returned before the traffic read now, before any new call */
    for (k = 0; k < PAIR_SIDES; k++) held[k] = *cs[k];
    for (k = 0; k < PAIR_SIDES; k++) {
        utp_context_stats *now = utp_get_context_stats(pair_ctx(g_p, k));
        CHECK(now != NULL);
        for (b = 0; b < 5; b++) {
            CHECKF(now->_nraw_send[b] == g_hist[k][b],
                   "side %c sent %u datagrams in bucket %d, stats say %u", 'A' + k, g_hist[k][b],
                   b, now->_nraw_send[b]);
            /* every datagram reached a live socket of the other side */
            CHECKF(now->_nraw_recv[b] == g_hist[1 - k][b],
                   "side %c received %u datagrams in bucket %d, stats say %u", 'A' + k,
                   g_hist[1 - k][b], b, now->_nraw_recv[b]);
        }
        /* libutp returns a pointer into the live context: one taken earlier reads the same. */
        for (b = 0; b < 5; b++) {
            CHECKF(held[k]._nraw_send[b] == g_hist[k][b] &&
                       held[k]._nraw_recv[b] == g_hist[1 - k][b],
                   "side %c: the pointer returned before the traffic read %u sent / %u "
                   "received in bucket %d (actual %u / %u): it is not kept up to date",
                   'A' + k, held[k]._nraw_send[b], held[k]._nraw_recv[b], b, g_hist[k][b],
                   g_hist[1 - k][b]);
        }
    }
    CHECK(g_hist[PAIR_A][4] >= 1); /* a full-size packet went out */
    close_both();
}

static void case_socket_stats(void)
{
    utp_socket_stats *ss;
    setup(410);
    connect_a();
    exchange("0123456789", "abcdefghijklmnopqrst");
    ss = utp_get_stats(g_side[PAIR_A].s);
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    /* rutp keeps per-socket statistics in every build. */
    CHECKF(ss != NULL, "utp_get_stats returned NULL");
    CHECKF(ss->nbytes_xmit >= 10, "nbytes_xmit %llu", (unsigned long long)ss->nbytes_xmit);
    CHECKF(ss->nbytes_recv >= 20, "nbytes_recv %llu", (unsigned long long)ss->nbytes_recv);
    CHECK(ss->nxmit >= 1 && ss->nrecv >= 1);
    CHECK(ss->mtu_guess > 0);
#else
    /* libutp's default build (no _DEBUG) has no per-socket statistics. */
    CHECK(ss == NULL);
#endif
    close_both();
}

static int acceptor_data_arrived(void *arg)
{
    (void)arg;
    return g_side[PAIR_A].rx_len >= sizeof(g_accept_msg);
}

static void case_acceptor_writes_first(void)
{
    setup(411);
    g_side[PAIR_B].write_in_accept = 1;
    connect_a();
    CHECK_EQ(g_side[PAIR_B].accepts, 1);
#ifdef RUTP_EXPECT_FIXED_BEHAVIOUR
    /* rutp: the acceptor is connected once its SYN-ACK is out, so it can speak first. */
    CHECKF(g_side[PAIR_B].accept_write == (int)sizeof(g_accept_msg),
           "utp_write inside ON_ACCEPT returned %d", g_side[PAIR_B].accept_write);
    if (!pair_run_until(g_p, acceptor_data_arrived, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "the acceptor's first data never arrived");
    }
#else
    /* libutp: the acceptor takes no data before the initiator's first ST_DATA. */
    CHECK_EQ(g_side[PAIR_B].accept_write, 0);
    pair_run_for(g_p, PAIR_S(5));
    CHECK_EQ(g_side[PAIR_A].rx_len, 0);
    CHECK_EQ(utp_write(g_side[PAIR_B].s, (void *)g_accept_msg, sizeof(g_accept_msg)), 0);
    CHECK_EQ(utp_write(g_side[PAIR_A].s, NULL, 0), 0); /* go-libutp's wake-up */
    pair_run_for(g_p, PAIR_MS(100));
    CHECK_EQ(utp_write(g_side[PAIR_B].s, (void *)g_accept_msg, sizeof(g_accept_msg)),
             sizeof(g_accept_msg));
    if (!pair_run_until(g_p, acceptor_data_arrived, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "the acceptor's data never arrived");
    }
#endif
    CHECK(memcmp(g_side[PAIR_A].rx, g_accept_msg, sizeof(g_accept_msg)) == 0);
    exchange("reply", "ok");
    close_both();
}

static void case_on_connect(void)
{
    setup(412);
    pair_set_callback(g_p, PAIR_A, UTP_ON_CONNECT, cb_on_connect);
    connect_a();
    pair_run_for(g_p, PAIR_S(1));
    CHECK_EQ(g_side[PAIR_A].on_connect, 1);
    CHECK_EQ(g_side[PAIR_A].connect, 0); /* STATE_CONNECT is not fired when ON_CONNECT is set */
    exchange("with ON_CONNECT", "fine");
    close_both();
}

static unsigned char g_first_syn[20];
static int g_first_syn_seen;

static int first_syn(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    if (from == PAIR_A && len >= 20 && pkt_type(buf) == PKT_SYN && !g_first_syn_seen) {
        memcpy(g_first_syn, buf, 20);
        g_first_syn_seen = 1;
    }
    return 0;
}

static void syn_for_seed(uint64_t seed, unsigned *connid, unsigned *seq)
{
    setup(seed);
    g_first_syn_seen = 0;
    pair_set_filter(g_p, first_syn, NULL);
    connect_a();
    CHECK(g_first_syn_seen);
    *connid = pkt_connid(g_first_syn);
    *seq = pkt_seq(g_first_syn);
    exchange("a", "b");
    close_both();
}

static void case_random_source(void)
{
    unsigned c1, s1, c2, s2, c3, s3;
    syn_for_seed(413, &c1, &s1);
    syn_for_seed(413, &c2, &s2);
    syn_for_seed(414, &c3, &s3);
    test_note("random_source: seed 413 -> conn %u seq %u (twice: %u %u); seed 414 -> %u %u", c1,
              s1, c2, s2, c3, s3);
    CHECKF(c1 == c2 && s1 == s2, "the same UTP_GET_RANDOM sequence gave different SYNs");
    CHECKF(c1 != c3 || s1 != s3, "another UTP_GET_RANDOM sequence gave the same SYN");
}

static size_t g_max_datagram[PAIR_SIDES];

static int max_size(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    (void)p;
    (void)buf;
    if (len > g_max_datagram[from]) g_max_datagram[from] = len;
    return 0;
}

static unsigned g_mtu_calls;

static uint64 small_mtu(utp_callback_arguments *a)
{
    g_mtu_calls++;
    CHECK(a->address != NULL);
    return 800;
}

static void case_mtu_callback(void)
{
    const uint64_t total = 256u * 1024u;
    setup(415);
    memset(g_max_datagram, 0, sizeof(g_max_datagram));
    g_mtu_calls = 0;
    pair_set_filter(g_p, max_size, NULL);
    stream_install(g_p, PAIR_A);
    stream_install(g_p, PAIR_B);
    pair_set_callback(g_p, PAIR_A, UTP_GET_UDP_MTU, small_mtu);
    pair_set_callback(g_p, PAIR_B, UTP_GET_UDP_MTU, small_mtu);
    stream_init(&g_sa, 31, 32, total, total);
    stream_init(&g_sb, 32, 31, total, total);
    stream_listen(g_p, PAIR_B, &g_sb);
    stream_connect(g_p, PAIR_A, &g_sa);
    if (!pair_run_until(g_p, streams_done, NULL, PAIR_S(60))) {
        test_fail(__FILE__, __LINE__, "transfer incomplete");
    }
    test_note("mtu_callback: GET_UDP_MTU called %u times; largest datagrams A %zu, B %zu",
              g_mtu_calls, g_max_datagram[PAIR_A], g_max_datagram[PAIR_B]);
    CHECK(g_mtu_calls >= 1);
    CHECKF(g_max_datagram[PAIR_A] <= 800 && g_max_datagram[PAIR_B] <= 800,
           "datagrams of %zu / %zu bytes with UTP_GET_UDP_MTU = 800", g_max_datagram[PAIR_A],
           g_max_datagram[PAIR_B]);
    CHECK(g_max_datagram[PAIR_A] > 400); /* and the packets are not needlessly small */
    pair_free(g_p);
}

static unsigned g_ovh_send[PAIR_SIDES], g_ovh_recv[PAIR_SIDES];

static uint64 on_overhead(utp_callback_arguments *a)
{
    int side = pair_side_of(g_p, a->context);
    CHECK(a->socket != NULL);
    CHECKF(a->send == 0 || a->send == 1, "send = %d", a->send);
    CHECKF(a->len > 0, "overhead of 0 bytes");
    CHECKF(a->type >= 1 && a->type <= 5, "overhead type %d", a->type);
    if (a->send) {
        g_ovh_send[side]++;
    } else {
        g_ovh_recv[side]++;
    }
    return 0;
}

static void case_overhead_statistics(void)
{
    setup(416);
    memset(g_ovh_send, 0, sizeof(g_ovh_send));
    memset(g_ovh_recv, 0, sizeof(g_ovh_recv));
    pair_set_callback(g_p, PAIR_A, UTP_ON_OVERHEAD_STATISTICS, on_overhead);
    pair_set_callback(g_p, PAIR_B, UTP_ON_OVERHEAD_STATISTICS, on_overhead);
    connect_a();
    exchange("overhead", "accounting");
    CHECK(g_ovh_send[PAIR_A] >= 1 && g_ovh_recv[PAIR_A] >= 1);
    CHECK(g_ovh_send[PAIR_B] >= 1 && g_ovh_recv[PAIR_B] >= 1);
    close_both();
}

int main(int argc, char **argv)
{
    static const pair_case cases[] = {
        {"options", case_options},
        {"userdata", case_userdata},
        {"process_udp", case_process_udp},
        {"handshake", case_handshake},
        {"empty_write", case_empty_write},
        {"writev", case_writev},
        {"getpeername", case_getpeername},
        {"partial_write", case_partial_write},
        {"context_stats", case_context_stats},
        {"socket_stats", case_socket_stats},
        {"acceptor_writes_first", case_acceptor_writes_first},
        {"on_connect", case_on_connect},
        {"random_source", case_random_source},
        {"mtu_callback", case_mtu_callback},
        {"overhead_statistics", case_overhead_statistics},
    };
    return pair_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
