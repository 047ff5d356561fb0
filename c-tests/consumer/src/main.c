/* A minimal libutp consumer, built against an installed libutp by the projects in ../cmake and
 * ../pkgconfig (scripts/test-consumers.sh). It checks the headers, the link and the loader:
 * functions Transmission calls, and a data table read through a copy relocation as Transmission
 * reads utp_error_code_names. This file includes <libutp/utp.h>, quoted.c "utp.h". */
#include <libutp/utp.h>

#include <stdio.h>
#include <string.h>

int consumer_set_rcvbuf(utp_context *ctx, int bytes); /* quoted.c */

int main(void)
{
    utp_context *ctx = utp_init(2);
    if (ctx == NULL) {
        fprintf(stderr, "consumer: utp_init(2) returned NULL\n");
        return 1;
    }
    if (consumer_set_rcvbuf(ctx, 256 * 1024) != 0) {
        fprintf(stderr, "consumer: utp_context_set_option(UTP_RCVBUF) failed\n");
        return 1;
    }
    if (utp_context_get_option(ctx, UTP_RCVBUF) != 256 * 1024) {
        fprintf(stderr, "consumer: UTP_RCVBUF did not read back\n");
        return 1;
    }
    if (strcmp(utp_error_code_names[UTP_ETIMEDOUT], "UTP_ETIMEDOUT") != 0) {
        fprintf(stderr, "consumer: utp_error_code_names[UTP_ETIMEDOUT] is wrong\n");
        return 1;
    }
    utp_destroy(ctx);
    puts("consumer: ok");
    return 0;
}
