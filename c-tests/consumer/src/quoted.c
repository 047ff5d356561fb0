/* The other include style: "utp.h" through the include path libutp adds (<includedir>/libutp). */
#include "utp.h"

int consumer_set_rcvbuf(utp_context *ctx, int bytes)
{
    return utp_context_set_option(ctx, UTP_RCVBUF, bytes);
}
