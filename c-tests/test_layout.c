/*
 * test_layout.c: the binary and source interface of utp.h, checked by the compiler.
 *
 * Built three times: as C99 and C11 (both -Wall -Wextra -Werror -pedantic), and as C++11 through
 * test_layout.cpp, which includes this file after <libutp/utp.h>.  A wrong constant, offset or
 * size stops the build; the program itself then checks the exported name tables at run time.
 * Figures: libutp-api.md sections 1.2-1.5 (x86-64 measured, ILP32 computed), chosen here by
 * sizeof(void *).
 *
 * utp.h comes first and alone: like libutp's header, it must bring in everything its
 * declarations use (socklen_t, struct sockaddr, ssize_t, size_t, SHUT_WR for utp_shutdown).
 */
#include "utp.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if defined(__cplusplus)
#define LAYOUT_ASSERT(cond, what) static_assert(cond, what)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define LAYOUT_ASSERT(cond, what) _Static_assert(cond, what)
#else
/* C99 has no _Static_assert: an array of negative size stops the build instead. */
#define LAYOUT_ASSERT(cond, what) LAYOUT_ASSERT_AT(cond, __LINE__)
#define LAYOUT_ASSERT_AT(cond, line) LAYOUT_ASSERT_AT2(cond, line)
#define LAYOUT_ASSERT_AT2(cond, line) typedef char layout_assert_line_##line[(cond) ? 1 : -1]
#endif

#define LP64 (sizeof(void *) == 8)
/* An offset or size: the first figure on LP64, the second on ILP32. */
#define BY_ABI(lp64, ilp32) (LP64 ? (lp64) : (ilp32))

LAYOUT_ASSERT(sizeof(void *) == 8 || sizeof(void *) == 4, "only LP64 and ILP32 are described");
LAYOUT_ASSERT(sizeof(size_t) == sizeof(void *), "size_t is pointer-sized on both ABIs");

/* ---- utp_types.h typedefs ------------------------------------------------------------------ */
LAYOUT_ASSERT(sizeof(byte) == 1 && (byte)-1 > 0, "byte is unsigned char");
LAYOUT_ASSERT(sizeof(uint8) == 1 && (uint8)-1 > 0, "uint8");
LAYOUT_ASSERT(sizeof(int8) == 1 && (int8)-1 < 0, "int8");
LAYOUT_ASSERT(sizeof(uint16) == 2 && (uint16)-1 > 0, "uint16");
LAYOUT_ASSERT(sizeof(int16) == 2 && (int16)-1 < 0, "int16");
LAYOUT_ASSERT(sizeof(uint) == 4 && (uint)-1 > 0, "uint");
LAYOUT_ASSERT(sizeof(uint32) == 4 && (uint32)-1 > 0, "uint32");
LAYOUT_ASSERT(sizeof(int32) == 4 && (int32)-1 < 0, "int32");
LAYOUT_ASSERT(sizeof(uint64) == 8 && (uint64)-1 > 0, "uint64");
LAYOUT_ASSERT(sizeof(int64) == 8 && (int64)-1 < 0, "int64");
LAYOUT_ASSERT(sizeof(socklen_t) == 4, "socklen_t (the second union of utp_callback_arguments)");

/* ---- constants ------------------------------------------------------------------------------- */
LAYOUT_ASSERT(UTP_UDP_DONTFRAG == 2, "UTP_UDP_DONTFRAG");

LAYOUT_ASSERT(UTP_STATE_CONNECT == 1, "UTP_STATE_CONNECT");
LAYOUT_ASSERT(UTP_STATE_WRITABLE == 2, "UTP_STATE_WRITABLE");
LAYOUT_ASSERT(UTP_STATE_EOF == 3, "UTP_STATE_EOF");
LAYOUT_ASSERT(UTP_STATE_DESTROYING == 4, "UTP_STATE_DESTROYING");

LAYOUT_ASSERT(UTP_ECONNREFUSED == 0, "UTP_ECONNREFUSED");
LAYOUT_ASSERT(UTP_ECONNRESET == 1, "UTP_ECONNRESET");
LAYOUT_ASSERT(UTP_ETIMEDOUT == 2, "UTP_ETIMEDOUT");

