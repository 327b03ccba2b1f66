"""A faster ``ast.walk`` for the checks a rule or the summary collector makes inside one
node (does this expression read a name? does this call hold a ``DateTime(timezone=True)``?).

``ast.walk`` is a generator over ``ast.iter_child_nodes``, which looks up every field of
every node, identifiers and ``ctx`` included: on a cold run it was most of the summary
collector's ``visit_Assign``. :func:`subnodes` reads only the fields that may hold a node
(cached per node type) and skips the ``Load``/``Store``/``Del`` markers.
"""

from __future__ import annotations

import ast

# Fields that never hold a node (identifiers, flags); ``ctx`` holds a Load/Store/Del marker
# that only the engine's scope bookkeeping asks about.
_SCALAR_FIELDS = frozenset(
    ("id", "attr", "arg", "module", "level", "asname", "kind", "type_comment", "is_async", "conversion", "simple")
)
# Kinds with a child field that may hold something other than nodes: lists of identifiers,
# ``None`` keys of ``{**d}``, ``None`` in ``arguments.kw_defaults`` (a keyword-only parameter
# without a default), ``MatchMapping.rest`` (an identifier or None), the constant of
# ``MatchSingleton``, ``TypeIgnore``'s. Every field of every other kind (of
# :func:`child_fields`) holds a node, None or a list of nodes, so a walk takes them as they are.
MIXED_KINDS = frozenset(
    kind
    for kind in (
        getattr(ast, name, None)
        for name in ("Dict", "arguments", "Global", "Nonlocal", "MatchClass", "MatchMapping", "MatchSingleton", "TypeIgnore")
    )
    if kind is not None
)
# Per node type, the fields that may hold a node, without ``ctx`` (hot loops read it first,
# then call :func:`child_fields` for a type not seen yet); and with ``ctx``.
FIELDS: dict[type, tuple[str, ...]] = {}
_FIELDS_WITH_CTX: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type, with_ctx: bool = False) -> tuple[str, ...]:
    """The fields of ``kind`` that may hold child nodes, in ``_fields`` order (``ctx`` only
    ``with_ctx``), cached per type."""
    cache = _FIELDS_WITH_CTX if with_ctx else FIELDS
    fields = cache.get(kind)
    if fields is None:
        if kind is ast.Constant:
            fields = ()
        else:
            skip = _SCALAR_FIELDS if with_ctx else _SCALAR_FIELDS | {"ctx"}
            # ``name`` is a str everywhere except in ``type X = ...`` (3.12+).
            if kind.__name__ != "TypeAlias":
                skip = skip | {"name"}
            fields = tuple(f for f in getattr(kind, "_fields", ()) if f not in skip)
        cache[kind] = fields
    return fields


def children(node: ast.AST) -> list[ast.AST]:
    """The nodes right below ``node`` (what ``ast.iter_child_nodes`` yields, without the
    ``ctx`` markers), as a list."""
    out: list[ast.AST] = []
    kind = type(node)
    fields = FIELDS.get(kind)
    if fields is None:
        fields = child_fields(kind)
    node_base = ast.AST
    if kind in MIXED_KINDS:
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                out.extend([item for item in value if isinstance(item, node_base)])
            elif isinstance(value, node_base):
                out.append(value)
        return out
    for field in fields:
        value = getattr(node, field, None)
        if type(value) is list:
            out += value
        elif value is not None:
            out.append(value)
    return out


def subnodes(node: ast.AST) -> list[ast.AST]:
    """``node`` and every node below it (what ``ast.walk`` yields, without the ``ctx``
    markers; in depth-first rather than breadth-first order)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [node]
    pop, push, extend, append, node_base, cache = stack.pop, stack.append, stack.extend, out.append, ast.AST, FIELDS
    mixed = MIXED_KINDS
    while stack:
        current = pop()
        append(current)
        kind = type(current)
        fields = cache.get(kind)
        if fields is None:
            fields = child_fields(kind)
        if kind in mixed:
            for field in fields:
                value = getattr(current, field, None)
                if type(value) is list:
                    extend([item for item in value if isinstance(item, node_base)])
                elif isinstance(value, node_base):
                    push(value)
            continue
        for field in fields:
            value = getattr(current, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return out
