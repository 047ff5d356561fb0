/* Stands in, at link time only, for the reference libutp.so (bittorrent/libutp), which has no
 * SONAME: a program linked against it records NEEDED libutp.so, and at run time the loader must
 * find our installed libutp.so (a link to the real library) instead. It defines exactly what
 * ../src uses. utp_error_code_names has the reference's size (3 pointers), which the program's
 * copy relocation takes; with LD_WARN set the loader complains if ours differs. */
#include <libutp/utp.h>

#include <stddef.h>

const char *utp_error_code_names[] = {"UTP_ECONNREFUSED", "UTP_ECONNRESET", "UTP_ETIMEDOUT"};

utp_context *utp_init(int version)
{
    (void)version;
    return NULL;
}

void utp_destroy(utp_context *ctx)
{
    (void)ctx;
}

int utp_context_set_option(utp_context *ctx, int opt, int val)
{
    (void)ctx, (void)opt, (void)val;
    return -1;
}

int utp_context_get_option(utp_context *ctx, int opt)
{
    (void)ctx, (void)opt;
    return -1;
}
