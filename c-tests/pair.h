/*
 * pair.h: a deterministic, in-process network of two libutp contexts for the C test suite.
 *
 * Written only against the public libutp API (utp.h), so the same tests run against rutp's
 * libutp.so and against the reference libutp.
 *
 * What the harness owns on every context it creates:
 *   - UTP_SENDTO: the datagram goes into a queue (never delivered from inside the call), through
 *     an impairment layer (rate, delay, loss, reordering, duplication, a test filter) driven by its
 *     own seeded PRNG, and is later fed to the destination context's utp_process_udp with the
 *     sender's address as the source.  Datagrams are routed by destination address; an address
 *     that belongs to no side is a black hole.
 *   - UTP_GET_MILLISECONDS / UTP_GET_MICROSECONDS: a virtual clock that only the harness advances.
 *   - UTP_GET_RANDOM: one seeded PRNG per side.
 * The event loop (pair_step) behaves like an application's: it delivers every datagram due at the
 * current virtual instant, then calls utp_issue_deferred_acks on each context that received one
 * (as after draining a UDP socket); between datagrams, every PAIR_TICK_US it calls
 * utp_check_timeouts and utp_issue_deferred_acks on both contexts (as from an application timer).
 * Nothing depends on wall-clock time, so the tests behave the same under valgrind or sanitizers.
 *
 * Test callbacks are installed with pair_set_callback.  The harness wraps them to check the
 * socket lifecycle on every event callback (ON_ACCEPT, ON_CONNECT, ON_ERROR, ON_READ,
 * ON_STATE_CHANGE, ON_DELAY_SAMPLE): the socket must be one the application knows (created with
 * pair_create_socket or announced by ON_ACCEPT), no event may name a socket after its
 * UTP_STATE_DESTROYING, and DESTROYING comes at most once per socket.
 *
 * C99 + POSIX only.
 */
#ifndef RUTP_CTESTS_PAIR_H
#define RUTP_CTESTS_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "utp.h"

/* ---- failure reporting -------------------------------------------------------------------- */

/* Prints "FAIL file:line: message [seed, virtual time]" to stderr and exits with status 1. */
void test_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 3, 4)))
#endif
    ;
/* Prints a progress line to stdout (kept short; CTest shows it on failure). */
void test_note(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) test_fail(__FILE__, __LINE__, "check failed: %s", #cond);                 \
    } while (0)
#define CHECKF(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)
#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                        \
        if (check_a_ != check_b_)                                                              \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, check_a_, check_b_); \
    } while (0)

/* ---- the harness ---------------------------------------------------------------------------- */

enum { PAIR_A = 0, PAIR_B = 1, PAIR_SIDES = 2 };

/* The virtual clock starts here (1 s), so that "time 0" is never a valid timestamp. */
#define PAIR_T0_US 1000000ull
/* Period of the application timer that calls utp_check_timeouts / utp_issue_deferred_acks. */
#define PAIR_TICK_US 20000ull
#define PAIR_MS(x) ((uint64_t)(x) * 1000ull)
#define PAIR_S(x) ((uint64_t)(x) * 1000000ull)

/* One direction of the simulated path.  All zero: a perfect path with 1 us delay. */
typedef struct pair_link {
    uint32_t delay_us;    /* one-way propagation delay (at least 1 us is used) */
    uint32_t rate_kbps;   /* serialization rate in kbit/s; 0 = unlimited */
    uint32_t loss_ppm;    /* probability of dropping a datagram, parts per million */
    uint32_t dup_ppm;     /* probability of delivering a datagram twice */
    uint32_t reorder_ppm; /* probability of holding a datagram back by 1..reorder_us extra */
    uint32_t reorder_us;
} pair_link;

/* Counters, per sending side. */
typedef struct pair_counters {
    uint64_t sent[PAIR_SIDES];          /* UTP_SENDTO calls */
    uint64_t type_sent[PAIR_SIDES][8];  /* by uTP packet type (high nibble of byte 0), 7 = other */
    uint64_t filtered[PAIR_SIDES];      /* dropped by the test filter */
    uint64_t lost[PAIR_SIDES];          /* dropped by the impairment layer */
    uint64_t duplicated[PAIR_SIDES];
    uint64_t reordered[PAIR_SIDES];
    uint64_t blackholed[PAIR_SIDES];    /* sent to an address no side owns */
    uint64_t delivered[PAIR_SIDES];     /* handed to the other side's utp_process_udp */
    uint64_t not_utp[PAIR_SIDES];       /* ... which returned 0 */
    uint64_t dontfrag[PAIR_SIDES];      /* UTP_SENDTO with UTP_UDP_DONTFRAG in flags */
} pair_counters;

