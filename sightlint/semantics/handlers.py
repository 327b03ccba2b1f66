"""What a broad exception handler does, shared by the rules about handlers.

SL201 (swallowed-exception) reports a broad handler that neither logs, re-raises nor
raises (:func:`swallows`); SL202 (broad-exception-handler) reports the broad handlers
that do something but still lose the error, and skips every handler :func:`swallows`
is true for, so no handler gets both. Both read what the guarded work is with
:func:`security_name` and :func:`database_write`, and both leave alone code that must not
raise (:func:`must_not_raise`).
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sightlint.semantics.nodes import MIXED_KINDS, child_fields
from sightlint.semantics.scope import qualify

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

_BROAD = {"Exception", "BaseException"}
_BROAD_QUALIFIED = {"builtins.Exception", "builtins.BaseException"}
# Anything that can run code or leave the frame makes an expression more than a fallback value.
_ACTIVE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
# ...except calls to these builtins, which only build a fallback value: `str(persona.age)`.
_VALUE_BUILTINS = {"bool", "dict", "float", "frozenset", "int", "len", "list", "set", "str", "tuple"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# -- what the try body does ------------------------------------------------------------
# Words of an identifier (`decode_access_token` -> decode, access, token) that make the
# guarded work a security or money decision.
_SECURITY_WORDS = frozenset(
    "auth authenticate authentication authorize authorization authorized token jwt permission permissions "
    "password passwd credential credentials login oauth secret signature csrf apikey payment payments "
    "charge stripe billing invoice refund".split()
)
# Methods that only read: called on something named for security, they decide nothing.
_READ_WORDS = frozenset("read get fetch find load list query select count exists lookup".split())
# "token" counts LLM tokens in these identifiers (`max_tokens` is plural anyway, `prompt_token_count`,
# litellm's `cost_per_token` and `token_counter`).
_TOKEN_COUNTING = frozenset("max num count counter cost per prompt completion usage total tokenizer".split())
# Methods that write a database (on any receiver) ...
_DB_WRITES = frozenset(
    "commit flush add_all bulk_save_objects bulk_insert_mappings bulk_update_mappings executemany "
    "insert_one insert_many update_one update_many delete_one delete_many replace_one bulk_write upsert".split()
)
# ... and ones that do on a receiver whose name ends like a database's (`session.add(user)`,
# `self.db.delete(row)`, `db_session.merge(x)`; not `db_pool_counter.add(1)`).
_DB_RECEIVER_WRITES = frozenset("add delete merge insert update save create".split())
DB_RECEIVERS = frozenset("db session conn connection cursor tx transaction uow".split())
# -- code that must not raise ----------------------------------------------------------
_CLEANUP_FUNCTIONS = frozenset("__exit__ __aexit__ __del__ close aclose".split())
# ...and functions named for it (`clean_global_injector`, `shutdown_clients`, `_teardown`).
_CLEANUP_WORDS = frozenset("close clean cleanup shutdown teardown dispose cancel cancellation".split())
# Emitting metrics must not break the code it measures (`counter.add(1)`, `gauge.set(n)`).
_TELEMETRY_WORDS = frozenset("metric metrics gauge counter histogram statsd telemetry".split())
_CLEANUP_CALLS = frozenset("close aclose disconnect shutdown terminate kill dispose".split())
# Methods of logging classes: logging from inside them re-enters the handler.
_LOGGING_METHODS = frozenset("format formatTime formatException formatStack emit filter handle handleError flush".split())
_LOGGING_BASES = ("Formatter", "Handler", "Filter")

# The names a module logger goes by, in order of preference.
LOGGER_NAMES = ("logger", "log", "_logger", "_log", "LOGGER", "LOG")
# -- probes: the failure is the answer -------------------------------------------------
# Calls that parse, convert or test a value (by the last part of the called name).
_PARSERS = frozenset(
    "loads dumps literal_eval b64decode b64encode urlsafe_b64decode b32decode b16decode a85decode b85decode "
    "unhexlify fromhex fromisoformat strptime fromtimestamp isoparse urlparse urlsplit parse_qs parse_qsl "
    "unquote ip_address ip_network ip_interface safe_load model_validate model_validate_json parse_raw "
    "parse_obj int float complex Decimal UUID ZoneInfo urljoin decode encode json "
    # pandas' conversions, which raise on what they cannot convert; paths built from text (no I/O).
    "to_numeric to_datetime to_timedelta astype Path PurePath PurePosixPath PureWindowsPath".split()
)
# Calls that are part of looking at a parsed value: string and mapping methods, regexes.
_INSPECTORS = frozenset(
    "strip lstrip rstrip lower upper casefold split rsplit splitlines startswith endswith replace get keys "
    "values items format join index find count isdigit isnumeric partition rpartition removeprefix "
    "removesuffix match fullmatch search group groups astimezone isoformat strftime "
    "isna notna isnull notnull dropna all any".split()
)
# Calls that only look at a file, an object or a text and answer what they see: file
# metadata (`os.path.getsize`), type introspection (`typing.get_type_hints`, which raises
# on a forward reference it cannot resolve), libmagic/mimetypes guesses, `csv.Sniffer`,
# language and encoding detection. Their failure is the answer "cannot tell".
INSPECTION_CALLS = frozenset(
    "getsize getmtime getctime getatime exists isfile isdir islink stat lstat get_type_hints get_args get_origin "
    "signature getsource getsourcefile getfile getmodule getdoc guess_type guess_extension from_file "
    "from_buffer Sniffer sniff has_header detect detect_langs from_bytes from_path "
    # SQLAlchemy's Inspector: "raise NotImplementedError for dialects that don't support
    # comments" (sqlalchemy 2.1.9, engine/interfaces.py, Dialect.get_table_comment).
    "get_table_comment".split()
)
# Builtins that run arbitrary code or I/O: a body calling them is not a pure probe.
_IMPURE_BUILTINS = frozenset("open exec eval compile input __import__ breakpoint".split())
_BUILTINS = frozenset(dir(builtins))


# ``except:``: the keyword, then only blanks or line continuations before its colon.
_BARE_EXCEPT = re.compile(r"except[\s\\]*:")


def may_catch_broadly(text: str) -> bool:
    """False when no handler of ``text`` can be broad for :func:`broad_caught` (a pre-filter).

    Sound: a broad type is a name or qualified name ending in ``Exception`` or
    ``BaseException`` (the last part of a qualified name is an identifier of the file: the
    attribute, or the name an import brings in, even under ``as``), so the word
    ``Exception`` is in the text; a bare ``except:`` is the keyword followed by its colon,
    with at most blanks and backslash continuations between them (a comment cannot come
    between the two outside brackets). A word in a string or a comment only lets more through."""
    return "Exception" in text or _BARE_EXCEPT.search(text) is not None


def broad_caught(context: Context, node: ast.expr | None) -> str | None:
    """The caught type as written if it is broad (``"bare"`` for ``except:``), else None."""
    if node is None:
        return "bare"
    if isinstance(node, ast.Tuple):
        return ast.unparse(node) if any(broad_caught(context, e) for e in node.elts) else None
    if isinstance(node, ast.Name):
        if node.id in _BROAD and context.resolve_name(node.id) is None and not context.is_local(node.id):
            return node.id
        return node.id if context.resolve_name(node.id) in _BROAD_QUALIFIED else None
    if isinstance(node, ast.Attribute) and context.qualified_name(node) in _BROAD_QUALIFIED:
        return ast.unparse(node)
    return None


def trivial(context: Context, stmt: ast.stmt, name: str | None) -> bool:
    """True for a statement that neither reports, re-raises nor uses the exception."""
    if isinstance(stmt, (ast.Pass, ast.Continue, ast.Break)):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)
    if isinstance(stmt, ast.Return):
        return stmt.value is None or _inert(context, stmt.value, name)
    if isinstance(stmt, ast.Assign):
        return all(_inert(context, t, name) for t in stmt.targets) and _inert(context, stmt.value, name)
    if isinstance(stmt, ast.AnnAssign):
        return _inert(context, stmt.target, name) and (stmt.value is None or _inert(context, stmt.value, name))
    return False


def swallows(context: Context, handler: ast.ExceptHandler) -> bool:
    """True for a handler whose every statement is trivial: SL201's handlers (probes included)."""
    return all(trivial(context, stmt, handler.name) for stmt in handler.body)


