/*
 * misuse_fixture.c: the fixture of test_misuse_table.c.
 *
 * Every cell gets a fresh pair (pair.h) with a healthy connection A->B, checked byte for byte
 * in both directions when the cell ends, and a socket under test on A.  The callback scenario
 * drives A through every callback type, in this order: connecting the socket under test
 * (SENDTO, GET_MICROSECONDS, GET_RANDOM, GET_UDP_MTU, GET_UDP_OVERHEAD), its handshake and the
 * data B writes at once (ON_CONNECT or ON_STATE_CHANGE, ON_READ, GET_READ_BUFFER_SIZE,
 * ON_OVERHEAD_STATISTICS, ON_DELAY_SAMPLE), a malformed datagram (LOG), a connection from B
 * (ON_FIREWALL, GET_UDP_MTU, ON_ACCEPT), an ICMP error quoting its SYN (ON_ERROR), and its
 * close (DESTROYING).  The armed row is called once, from the first callback of the armed type
 * that names the socket under test (or, for callbacks without a socket, while it is usable).
 */
#include "misuse_table.h"

#include <string.h>

#define KEY_AB 0xAB01u
#define KEY_BA 0xBA02u

pair *g_p;
fixture g_fx;
int g_tag, g_tag2, g_ctag, g_ctag2;

const char *const CB_NAMES[NCOLS] = {
    "SENDTO",   "GET_MICROSECONDS", "GET_RANDOM",     "GET_UDP_MTU (connect)",
    "GET_UDP_OVERHEAD", "ON_FIREWALL", "GET_UDP_MTU (accept)", "ON_ACCEPT",
    "ON_CONNECT", "ON_STATE_CHANGE", "ON_READ", "GET_READ_BUFFER_SIZE",
    "ON_OVERHEAD_STATISTICS", "ON_DELAY_SAMPLE", "ON_ERROR", "LOG",
    "DESTROYING", "foreign (B from A's ON_STATE_CHANGE)"};

/* Makes the armed call if `col` is the armed column. */
static void fire(int col, utp_context *ctx, utp_socket *s)
{
    const misuse_row *r;
    if (!g_fx.armed || g_fx.col != col) return;
    r = &ROWS[g_fx.row];
    g_fx.armed = 0;
    g_fx.in_callback = 1;
    g_fx.subject_ctx = ctx;
    g_fx.result = r->fn(ctx, s);
    g_fx.in_callback = 0;
    g_fx.fired = 1;
}

int target_usable(void)
{
    return g_fx.t && !g_fx.gone[PAIR_A] && utp_get_context(g_fx.t) != NULL;
}

/* ---- callbacks -------------------------------------------------------------------------------- */

static int is_healthy(const utp_socket *s)
{
    return s && (s == g_fx.ha || s == g_fx.hb);
}

static uint64 fx_accept(utp_callback_arguments *a)
{
    int side = pair_side_of(g_p, a->context);
    if (side == PAIR_B) {
        if (g_fx.h_open_b) {
            g_fx.hb = a->socket;
            g_fx.h_open_b = 0;
        } else if (g_fx.t && !g_fx.tb) {
            unsigned char buf[300];
            g_fx.tb = a->socket;
            utp_set_userdata(a->socket, &g_tag);
            memset(buf, 'b', sizeof(buf));
            CHECK_EQ(utp_write(a->socket, buf, sizeof(buf)), sizeof(buf));
        }
    } else if (side == PAIR_A) {
        g_fx.u = a->socket;
        utp_set_userdata(a->socket, &g_tag);
        fire(K_ACCEPT, a->context, a->socket);
    }
    return 0;
}

static uint64 fx_read(utp_callback_arguments *a)
{
    int dir = a->socket == g_fx.hb ? 0 : a->socket == g_fx.ha ? 1 : -1;
    if (dir >= 0) {
        long bad = pattern_check(dir == 0 ? KEY_AB : KEY_BA, g_fx.h_rx[dir], a->buf, a->len);
        if (bad >= 0) g_fx.h_bad = 1;
        g_fx.h_rx[dir] += a->len;
    } else if (a->socket == g_fx.t) {
        fire(K_READ, a->context, a->socket);
    }
    return 0;
}