LAYOUT_ASSERT(UTP_ON_FIREWALL == 0, "UTP_ON_FIREWALL");
LAYOUT_ASSERT(UTP_ON_ACCEPT == 1, "UTP_ON_ACCEPT");
LAYOUT_ASSERT(UTP_ON_CONNECT == 2, "UTP_ON_CONNECT");
LAYOUT_ASSERT(UTP_ON_ERROR == 3, "UTP_ON_ERROR");
LAYOUT_ASSERT(UTP_ON_READ == 4, "UTP_ON_READ");
LAYOUT_ASSERT(UTP_ON_OVERHEAD_STATISTICS == 5, "UTP_ON_OVERHEAD_STATISTICS");
LAYOUT_ASSERT(UTP_ON_STATE_CHANGE == 6, "UTP_ON_STATE_CHANGE");
LAYOUT_ASSERT(UTP_GET_READ_BUFFER_SIZE == 7, "UTP_GET_READ_BUFFER_SIZE");
LAYOUT_ASSERT(UTP_ON_DELAY_SAMPLE == 8, "UTP_ON_DELAY_SAMPLE");
LAYOUT_ASSERT(UTP_GET_UDP_MTU == 9, "UTP_GET_UDP_MTU");
LAYOUT_ASSERT(UTP_GET_UDP_OVERHEAD == 10, "UTP_GET_UDP_OVERHEAD");
LAYOUT_ASSERT(UTP_GET_MILLISECONDS == 11, "UTP_GET_MILLISECONDS");
LAYOUT_ASSERT(UTP_GET_MICROSECONDS == 12, "UTP_GET_MICROSECONDS");
LAYOUT_ASSERT(UTP_GET_RANDOM == 13, "UTP_GET_RANDOM");
LAYOUT_ASSERT(UTP_LOG == 14, "UTP_LOG");
LAYOUT_ASSERT(UTP_SENDTO == 15, "UTP_SENDTO");
LAYOUT_ASSERT(UTP_LOG_NORMAL == 16, "UTP_LOG_NORMAL");
LAYOUT_ASSERT(UTP_LOG_MTU == 17, "UTP_LOG_MTU");
LAYOUT_ASSERT(UTP_LOG_DEBUG == 18, "UTP_LOG_DEBUG");
LAYOUT_ASSERT(UTP_SNDBUF == 19, "UTP_SNDBUF");
LAYOUT_ASSERT(UTP_RCVBUF == 20, "UTP_RCVBUF");
LAYOUT_ASSERT(UTP_TARGET_DELAY == 21, "UTP_TARGET_DELAY");
LAYOUT_ASSERT(UTP_ARRAY_SIZE == 22, "UTP_ARRAY_SIZE");

#ifndef UTP_IOV_MAX
#error "UTP_IOV_MAX must be a macro (consumers test it with #ifdef)"
#endif
LAYOUT_ASSERT(UTP_IOV_MAX == 1024, "UTP_IOV_MAX");

#ifndef SHUT_WR
#error "utp.h must bring in the socket headers (SHUT_WR is passed to utp_shutdown)"
#endif

/* ---- utp_callback_arguments ------------------------------------------------------------------ */
LAYOUT_ASSERT(sizeof(utp_callback_arguments) == BY_ABI(56, 32), "sizeof utp_callback_arguments");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, context) == 0, "context");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, socket) == BY_ABI(8, 4), "socket");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, len) == BY_ABI(16, 8), "len");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, flags) == BY_ABI(24, 12), "flags");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, callback_type) == BY_ABI(28, 16), "callback_type");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, buf) == BY_ABI(32, 20), "buf");
/* first anonymous union */
LAYOUT_ASSERT(offsetof(utp_callback_arguments, address) == BY_ABI(40, 24), "address");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, send) == BY_ABI(40, 24), "send");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, sample_ms) == BY_ABI(40, 24), "sample_ms");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, error_code) == BY_ABI(40, 24), "error_code");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, state) == BY_ABI(40, 24), "state");
/* second anonymous union */
LAYOUT_ASSERT(offsetof(utp_callback_arguments, address_len) == BY_ABI(48, 28), "address_len");
LAYOUT_ASSERT(offsetof(utp_callback_arguments, type) == BY_ABI(48, 28), "type");

/* ---- statistics and iovec -------------------------------------------------------------------- */
LAYOUT_ASSERT(sizeof(utp_context_stats) == 40, "sizeof utp_context_stats");
LAYOUT_ASSERT(offsetof(utp_context_stats, _nraw_recv) == 0, "_nraw_recv");
LAYOUT_ASSERT(offsetof(utp_context_stats, _nraw_send) == 20, "_nraw_send");

