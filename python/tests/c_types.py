"""Does a ctypes type match a C type from our headers? (names, sizes, signedness, pointees)."""

from __future__ import annotations

import ctypes
from typing import Optional

from c_header import Function, function_pointer
from rutp import _ffi

#: (size, signed) of the integer types the headers use.
INTEGERS = {
    "int": (4, True),
    "uint16_t": (2, False),
    "uint32": (4, False),
    "uint32_t": (4, False),
    "uint64": (8, False),
    "uint64_t": (8, False),
    "unsigned long long": (8, False),
    "size_t": (ctypes.sizeof(ctypes.c_size_t), False),
    "ssize_t": (ctypes.sizeof(ctypes.c_ssize_t), True),
    "socklen_t": (4, False),
}
#: Pointers that carry bytes: ctypes may take them as any of these.
BUFFERS = {"void *", "uint8_t *", "byte *"}
BUFFER_CTYPES = (ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8))
#: Named pointer types: the C type and the exact ctypes type it must be.
NAMED_POINTERS = {
    "utp_context *": _ffi.utp_context_p,
    "utp_socket *": _ffi.utp_socket_p,
    "char *": ctypes.c_char_p,
}


def _strip_const(ctype: str) -> str:
    return ctype.replace("const ", "").strip()


def _integer_shape(pytype: object) -> Optional[tuple]:
    try:
        if not issubclass(pytype, ctypes._SimpleCData) or pytype._type_ in "zZPfdg?c":  # type: ignore[arg-type,attr-defined]
            return None
        return ctypes.sizeof(pytype), pytype(-1).value < 0  # type: ignore[operator]
    except TypeError:
        return None


def mismatch(ctype: str, pytype: object, function_types: dict) -> Optional[str]:
    """None when ``pytype`` is right for ``ctype``, else what is wrong."""
    ctype = _strip_const(ctype)
    if ctype == "void":
        return None if pytype is None else f"void, but {pytype}"
    if ctype.startswith("fnptr:"):
        return _function_mismatch(function_pointer(ctype), pytype, function_types)
    if ctype in function_types:
        return _function_mismatch(function_types[ctype], pytype, function_types)
    if ctype in INTEGERS:
        shape = _integer_shape(pytype)
        if shape == INTEGERS[ctype]:
            return None
        return f"{ctype} is (size, signed) {INTEGERS[ctype]}, ctypes {pytype} is {shape}"
    if ctype in BUFFERS:
        return None if pytype in BUFFER_CTYPES else f"byte buffer {ctype}, but {pytype}"
    if ctype in NAMED_POINTERS:
        expected = NAMED_POINTERS[ctype]
        return None if pytype is expected else f"{ctype} should be {expected.__name__}, not {pytype}"
    if ctype.endswith("*"):
        pointee = ctype[:-1].strip()
        if not (isinstance(pytype, type) and issubclass(pytype, ctypes._Pointer)):
            return f"{ctype} needs a POINTER type, not {pytype}"
        return mismatch(pointee, pytype._type_, function_types)
    return _struct_pointee(ctype, pytype)


def _struct_pointee(ctype: str, pytype: object) -> Optional[str]:
    name = ctype.replace("struct ", "").strip()
    actual = getattr(pytype, "__name__", str(pytype))
    return None if actual == name else f"{ctype} should be the ctypes struct {name}, not {actual}"


def _function_mismatch(expected: Function, pytype: object, function_types: dict) -> Optional[str]:
    if not (isinstance(pytype, type) and issubclass(pytype, ctypes._CFuncPtr)):  # type: ignore[attr-defined]
        return f"a function pointer needs a CFUNCTYPE type, not {pytype}"
    argtypes = list(pytype._argtypes_)  # type: ignore[attr-defined]
    if len(argtypes) != len(expected.params):
        return f"function pointer takes {len(expected.params)} arguments, ctypes {len(argtypes)}"
    problems = [mismatch(expected.restype, pytype._restype_, function_types)]  # type: ignore[attr-defined]
    problems += [mismatch(p.ctype, t, function_types) for p, t in zip(expected.params, argtypes)]
    found = [p for p in problems if p]
    return "; ".join(found) if found else None