/* uTP packet types (BEP 29). */
enum { PKT_DATA = 0, PKT_FIN = 1, PKT_STATE = 2, PKT_RESET = 3, PKT_SYN = 4 };

typedef struct pair pair;

/* Called for every datagram a side sends, before impairment: return non-zero to drop it. */
typedef int (*pair_filter_fn)(void *arg, pair *p, int from, const unsigned char *buf, size_t len);
/* Called after each application timer tick (after utp_check_timeouts). */
typedef void (*pair_tick_fn)(void *arg, pair *p);

/* Two fresh contexts (utp_init(2)) at 127.0.0.1:10001 (A) and 127.0.0.1:10002 (B).  Nothing is
 * ever sent on a real socket: the addresses are labels. */
pair *pair_new(uint64_t seed);
/* utp_destroy on both contexts (DESTROYING fires for every live socket), then frees the queue. */
void pair_free(pair *p);

utp_context *pair_ctx(const pair *p, int side);
/* Which side a context belongs to, or -1. */
int pair_side_of(const pair *p, const utp_context *ctx);
const struct sockaddr *pair_addr(const pair *p, int side);
socklen_t pair_addrlen(void);
/* An IPv4 address that no side owns: datagrams sent there vanish. */
const struct sockaddr *pair_nowhere(void);
uint64_t pair_now_us(const pair *p);
const pair_counters *pair_stats(const pair *p);
size_t pair_in_flight(const pair *p);

void pair_set_link(pair *p, int from, const pair_link *link);
void pair_set_filter(pair *p, pair_filter_fn fn, void *arg);
void pair_set_tick_hook(pair *p, pair_tick_fn fn, void *arg);

/* Installs (or, with NULL, clears) a test callback, wrapped by the lifecycle checks.  SENDTO and
 * the clock and random callbacks belong to the harness and cannot be replaced. */
void pair_set_callback(pair *p, int side, int callback, utp_callback_t *fn);

/* utp_create_socket on a side's context, registered with the lifecycle checks. */
utp_socket *pair_create_socket(pair *p, int side);
/* Creates a socket and utp_connects it to the other side; fails the test if that returns -1. */
utp_socket *pair_connect(pair *p, int from);

/* A restarted peer: utp_destroy the side's context (its sockets get DESTROYING) and put a fresh
 * one at the same address, with the same test callbacks.  Datagrams in flight are delivered to
 * the new context.  Must not be called from inside a callback. */
utp_context *pair_restart(pair *p, int side);

/* The test destroyed the side's context itself (utp_destroy from inside a callback, which takes
 * effect when the outermost library call returns): the harness stops calling it (its calls pass
 * NULL, which the library ignores) but still routes the callbacks that context delivers until it
 * is gone.  pair_restart then puts a fresh context in its place. */
void pair_detach(pair *p, int side);

/* Queues raw bytes as a datagram from `from` to the other side (bypasses filter and impairment). */
void pair_inject(pair *p, int from, const void *buf, size_t len, uint64_t delay_us);

/* One event: either the datagrams due at the next instant, or one application timer tick. */
void pair_step(pair *p);
/* Steps until pred(arg) is true (checked before every step); returns 1, or 0 if max_us of
 * virtual time passed first. */
int pair_run_until(pair *p, int (*pred)(void *), void *arg, uint64_t max_us);
/* Steps through every event in the next us of virtual time. */
void pair_run_for(pair *p, uint64_t us);

/* Per-side callback counters kept by the wrappers (including those of restarted contexts). */
unsigned pair_count_cb(const pair *p, int side, int callback);
unsigned pair_count_state(const pair *p, int side, int state);
unsigned pair_count_error(const pair *p, int side, int error_code);
/* Number of sockets of this side that are known and not yet DESTROYING. */
unsigned pair_live_sockets(const pair *p, int side);
/* 1 while the socket is known and has not had DESTROYING. */
int pair_socket_alive(const pair *p, const utp_socket *s);