static uint64 fx_state(utp_callback_arguments *a)
{
    utp_socket *s = a->socket;
    if (a->state == UTP_STATE_CONNECT) {
        if (s == g_fx.ha) g_fx.ha_connected = 1;
        if (s == g_fx.t) g_fx.t_connected = 1;
    }
    if (s == g_fx.t && a->state != UTP_STATE_DESTROYING) {
        fire(K_STATE, a->context, s);
        if (g_fx.tb && !g_fx.gone[PAIR_B]) fire(K_FOREIGN, pair_ctx(g_p, PAIR_B), g_fx.tb);
    }
    if (a->state == UTP_STATE_DESTROYING) {
        if (s == g_fx.t) {
            fire(K_DESTROYING, a->context, s);
            g_fx.t_destroying++;
        }
        if (s == g_fx.tb) g_fx.tb = NULL;
        if (s == g_fx.u) g_fx.u = NULL;
        if (s == g_fx.ha) g_fx.ha = NULL;
        if (s == g_fx.hb) g_fx.hb = NULL;
    }
    return 0;
}

static uint64 fx_error(utp_callback_arguments *a)
{
    CHECKF(!is_healthy(a->socket), "ON_ERROR %d on the healthy connection", a->error_code);
    if (a->socket == g_fx.t) fire(K_ERROR, a->context, a->socket);
    utp_close(a->socket); /* as ucat does */
    return 0;
}

static uint64 fx_connect(utp_callback_arguments *a)
{
    if (a->socket == g_fx.ha) g_fx.ha_connected = 1; /* a restarted context keeps ON_CONNECT */
    if (a->socket == g_fx.t) {
        g_fx.t_connected = 1;
        fire(K_CONNECT, a->context, a->socket);
    }
    return 0;
}

static uint64 fx_clock(utp_callback_arguments *a)
{
    if (g_fx.t_connected && target_usable()) fire(K_CLOCK, a->context, g_fx.t);
    return pair_now_us(g_p);
}

static uint64 fx_random(utp_callback_arguments *a)
{
    static uint64 n;
    if (a->socket && a->socket == g_fx.t) fire(K_RANDOM, a->context, a->socket);
    return ++n * 2654435761u;
}

static uint64 fx_mtu(utp_callback_arguments *a)
{
    if (a->socket && a->socket == g_fx.t) {
        fire(K_MTU, a->context, a->socket);
    } else if (a->socket && !is_healthy(a->socket) && g_fx.armed && g_fx.col == K_MTU_ACCEPT) {
        utp_set_userdata(a->socket, &g_tag);
        fire(K_MTU_ACCEPT, a->context, a->socket);
    }
    return 0;
}

static uint64 fx_udp_overhead(utp_callback_arguments *a)
{
    if (a->socket && a->socket == g_fx.t) fire(K_UDP_OVERHEAD, a->context, a->socket);
    return 28;
}

static uint64 fx_firewall(utp_callback_arguments *a)
{
    if (target_usable()) fire(K_FIREWALL, a->context, g_fx.t);
    return 0;
}

static uint64 fx_rbsize(utp_callback_arguments *a)
{
    if (a->socket == g_fx.t) fire(K_RBSIZE, a->context, a->socket);
    return 0;
}

static uint64 fx_overhead(utp_callback_arguments *a)
{
    if (a->socket == g_fx.t && g_fx.t_connected) fire(K_OVERHEAD, a->context, a->socket);
    return 0;
}

static uint64 fx_delay(utp_callback_arguments *a)
{
    if (a->socket == g_fx.t) fire(K_DELAY, a->context, a->socket);
    return 0;
}

static uint64 fx_log(utp_callback_arguments *a)
{
    if (g_fx.t_connected && target_usable()) fire(K_LOG, a->context, g_fx.t);
    return 0;
}

/* Inside UTP_SENDTO: records the SYN of the socket under test, drops B's datagrams to it when
 * asked, and makes the armed SENDTO call. */