def _inert(context: Context, expr: ast.expr, name: str | None) -> bool:
    """True for a plain value: nothing is called and the caught exception is not used."""
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call) and _value_builtin(context, sub.func):
            continue
        if isinstance(sub, _ACTIVE):
            return False
        if name is not None and isinstance(sub, ast.Name) and sub.id == name:
            return False
    return True


def _value_builtin(context: Context, func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Name)
        and func.id in _VALUE_BUILTINS
        and context.resolve_name(func.id) is None
        and not context.is_local(func.id)
    )


def must_not_raise(context: Context, body: list[ast.stmt]) -> bool:
    """Cleanup (`__exit__`, `close`, `__del__`, closing calls only), metrics emission and
    logging internals: code whose errors must not escape, and where logging may recurse."""
    function = context.current_function
    name = getattr(function, "name", None)
    if name is not None and (name in _CLEANUP_FUNCTIONS or words(name) & _CLEANUP_WORDS):
        return True
    if name in _LOGGING_METHODS and context.class_stack:
        owner = context.class_stack[-1]
        if function in owner.body and any(last_name(base).endswith(_LOGGING_BASES) for base in owner.bases):
            return True
    return all(isinstance(stmt, ast.Expr) and calls_only(stmt.value, _CLEANUP_CALLS) for stmt in body) or all(
        isinstance(stmt, ast.Expr) and emits_telemetry(stmt.value) for stmt in body
    )


