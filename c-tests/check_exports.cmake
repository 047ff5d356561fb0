# check_exports.cmake: the dynamic symbol table of libutp.so, as existing binaries need it.
#   cmake -DNM=<nm> -DLIB=<libutp.so> -DPOINTER_SIZE=<8|4> [-DONLY_API=1] -P check_exports.cmake
cmake_policy(SET CMP0057 NEW) # if(IN_LIST)
#
# - the 28 functions of utp.h are exported as functions (Transmission's CMake checks 18 of them by
#   linking; a missing one and the library is rejected);
# - utp_callback_names, utp_error_code_names and utp_state_names are exported as data objects of
#   exactly 16, 3 and 5 pointers: an executable that reads one of them gets a copy relocation
#   sized by the library it was linked with (libutp-api.md 1.5).
foreach(var NM LIB POINTER_SIZE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_exports.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D -S --defined-only ${LIB}
                OUTPUT_VARIABLE symbols RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIB}: ${err}")
endif()

set(functions
    utp_init utp_destroy utp_set_callback utp_context_set_userdata utp_context_get_userdata
    utp_context_set_option utp_context_get_option utp_process_udp utp_process_icmp_error
    utp_process_icmp_fragmentation utp_check_timeouts utp_issue_deferred_acks
    utp_get_context_stats utp_create_socket utp_set_userdata utp_get_userdata utp_setsockopt
    utp_getsockopt utp_connect utp_write utp_writev utp_getpeername utp_read_drained
    utp_get_delays utp_get_stats utp_get_context utp_shutdown utp_close)
# rutp's managed mode (include/utp_managed.h): exported by our library only, and required there.
set(managed_functions
    utp_managed_create utp_managed_destroy utp_managed_local_address utp_managed_connect
    utp_managed_accept utp_managed_read utp_managed_write utp_managed_set_udp_handler
    utp_managed_sendto utp_managed_set_threads utp_managed_flush utp_managed_progress)

set(failures 0)
foreach(fn IN LISTS functions)
  # "<address> <size> T <name>"
  if(NOT symbols MATCHES "[0-9a-fA-F]+ [0-9a-fA-F]+ [Tt] ${fn}\n")
    message(SEND_ERROR "function ${fn} is not exported")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()

foreach(entry utp_callback_names:16 utp_error_code_names:3 utp_state_names:5)
  string(REPLACE ":" ";" entry "${entry}")
  list(GET entry 0 name)
  list(GET entry 1 count)
  math(EXPR want "${count} * ${POINTER_SIZE}")
  if(symbols MATCHES "[0-9a-fA-F]+ ([0-9a-fA-F]+) ([A-Za-z]) ${name}\n")
    set(hex "${CMAKE_MATCH_1}")
    set(kind "${CMAKE_MATCH_2}")
    math(EXPR size "0x${hex}")
    if(NOT kind MATCHES "^[DdBbRrGgSs]$")
      message(SEND_ERROR "${name} is exported as '${kind}', not as a data object")
      math(EXPR failures "${failures} + 1")
    elseif(NOT size EQUAL want)
      message(SEND_ERROR "${name} is ${size} bytes, libutp's is ${want} (${count} pointers)")
      math(EXPR failures "${failures} + 1")
    endif()
  else()
    message(SEND_ERROR "data object ${name} is not exported")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()

# With ONLY_API (our library), nothing else may be exported: no unmangled internal symbol and
# no Rust symbol (the reference exports many C++ internals and a stray `addrbuf`).
if(ONLY_API)
  foreach(name IN LISTS managed_functions)
    if(NOT symbols MATCHES " T ${name}\n")
      message(SEND_ERROR "managed function ${name} is not exported")
      math(EXPR failures "${failures} + 1")
    endif()
  endforeach()
  list(APPEND functions ${managed_functions})
  string(REPLACE "\n" ";" lines "${symbols}")
  foreach(line IN LISTS lines)
    if(line MATCHES " ([A-Za-z]) ([^ ]+)$")
      set(name "${CMAKE_MATCH_2}")
      if(NOT name IN_LIST functions AND NOT name MATCHES "^utp_(callback|error_code|state)_names$")
        message(SEND_ERROR "unexpected exported symbol ${name}")
        math(EXPR failures "${failures} + 1")
      endif()
    endif()
  endforeach()
endif()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} export check(s) failed for ${LIB}")
endif()
list(LENGTH functions nfunctions)
message("exported_symbols: ${nfunctions} functions and 3 name tables of libutp's sizes in ${LIB}")