static int fx_filter(void *arg, pair *p, int from, const unsigned char *buf, size_t len)
{
    (void)arg;
    if (len < 20) return 0;
    if (from == PAIR_A && g_fx.t && !g_fx.t_syn_len && pkt_type(buf) == PKT_SYN) {
        g_fx.t_connid = pkt_connid(buf);
        g_fx.t_syn_len = len < sizeof(g_fx.t_syn) ? len : sizeof(g_fx.t_syn);
        memcpy(g_fx.t_syn, buf, g_fx.t_syn_len);
    }
    if (from == PAIR_A && g_fx.t && !g_fx.gone[PAIR_A]) fire(K_SENDTO, pair_ctx(p, PAIR_A), g_fx.t);
    return from == PAIR_B && g_fx.block_target && g_fx.t_syn_len && pkt_connid(buf) == g_fx.t_connid;
}

/* ---- the healthy connection ----------------------------------------------------------------- */

static int healthy_ready(void *arg)
{
    (void)arg;
    return g_fx.ha_connected && g_fx.hb != NULL;
}

static int healthy_done(void *arg)
{
    (void)arg;
    return g_fx.h_rx[0] == g_fx.h_tx[0] && g_fx.h_rx[1] == g_fx.h_tx[1];
}

static void healthy_open(void)
{
    g_fx.ha = g_fx.hb = NULL;
    g_fx.ha_connected = 0;
    memset(g_fx.h_tx, 0, sizeof(g_fx.h_tx));
    memset(g_fx.h_rx, 0, sizeof(g_fx.h_rx));
    g_fx.h_open_b = 1;
    g_fx.ha = pair_connect(g_p, PAIR_A);
    if (!pair_run_until(g_p, healthy_ready, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "the healthy connection did not open");
    }
}

static void healthy_check(void)
{
    unsigned char buf[1000];
    pattern_fill(KEY_AB, g_fx.h_tx[0], buf, sizeof(buf));
    CHECKF(g_fx.ha && g_fx.hb, "the healthy connection was destroyed");
    CHECK_EQ(utp_write(g_fx.ha, buf, sizeof(buf)), sizeof(buf));
    g_fx.h_tx[0] += sizeof(buf);
    pattern_fill(KEY_BA, g_fx.h_tx[1], buf, sizeof(buf));
    CHECK_EQ(utp_write(g_fx.hb, buf, sizeof(buf)), sizeof(buf));
    g_fx.h_tx[1] += sizeof(buf);
    if (!pair_run_until(g_p, healthy_done, NULL, PAIR_S(10))) {
        test_fail(__FILE__, __LINE__, "the healthy connection stalled (%llu/%llu, %llu/%llu)",
                  (unsigned long long)g_fx.h_rx[0], (unsigned long long)g_fx.h_tx[0],
                  (unsigned long long)g_fx.h_rx[1], (unsigned long long)g_fx.h_tx[1]);
    }
    CHECKF(!g_fx.h_bad, "the healthy connection delivered corrupted data");
}

/* ---- cells ------------------------------------------------------------------------------------ */

static void install(int side)
{
    pair_set_callback(g_p, side, UTP_ON_ACCEPT, fx_accept);
    pair_set_callback(g_p, side, UTP_ON_READ, fx_read);
    pair_set_callback(g_p, side, UTP_ON_STATE_CHANGE, fx_state);
    pair_set_callback(g_p, side, UTP_ON_ERROR, fx_error);
    utp_context_set_userdata(pair_ctx(g_p, side), &g_ctag);
}

void fixture_open(uint64_t seed)
{
    memset(&g_fx, 0, sizeof(g_fx));
    g_p = pair_new(seed);
    install(PAIR_A);
    install(PAIR_B);
    pair_set_filter(g_p, fx_filter, NULL);
    healthy_open();
}

void fixture_check_and_close(void)
{
    int side, reopen = 0;
    g_fx.armed = 0;
    for (side = 0; side < PAIR_SIDES; side++) {
        if (!g_fx.gone[side]) continue;
        if (g_fx.gone[side] == 1) pair_restart(g_p, side); /* detached from a callback */
        utp_context_set_userdata(pair_ctx(g_p, side), &g_ctag);
        reopen = 1;
    }
    if (reopen) {
        /* forget the old connections and let what is in flight for them land first */
        g_fx.t = g_fx.tb = g_fx.u = g_fx.ha = g_fx.hb = NULL;
        pair_run_for(g_p, PAIR_MS(500));
        healthy_open();
    }
    healthy_check();
    pair_free(g_p);
    g_p = NULL;
}

