/*
 * test_transfer.c: bulk transfer both ways through the C API, verified byte for byte.
 *
 *   clean        16 MiB each way over a 20 ms RTT, 100 Mbit/s path
 *   lossy        the same with 2 % loss, 2 % reordering (up to 30 ms) and 1 % duplication
 *   slow_reader  4 MiB each way into 256 KiB receive buffers that the application drains slowly
 *                (UTP_GET_READ_BUFFER_SIZE + utp_read_drained): the sender must respect the
 *                advertised window
 *
 * Each side writes its pattern as fast as the socket takes it (partial writes, WRITABLE), shuts
 * down its sending side when done (utp_shutdown SHUT_WR), and calls utp_close once it has also
 * seen EOF.  Both sockets must then report UTP_STATE_DESTROYING exactly once, with no error,
 * no data after EOF, and no callback after DESTROYING.
 */
#include "pair.h"

#include <stdio.h>
#include <string.h>

typedef struct scenario {
    const char *name;
    uint64_t bytes;
    pair_link link;
    int rcvbuf;            /* 0: the default */
    unsigned drain_per_tick;
    uint64_t max_virtual_s;
} scenario;

static stream g_a, g_b;

static int both_destroyed(void *arg)
{
    (void)arg;
    return g_a.n_destroying && g_b.n_destroying;
}

static void check_side(const char *who, const stream *st, const stream *peer, int initiator)
{
    CHECKF(st->tx == st->tx_total, "%s wrote %llu of %llu bytes", who,
           (unsigned long long)st->tx, (unsigned long long)st->tx_total);
    CHECKF(peer->rx == st->tx_total, "%s's peer received %llu of %llu bytes", who,
           (unsigned long long)peer->rx, (unsigned long long)st->tx_total);
    CHECKF(st->n_eof == 1, "%s: %u EOF events", who, st->n_eof);
    CHECKF(st->n_destroying == 1, "%s: %u DESTROYING events", who, st->n_destroying);
    CHECKF(st->n_error[0] + st->n_error[1] + st->n_error[2] == 0,
           "%s: errors refused=%u reset=%u timedout=%u", who, st->n_error[0], st->n_error[1],
           st->n_error[2]);
    CHECKF(st->n_read_after_close == 0 && st->n_read_after_eof == 0,
           "%s: %u reads after close, %u after EOF", who, st->n_read_after_close,
           st->n_read_after_eof);
    if (initiator) {
        CHECKF(st->n_connect == 1, "%s: %u CONNECT events", who, st->n_connect);
    } else {
        CHECKF(st->n_accept == 1, "%s: %u ON_ACCEPT calls", who, st->n_accept);
        /* STATE_CONNECT is documented for outgoing connections only. */
        CHECKF(st->n_connect == 0, "%s (acceptor): %u CONNECT events", who, st->n_connect);
    }
}

static void run(const scenario *sc, uint64_t seed)
{
    pair *p = pair_new(seed);
    const pair_counters *c = pair_stats(p);
    int side;

    for (side = 0; side < PAIR_SIDES; side++) {
        pair_set_link(p, side, &sc->link);
        stream_install(p, side);
        if (sc->rcvbuf) {
            CHECK_EQ(utp_context_set_option(pair_ctx(p, side), UTP_RCVBUF, sc->rcvbuf), 0);
        }
    }
    stream_init(&g_a, 0xA11CE, 0xB0B, sc->bytes, sc->bytes);
    stream_init(&g_b, 0xB0B, 0xA11CE, sc->bytes, sc->bytes);
    g_a.drain_per_tick = g_b.drain_per_tick = sc->drain_per_tick;
    stream_listen(p, PAIR_B, &g_b);
    stream_connect(p, PAIR_A, &g_a);

    if (!pair_run_until(p, both_destroyed, NULL, PAIR_S(sc->max_virtual_s))) {
        test_fail(__FILE__, __LINE__,
                  "%s: not finished after %llu virtual seconds: A wrote %llu read %llu eof %u "
                  "closed %d; B wrote %llu read %llu eof %u closed %d",
                  sc->name, (unsigned long long)sc->max_virtual_s, (unsigned long long)g_a.tx,
                  (unsigned long long)g_a.rx, g_a.n_eof, g_a.closed, (unsigned long long)g_b.tx,
                  (unsigned long long)g_b.rx, g_b.n_eof, g_b.closed);
    }
    test_note("%s: %llu bytes each way done at virtual t=%.3f s; datagrams A->B %llu "
              "(lost %llu, dup %llu, reordered %llu), B->A %llu (lost %llu); "
              "writable events A %u B %u",
              sc->name, (unsigned long long)sc->bytes,
              (double)(pair_now_us(p) - PAIR_T0_US) / 1e6, (unsigned long long)c->sent[PAIR_A],
              (unsigned long long)c->lost[PAIR_A], (unsigned long long)c->duplicated[PAIR_A],
              (unsigned long long)c->reordered[PAIR_A], (unsigned long long)c->sent[PAIR_B],
              (unsigned long long)c->lost[PAIR_B], g_a.n_writable, g_b.n_writable);

    check_side("A", &g_a, &g_b, 1);
    check_side("B", &g_b, &g_a, 0);
    CHECK(g_a.closed && g_b.closed);

    if (sc->drain_per_tick) {
        /* What the receiver had not yet consumed never exceeds its advertised buffer by more than
         * one packet in flight. */
        uint64_t limit = (uint64_t)sc->rcvbuf + 1500u;
        CHECKF(g_a.max_buffered <= limit && g_b.max_buffered <= limit,
               "unread bytes peaked at A %llu / B %llu with UTP_RCVBUF %d",
               (unsigned long long)g_a.max_buffered, (unsigned long long)g_b.max_buffered,
               sc->rcvbuf);
        test_note("%s: unread bytes peaked at A %llu, B %llu (UTP_RCVBUF %d)", sc->name,
                  (unsigned long long)g_a.max_buffered, (unsigned long long)g_b.max_buffered,
                  sc->rcvbuf);
    }

    /* Afterwards: nothing more is reported for the destroyed sockets (the wrappers fail the test
     * on any callback after DESTROYING), and none is left alive. */
    pair_run_for(p, PAIR_S(30));
    CHECK_EQ(pair_live_sockets(p, PAIR_A), 0);
    CHECK_EQ(pair_live_sockets(p, PAIR_B), 0);
    CHECK_EQ(c->not_utp[PAIR_A] + c->not_utp[PAIR_B], 0);
    pair_free(p);
}

int main(int argc, char **argv)
{
    static const scenario scenarios[] = {
        {"clean", 16u << 20, {10000, 100000, 0, 0, 0, 0}, 0, 0, 120},
        {"lossy", 16u << 20, {10000, 100000, 20000, 10000, 20000, 30000}, 0, 0, 900},
        {"slow_reader", 4u << 20, {10000, 100000, 0, 0, 0, 0}, 256 * 1024, 24 * 1024, 300},
    };
    size_t i;
    int ran = 0;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        if (argc < 2 || strcmp(argv[1], scenarios[i].name) == 0) {
            run(&scenarios[i], 0x5EED0000u + i);
            printf("ok %s\n", scenarios[i].name);
            ran++;
        }
    }
    if (!ran) {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    return 0;
}
