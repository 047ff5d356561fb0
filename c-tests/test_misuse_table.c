/*
 * test_misuse_table.c: every function of utp.h against every handle condition, as two tables
 * (rutp only, like test_misuse.c: libutp's live asserts abort on these calls).  The functions of
 * utp_managed.h have their own table in test_misuse_managed.c.
 *
 * Rows: the 28 functions of utp.h (ROWS below).  A context function gets the context of the
 * socket under test, a socket function the socket itself.
 *
 * Table 1, "states": the handle is
 *   null        NULL
 *   created     a socket from utp_create_socket, never connected
 *   connecting  utp_connect to an address nobody answers (SYN_SENT for the whole cell)
 *   connected   an established connection
 *   shutdown    after utp_shutdown(SHUT_RDWR)
 *   closed      after utp_close, before DESTROYING (the peer's packets are dropped, so the
 *               close cannot finish)
 *   freed       after its UTP_STATE_DESTROYING
 * Each cell is a fresh pair of contexts; the expected value is in the row (libutp's error values
 * as in test_misuse.c: NULL, -1, 0 for "not uTP", nothing for void functions; pointers are
 * compared as 0 = NULL, 1 = the expected pointer, 2 = another pointer).
 *
 * Table 2, "callbacks": the same call made once from inside each callback type of context A,
 * on the callback's own socket (or, for callbacks without one, on a connected socket of A) and
 * its context; column "foreign" makes it from inside A's ON_STATE_CHANGE on context B and B's
 * end of that connection.  The callback's socket is valid there, so no call is refused:
 * each row gives the range of results it documents (a write takes 0..all bytes depending on
 * the state, connect is refused on a socket already connecting).  The calls include utp_close
 * and utp_destroy: a context destroyed from inside its own callback goes when the outermost
 * library call returns (pair_detach); one destroyed from a callback of another context goes at
 * once.
 *
 * After every cell a second, healthy connection of the same two contexts moves data both ways
 * and every byte is checked (after a utp_destroy row, a fresh one on the new context); the
 * harness fails the test on any callback for a socket after its DESTROYING, and ASan and
 * valgrind watch for invalid accesses and leaks.
 *
 * Freed handles, the contract: NULL is always refused.  A socket is refused after its
 * DESTROYING for as long as its context lives and fewer than 1024 later sockets of that context
 * have been destroyed (rutp keeps destroyed sockets allocated and marked in a bounded graveyard;
 * libutp frees them at once and cannot detect this).  A context or socket pointer used after
 * utp_destroy of its context, or a pointer the library never returned, is undefined behaviour,
 * as in libutp: no test here does that.
 *
 * Usage: test_misuse_table [states|callbacks] (both without an argument); RUTP_MISUSE_CELL=row,col
 * runs one cell of the callback table, RUTP_CTESTS_TRACE=1 names each cell and datagram.
 */
#include "pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "misuse_table.h"

/* ---- the state table ---------------------------------------------------------------------- */

static const char *const STATE_NAMES[NSTATES] = {"null",     "created", "connecting",
                                                 "connected", "shutdown", "closed", "freed"};

/* Puts the socket under test into `state` (test_fail when it cannot). */
static void make_target(int state)
{
    utp_socket *t;
    if (state == S_NULL) return;
    t = target_create();
    if (state == S_CREATED) return;
    if (state == S_CONNECTING) {
        CHECK_EQ(target_connect(pair_nowhere()), 0);
        pair_run_for(g_p, PAIR_MS(100));
        return;
    }
    CHECK_EQ(target_connect(pair_addr(g_p, PAIR_B)), 0);
    if (!pair_run_until(g_p, target_ready, NULL, PAIR_S(5))) {
        test_fail(__FILE__, __LINE__, "the connection under test did not complete");
    }
    switch (state) {
    case S_SHUTDOWN:
        utp_shutdown(t, SHUT_RDWR);
        pair_run_for(g_p, PAIR_MS(200));
        CHECK(pair_socket_alive(g_p, t));
        break;
    case S_CLOSED:
        g_fx.block_target = 1;
        CHECK_EQ(utp_write(t, (void *)"unacknowledged", 14), 14);
        utp_close(t);
        pair_run_for(g_p, PAIR_MS(200));
        CHECKF(pair_socket_alive(g_p, t), "the close finished although the peer is silent");
        break;
    case S_FREED:
        utp_close(t);
        utp_close(g_fx.tb);
        if (!pair_run_until(g_p, target_destroyed, NULL, PAIR_S(10))) {
            test_fail(__FILE__, __LINE__, "no DESTROYING after closing both ends");
        }
        break;
    default:
        break;
    }
}

static void state_cell(int row, int state)
{
    const misuse_row *r = &ROWS[row];
    utp_context *ctx;
    long got;
    fixture_open(1000u + (uint64_t)row * 16u + (uint64_t)state);
    make_target(state);
    ctx = state == S_NULL ? NULL : pair_ctx(g_p, PAIR_A);
    g_fx.subject_ctx = ctx;
    got = r->fn(r->on_socket ? NULL : ctx, r->on_socket ? g_fx.t : NULL);
    CHECKF(got == r->state[state], "%s on a %s handle: got %ld, expected %ld", r->name,
           STATE_NAMES[state], got, r->state[state]);
    fixture_check_and_close();
}

static void case_states(void)
{
    int row, state;
    for (row = 0; row < NROWS; row++) {
        for (state = 0; state < NSTATES; state++) state_cell(row, state);
    }
    test_note("states: %d cells", NROWS * NSTATES);
}

/* ---- the callback table ------------------------------------------------------------------- */

static void callback_cell(int row, int col)
{
    const misuse_row *r = &ROWS[row];
    if (getenv("RUTP_CTESTS_TRACE")) test_note("cell %s / %s", r->name, CB_NAMES[col]);
    fixture_open(5000u + (uint64_t)row * 32u + (uint64_t)col);
    callbacks_arm(row, col);
    callbacks_scenario();
    CHECKF(g_fx.fired, "%s: the %s callback never fired", r->name, CB_NAMES[col]);
    CHECKF(g_fx.result >= r->cb_lo && g_fx.result <= r->cb_hi,
           "%s from inside %s: got %ld, expected %ld..%ld", r->name, CB_NAMES[col], g_fx.result,
           r->cb_lo, r->cb_hi);
    fixture_check_and_close();
}

/* RUTP_MISUSE_CELL=row,col runs one cell of the callback table (for debugging). */
static void case_callbacks(void)
{
    int row, col, only_row = -1, only_col = -1;
    const char *only = getenv("RUTP_MISUSE_CELL");
    if (only && sscanf(only, "%d,%d", &only_row, &only_col) != 2) only_row = only_col = -1;
    for (row = 0; row < NROWS; row++) {
        for (col = 0; col < NCOLS; col++) {
            if (only_row < 0 || (row == only_row && col == only_col)) callback_cell(row, col);
        }
    }
    test_note("callbacks: %d cells", NROWS * NCOLS);
}

int main(int argc, char **argv)
{
    static const pair_case cases[] = {
        {"states", case_states},
        {"callbacks", case_callbacks},
    };
    return pair_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