LAYOUT_ASSERT(sizeof(utp_socket_stats) == 40, "sizeof utp_socket_stats");
LAYOUT_ASSERT(offsetof(utp_socket_stats, nbytes_recv) == 0, "nbytes_recv");
LAYOUT_ASSERT(offsetof(utp_socket_stats, nbytes_xmit) == 8, "nbytes_xmit");
LAYOUT_ASSERT(offsetof(utp_socket_stats, rexmit) == 16, "rexmit");
LAYOUT_ASSERT(offsetof(utp_socket_stats, fastrexmit) == 20, "fastrexmit");
LAYOUT_ASSERT(offsetof(utp_socket_stats, nxmit) == 24, "nxmit");
LAYOUT_ASSERT(offsetof(utp_socket_stats, nrecv) == 28, "nrecv");
LAYOUT_ASSERT(offsetof(utp_socket_stats, nduprecv) == 32, "nduprecv");
LAYOUT_ASSERT(offsetof(utp_socket_stats, mtu_guess) == 36, "mtu_guess");

LAYOUT_ASSERT(sizeof(struct utp_iovec) == BY_ABI(16, 8), "sizeof struct utp_iovec");
LAYOUT_ASSERT(offsetof(struct utp_iovec, iov_base) == 0, "iov_base");
LAYOUT_ASSERT(offsetof(struct utp_iovec, iov_len) == BY_ABI(8, 4), "iov_len");

/* ---- the exported name tables ---------------------------------------------------------------
 * The header may declare them with or without a bound; redeclaring them here with libutp's
 * bounds and element type is accepted only if the header's declaration agrees, and completes the
 * type so that sizeof can be checked. */
#ifdef __cplusplus
extern "C" {
#endif
extern const char *utp_callback_names[16];
extern const char *utp_error_code_names[3];
extern const char *utp_state_names[5];
#ifdef __cplusplus
}
#endif
LAYOUT_ASSERT(sizeof(utp_callback_names) == 16 * sizeof(const char *), "utp_callback_names");
LAYOUT_ASSERT(sizeof(utp_error_code_names) == 3 * sizeof(const char *), "utp_error_code_names");
LAYOUT_ASSERT(sizeof(utp_state_names) == 5 * sizeof(const char *), "utp_state_names");

/* ---- the callback type is a function type, not a pointer type -------------------------------- */
static utp_callback_t layout_probe_callback;
static uint64 layout_probe_callback(utp_callback_arguments *args)
{
    return args ? (uint64)args->callback_type : 0;
}

/* ---- exact prototypes of the 28 public functions ---------------------------------------------
 * Each one is assigned to a pointer of exactly the documented type: a mismatch is an error in
 * C++ and an incompatible-pointer warning (an error with -Werror) in C.  Taking the addresses
 * also makes the link fail if any one of them is not exported. */
typedef struct layout_api {
    utp_context *(*init)(int);
    void (*destroy)(utp_context *);
    void (*set_callback)(utp_context *, int, utp_callback_t *);
    void *(*context_set_userdata)(utp_context *, void *);
    void *(*context_get_userdata)(utp_context *);
    int (*context_set_option)(utp_context *, int, int);
    int (*context_get_option)(utp_context *, int);
    int (*process_udp)(utp_context *, const byte *, size_t, const struct sockaddr *, socklen_t);
    int (*process_icmp_error)(utp_context *, const byte *, size_t, const struct sockaddr *,
                              socklen_t);
    int (*process_icmp_fragmentation)(utp_context *, const byte *, size_t,
                                      const struct sockaddr *, socklen_t, uint16);
    void (*check_timeouts)(utp_context *);
    void (*issue_deferred_acks)(utp_context *);
    utp_context_stats *(*get_context_stats)(utp_context *);
    utp_socket *(*create_socket)(utp_context *);
    void *(*set_userdata)(utp_socket *, void *);
    void *(*get_userdata)(utp_socket *);
    int (*setsockopt)(utp_socket *, int, int);
    int (*getsockopt)(utp_socket *, int);
    int (*connect)(utp_socket *, const struct sockaddr *, socklen_t);
    ssize_t (*write)(utp_socket *, void *, size_t);
    ssize_t (*writev)(utp_socket *, struct utp_iovec *, size_t);
    int (*getpeername)(utp_socket *, struct sockaddr *, socklen_t *);
    void (*read_drained)(utp_socket *);
    int (*get_delays)(utp_socket *, uint32 *, uint32 *, uint32 *);
    utp_socket_stats *(*get_stats)(utp_socket *);
    utp_context *(*get_context)(utp_socket *);
    void (*shutdown)(utp_socket *, int);
    void (*close)(utp_socket *);
} layout_api;

