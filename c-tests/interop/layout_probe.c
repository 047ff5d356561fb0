/* Prints every layout and constant fact of the libutp API that a client compiles in, and takes
   the address of every function so that the link proves the library exports it. Built once
   against the reference libutp's utp.h and once against ours; scripts/compare-layouts.sh
   requires identical output. */
#include <stddef.h>
#include <stdio.h>
#include "utp.h"

#define SHOW_SIZE(t) printf("sizeof(%s) = %lu\n", #t, (unsigned long)sizeof(t))
#define SHOW_OFF(t, m) printf("offsetof(%s, %s) = %lu\n", #t, #m, (unsigned long)offsetof(t, m))
#define SHOW_CONST(c) printf("%s = %ld\n", #c, (long)(c))

typedef void (*any_fn)(void);

int main(void) {
	any_fn functions[] = {
		(any_fn)utp_init, (any_fn)utp_destroy, (any_fn)utp_set_callback,
		(any_fn)utp_context_set_userdata, (any_fn)utp_context_get_userdata,
		(any_fn)utp_context_set_option, (any_fn)utp_context_get_option,
		(any_fn)utp_process_udp, (any_fn)utp_process_icmp_error,
		(any_fn)utp_process_icmp_fragmentation, (any_fn)utp_check_timeouts,
		(any_fn)utp_issue_deferred_acks, (any_fn)utp_get_context_stats,
		(any_fn)utp_create_socket, (any_fn)utp_set_userdata, (any_fn)utp_get_userdata,
		(any_fn)utp_setsockopt, (any_fn)utp_getsockopt, (any_fn)utp_connect,
		(any_fn)utp_write, (any_fn)utp_writev, (any_fn)utp_getpeername,
		(any_fn)utp_read_drained, (any_fn)utp_get_delays, (any_fn)utp_get_stats,
		(any_fn)utp_get_context, (any_fn)utp_shutdown, (any_fn)utp_close,
	};
	size_t i, linked = 0;
	for (i = 0; i < sizeof functions / sizeof functions[0]; i++)
		linked += functions[i] != NULL;
	printf("functions linked = %lu\n", (unsigned long)linked);

	SHOW_SIZE(utp_callback_arguments);
	SHOW_OFF(utp_callback_arguments, context);
	SHOW_OFF(utp_callback_arguments, socket);
	SHOW_OFF(utp_callback_arguments, len);
	SHOW_OFF(utp_callback_arguments, flags);
	SHOW_OFF(utp_callback_arguments, callback_type);
	SHOW_OFF(utp_callback_arguments, buf);
	SHOW_OFF(utp_callback_arguments, address);
	SHOW_OFF(utp_callback_arguments, send);
	SHOW_OFF(utp_callback_arguments, sample_ms);
	SHOW_OFF(utp_callback_arguments, error_code);
	SHOW_OFF(utp_callback_arguments, state);
	SHOW_OFF(utp_callback_arguments, address_len);
	SHOW_OFF(utp_callback_arguments, type);
	SHOW_SIZE(utp_context_stats);
	SHOW_OFF(utp_context_stats, _nraw_send);
	SHOW_SIZE(utp_socket_stats);
	SHOW_OFF(utp_socket_stats, nbytes_xmit);
	SHOW_OFF(utp_socket_stats, rexmit);
	SHOW_OFF(utp_socket_stats, fastrexmit);
	SHOW_OFF(utp_socket_stats, nxmit);
	SHOW_OFF(utp_socket_stats, nrecv);
	SHOW_OFF(utp_socket_stats, nduprecv);
	SHOW_OFF(utp_socket_stats, mtu_guess);
	SHOW_SIZE(struct utp_iovec);
	SHOW_OFF(struct utp_iovec, iov_len);
	SHOW_SIZE(uint8);
	SHOW_SIZE(uint16);
	SHOW_SIZE(uint32);
	SHOW_SIZE(uint64);
	SHOW_SIZE(int64);
	SHOW_SIZE(byte);

	SHOW_CONST(UTP_UDP_DONTFRAG);
	SHOW_CONST(UTP_IOV_MAX);
	SHOW_CONST(UTP_STATE_CONNECT);
	SHOW_CONST(UTP_STATE_WRITABLE);
	SHOW_CONST(UTP_STATE_EOF);
	SHOW_CONST(UTP_STATE_DESTROYING);
	SHOW_CONST(UTP_ECONNREFUSED);
	SHOW_CONST(UTP_ECONNRESET);
	SHOW_CONST(UTP_ETIMEDOUT);
	SHOW_CONST(UTP_ON_FIREWALL);
	SHOW_CONST(UTP_ON_ACCEPT);
	SHOW_CONST(UTP_ON_CONNECT);
	SHOW_CONST(UTP_ON_ERROR);
	SHOW_CONST(UTP_ON_READ);
	SHOW_CONST(UTP_ON_OVERHEAD_STATISTICS);
	SHOW_CONST(UTP_ON_STATE_CHANGE);
	SHOW_CONST(UTP_GET_READ_BUFFER_SIZE);
	SHOW_CONST(UTP_ON_DELAY_SAMPLE);
	SHOW_CONST(UTP_GET_UDP_MTU);
	SHOW_CONST(UTP_GET_UDP_OVERHEAD);
	SHOW_CONST(UTP_GET_MILLISECONDS);
	SHOW_CONST(UTP_GET_MICROSECONDS);
	SHOW_CONST(UTP_GET_RANDOM);
	SHOW_CONST(UTP_LOG);
	SHOW_CONST(UTP_SENDTO);
	SHOW_CONST(UTP_LOG_NORMAL);
	SHOW_CONST(UTP_LOG_MTU);
	SHOW_CONST(UTP_LOG_DEBUG);
	SHOW_CONST(UTP_SNDBUF);
	SHOW_CONST(UTP_RCVBUF);
	SHOW_CONST(UTP_TARGET_DELAY);
	SHOW_CONST(UTP_ARRAY_SIZE);

	for (i = 0; i < 16; i++)
		printf("utp_callback_names[%lu] = %s\n", (unsigned long)i, utp_callback_names[i]);
	for (i = 0; i < 3; i++)
		printf("utp_error_code_names[%lu] = %s\n", (unsigned long)i, utp_error_code_names[i]);
	for (i = 1; i < 5; i++)
		printf("utp_state_names[%lu] = %s\n", (unsigned long)i, utp_state_names[i]);
	printf("utp_state_names[0] is %s\n", utp_state_names[0] ? "set" : "NULL");
	return linked == sizeof functions / sizeof functions[0] ? 0 : 1;
}
