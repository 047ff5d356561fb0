/*
 * test_managed.c: rutp's managed mode (utp_managed.h) from C, over real loopback UDP.
 *
 * Each case is one CTest test (`test_managed <case>`). The cases use application threads
 * (pthreads) against the library's own threads; everything the test's threads share is guarded
 * by pthread mutexes or C11 atomics, so ThreadSanitizer (RUTP_SANITIZE_THREAD) checks the
 * test's side of the threading contract.
 *
 *   pull_transfer   connect/accept/read/write helpers, 8 MiB each way at once, byte-exact
 *   two_threads     two application threads per context using two connections of one context
 *                   at the same time, 4 MiB each, plus a third thread hammering utp_get_stats
 *   callbacks       push mode: ON_ACCEPT/ON_READ on the runtime's thread echo with utp_write
 *                   from inside the callback; a blocking helper from a callback gives -EDEADLK
 *   errors          bad arguments, unmanaged contexts, refused connect, timeouts, EOF, EPIPE
 *   udp_handler     non-uTP datagrams reach the handler; utp_managed_sendto answers
 *   destroy_joins   destroying the last managed context joins the runtime's threads, with a
 *                   connection still open (its peer sees the FIN)
 *   flush           utp_managed_flush waits for the peer's acknowledgement of everything
 *   accept_flood    SYNs whose senders never answer (their SYN-ACKs meet ICMP errors) are
 *                   released unseen: utp_managed_accept hands out only the genuine peer
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "utp.h"
#include "utp_managed.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) fail(__LINE__, "check failed: %s", #cond);                                \
    } while (0)
#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ != b_) fail(__LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);       \
    } while (0)

static void fail(int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL test_managed.c:%d: ", line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Byte i of stream `tag`: a pattern that catches reordering, loss and duplication. */
static uint8_t pattern(unsigned tag, size_t i) {
    uint32_t x = (uint32_t)(i / 4) * 2654435761u + tag * 40503u;
    return (uint8_t)(x >> (8 * (i % 4)));
}

static struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static utp_context *managed(struct sockaddr_in *bound) {
    struct sockaddr_in any = loopback(0);
    utp_context *ctx = utp_managed_create((struct sockaddr *)&any, sizeof any);
    CHECK(ctx != NULL);
    socklen_t len = sizeof *bound;
    CHECK_EQ(utp_managed_local_address(ctx, (struct sockaddr *)bound, &len), 0);
    CHECK_EQ(len, sizeof *bound);
    CHECK(bound->sin_port != 0);
    return ctx;
}

static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- streaming helpers run on application threads -------------------------------------------- */

struct job {
    utp_socket *s;
    unsigned tag;
    size_t bytes;
    int shutdown_after; /* writer: utp_shutdown(SHUT_WR) when done */
    long long result;   /* bytes moved, or a negative error */
};

static void *writer(void *arg) {
    struct job *j = arg;
    uint8_t buf[16384];
    size_t sent = 0;
    while (sent < j->bytes) {
        size_t n = j->bytes - sent < sizeof buf ? j->bytes - sent : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(j->tag, sent + i);
        ssize_t w = utp_managed_write(j->s, buf, n, 20000);
        if (w <= 0) {
            j->result = w;
            return NULL;
        }
        sent += (size_t)w;
    }
    if (j->shutdown_after) utp_shutdown(j->s, SHUT_WR);
    j->result = (long long)sent;
    return NULL;
}

static void *reader(void *arg) {
    struct job *j = arg;
    uint8_t buf[10000];
    size_t got = 0;
    for (;;) {
        ssize_t r = utp_managed_read(j->s, buf, sizeof buf, 20000);
        if (r == 0) break;
        if (r < 0) {
            j->result = r;
            return NULL;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != pattern(j->tag, got + (size_t)i)) {
                j->result = -1000 - (long long)(got + (size_t)i);
                return NULL;
            }
        }
        got += (size_t)r;
    }
    j->result = (long long)got;
    return NULL;
}

static void connect_pair(utp_context *client, utp_context *server, struct sockaddr_in *to,
                         utp_socket **c, utp_socket **s) {
    CHECK_EQ(utp_managed_connect(client, (struct sockaddr *)to, sizeof *to, 10000, c), 0);
    CHECK(*c != NULL);
    /* The acceptor learns of a connection when the SYN arrives. */
    CHECK_EQ(utp_managed_accept(server, 10000, s), 0);
    CHECK(*s != NULL);
    CHECK(utp_get_context(*c) == client);
    CHECK(utp_get_context(*s) == server);
}

