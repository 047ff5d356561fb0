"""A small parser for our C headers (cbindgen's regular output, not C in general).

It knows the subset ``utp.h`` and ``utp_managed.h`` use: ``#define NAME number``, anonymous
``enum { A = 1, ... };``, ``typedef struct { ... } name;`` and ``struct name { ... };`` with
anonymous unions, function prototypes (function-pointer parameters included), function and
function-pointer typedefs, and ``extern`` data. ``#ifdef __cplusplus`` blocks are dropped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass
class Param:
    """One declarator: C type text (normalised) and name; ``array`` is its length or 0."""

    ctype: str
    name: str
    array: int = 0


@dataclass
class Function:
    restype: str
    name: str
    params: List[Param]


#: A struct member, or the members of an anonymous union.
Member = Union[Param, List[Param]]


@dataclass
class Header:
    defines: Dict[str, int] = field(default_factory=dict)
    enums: Dict[str, int] = field(default_factory=dict)
    structs: Dict[str, List[Member]] = field(default_factory=dict)
    functions: Dict[str, Function] = field(default_factory=dict)
    function_types: Dict[str, Function] = field(default_factory=dict)
    data: Dict[str, Param] = field(default_factory=dict)

    def merge(self, other: "Header") -> None:
        for name in ("defines", "enums", "structs", "functions", "function_types", "data"):
            getattr(self, name).update(getattr(other, name))


def include_dir() -> Path:
    """``RUTP_INCLUDE_DIR``, else the ``include/`` of the checkout holding these tests."""
    configured = os.environ.get("RUTP_INCLUDE_DIR")
    if configured:
        return Path(configured)
    for directory in Path(__file__).resolve().parents:
        if (directory / "include" / "utp.h").is_file():
            return directory / "include"
    raise FileNotFoundError("include/utp.h not found above the tests; set RUTP_INCLUDE_DIR")


def _preprocess(text: str) -> Tuple[str, Dict[str, int]]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    kept: List[str] = []
    defines: Dict[str, int] = {}
    skip_depth = 0  # > 0 inside an #ifdef __cplusplus block
    for line in text.splitlines():
        directive = line.strip()
        if directive.startswith("#"):
            words = directive[1:].split()
            if not words:
                continue
            if words[0] in ("if", "ifdef", "ifndef"):
                if skip_depth or (words[0] == "ifdef" and words[1:2] == ["__cplusplus"]):
                    skip_depth += 1
            elif words[0] == "endif" and skip_depth:
                skip_depth -= 1
            elif words[0] == "define" and not skip_depth and len(words) == 3:
                if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", words[2]):
                    defines[words[1]] = int(words[2], 0)
            continue
        if not skip_depth:
            kept.append(line)
    body = "\n".join(kept).replace("UTP_ANONYMOUS_UNION", "union")
    return body, defines


def _split_top(text: str, sep: str) -> List[str]:
    """Splits at ``sep`` outside parentheses and braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _norm(ctype: str) -> str:
    ctype = re.sub(r"\s*\*\s*", "*", " ".join(ctype.split()))
    return re.sub(r"(\w)\*", r"\1 *", ctype).strip()


def _declarator(text: str) -> Param:
    """``const struct sockaddr *address`` or ``uint32 _nraw_recv[5]`` as a Param."""
    text = " ".join(text.split())
    if "(*" in text.replace("( *", "(*"):  # a function pointer: type (*name)(args)
        name = re.search(r"\(\s*\*\s*(\w+)\s*\)", text).group(1)  # type: ignore[union-attr]
        return Param("fnptr:" + _norm(text.replace(name, "", 1)), name)
    array = 0
    match = re.search(r"\[(\d*)\]\s*$", text)
    if match:
        array = int(match.group(1) or 0) or -1
        text = text[: match.start()]
    name = IDENT.findall(text)[-1]
    ctype = text[: text.rindex(name)]
    return Param(_norm(ctype), name, array)


def _function(text: str) -> Function:
    """``restype name(params)``, the outer parentheses being the last top-level pair."""
    open_at = text.index("(")
    head, params_text = text[:open_at], text[open_at + 1: text.rindex(")")]
    ret = _declarator(head)
    params = [] if params_text.strip() in ("", "void") else [
        _param(p) for p in _split_top(params_text, ",")
    ]
    return Function(ret.ctype, ret.name, params)


def _param(text: str) -> Param:
    """A parameter, which may be unnamed (``utp_callback_arguments *``, ``int``)."""
    if "(" not in text and (text.rstrip().endswith("*") or len(IDENT.findall(text)) == 1):
        return Param(_norm(text), "")
    return _declarator(text)


def function_pointer(ctype: str) -> Function:
    """The signature inside a ``fnptr:`` type: ``ret (*)(params)``."""
    text = ctype[len("fnptr:"):]
    return _function(text.replace("(*)", "fnptr", 1).replace("( *)", "fnptr", 1))


def _members(body: str) -> List[Member]:
    members: List[Member] = []
    for decl in _split_top(body, ";"):
        if decl.startswith("union"):
            inner = decl[decl.index("{") + 1: decl.rindex("}")]
            members.append([_declarator(d) for d in _split_top(inner, ";")])
        else:
            members.append(_declarator(decl))
    return members


def parse(path: Path) -> Header:
    """Everything declared in the header at ``path``."""
    body, defines = _preprocess(path.read_text(encoding="utf-8"))
    header = Header(defines=defines)
    for statement in _split_top(body, ";"):
        statement = " ".join(statement.split())
        if statement.startswith("#") or not statement:
            continue
        if re.match(r"(typedef )?enum\b", statement):
            inner = statement[statement.index("{") + 1: statement.rindex("}")]
            for entry in _split_top(inner, ","):
                name, value = (s.strip() for s in entry.split("="))
                header.enums[name] = int(value, 0)
        elif re.match(r"typedef struct \w* ?\{", statement):
            inner = statement[statement.index("{") + 1: statement.rindex("}")]
            header.structs[statement[statement.rindex("}") + 1:].strip()] = _members(inner)
        elif re.match(r"struct \w+ \{", statement):
            name = statement.split()[1]
            header.structs[name] = _members(statement[statement.index("{") + 1: statement.rindex("}")])
        elif statement.startswith("typedef"):
            rest = statement[len("typedef"):].strip()
            if "(" in rest:
                if "(*" in rest.replace("( *", "(*"):
                    param = _declarator(rest)
                    inner = re.sub(rf"\(\s*\*\s*{param.name}\s*\)", param.name, rest)
                    header.function_types[param.name] = _function(inner)
                else:
                    function = _function(rest)
                    header.function_types[function.name] = function
        elif statement.startswith("extern "):
            decl = _declarator(statement[len("extern "):])
            header.data[decl.name] = decl
        elif "(" in statement:
            function = _function(statement)
            header.functions[function.name] = function
    return header


def parse_headers(names: Tuple[str, ...] = ("utp.h", "utp_managed.h")) -> Header:
    """The merged declarations of our public headers."""
    merged = Header()
    for name in names:
        merged.merge(parse(include_dir() / name))
    return merged
