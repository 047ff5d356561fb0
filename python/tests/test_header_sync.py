"""The ctypes layer declares exactly what the C headers declare (include/utp.h, utp_managed.h).

The headers are parsed (``c_header.py``); every function, constant, struct field and function
type must be in ``rutp._ffi`` with the same name, argument count, a matching type (integer size
and signedness, the right handle, struct or function type behind each pointer) and, for structs,
the same field order, anonymous unions included. Nothing may be in Python that the headers lack.
"""

from __future__ import annotations

import ctypes
from typing import List

import pytest

from c_header import Member, parse_headers
from c_types import mismatch
from rutp import _ffi

HEADER = parse_headers()


def test_the_parser_found_the_headers_contents() -> None:
    # Guards the test itself: a parser that finds nothing would let everything pass.
    assert len(HEADER.functions) == 40
    assert len(HEADER.enums) == 31
    assert set(HEADER.structs) == {"utp_callback_arguments", "utp_context_stats",
                                   "utp_socket_stats", "utp_iovec"}
    assert set(HEADER.function_types) == {"utp_callback_t", "utp_managed_udp_handler"}


def test_every_function_is_declared_and_nothing_else() -> None:
    assert set(_ffi.PROTOTYPES) == set(HEADER.functions)


@pytest.mark.parametrize("name", sorted(HEADER.functions))
def test_function_prototype_matches(name: str) -> None:
    function = HEADER.functions[name]
    declared = getattr(_ffi.lib, name)
    assert len(declared.argtypes) == len(function.params), "argument count"
    problems = [mismatch(function.restype, declared.restype, HEADER.function_types)]
    problems += [
        mismatch(param.ctype, pytype, HEADER.function_types)
        for param, pytype in zip(function.params, declared.argtypes)
    ]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("name", sorted(HEADER.function_types))
def test_function_type_matches(name: str) -> None:
    assert mismatch(name, getattr(_ffi, name), HEADER.function_types) is None


def test_every_constant_has_its_value_and_nothing_else() -> None:
    expected = {**HEADER.enums, **HEADER.defines}
    assert {name: getattr(_ffi, name, None) for name in expected} == expected
    assert _ffi.CONSTANTS == expected


def _shape(struct: type) -> List[object]:
    """Field names of a ctypes struct; an anonymous union gives the list of its members."""
    shape: List[object] = []
    for name, pytype in struct._fields_:  # type: ignore[attr-defined]
        if name in getattr(struct, "_anonymous_", ()):
            shape.append([member for member, _ in pytype._fields_])
        else:
            shape.append(name)
    return shape


def _c_shape(members: List[Member]) -> List[object]:
    return [[p.name for p in m] if isinstance(m, list) else m.name for m in members]


@pytest.mark.parametrize("name", sorted(HEADER.structs))
def test_struct_fields_in_order(name: str) -> None:
    struct = getattr(_ffi, name)
    assert _shape(struct) == _c_shape(HEADER.structs[name])


@pytest.mark.parametrize("name", sorted(HEADER.structs))
def test_struct_field_types(name: str) -> None:
    struct = getattr(_ffi, name)
    problems = []
    for member in HEADER.structs[name]:
        for param in member if isinstance(member, list) else [member]:
            pytype = struct_field_type(struct, param.name)
            if param.array:
                assert issubclass(pytype, ctypes.Array) and pytype._length_ == param.array, param.name
                pytype = pytype._type_
            ctype = param.ctype if param.name != "buf" else "const void *"
            problems.append(mismatch(ctype, pytype, HEADER.function_types))
    assert [p for p in problems if p] == []


def struct_field_type(struct: type, name: str) -> type:
    """The ctypes type of a field, looking into anonymous unions."""
    for field_name, pytype in struct._fields_:  # type: ignore[attr-defined]
        if field_name == name:
            return pytype
        if field_name in getattr(struct, "_anonymous_", ()):
            for member, member_type in pytype._fields_:
                if member == name:
                    return member_type
    raise AttributeError(name)


def test_exported_name_tables_match_the_enums() -> None:
    assert set(HEADER.data) == {"utp_callback_names", "utp_error_code_names", "utp_state_names"}
    assert _ffi.callback_names() == [m.name for m in _ffi.Callback]
    assert _ffi.error_code_names() == [m.name for m in _ffi.ErrorCode]
    assert _ffi.state_names() == [""] + [m.name for m in _ffi.State]