/* ---- cases ----------------------------------------------------------------------------------- */

static void case_pull_transfer(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    utp_socket *ca, *sb;
    connect_pair(a, b, &b_addr, &ca, &sb);
    const size_t bytes = 8u << 20;
    struct job w1 = {ca, 1, bytes, 1, 0}, r1 = {sb, 1, 0, 0, 0};
    struct job w2 = {sb, 2, bytes, 1, 0}, r2 = {ca, 2, 0, 0, 0};
    pthread_t t[4];
    CHECK_EQ(pthread_create(&t[0], NULL, writer, &w1), 0);
    CHECK_EQ(pthread_create(&t[1], NULL, reader, &r1), 0);
    CHECK_EQ(pthread_create(&t[2], NULL, writer, &w2), 0);
    CHECK_EQ(pthread_create(&t[3], NULL, reader, &r2), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK_EQ(w1.result, bytes);
    CHECK_EQ(w2.result, bytes);
    CHECK_EQ(r1.result, bytes);
    CHECK_EQ(r2.result, bytes);
    utp_close(ca);
    utp_close(sb);
    CHECK_EQ(utp_managed_destroy(a), 0);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

static atomic_int stop_stats;

static void *stats_hammer(void *arg) {
    utp_socket **socks = arg;
    while (!atomic_load(&stop_stats)) {
        for (int i = 0; i < 2; i++) {
            utp_socket_stats *st = utp_get_stats(socks[i]);
            CHECK(st != NULL);
            CHECK(utp_getsockopt(socks[i], UTP_SNDBUF) > 0);
        }
    }
    return NULL;
}

static void case_two_threads(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    utp_socket *c[2], *s[2];
    connect_pair(a, b, &b_addr, &c[0], &s[0]);
    connect_pair(a, b, &b_addr, &c[1], &s[1]);
    const size_t bytes = 4u << 20;
    struct job w[2] = {{c[0], 10, bytes, 1, 0}, {c[1], 11, bytes, 1, 0}};
    struct job r[2] = {{s[0], 10, 0, 0, 0}, {s[1], 11, 0, 0, 0}};
    pthread_t t[5];
    atomic_store(&stop_stats, 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(pthread_create(&t[i], NULL, writer, &w[i]), 0);
        CHECK_EQ(pthread_create(&t[2 + i], NULL, reader, &r[i]), 0);
    }
    CHECK_EQ(pthread_create(&t[4], NULL, stats_hammer, c), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    atomic_store(&stop_stats, 1);
    pthread_join(t[4], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(w[i].result, bytes);
        CHECK_EQ(r[i].result, bytes);
    }
    for (int i = 0; i < 2; i++) {
        utp_close(c[i]);
        utp_close(s[i]);
    }
    CHECK_EQ(utp_managed_destroy(a), 0);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

/* Push mode: what the server's callbacks saw, guarded by a mutex (they run on the runtime's
   thread, the checks on the main thread). */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int accepted, deadlock_code = 1, echoed;
static pthread_t callback_thread;
static utp_socket *server_socket;

static uint64 on_accept(utp_callback_arguments *a) {
    pthread_mutex_lock(&seen_lock);
    accepted++;
    callback_thread = pthread_self();
    server_socket = a->socket;
    pthread_mutex_unlock(&seen_lock);
    /* A blocking helper from a callback would deadlock: refused. */
    char byte;
    int code = (int)utp_managed_read(a->socket, &byte, 1, 1000);
    pthread_mutex_lock(&seen_lock);
    deadlock_code = code;
    pthread_mutex_unlock(&seen_lock);
    return 0;
}

static uint64 on_read(utp_callback_arguments *a) {
    /* Re-entering the library from the runtime's thread: echo at once. */
    ssize_t w = utp_write(a->socket, (void *)a->buf, a->len);
    pthread_mutex_lock(&seen_lock);
    if (w > 0) echoed += (int)w;
    pthread_mutex_unlock(&seen_lock);
    utp_read_drained(a->socket);
    return 0;
}

static void case_callbacks(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    utp_set_callback(b, UTP_ON_ACCEPT, on_accept);
    utp_set_callback(b, UTP_ON_READ, on_read);
    utp_socket *c, *none = NULL;
    CHECK_EQ(utp_managed_connect(a, (struct sockaddr *)&b_addr, sizeof b_addr, 10000, &c), 0);
    /* With ON_ACCEPT installed there is no queue to take from. */
    CHECK_EQ(utp_managed_accept(b, 0, &none), -EINVAL);
    const char msg[] = "echo me, from the runtime's thread";
    CHECK_EQ(utp_managed_write(c, msg, sizeof msg, 5000), sizeof msg);
    char back[sizeof msg];
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t r = utp_managed_read(c, back + got, sizeof msg - got, 5000);
        CHECK(r > 0);
        got += (size_t)r;
    }
    CHECK(memcmp(back, msg, sizeof msg) == 0);
    /* The echo can arrive before the callback has counted it: wait for the count. */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&seen_lock);
        int n = echoed;
        pthread_mutex_unlock(&seen_lock);
        if (n >= (int)sizeof msg) break;
        usleep(10000);
    }
    pthread_mutex_lock(&seen_lock);
    CHECK_EQ(accepted, 1);
    CHECK_EQ(deadlock_code, -EDEADLK);
    CHECK_EQ(echoed, sizeof msg);
    CHECK(!pthread_equal(callback_thread, pthread_self()));
    pthread_mutex_unlock(&seen_lock);
    /* On a push-mode context the read helper is refused (data goes to ON_READ). */
    pthread_mutex_lock(&seen_lock);
    utp_socket *srv = server_socket;
    pthread_mutex_unlock(&seen_lock);
    CHECK_EQ(utp_managed_read(srv, back, sizeof back, 0), -EINVAL);
    utp_close(c);
    CHECK_EQ(utp_managed_destroy(a), 0);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

static void case_errors(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    utp_socket *s = NULL;
    char buf[16];
    /* NULL and bad arguments. */
    CHECK(utp_managed_create(NULL, 0) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(utp_managed_destroy(NULL), -EINVAL);
    CHECK_EQ(utp_managed_connect(NULL, (struct sockaddr *)&b_addr, sizeof b_addr, 0, &s), -EINVAL);
    CHECK_EQ(utp_managed_connect(a, (struct sockaddr *)&b_addr, sizeof b_addr, 0, NULL), -EINVAL);
    CHECK_EQ(utp_managed_connect(a, (struct sockaddr *)&b_addr, 3, 1000, &s), -EINVAL);
    CHECK_EQ(utp_managed_accept(a, 0, NULL), -EINVAL);
    CHECK_EQ(utp_managed_read(NULL, buf, sizeof buf, 0), -EINVAL);
    CHECK_EQ(utp_managed_write(NULL, buf, sizeof buf, 0), -EINVAL);
    CHECK_EQ(utp_managed_set_threads(-1), -EINVAL);
    CHECK_EQ(utp_managed_set_threads(100000), -EINVAL);
    /* An unmanaged context is not accepted by the managed functions. */
    utp_context *plain = utp_init(2);
    CHECK(plain != NULL);
    CHECK_EQ(utp_managed_destroy(plain), -EINVAL);
    CHECK_EQ(utp_managed_accept(plain, 0, &s), -EINVAL);
    utp_socket *ps = utp_create_socket(plain);
    CHECK_EQ(utp_managed_read(ps, buf, sizeof buf, 0), -EINVAL);
    utp_close(ps);
    utp_destroy(plain);
    /* Nothing queued: non-blocking accept and a timed one both say EAGAIN. */
    CHECK_EQ(utp_managed_accept(b, 0, &s), -EAGAIN);
    CHECK_EQ(utp_managed_accept(b, 50, &s), -EAGAIN);
    /* Nothing listens on a's port once a is gone: refused (ICMP port unreachable). */
    CHECK_EQ(utp_managed_destroy(a), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(utp_managed_connect(b, (struct sockaddr *)&a_addr, sizeof a_addr, 10000, &s),
             -ECONNREFUSED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(t1.tv_sec - t0.tv_sec < 5);
    CHECK(s == NULL);
    /* Non-blocking connect, read timeouts, EOF, EPIPE. */
    struct sockaddr_in c_addr;
    utp_context *c = managed(&c_addr);
    utp_socket *cs = NULL, *ss = NULL;
    CHECK_EQ(utp_managed_connect(b, (struct sockaddr *)&c_addr, sizeof c_addr, 0, &cs),
             -EINPROGRESS);
    CHECK(cs != NULL);
    CHECK_EQ(utp_managed_accept(c, 10000, &ss), 0);
    CHECK_EQ(utp_managed_write(cs, "hi", 2, 5000), 2); /* waits for the handshake */
    CHECK_EQ(utp_managed_read(ss, buf, sizeof buf, 5000), 2);
    CHECK(memcmp(buf, "hi", 2) == 0);
    CHECK_EQ(utp_managed_read(ss, buf, sizeof buf, 0), -EAGAIN);
    CHECK_EQ(utp_managed_read(ss, buf, sizeof buf, 30), -EAGAIN);
    CHECK_EQ(utp_managed_read(ss, buf, 0, 0), -EINVAL);
    utp_shutdown(cs, SHUT_WR);
    CHECK_EQ(utp_managed_read(ss, buf, sizeof buf, 5000), 0);
    CHECK_EQ(utp_managed_write(cs, "x", 1, 0), -EPIPE);
    /* The peer vanishes: a read on the other side fails rather than hanging. */
    CHECK_EQ(utp_managed_destroy(c), 0);
    ssize_t r = utp_managed_read(cs, buf, sizeof buf, 10000);
    CHECK(r == 0 || r == -ECONNRESET);
    utp_close(cs);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

struct udp_seen {
    pthread_mutex_t lock;
    int count;
    char data[64];
    size_t len;
};

static void on_udp(void *user, const uint8_t *buf, size_t len, const struct sockaddr *from,
                   socklen_t fromlen) {
    struct udp_seen *seen = user;
    (void)from;
    (void)fromlen;
    pthread_mutex_lock(&seen->lock);
    seen->count++;
    seen->len = len < sizeof seen->data ? len : sizeof seen->data;
    memcpy(seen->data, buf, seen->len);
    pthread_mutex_unlock(&seen->lock);
}

static void case_udp_handler(void) {
    struct sockaddr_in a_addr;
    utp_context *a = managed(&a_addr);
    struct udp_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, 0};
    CHECK_EQ(utp_managed_set_udp_handler(a, on_udp, &seen), 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in me = loopback(0);
    CHECK_EQ(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    socklen_t mlen = sizeof me;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&me, &mlen), 0);
    const char dht[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    CHECK_EQ(sendto(fd, dht, sizeof dht - 1, 0, (struct sockaddr *)&a_addr, sizeof a_addr),
             sizeof dht - 1);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&seen.lock);
        int n = seen.count;
        pthread_mutex_unlock(&seen.lock);
        if (n > 0) break;
        usleep(10000);
    }
    pthread_mutex_lock(&seen.lock);
    CHECK_EQ(seen.count, 1);
    CHECK_EQ(seen.len, sizeof dht - 1);
    CHECK(memcmp(seen.data, dht, seen.len) == 0);
    pthread_mutex_unlock(&seen.lock);
    CHECK_EQ(utp_managed_sendto(a, "pong", 4, (struct sockaddr *)&me, sizeof me), 4);
    char back[8];
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK_EQ(recv(fd, back, sizeof back, 0), 4);
    CHECK(memcmp(back, "pong", 4) == 0);
    close(fd);
    CHECK_EQ(utp_managed_set_udp_handler(a, NULL, NULL), 0);
    CHECK_EQ(utp_managed_destroy(a), 0);
}

static void case_destroy_joins(void) {
    /* The baseline is taken after one managed context came and went, so that threads a
       sanitizer runtime starts on first use are counted in it. */
    struct sockaddr_in warm_addr;
    CHECK_EQ(utp_managed_destroy(managed(&warm_addr)), 0);
    int before = thread_count();
    CHECK_EQ(utp_managed_set_threads(3), 0);
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    CHECK_EQ(thread_count(), before + 3);
    utp_socket *c, *s;
    connect_pair(a, b, &b_addr, &c, &s);
    CHECK_EQ(utp_managed_write(c, "last words", 10, 5000), 10);
    /* b goes away with its connection open: a reads the data, then the FIN. */
    CHECK_EQ(utp_managed_destroy(b), 0);
    CHECK_EQ(thread_count(), before + 3); /* a still uses the runtime */
    char buf[32];
    CHECK_EQ(utp_managed_read(c, buf, sizeof buf, 5000), 0);
    CHECK_EQ(utp_managed_destroy(a), 0);
    CHECK_EQ(thread_count(), before);
    CHECK_EQ(utp_managed_set_threads(0), 0);
}

static void case_flush(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    utp_socket *c, *s;
    connect_pair(a, b, &b_addr, &c, &s);
    CHECK_EQ(utp_managed_flush(NULL, 0), -EINVAL);
    CHECK_EQ(utp_managed_flush(c, 5000), 0); /* nothing written yet */
    /* b does not read (pull mode: its window closes at its receive buffer, 1 MiB), so part of
       1.5 MiB stays unacknowledged. */
    const size_t bytes = 3u << 19;
    struct job w = {c, 5, bytes, 0, 0};
    writer(&w);
    CHECK_EQ(w.result, bytes);
    CHECK_EQ(utp_managed_flush(c, 0), -EAGAIN);
    CHECK_EQ(utp_managed_flush(c, 300), -EAGAIN);
    /* Our FIN after the data; once b reads everything, the data and the FIN are acknowledged. */
    utp_shutdown(c, SHUT_WR);
    struct job r = {s, 5, 0, 0, 0};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, reader, &r), 0);
    CHECK_EQ(utp_managed_flush(c, 20000), 0);
    pthread_join(t, NULL);
    CHECK_EQ(r.result, bytes);
    /* Everything is at b: a may go at once and b still has it all. */
    CHECK_EQ(utp_managed_destroy(a), 0);
    utp_close(s);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

/* A BEP 29 SYN (type 4, version 1) with connection id `id`, sequence number 1. */
static void forge_syn(uint8_t out[20], uint16_t id) {
    memset(out, 0, 20);
    out[0] = 0x41;
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    out[15] = 0x10; /* window 4096 */
    out[17] = 1;    /* seq_nr 1 */
}

static void case_accept_flood(void) {
    struct sockaddr_in a_addr, b_addr;
    utp_context *a = managed(&a_addr), *b = managed(&b_addr);
    /* The flooder sends its SYNs from a socket connected elsewhere: the kernel refuses b's
       SYN-ACKs to it with ICMP port-unreachable, as it would for a spoofed source. Twenty,
       paced, stay inside the kernel's ICMP rate limit (a burst of 50, then 1000/s). */
    int flooder = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(flooder >= 0);
    struct sockaddr_in here = loopback(0), elsewhere = loopback(9);
    CHECK_EQ(bind(flooder, (struct sockaddr *)&here, sizeof here), 0);
    CHECK_EQ(connect(flooder, (struct sockaddr *)&elsewhere, sizeof elsewhere), 0);
    socklen_t here_len = sizeof here;
    CHECK_EQ(getsockname(flooder, (struct sockaddr *)&here, &here_len), 0);
    for (uint16_t i = 0; i < 20; i++) {
        uint8_t syn[20];
        forge_syn(syn, (uint16_t)(1000 + 7 * i));
        CHECK_EQ(sendto(flooder, syn, sizeof syn, 0, (struct sockaddr *)&b_addr, sizeof b_addr),
                 20);
        usleep(2000);
    }
    /* A genuine peer after the flood. Before the library released failed unconfirmed
       connections, utp_managed_accept handed out the twenty dead ones first. */
    utp_socket *c, *s;
    CHECK_EQ(utp_managed_connect(a, (struct sockaddr *)&b_addr, sizeof b_addr, 10000, &c), 0);
    CHECK_EQ(utp_managed_write(c, "hello", 5, 5000), 5);
    CHECK_EQ(utp_managed_accept(b, 10000, &s), 0);
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    CHECK_EQ(utp_getpeername(s, (struct sockaddr *)&peer, &peer_len), 0);
    CHECK_EQ(ntohs(peer.sin_port), ntohs(a_addr.sin_port));
    char got[5];
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t r = utp_managed_read(s, got + have, sizeof got - have, 5000);
        CHECK(r > 0);
        have += (size_t)r;
    }
    CHECK(memcmp(got, "hello", 5) == 0);
    /* Well past the 250 ms after which a silent initiator counts as confirmed: none of the
       flood's connections is handed out. */
    utp_socket *none = NULL;
    CHECK_EQ(utp_managed_accept(b, 600, &none), -EAGAIN);
    CHECK(none == NULL);
    close(flooder);
    utp_close(c);
    utp_close(s);
    CHECK_EQ(utp_managed_destroy(a), 0);
    CHECK_EQ(utp_managed_destroy(b), 0);
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {
        {"pull_transfer", case_pull_transfer}, {"two_threads", case_two_threads},
        {"callbacks", case_callbacks},         {"errors", case_errors},
        {"udp_handler", case_udp_handler},     {"destroy_joins", case_destroy_joins},
        {"flush", case_flush},                 {"accept_flood", case_accept_flood},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s <case>\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].run();
            printf("ok %s\n", argv[1]);
            return 0;
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
