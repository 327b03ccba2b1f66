"""Application wiring resolved across files: what outlives a request, what runs at shutdown,
which routes an app serves and what guards them.

The collector writes :class:`~sightlint.project.summary.Wiring` facts where they are
written (a store, an app, a shutdown handler, a route...); :func:`wiring_rows` resolves
their references with the project model into plain rows a module record can carry (see
``graph.ModelNeeds.stores``), and the :class:`Graph` hands them to the rules as
:class:`WiringInfo`. Resolved values are spelled as strings: ``fn:<function id>``,
``class:<class id>``, ``inst:<class id>`` (an instance of a project class),
``ext:<dotted>`` (something outside the project, ``()`` marking a call result, as in
``ProjectModel``), or ``""`` when unknown. Apps, routes, lifespans and events come from
the shared FastAPI model (``semantics.fastapi``), whose dotted names they keep: an app or
router is named by where it is kept (``app.main.app``, ``app.main.create_app.app``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sightlint.project.model import ClassValue, ExternalValue, FuncValue, InstanceValue, ProjectModel, Value
from sightlint.project.summary import ATTR, CALL, GLOBAL, MEMBER, SELF, GlobalRef, MemberRef, ModuleSummary, Ref
from sightlint.semantics.fastapi import Dependency, FastAPIModule

# Decorators that make a function's result live as long as the process.
_CACHES = frozenset(("functools.lru_cache", "functools.cache", "async_lru.alru_cache", "cachetools.cached"))


class WiringInfo(NamedTuple):
    """One resolved :class:`~sightlint.project.summary.Wiring` fact.

    ``name`` as collected (for a "store" also ``<function id>()`` for a function whose
    result is cached for the process: ``@lru_cache def get_engine(): ...``, flagged
    "cached"; a store of a value a library call builds right there is flagged "made"); ``receiver`` the object the fact is about, by where it is kept
    (``module.name``, ``<function id>.<local>``, ``<class id>.<attr>``; "" unknown);
    ``target`` and ``refs`` resolved (see the module docstring and ``_fastapi_rows``);
    ``decorators`` a route's decorator stack as written, top down.
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
    kind = ref[-1]
    if kind == MEMBER:
        summary = model.modules.get(ref[0])
        if summary is None:
            return ""
        imported = summary.imports.get(ref[1])
        if imported is not None:
            return location(model, GlobalRef(imported), depth + 1)
        return f"{ref[0]}.{ref[1]}"
    if kind == GLOBAL:
        module, _, name = ref[0].rpartition(".")
        if module in model.modules:
            return location(model, MemberRef(module, name), depth + 1)
        return ""
    if kind == ATTR and ref[0][-1] == SELF:
        return f"{ref[0][0]}.{ref[1]}"
    return ""


def _resolved(model: ProjectModel, dotted: str | None) -> str:
    """A dotted name of the FastAPI model resolved (see the module docstring)."""
    return describe(model.symbol(dotted)) if dotted else ""


def _dependency(model: ProjectModel, dependency: Dependency) -> str:
    """What a ``Depends(...)`` calls; an instance built in place (``RateLimiter()``) as one."""
    found = _resolved(model, dependency.qualified)
    if dependency.target.endswith("()"):
        if found.startswith("ext:"):
            return found + "()"
        if found.startswith("class:"):
            return "inst:" + found[len("class:") :]
    return found


def _fastapi_rows(model: ProjectModel, facts: FastAPIModule) -> list[tuple[Any, ...]]:
    """The shared FastAPI model's facts as rows: apps and routers ("app": ``receiver`` the
    app, ``target`` its lifespan, ``refs`` its dependencies, ``flags`` "lifespan",
    "router"), "include" (``receiver`` the parent, ``target`` the router), "shutdown"
    handlers, "middleware" and "route" (``name`` the handler's id, ``receiver`` its app or
    router, ``refs`` its dependencies, ``decorators`` its decorator stack as text and
    ``flags`` the position of the route's decorator in it)."""
    rows: list[tuple[Any, ...]] = []
    for app in facts.apps:
        flags = (("lifespan",) if app.lifespan else ()) + (("router",) if app.kind == "router" else ())
        refs = tuple(_dependency(model, d) for d in app.dependencies)
        rows.append(("app", app.name, app.line, app.col, app.factory or "", app.qualified, _resolved(model, app.lifespan), refs, flags, ()))
    for inclusion in facts.inclusions:
        refs = tuple(_dependency(model, d) for d in inclusion.dependencies)
        rows.append(("include", "", inclusion.line, inclusion.col, "", inclusion.parent, inclusion.child, refs, (), ()))
    for event in facts.events:
        if event.event == "shutdown":
            rows.append(("shutdown", "", event.line, event.col, "", event.owner, _resolved(model, event.handler), (), (event.how,), ()))
    for middleware in facts.middleware:
        rows.append(("middleware", "", middleware.line, middleware.col, "", middleware.owner, _resolved(model, middleware.target), (), (), ()))
    for route in facts.routes:
        refs = tuple(_dependency(model, d) for d in route.all_dependencies)
        rows.append(
            ("route", route.handler, route.handler_line, route.handler_col, "", route.owner, "", refs, (str(route.route_index),), route.decorators)
        )
    return rows


def wiring_rows(model: ProjectModel, summary: ModuleSummary, keep_store: Callable[[str], bool]) -> tuple[tuple[Any, ...], ...]:
    """``summary``'s wiring and FastAPI facts resolved into :class:`WiringInfo` rows without
    the path; "store" rows only for values ``keep_store`` keeps (by their resolved string)."""
    rows: list[tuple[Any, ...]] = []
    value = model.value
    for wire in summary.wiring:
        target = describe(value(wire.target))
        if wire.kind == "store" and not keep_store(target):
            continue
        receiver = wire.name if wire.kind != "store" and wire.name else location(model, wire.receiver)
        flags = wire.flags
        if wire.kind == "store" and wire.target is not None and wire.target[-1] == CALL and isinstance(value(wire.target[0]), ExternalValue):
            flags += ("made",)  # built right here by a library, not fetched from the project's code
        rows.append((wire.kind, wire.name, wire.line, wire.col, wire.function, receiver, target, (), flags, ()))
    if summary.fastapi is not None:
        rows += _fastapi_rows(model, summary.fastapi)
    for fid, fn in summary.functions.items():
        if fn.returns is None or not fn.decorators:
            continue
        if any(describe(value(ref)).removeprefix("ext:") in _CACHES for ref in fn.decorators):
            target = describe(value(fn.returns))
            if keep_store(target):
                rows.append(("store", f"{fid}()", fn.line, fn.col, fid, "", target, (), ("cached",), ()))
    return tuple(rows)
