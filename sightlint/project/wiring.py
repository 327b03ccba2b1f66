"""Application wiring resolved across files: what outlives a request, what runs at shutdown,
which routes an app serves and what guards them.

The collector writes :class:`~sightlint.project.summary.Wiring` facts where they are
written (a store, an app, a shutdown handler, a route...); :func:`wiring_rows` resolves
their references with the project model into plain rows a module record can carry (see
``graph.ModelNeeds.stores``), and the :class:`Graph` hands them to the rules as
:class:`WiringInfo`. Resolved values are spelled as strings: ``fn:<function id>``,
``class:<class id>``, ``inst:<class id>`` (an instance of a project class),
``ext:<dotted>`` (something outside the project, ``()`` marking a call result, as in
``ProjectModel``), or ``""`` when unknown (a decorator ``@x.name`` on an unknown ``x``:
``?.name``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sightlint.project.model import ClassValue, ExternalValue, FuncValue, InstanceValue, ProjectModel, Value
from sightlint.project.summary import AttrRef, CallRef, GlobalRef, MemberRef, ModuleSummary, Ref, SelfRef

# Decorators that make a function's result live as long as the process.
_CACHES = frozenset(("functools.lru_cache", "functools.cache", "async_lru.alru_cache", "cachetools.cached"))


class WiringInfo(NamedTuple):
    """One resolved :class:`~sightlint.project.summary.Wiring` fact.

    ``name`` as collected (for a "store" also ``<function id>()`` for a function whose
    result is cached for the process: ``@lru_cache def get_engine(): ...``, flagged
    "cached"; a store of a value a library call builds right there is flagged "made"); ``receiver`` the object the fact is about, by where it is kept
    (``module.name``, ``<function id>.<local>``, ``<class id>.<attr>``; "" unknown);
    ``target`` and ``refs`` resolved (see the module docstring; an "include"'s target
    is where the router is kept, when known); ``decorators`` a
    route's decorators, top down, resolved.
    """

    kind: str
    path: str
    name: str
    line: int
    col: int
    function: str
    receiver: str
    target: str
    refs: tuple[str, ...]
    flags: tuple[str, ...]
    decorators: tuple[str, ...]


def describe(value: Value | None) -> str:
    """A resolved value as a string (see the module docstring)."""
    if isinstance(value, ExternalValue):
        return f"ext:{value.dotted}"
    if isinstance(value, FuncValue):
        return f"fn:{value.id}"
    if isinstance(value, ClassValue):
        return f"class:{value.id}"
    if isinstance(value, InstanceValue):
        return f"inst:{value.id}"
    return ""


def location(model: ProjectModel, ref: Ref | None, depth: int = 0) -> str:
    """Where the object ``ref`` names is kept: ``module.name`` for a module global (through
    imports and re-exports), ``<class id>.<attr>`` for ``self.<attr>``; "" otherwise."""
    if ref is None or depth > 8:
        return ""
    if isinstance(ref, MemberRef):
        summary = model.modules.get(ref.module)
        if summary is None:
            return ""
        imported = summary.imports.get(ref.name)
        if imported is not None:
            return location(model, GlobalRef(imported), depth + 1)
        return f"{ref.module}.{ref.name}"
    if isinstance(ref, GlobalRef):
        module, _, name = ref.dotted.rpartition(".")
        if module in model.modules:
            return location(model, MemberRef(module, name), depth + 1)
        return ""
    if isinstance(ref, AttrRef) and isinstance(ref.of, SelfRef):
        return f"{ref.of.cls}.{ref.name}"
    return ""


def _decorator(model: ProjectModel, ref: Ref) -> str:
    """A decorator resolved; ``?.<name>`` for ``@x.name`` on something unknown."""
    found = describe(model.value(ref))
    if not found and isinstance(ref, AttrRef):
        return f"?.{ref.name}"
    return found


def wiring_rows(model: ProjectModel, summary: ModuleSummary, keep_store: Callable[[str], bool]) -> tuple[tuple[Any, ...], ...]:
    """``summary``'s wiring resolved into :class:`WiringInfo` rows without the path; "store"
    rows only for values ``keep_store`` keeps (by their resolved string)."""
    rows: list[tuple[Any, ...]] = []
    value = model.value
    for wire in summary.wiring:
        target = describe(value(wire.target))
        if wire.kind == "store" and not keep_store(target):
            continue
        receiver = wire.name if wire.kind != "store" and wire.name and wire.kind != "route" else location(model, wire.receiver)
        decorators: tuple[str, ...] = ()
        if wire.kind == "route":
            fn = summary.functions.get(wire.name)
            decorators = tuple(_decorator(model, ref) for ref in fn.decorators) if fn is not None else ()
        if wire.kind == "include":
            target = location(model, wire.target) or target  # which router, not only its type
        refs = tuple(describe(value(ref)) for ref in wire.refs)
        flags = wire.flags
        if wire.kind == "store" and isinstance(wire.target, CallRef) and isinstance(value(wire.target.of), ExternalValue):
            flags += ("made",)  # built right here by a library, not fetched from the project's code
        rows.append((wire.kind, wire.name, wire.line, wire.col, wire.function, receiver, target, refs, flags, decorators))
    for fid, fn in summary.functions.items():
        if fn.returns is None or not fn.decorators:
            continue
        if any(describe(value(ref)).removeprefix("ext:") in _CACHES for ref in fn.decorators):
            target = describe(value(fn.returns))
            if keep_store(target):
                rows.append(("store", f"{fid}()", fn.line, fn.col, fid, "", target, (), ("cached",), ()))
    return tuple(rows)