/* ---- wire helpers (BEP 29 header, big-endian) ----------------------------------------------- */
unsigned pkt_type(const unsigned char *buf);
unsigned pkt_version(const unsigned char *buf);
unsigned pkt_connid(const unsigned char *buf);
unsigned pkt_seq(const unsigned char *buf);
unsigned pkt_ack(const unsigned char *buf);
/* Writes a 20-byte header without extensions. */
void pkt_build(unsigned char out[20], unsigned type, unsigned connid, uint32_t ts_us,
               uint32_t ts_diff_us, uint32_t wnd, unsigned seq, unsigned ack);

/* Length of the header plus its extension chain (BEP 29), or 0 if malformed. */
size_t pkt_header_len(const unsigned char *buf, size_t len);

/* ---- a scripted stream application ------------------------------------------------------------
 * One `stream` drives one socket the way a bulk-transfer application would: it writes tx_total
 * bytes of a pattern (from CONNECT, WRITABLE, ACCEPT and READ events, taking partial writes),
 * verifies every received byte against the peer's pattern, optionally shuts down its sending
 * side when done and closes once it has also seen EOF, and counts every event.  A "slow reader"
 * reports unread bytes through UTP_GET_READ_BUFFER_SIZE and drains drain_per_tick bytes per
 * application tick, calling utp_read_drained. */
typedef struct stream {
    /* configuration */
    uint64_t tx_key, rx_key;    /* pattern keys of what we send / what we expect */
    uint64_t tx_total;          /* bytes to send */
    uint64_t rx_total;          /* bytes expected before EOF */
    int auto_close;             /* shutdown(SHUT_WR) when all is written; close on EOF + done */
    int close_on_error;         /* utp_close from inside ON_ERROR (as ucat does) */
    unsigned drain_per_tick;    /* 0: reads are consumed at once */
    /* state */
    pair *p;
    int side;
    utp_socket *s;
    uint64_t tx, rx;
    uint64_t buffered, max_buffered;
    int shut, closed;
    /* events */
    unsigned n_accept, n_connect, n_writable, n_eof, n_destroying, n_read, n_error[3];
    unsigned n_read_after_close, n_read_after_eof, n_event_after_error;
    unsigned n_zero_writes;     /* utp_write calls that took nothing */
    int first_write;            /* result of the first utp_write (-2 before any) */
    unsigned char *chunk;       /* pattern cache, freed by pair_free */
    uint64_t chunk_off;
    size_t chunk_len;
} stream;

/* Installs the stream handlers (ACCEPT, READ, STATE_CHANGE, ERROR, GET_READ_BUFFER_SIZE) on a
 * side, and the tick hook that drains slow readers. */
void stream_install(pair *p, int side);
/* The next connection accepted on `side` is bound to st. */
void stream_listen(pair *p, int side, stream *st);
/* Creates a socket on `side`, binds it to st and connects it to the other side. */
void stream_connect(pair *p, int side, stream *st);
/* Writes as much of the remaining pattern as the socket takes. */
void stream_pump(stream *st);
/* Initialises a stream with keys derived from `seed` and the two totals (auto_close on). */
void stream_init(stream *st, uint64_t tx_key, uint64_t rx_key, uint64_t tx_total,
                 uint64_t rx_total);

/* ---- helpers for tests ---------------------------------------------------------------------- */
/* A deterministic byte stream: byte i of the stream identified by key.  Fill and verify work on
 * any offset and length. */
void pattern_fill(uint64_t key, uint64_t offset, unsigned char *buf, size_t len);
/* Returns -1 if buf matches, else the index of the first mismatching byte. */
long pattern_check(uint64_t key, uint64_t offset, const unsigned char *buf, size_t len);
uint64_t splitmix64(uint64_t *state);

/* One named test case of a test program. */
typedef struct {
    const char *name;
    void (*fn)(void);
} pair_case;

/* Runs the case named by argv[1], or every case without an argument; prints "ok NAME" for each.
   Returns the exit status: 0, or 2 for an unknown case name. */
int pair_run_cases(int argc, char **argv, const pair_case *cases, size_t count);

#endif