utp_socket *target_create(void)
{
    g_fx.t = pair_create_socket(g_p, PAIR_A);
    utp_set_userdata(g_fx.t, &g_tag);
    return g_fx.t;
}

int target_connect(const struct sockaddr *to)
{
    return utp_connect(g_fx.t, to, pair_addrlen());
}

int target_ready(void *arg)
{
    (void)arg;
    return g_fx.t_connected && g_fx.tb != NULL;
}

int target_destroyed(void *arg)
{
    (void)arg;
    return g_fx.t_destroying > 0;
}

static int accepted_u(void *arg)
{
    (void)arg;
    return g_fx.u != NULL;
}

void callbacks_arm(int row, int col)
{
    utp_context *a = pair_ctx(g_p, PAIR_A);
    g_fx.row = row;
    g_fx.col = col;
    g_fx.armed = 1;
    switch (col) {
    case K_CLOCK: utp_set_callback(a, UTP_GET_MICROSECONDS, fx_clock); break;
    case K_RANDOM: utp_set_callback(a, UTP_GET_RANDOM, fx_random); break;
    case K_MTU:
    case K_MTU_ACCEPT: pair_set_callback(g_p, PAIR_A, UTP_GET_UDP_MTU, fx_mtu); break;
    case K_UDP_OVERHEAD:
        pair_set_callback(g_p, PAIR_A, UTP_GET_UDP_OVERHEAD, fx_udp_overhead);
        break;
    case K_FIREWALL: pair_set_callback(g_p, PAIR_A, UTP_ON_FIREWALL, fx_firewall); break;
    case K_CONNECT: pair_set_callback(g_p, PAIR_A, UTP_ON_CONNECT, fx_connect); break;
    case K_RBSIZE: pair_set_callback(g_p, PAIR_A, UTP_GET_READ_BUFFER_SIZE, fx_rbsize); break;
    case K_OVERHEAD:
        pair_set_callback(g_p, PAIR_A, UTP_ON_OVERHEAD_STATISTICS, fx_overhead);
        break;
    case K_DELAY: pair_set_callback(g_p, PAIR_A, UTP_ON_DELAY_SAMPLE, fx_delay); break;
    case K_LOG:
        utp_context_set_option(a, UTP_LOG_NORMAL, 1);
        utp_context_set_option(a, UTP_LOG_DEBUG, 1);
        pair_set_callback(g_p, PAIR_A, UTP_LOG, fx_log);
        break;
    default: break;
    }
}

void callbacks_scenario(void)
{
    unsigned char junk[24];
    target_create();
    target_connect(pair_addr(g_p, PAIR_B));
    if (g_fx.gone[PAIR_A]) return;
    pair_run_until(g_p, target_ready, NULL, PAIR_S(2));
    if (target_usable()) utp_write(g_fx.t, (void *)"from the socket under test", 26);
    pair_run_for(g_p, PAIR_MS(300));
    if (g_fx.gone[PAIR_A]) return;
    /* a uTP header (version 1, ST_DATA) whose extension chain runs past the end: malformed */
    pkt_build(junk, PKT_DATA, 0x4242, 0, 0, 0, 1, 1);
    junk[1] = 1;
    junk[20] = 0;
    junk[21] = 200;
    pair_inject(g_p, PAIR_B, junk, sizeof(junk), 0);
    pair_run_for(g_p, PAIR_MS(100));
    if (g_fx.gone[PAIR_A] || g_fx.gone[PAIR_B]) return;
    pair_connect(g_p, PAIR_B);
    pair_run_until(g_p, accepted_u, NULL, PAIR_S(1));
    if (target_usable() && g_fx.t_syn_len && !g_fx.gone[PAIR_A]) {
        utp_process_icmp_error(pair_ctx(g_p, PAIR_A), g_fx.t_syn, g_fx.t_syn_len,
                               pair_addr(g_p, PAIR_B), pair_addrlen());
        pair_run_for(g_p, PAIR_MS(300));
    }
    if (target_usable() && !g_fx.gone[PAIR_A]) {
        utp_close(g_fx.t);
        if (g_fx.tb && !g_fx.gone[PAIR_B]) utp_close(g_fx.tb);
        pair_run_until(g_p, target_destroyed, NULL, PAIR_S(10));
    }
    pair_run_for(g_p, PAIR_MS(100));
}