def walk(stmts: Sequence[ast.AST]) -> list[ast.AST]:
    """Every node of ``stmts`` (statements or expressions), not entering nested functions,
    lambdas or classes, as a list (``ast.iter_child_nodes``'s order, depth first; without
    the ``Load``/``Store``/``Del`` markers, which no check asks about)."""
    # The SL201/SL202 checks walk each handler and its ``try`` several times: one list
    # built with the child fields cached per node type (no generator, no identifier or
    # ``ctx`` fields looked at) is several times cheaper than a generator over ``_fields``.
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(reversed(stmts))
    pop, push, extend, append, node_base, stops = todo.pop, todo.append, todo.extend, out.append, ast.AST, _STOPS
    cache, mixed = _REVERSED_FIELDS, MIXED_KINDS
    while todo:
        node = pop()
        append(node)
        kind = type(node)
        if kind in stops:
            continue
        fields = cache.get(kind)
        if fields is None:
            fields = cache[kind] = tuple(reversed(child_fields(kind)))
        # The children go on the stack last first, so that they come off in field order.
        if kind in mixed:
            for name in fields:
                value = getattr(node, name, None)
                if type(value) is list:
                    extend([item for item in reversed(value) if isinstance(item, node_base)])
                elif isinstance(value, node_base):
                    push(value)
            continue
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                extend(reversed(value))
            elif value is not None:
                push(value)
    return out


# Per node type, :func:`child_fields` last first.
_REVERSED_FIELDS: dict[type, tuple[str, ...]] = {}


_STOPS = frozenset(_FUNCTIONS)


