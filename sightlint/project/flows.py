"""Where credential values flow: the facts rules about passwords read from the model.

Collected in the engine's one walk by :class:`sightlint.project.collector.SummaryCollector`,
which hands this module the nodes it already visits, and only in files that mention a
password or bcrypt at all (a text test), so other files pay nothing. Everything is plain
tuples of strings and ints (marshal-able), kept per function in ``FunctionSummary.flows``
and per module in ``ModuleSummary.secrets``:

``("arg", line, col, key, path)``     the call at ``line:col`` gets ``path`` as its argument
                                     ``key`` (a position or a keyword); ``path`` is a
                                     parameter (``password``) or one of its attributes
                                     (``user_in.password``), also through ``.encode(...)``,
                                     ``.get_secret_value()``, ``str(...)``, ``bytes(...)``
``("caught", line, col, names)``     the call at ``line:col`` is inside a ``try`` whose
                                     handlers catch ``names`` (comma-separated last names)
``("bytes", path, how)``             the function bounds ``path``'s UTF-8 length to at most
                                     72 bytes: ``p.encode()[:72]`` truncated (``how``
                                     "truncate"), or ``if len(p.encode()) > 72:`` whose body
                                     answers the client ("http": raises an ``HTTPException``
                                     or returns) or raises anything else ("raise": a 500)
``("param", name, annotation)``      parameter ``name`` is annotated with a class named
                                     ``annotation`` (``Optional``/``Annotated``/``| None``
                                     unwrapped)

``("field", cls, name, line, col, end_line, end_col, max_length, checked)`` a string field
named like a password on a class deriving from pydantic's ``BaseModel`` (``max_length``
-1 when not given; ``checked``: a validator of the class bounds its UTF-8 length);
``("bcrypt", global)``: a module global built as ``CryptContext(schemes=[..."bcrypt"...])``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from collections.abc import Collection, Mapping
from typing import Any

BCRYPT_MAX_BYTES = 72
# Words of a field name that make it a password (`password`, `new_password`, `pwd`).
PASSWORD_WORDS = frozenset(("password", "passwd", "pwd", "passphrase"))
_GATE = re.compile(r"passw|bcrypt|CryptContext|pwd", re.IGNORECASE)
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")
_UNWRAP = frozenset(("Optional", "Annotated", "Union"))
_WRAPPERS = frozenset(("encode", "get_secret_value", "strip"))
_VALIDATORS = frozenset(("field_validator", "validator", "model_validator", "root_validator"))
_STRINGS = frozenset(("str", "SecretStr", "constr", "EmailStr"))


def mentions_credentials(text: str) -> bool:
    """True for a file worth collecting flows in."""
    # Most files say none of the words: rule them out with substring tests on the lowered
    # text (a case-insensitive regex search costs ~1 ms a file). Under IGNORECASE only the
    # long s (U+017F) matches a letter of the pattern that ``lower`` does not give back.
    low = text.lower()
    if "passw" not in low and "bcrypt" not in low and "cryptcontext" not in low and "pwd" not in low and "\u017f" not in low:
        return False
    # In an ASCII text a word found in the lowered text is a case-insensitive match (the
    # regex, ~50 us a file, is needed only for the letters ``lower`` maps differently).
    return text.isascii() or _GATE.search(text) is not None


def password_name(name: str) -> bool:
    return bool({w.lower() for w in _WORDS.findall(name)} & PASSWORD_WORDS)


def source_path(node: ast.expr, params: Collection[str], aliases: Mapping[str, tuple[str, bool]] | None = None) -> str | None:
    """``p`` or ``p.attr`` when ``node`` reads a parameter (through `.encode()` and friends,
    and through ``aliases``: locals bound to such a value, ``raw = password.encode()``)."""
    while True:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _WRAPPERS:
                node = func.value
                continue
            if isinstance(func, ast.Name) and func.id in ("str", "bytes") and node.args:
                node = node.args[0]
                continue
            return None
        break
    if isinstance(node, ast.Name) and aliases and node.id in aliases:
        return aliases[node.id][0]
    if isinstance(node, ast.Name) and node.id in params:
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in params:
        return f"{node.value.id}.{node.attr}"
    return None


def annotation_name(node: ast.expr | None) -> str | None:
    """``UserCreate`` for ``UserCreate``, ``schemas.UserCreate``, ``Optional[UserCreate]``,
    ``Annotated[UserCreate, Body()]``, ``UserCreate | None``."""
    while node is not None:
        if isinstance(node, ast.Subscript) and _last(node.value) in _UNWRAP:
            inner = node.slice
            node = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            left, right = node.left, node.right
            node = right if isinstance(left, ast.Constant) and left.value is None else left
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
            continue
        if isinstance(node, ast.Call):  # constr(max_length=...)
            node = node.func
            continue
        name = _last(node)
        return name or None
    return None


def _last(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def encoded(node: ast.expr, aliases: Mapping[str, tuple[str, bool]]) -> bool:
    """``p.encode(...)``, or a local bound to an encoded value (``raw = p.encode()``)."""
    if isinstance(node, ast.Name):
        return node.id in aliases and aliases[node.id][1]
    return _encoded(node) or any(_encoded(sub) for sub in ast.walk(node) if isinstance(sub, ast.Call))


def byte_bound(node: ast.Compare, aliases: Mapping[str, tuple[str, bool]]) -> ast.expr | None:
    """The value whose UTF-8 length ``node`` compares with at most 72 (or 73 with `>=`/`<`):
    ``len(p.encode("utf-8")) > 72``, ``72 < len(p.encode())``."""
    if len(node.ops) != 1:
        return None
    left, right = node.left, node.comparators[0]
    for measured, bound in ((left, right), (right, left)):
        if (
            isinstance(measured, ast.Call)
            and isinstance(measured.func, ast.Name)
            and measured.func.id == "len"
            and measured.args
            and encoded(measured.args[0], aliases)
            and isinstance(bound, ast.Constant)
            and isinstance(bound.value, int)
            and 0 < bound.value <= BCRYPT_MAX_BYTES + 1
        ):
            return measured.args[0]
    return None


def truncated(node: ast.Subscript, aliases: Mapping[str, tuple[str, bool]]) -> ast.expr | None:
    """The encoded value ``p.encode()[:72]`` cuts to at most 72 bytes."""
    index = node.slice
    if (
        encoded(node.value, aliases)
        and isinstance(index, ast.Slice)
        and index.lower is None
        and isinstance(index.upper, ast.Constant)
        and isinstance(index.upper.value, int)
        and index.upper.value <= BCRYPT_MAX_BYTES
    ):
        return node.value
    return None


def rejection(body: list[ast.stmt]) -> str:
    """How an ``if`` body that rejects a too-long password answers: "http" (an
    ``HTTPException``, or a returned response) or "raise" (any other exception: a 500)."""
    for stmt in body:
        if isinstance(stmt, ast.Return):
            return "http"
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            raised = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            return "http" if _last(raised).endswith(("HTTPException", "RequestValidationError")) else "raise"
    return "raise"


def _encoded(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "encode"


def bcrypt_context(value: ast.expr) -> bool:
    """True for ``CryptContext(schemes=["bcrypt", ...])``."""
    if not (isinstance(value, ast.Call) and _last(value.func) == "CryptContext"):
        return False
    schemes = [k.value for k in value.keywords if k.arg == "schemes"] + list(value.args[:1])
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and "bcrypt" in n.value for s in schemes for n in ast.walk(s)
    )


def caught_names(handlers: list[ast.ExceptHandler]) -> str:
    """``ValueError,Exception`` for the handlers of a ``try`` (``BaseException`` for a bare one)."""
    names: list[str] = []
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names += ["BaseException" if kind is None else _last(kind) for kind in kinds]
    return ",".join(names)


_NOT_MODELS = frozenset(("TypedDict", "NamedTuple", "Enum", "IntEnum", "StrEnum", "Protocol", "Exception"))


def model_class(node: ast.ClassDef) -> bool:
    """A class that may be a request model: one with a base (pydantic's ``BaseModel``, a
    project base of it, ``SQLModel``), not a dataclass, enum or typed dict. Which of them
    really are request models the flows decide: only a parameter annotated with the
    class, whose field reaches bcrypt, makes a finding."""
    if not node.bases or any(_last(b) in _NOT_MODELS for b in node.bases):
        return False
    return not any(_last(d.func if isinstance(d, ast.Call) else d) in ("dataclass", "define", "attrs") for d in node.decorator_list)


@dataclass
class ModelFields:
    """A pydantic model being walked: its password fields and the ones a validator bounds."""

    name: str
    fields: list[tuple[Any, ...]] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)


def validated_fields(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...] | None:
    """The fields a validator method names (``("*",)`` for a model validator), or None."""
    for deco in node.decorator_list:
        func = deco.func if isinstance(deco, ast.Call) else deco
        name = _last(func)
        if name not in _VALIDATORS:
            continue
        if name in ("model_validator", "root_validator"):
            return ("*",)
        if isinstance(deco, ast.Call):
            return tuple(a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return None


def field_fact(cls: str, node: ast.AnnAssign, col: int, end_col: int) -> tuple[Any, ...] | None:
    """The ``("field", ...)`` fact of a password-named string field (``checked`` still to add), or None."""
    target = node.target
    if not isinstance(target, ast.Name) or not password_name(target.id):
        return None
    if annotation_name(node.annotation) not in _STRINGS:
        return None
    max_length = -1
    calls = [sub for sub in ast.walk(node.annotation) if isinstance(sub, ast.Call)]
    if isinstance(node.value, ast.Call):
        calls.append(node.value)  # Field(max_length=...), constr(max_length=...)
    for call in calls:
        for keyword in call.keywords:
            if keyword.arg == "max_length" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, int):
                max_length = keyword.value.value
    return ("field", cls, target.id, node.lineno, col, end_col, max_length)
