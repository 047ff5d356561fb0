"""Struct sizes and offsets in ctypes equal what the C compiler computes from our headers."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from c_header import include_dir
from rutp import _ffi

#: (struct, member) pairs the C program reports; "" is the struct's size.
FACTS = {
    "utp_callback_arguments": ["", "context", "socket", "len", "flags", "callback_type", "buf",
                               "address", "send", "sample_ms", "error_code", "state",
                               "address_len", "type"],
    "utp_socket_stats": ["", "nbytes_recv", "nbytes_xmit", "rexmit", "fastrexmit", "nxmit",
                         "nrecv", "nduprecv", "mtu_guess"],
    "utp_context_stats": ["", "_nraw_recv", "_nraw_send"],
    "struct utp_iovec": ["", "iov_base", "iov_len"],
    "struct sockaddr_in": ["", "sin_family", "sin_port", "sin_addr", "sin_zero"],
    "struct sockaddr_in6": ["", "sin6_family", "sin6_port", "sin6_flowinfo", "sin6_addr",
                            "sin6_scope_id"],
}


def _c_program() -> str:
    lines = ['#include "utp_managed.h"', "#include <stdio.h>", "#include <stddef.h>",
             "int main(void) {"]
    for struct, members in FACTS.items():
        for member in members:
            value = f"sizeof({struct})" if not member else f"offsetof({struct}, {member})"
            lines.append(f'    printf("{struct}.{member} %zu\\n", (size_t){value});')
    lines.append('    printf("struct sockaddr_storage. %zu\\n", sizeof(struct sockaddr_storage));')
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory) -> Dict[str, int]:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (scripts/test-python.sh installs gcc)")
    work: Path = tmp_path_factory.mktemp("layout")
    (work / "layout.c").write_text(_c_program())
    subprocess.run([compiler, "-std=c99", "-Wall", "-Werror", f"-I{include_dir()}",
                    str(work / "layout.c"), "-o", str(work / "layout")], check=True)
    output = subprocess.run([str(work / "layout")], check=True, capture_output=True, text=True)
    return {key: int(value) for key, value in (line.rsplit(" ", 1) for line in output.stdout.splitlines())}


def _python_fact(struct: str, member: str) -> int:
    name = struct.replace("struct ", "")
    pytype = getattr(_ffi, name)
    if not member:
        return ctypes.sizeof(pytype)
    return getattr(pytype, member).offset


@pytest.mark.parametrize("struct", sorted(FACTS))
def test_sizes_and_offsets_match_the_compiler(c_facts, struct) -> None:
    expected = {f"{struct}.{m}": c_facts[f"{struct}.{m}"] for m in FACTS[struct]}
    actual = {f"{struct}.{m}": _python_fact(struct, m) for m in FACTS[struct]}
    assert actual == expected


def test_sockaddr_holds_any_address(c_facts) -> None:
    assert ctypes.sizeof(_ffi.sockaddr) == c_facts["struct sockaddr_storage."]


def test_the_libutp_figures_on_lp64() -> None:
    # libutp-api.md 1.3/1.4: the ABI that existing bindings read by raw offset.
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("the figures below are LP64's")
    assert ctypes.sizeof(_ffi.utp_callback_arguments) == 56
    assert _ffi.utp_callback_arguments.address.offset == 40
    assert _ffi.utp_callback_arguments.state.offset == 40
    assert _ffi.utp_callback_arguments.address_len.offset == 48
    assert _ffi.utp_callback_arguments.type.offset == 48
    assert ctypes.sizeof(_ffi.utp_socket_stats) == 40
    assert ctypes.sizeof(_ffi.utp_context_stats) == 40