def last_name(node: ast.AST) -> str:
    """``commit`` for ``self.db.commit``, ``client`` for ``client``, ``get`` for ``x.get()``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def words(identifier: str) -> set[str]:
    """``access``, ``token`` for ``accessToken`` or ``_access_token``."""
    return {w.lower() for w in _WORD.findall(identifier)}


def security_name(body: list[ast.stmt], nodes: list[ast.AST] | None = None) -> str | None:
    """The first call in ``body`` whose dotted name says authentication, permissions or
    payment (`decode_access_token`, `jwt.decode`, `oauth_record.update_async`); a key
    merely passed along (`headers={"Authorization": api_key}`) decides nothing. ``nodes``:
    ``walk(body)`` when the caller has it already."""
    for node in walk(body) if nodes is None else nodes:
        if not isinstance(node, ast.Call):
            continue
        parts = dotted(node.func)
        if len(parts) > 1 and words(parts[-1]) & _READ_WORDS and not words(parts[-1]) & _SECURITY_WORDS:
            # A read off something named for security (`MCPOAuth.read_async(...)`) that fails
            # denies rather than lets in: judged on letta, not a security decision.
            continue
        for part in parts:
            found = words(part)
            if "token" in found and found & _TOKEN_COUNTING:
                found.discard("token")
            if found & _SECURITY_WORDS or "apikey" in part.lower().replace("_", ""):
                return ast.unparse(node.func)
    return None


# Base classes of the hooks a build backend runs while it builds the package: hatchling's
# build and metadata hooks (the `[tool.hatch.build.hooks.custom]` file's class), setuptools
# and distutils commands (a name ending in "." covers the module's classes).
_BUILD_HOOK_BASES = (
    "hatchling.builders.hooks.plugin.interface.BuildHookInterface",
    "hatchling.metadata.plugin.interface.MetadataHookInterface",
    "setuptools.Command",
    "setuptools.command.",
    "distutils.cmd.Command",
    "distutils.command.",
)
_SETUP_CALLS = {"setuptools.setup", "distutils.core.setup"}


def build_code(context: Context) -> bool:
    """True for a package's build code, which the build frontend runs when the package is
    built and the service never does: a module that defines a build hook at module level
    (a class deriving from a base in :data:`_BUILD_HOOK_BASES`) or calls `setup(...)` of
    setuptools or distutils at module level (`setup.py`). Names are read through the
    module's bindings; the answer is worked out once per file (``context.shared``), for
    every rule that asks."""
    known: bool | None = context.shared.get("build_code")
    if known is None:
        known = context.shared["build_code"] = _build_code(context.tree, context.module_bindings().get)
    return known


def _build_code(tree: ast.Module, resolve: Callable[[str], str | None]) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            for base in stmt.bases:
                name = qualify(base, resolve)
                if name and any(name == known or (known.endswith(".") and name.startswith(known)) for known in _BUILD_HOOK_BASES):
                    return True
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and qualify(stmt.value.func, resolve) in _SETUP_CALLS:
            return True
    return False


def dotted(node: ast.expr) -> list[str]:
    """``["self", "auth", "verify"]`` for ``self.auth.verify``; the names of a called chain."""
    parts: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Call):
            node = node.func
            continue
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def last_word(identifier: str) -> str:
    """``session`` for ``db_session``, ``counter`` for ``db_pool_checkout_counter``."""
    found = _WORD.findall(identifier)
    return found[-1].lower() if found else ""


def database_write(body: list[ast.stmt], nodes: list[ast.AST] | None = None) -> str | None:
    """The first call in ``body`` that writes a database (`session.commit()`, `db.add(row)`);
    ``nodes``: ``walk(body)`` when the caller has it already."""
    for node in walk(body) if nodes is None else nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in _DB_WRITES or (
                method in _DB_RECEIVER_WRITES and last_word(last_name(node.func.value)) in DB_RECEIVERS
            ):
                return ast.unparse(node.func)
    return None


def emits_telemetry(expr: ast.expr) -> bool:
    """True for ``MetricRegistry().gauge.set(n)``, ``self.request_counter.add(1)``."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    return isinstance(expr, ast.Call) and any(words(part) & _TELEMETRY_WORDS for part in dotted(expr.func))


# Span methods of OpenTelemetry/Datadog/Sentry tracing: decorating a trace must not break
# the traced code (opentelemetry-api's `Span.set_attribute`, ddtrace's `set_tag`).
_SPAN_METHODS = frozenset(
    "set_attribute set_attributes add_event set_status set_tag set_tags set_tag_str set_metric set_data "
    "set_context set_measurement update_name start_as_current_span start_span".split()
)


def decorates_trace(context: Context, body: list[ast.stmt]) -> bool:
    """True when ``body`` calls a span method (``span.set_attribute(k, v)``) or emits a metric
    and otherwise only computes values (parses, converts, builds strings)."""
    calls = [node for node in walk(body) if isinstance(node, ast.Call)]
    traced = [c for c in calls if last_name(c.func).lstrip("_") in _SPAN_METHODS or emits_telemetry(c)]
    return bool(traced) and all(c in traced or pure_call(context, c) for c in calls)


def calls_only(expr: ast.expr, methods: frozenset[str]) -> bool:
    """True for ``x.close()`` or ``await x.aclose()`` when the method is in ``methods``."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in methods


def parser(name: str) -> bool:
    """``json.loads``, ``int``, a ``parse`` method, and house wrappers such as
    ``json_loads``, ``safe_json_dumps``, ``parse_partial_json`` (not ``save_json``)."""
    return (
        name in _PARSERS
        or name.endswith(("_loads", "_dumps"))
        or "parse" in words(name)
        # `parsedate_to_datetime`, `parseaddr` (email.utils): one word that starts with parse.
        or name.lstrip("_").lower().startswith("parse")
    )


def pure_call(context: Context, call: ast.Call) -> bool:
    """A call that only parses, converts or inspects a value (or logs)."""
    func = call.func
    name = last_name(func)
    if parser(name) or name in _INSPECTORS or name in INSPECTION_CALLS:
        return True
    # ...or builds the exception that jumps to the fallback: `raise ValueError(...)`.
    if name[:1].isupper() and name.endswith(("Error", "Exception")):
        return True
    if isinstance(func, ast.Name):
        return (
            name in _BUILTINS
            and name not in _IMPURE_BUILTINS
            and context.resolve_name(name) is None
            and not context.is_local(name)
        )
    return isinstance(func, ast.Attribute) and last_name(func.value) in (*LOGGER_NAMES, "logging")
