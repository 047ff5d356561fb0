// test_layout.cpp: the C++ twin of test_layout.c.
//
// Includes the header the way Transmission does (<libutp/utp.h>, compiled as C++), checks what
// only C++ can see (the declared bounds of the name tables, the extern "C" linkage of the
// functions), then compiles every check of test_layout.c as C++11.
#include <libutp/utp.h>

#include <type_traits>

// The name tables may be declared with or without a bound, but a declared bound must be
// libutp's, and the element type must be libutp's `const char *`.
static_assert(std::extent<decltype(utp_callback_names)>::value == 0 ||
                  std::extent<decltype(utp_callback_names)>::value == 16,
              "utp_callback_names has 16 entries");
static_assert(std::extent<decltype(utp_error_code_names)>::value == 0 ||
                  std::extent<decltype(utp_error_code_names)>::value == 3,
              "utp_error_code_names has 3 entries");
static_assert(std::extent<decltype(utp_state_names)>::value == 0 ||
                  std::extent<decltype(utp_state_names)>::value == 5,
              "utp_state_names has 5 entries");
static_assert(std::is_same<std::remove_extent<decltype(utp_callback_names)>::type,
                           const char *>::value,
              "name table entries are const char *");
static_assert(std::is_same<std::remove_extent<decltype(utp_error_code_names)>::type,
                           const char *>::value,
              "name table entries are const char *");
static_assert(std::is_same<std::remove_extent<decltype(utp_state_names)>::type,
                           const char *>::value,
              "name table entries are const char *");

// The callback type is a function type taking the argument struct and returning uint64.
static_assert(std::is_function<utp_callback_t>::value, "utp_callback_t is a function type");
static_assert(std::is_same<utp_callback_t, uint64(utp_callback_arguments *)>::value,
              "utp_callback_t is uint64(utp_callback_arguments *)");
static_assert(std::is_standard_layout<utp_callback_arguments>::value &&
                  std::is_trivial<utp_callback_arguments>::value,
              "utp_callback_arguments is a C struct");

// The functions have C linkage: a C++-mangled utp_init would not link against libutp.so, so the
// link of this program is the check.

#include "test_layout.c"
