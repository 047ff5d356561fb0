/*
 * misuse_table.h: the rows and the fixture of test_misuse_table.c.
 *
 * misuse_rows.c: one row per function of utp.h: a call with fixed arguments on the handle it is
 * given, its result reduced to a number, and the expected numbers.
 * misuse_fixture.c: a pair of contexts with a healthy connection checked byte for byte, the
 * socket under test, and the hooks that make a row's call from inside a chosen callback.
 */
#ifndef RUTP_CTESTS_MISUSE_TABLE_H
#define RUTP_CTESTS_MISUSE_TABLE_H

#include "pair.h"

#include <sys/socket.h>

/* Columns of the state table. */
enum { S_NULL, S_CREATED, S_CONNECTING, S_CONNECTED, S_SHUTDOWN, S_CLOSED, S_FREED, NSTATES };

/* Columns of the callback table: the callback of context A the call is made from. */
enum {
    K_SENDTO,       /* UTP_SENDTO (the harness's filter runs inside it) */
    K_CLOCK,        /* UTP_GET_MICROSECONDS */
    K_RANDOM,       /* UTP_GET_RANDOM, asked by utp_connect (socket not connected yet) */
    K_MTU,          /* UTP_GET_UDP_MTU, asked by utp_connect (socket not connected yet) */
    K_UDP_OVERHEAD, /* UTP_GET_UDP_OVERHEAD, asked by utp_connect */
    K_FIREWALL,     /* UTP_ON_FIREWALL for an incoming connection */
    K_MTU_ACCEPT,   /* UTP_GET_UDP_MTU for an incoming connection (socket not yet announced) */
    K_ACCEPT,       /* UTP_ON_ACCEPT */
    K_CONNECT,      /* UTP_ON_CONNECT */
    K_STATE,        /* UTP_ON_STATE_CHANGE, the first one of the socket under test */
    K_READ,         /* UTP_ON_READ */
    K_RBSIZE,       /* UTP_GET_READ_BUFFER_SIZE */
    K_OVERHEAD,     /* UTP_ON_OVERHEAD_STATISTICS */
    K_DELAY,        /* UTP_ON_DELAY_SAMPLE */
    K_ERROR,        /* UTP_ON_ERROR (an ICMP error for the connection) */
    K_LOG,          /* UTP_LOG */
    K_DESTROYING,   /* UTP_ON_STATE_CHANGE with UTP_STATE_DESTROYING */
    K_FOREIGN,      /* inside A's ON_STATE_CHANGE, on context B and B's end of the connection */
    NCOLS
};
extern const char *const CB_NAMES[NCOLS];

/* One function of utp.h.  fn gets (context, NULL) or (NULL, socket), or both from callbacks. */
typedef struct misuse_row {
    const char *name;
    int on_socket;
    long (*fn)(utp_context *ctx, utp_socket *s);
    long state[NSTATES]; /* expected result per state column */
    long cb_lo, cb_hi;   /* expected range from inside callbacks */
} misuse_row;
extern const misuse_row ROWS[];
extern const int NROWS;

/* The fixture of one cell. */
typedef struct fixture {
    utp_socket *ha, *hb;        /* the healthy connection (A initiates) */
    uint64_t h_tx[2], h_rx[2];  /* bytes A->B and B->A written / received */
    int h_bad;                  /* a healthy byte did not match */
    int h_open_b;               /* the next accept on B is the healthy one */
    int ha_connected;
    utp_socket *t, *tb;         /* the socket under test (on A) and B's end of it */
    int t_connected, t_destroying;
    unsigned t_connid;          /* A's receive id of the socket under test (from its SYN) */
    unsigned char t_syn[64];    /* its SYN, quoted by the ICMP error of the callback scenario */
    size_t t_syn_len;
    int block_target;           /* drop B's datagrams to the socket under test */
    utp_socket *u;              /* a connection B opened to A (callback scenario) */
    int gone[PAIR_SIDES];       /* the test destroyed this side's context: 1 from a callback
                                 * (detached), 2 with pair_restart (a fresh one is in place) */
    /* the armed call */
    int armed, row, col, in_callback, fired;
    long result;
    utp_context *subject_ctx;   /* the context the subject socket belongs to */
} fixture;

extern pair *g_p;
extern fixture g_fx;
extern int g_tag, g_tag2, g_ctag, g_ctag2;

/* A fresh pair with the healthy connection open and checked. */
void fixture_open(uint64_t seed);
/* Checks the healthy connection (reopened first if a row destroyed a context), frees the pair. */
void fixture_check_and_close(void);
/* The socket under test: created on A (userdata &g_tag), then connected to `to`. */
utp_socket *target_create(void);
int target_connect(const struct sockaddr *to);
int target_ready(void *arg);
int target_destroyed(void *arg);
/* Whether the socket under test may still be passed to the library. */
int target_usable(void);

/* Arms ROWS[row] for callback column col, installing the hooks it needs. */
void callbacks_arm(int row, int col);
/* Drives A through every callback type (see misuse_fixture.c). */
void callbacks_scenario(void);

#endif
