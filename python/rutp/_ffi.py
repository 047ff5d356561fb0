"""The low-level layer: rutp's ``libutp.so`` with every function of ``utp.h`` and
``utp_managed.h`` declared, plus the types, constants and helpers to call it.

``lib`` is a :class:`ctypes.CDLL`, so **every call releases the GIL** for its duration: other
Python threads run while one blocks in ``utp_managed_read``, and callbacks from the library's
threads (managed contexts) can take the GIL meanwhile. Callbacks (``utp_callback_t``) take the
GIL again while they run.

Stable API (other modules build on it): ``lib``, ``library_path``, ``sockaddr_from``,
``sockaddr_to``, ``check``, the structs (``utp_callback_arguments``, ``utp_socket_stats``,
``utp_context_stats``, ``utp_iovec``, ``sockaddr``), the handle types (``utp_context_p``,
``utp_socket_p``), the function types (``utp_callback_t``, ``utp_managed_udp_handler``), the
``IntEnum``\\ s (``UdpFlag``, ``State``, ``ErrorCode``, ``Callback``, ``Option``) and every C
constant under its C name (``UTP_ON_READ``, ``UTP_SNDBUF``, ``UTP_IOV_MAX``...).

Pointer parameters: handles take ``utp_context_p``/``utp_socket_p`` (or None for NULL); byte
buffers are ``c_void_p`` (pass ``bytes``, a ctypes array or an address); addresses take a
:class:`sockaddr` (as given by ``sockaddr_from``). A NULL function pointer is the function
type called without arguments (``utp_callback_t()``, ``utp_managed_udp_handler()``): ctypes
does not take None for a ``CFUNCTYPE`` parameter.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_ssize_t, c_uint16, c_uint32, c_uint64, c_void_p
from typing import Dict, List, Tuple

from rutp._abi import *  # noqa: F401,F403  (re-exported: part of this module's API)
from rutp._abi import (
    CONSTANTS,
    socklen_t,
    utp_callback_t,
    utp_context_p,
    utp_context_stats,
    utp_iovec,
    utp_managed_udp_handler,
    utp_socket_p,
    utp_socket_stats,
)
from rutp._lib import load_library
from rutp._sockaddr import sockaddr, sockaddr_from, sockaddr_in, sockaddr_in6, sockaddr_to

__all__ = [
    "lib",
    "library_path",
    "check",
    "sockaddr",
    "sockaddr_in",
    "sockaddr_in6",
    "sockaddr_from",
    "sockaddr_to",
    "PROTOTYPES",
    "callback_names",
    "error_code_names",
    "state_names",
]

_ctx = utp_context_p
_sock = utp_socket_p
_addr = POINTER(sockaddr)

#: ``name: (restype, argtypes)`` of every exported function, in header order.
PROTOTYPES: Dict[str, Tuple[object, List[object]]] = {
    # utp.h
    "utp_init": (_ctx, [c_int]),
    "utp_destroy": (None, [_ctx]),
    "utp_set_callback": (None, [_ctx, c_int, utp_callback_t]),
    "utp_context_set_userdata": (c_void_p, [_ctx, c_void_p]),
    "utp_context_get_userdata": (c_void_p, [_ctx]),
    "utp_context_set_option": (c_int, [_ctx, c_int, c_int]),
    "utp_context_get_option": (c_int, [_ctx, c_int]),
    "utp_process_udp": (c_int, [_ctx, c_void_p, c_size_t, _addr, socklen_t]),
    "utp_process_icmp_error": (c_int, [_ctx, c_void_p, c_size_t, _addr, socklen_t]),
    "utp_process_icmp_fragmentation": (
        c_int,
        [_ctx, c_void_p, c_size_t, _addr, socklen_t, c_uint16],
    ),
    "utp_check_timeouts": (None, [_ctx]),
    "utp_issue_deferred_acks": (None, [_ctx]),
    "utp_get_context_stats": (POINTER(utp_context_stats), [_ctx]),
    "utp_create_socket": (_sock, [_ctx]),
    "utp_set_userdata": (c_void_p, [_sock, c_void_p]),
    "utp_get_userdata": (c_void_p, [_sock]),
    "utp_setsockopt": (c_int, [_sock, c_int, c_int]),
    "utp_getsockopt": (c_int, [_sock, c_int]),
    "utp_connect": (c_int, [_sock, _addr, socklen_t]),
    "utp_write": (c_ssize_t, [_sock, c_void_p, c_size_t]),
    "utp_writev": (c_ssize_t, [_sock, POINTER(utp_iovec), c_size_t]),
    "utp_getpeername": (c_int, [_sock, _addr, POINTER(socklen_t)]),
    "utp_read_drained": (None, [_sock]),
    "utp_get_delays": (c_int, [_sock, POINTER(c_uint32), POINTER(c_uint32), POINTER(c_uint32)]),
    "utp_get_stats": (POINTER(utp_socket_stats), [_sock]),
    "utp_get_context": (_ctx, [_sock]),
    "utp_shutdown": (None, [_sock, c_int]),
    "utp_close": (None, [_sock]),
    # utp_managed.h
    "utp_managed_create": (_ctx, [_addr, socklen_t]),
    "utp_managed_destroy": (c_int, [_ctx]),
    "utp_managed_local_address": (c_int, [_ctx, _addr, POINTER(socklen_t)]),
    "utp_managed_connect": (c_int, [_ctx, _addr, socklen_t, c_int, POINTER(_sock)]),
    "utp_managed_accept": (c_int, [_ctx, c_int, POINTER(_sock)]),
    "utp_managed_read": (c_ssize_t, [_sock, c_void_p, c_size_t, c_int]),
    "utp_managed_write": (c_ssize_t, [_sock, c_void_p, c_size_t, c_int]),
    "utp_managed_flush": (c_int, [_sock, c_int]),
    "utp_managed_progress": (c_int, [_sock, POINTER(c_uint64), POINTER(c_uint64)]),
    "utp_managed_set_udp_handler": (c_int, [_ctx, utp_managed_udp_handler, c_void_p]),
    "utp_managed_sendto": (c_ssize_t, [_ctx, c_void_p, c_size_t, _addr, socklen_t]),
    "utp_managed_set_threads": (c_int, [c_int]),
}


def _declare(library: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in PROTOTYPES.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes


lib, library_path = load_library()
_declare(lib)

# The exported name tables (data objects of 16, 3 and 5 pointers; entry 0 of the states is NULL).
_callback_names = (c_char_p * 16).in_dll(lib, "utp_callback_names")
_error_code_names = (c_char_p * 3).in_dll(lib, "utp_error_code_names")
_state_names = (c_char_p * 5).in_dll(lib, "utp_state_names")


def _names(table: ctypes.Array) -> List[str]:
    return [entry.decode("ascii") if entry is not None else "" for entry in table]


def callback_names() -> List[str]:
    """``utp_callback_names``: the names of callback slots 0 to 15."""
    return _names(_callback_names)


def error_code_names() -> List[str]:
    """``utp_error_code_names``: the names of the ``UTP_ON_ERROR`` codes."""
    return _names(_error_code_names)


def state_names() -> List[str]:
    """``utp_state_names``: the names of the states by value ("" for the unused index 0)."""
    return _names(_state_names)


def check(code: int, what: str = "") -> int:
    """Returns ``code`` when it is not negative; else raises the ``OSError`` of errno ``-code``.

    The managed API reports failures as negated errno values; ``OSError(errno, message)``
    picks the built-in subclass: ``ConnectionRefusedError``, ``ConnectionResetError``,
    ``TimeoutError`` (ETIMEDOUT), ``BlockingIOError`` (EAGAIN, EINPROGRESS),
    ``BrokenPipeError`` (EPIPE), or plain ``OSError`` (EINVAL, ENOTCONN, EDEADLK). ``what``
    prefixes the message.
    """
    if code >= 0:
        return code
    errno = -code
    message = os.strerror(errno)
    raise OSError(errno, f"{what}: {message}" if what else message)


globals().update(CONSTANTS)  # UTP_ON_READ, UTP_SNDBUF, ... under their C names
__all__ += list(CONSTANTS)