static const layout_api layout_api_table = {
    utp_init,
    utp_destroy,
    utp_set_callback,
    utp_context_set_userdata,
    utp_context_get_userdata,
    utp_context_set_option,
    utp_context_get_option,
    utp_process_udp,
    utp_process_icmp_error,
    utp_process_icmp_fragmentation,
    utp_check_timeouts,
    utp_issue_deferred_acks,
    utp_get_context_stats,
    utp_create_socket,
    utp_set_userdata,
    utp_get_userdata,
    utp_setsockopt,
    utp_getsockopt,
    utp_connect,
    utp_write,
    utp_writev,
    utp_getpeername,
    utp_read_drained,
    utp_get_delays,
    utp_get_stats,
    utp_get_context,
    utp_shutdown,
    utp_close,
};

/* ---- run time --------------------------------------------------------------------------------- */

static int layout_failures = 0;

static void layout_expect_name(const char *table, int index, const char *got, const char *want)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
        fprintf(stderr, "FAIL %s[%d] is \"%s\", expected \"%s\"\n", table, index,
                got ? got : "(null)", want ? want : "(null)");
        layout_failures++;
    }
}

int main(void)
{
    static const char *const callback_names[16] = {
        "UTP_ON_FIREWALL",      "UTP_ON_ACCEPT",
        "UTP_ON_CONNECT",       "UTP_ON_ERROR",
        "UTP_ON_READ",          "UTP_ON_OVERHEAD_STATISTICS",
        "UTP_ON_STATE_CHANGE",  "UTP_GET_READ_BUFFER_SIZE",
        "UTP_ON_DELAY_SAMPLE",  "UTP_GET_UDP_MTU",
        "UTP_GET_UDP_OVERHEAD", "UTP_GET_MILLISECONDS",
        "UTP_GET_MICROSECONDS", "UTP_GET_RANDOM",
        "UTP_LOG",              "UTP_SENDTO",
    };
    static const char *const error_names[3] = {"UTP_ECONNREFUSED", "UTP_ECONNRESET",
                                               "UTP_ETIMEDOUT"};
    static const char *const state_names[5] = {NULL, "UTP_STATE_CONNECT", "UTP_STATE_WRITABLE",
                                               "UTP_STATE_EOF", "UTP_STATE_DESTROYING"};
    utp_callback_t *cb = layout_probe_callback;
    utp_callback_arguments args;
    utp_context *ctx;
    int k;

    /* the name tables, read the way ucat and Transmission read them */
    for (k = 0; k < 16; k++) {
        layout_expect_name("utp_callback_names", k, utp_callback_names[k], callback_names[k]);
    }
    for (k = 0; k < 3; k++) {
        layout_expect_name("utp_error_code_names", k, utp_error_code_names[k], error_names[k]);
    }
    for (k = 0; k < 5; k++) {
        layout_expect_name("utp_state_names", k, utp_state_names[k], state_names[k]);
    }
    layout_expect_name("utp_error_code_names", UTP_ETIMEDOUT,
                       utp_error_code_names[UTP_ETIMEDOUT], "UTP_ETIMEDOUT");
    layout_expect_name("utp_state_names", UTP_STATE_DESTROYING,
                       utp_state_names[UTP_STATE_DESTROYING], "UTP_STATE_DESTROYING");

    /* calls through the typed table reach the library */
    ctx = layout_api_table.init(2);
    if (!ctx || !layout_api_table.get_context_stats(ctx)) {
        fprintf(stderr, "FAIL utp_init(2) / utp_get_context_stats through typed pointers\n");
        layout_failures++;
    }
    if (ctx) layout_api_table.destroy(ctx);

    /* writing one union member reads back through the others at the same offset */
    memset(&args, 0, sizeof(args));
    args.callback_type = UTP_ON_ERROR;
    args.error_code = UTP_ETIMEDOUT;
    if (args.state != UTP_ETIMEDOUT || args.send != UTP_ETIMEDOUT) {
        fprintf(stderr, "FAIL the first union's int members do not overlap\n");
        layout_failures++;
    }
    args.type = 5;
    if ((int)args.address_len != 5) {
        fprintf(stderr, "FAIL the second union's members do not overlap\n");
        layout_failures++;
    }
    if (cb(&args) != (uint64)UTP_ON_ERROR) {
        fprintf(stderr, "FAIL calling through utp_callback_t *\n");
        layout_failures++;
    }

    if (layout_failures) {
        fprintf(stderr, "%d layout check(s) failed\n", layout_failures);
        return 1;
    }
    printf("layout: %u-bit ABI, constants, layouts, 28 prototypes and 3 name tables match libutp\n",
           (unsigned)(sizeof(void *) * 8));
    return 0;
}
