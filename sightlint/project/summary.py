"""The per-module facts the project model is built from.

A :class:`ModuleSummary` is collected during the engine's single walk of a file and
holds no ``ast`` nodes: only strings, ints and nested tuples, so it pickles small and a
cache can store it next to the file's findings. Columns count characters, as in findings
(``ast`` counts UTF-8 bytes; the collector converts).

Names that cannot be resolved inside one file are kept *symbolic* as a :data:`Ref`, a
plain tuple of fields ending with a tag (made by one function per kind, read with
:func:`tag` and field indexes) that the project model evaluates once every module is
known:

``GlobalRef("pkg.mod.name")``        a dotted name reached through an import
``MemberRef("pkg.mod", "name")``     a module-level name of this module (or a builtin)
``LocalFunctionRef("<id>")``          a nested ``def``, ``lambda`` or ``class`` (in a function or class body)
``DefRef("<id>")``                   the function a ``def`` makes, before its decorators (what they are passed)
``SelfRef("<class id>", "<method>")`` the instance inside a method (``self``)
``ClsRef("<class id>")``             the class inside a classmethod (``cls``)
``SuperRef("<class id>")``           ``super()`` inside a method of that class
``CallRef(ref)``                     the result of calling ``ref`` (an instance, for a class)
``AttrRef(ref, "name")``             an attribute of ``ref``
``OrRef(ref, ref)``                  ``a | b`` (LangChain pipes; unions are unwrapped earlier)
``DivRef(ref)``                      ``ref / something`` (``pathlib`` joins)
``TypeRef(ref)``                     an instance of the class ``ref`` (an annotation), or of a subclass
``ItemRef(ref, key)``                an item of ``ref`` (``x[k]``, ``for item in x``; ``key``: a constant ``k``)
``EnterRef(ref)``                    what ``with ref as v`` binds (and ``Depends(f)`` injects for ``ref = f()``)
``SeqRef((ref, ...), keys)``         a list, tuple, set or dict literal (its values, a dict's constant keys), a generator's yields
``AnyRef((ref, ...))``               any of several values (a name assigned more than once, a union)
``ParamRef("<fid>", "p", default)``  parameter ``p`` of function ``fid`` (unannotated): what the
                                     calls of ``fid`` written in its own module pass, and its default
``NONE_REF``                         the constant ``None``
``UNKNOWN_REF``                      a value this file does not tell (only as an ``AttrRef`` base)

Each ref ends with its tag: refs are memoisation keys, and without it ``SelfRef("C")``
and ``ClsRef("C")`` (or ``CallRef(r)`` and ``DivRef(r)``) would be equal. Refs are plain
tuples, not named tuples, so that storing a summary (the cache, the trip back from a pool
worker) pickles them in C; ``isinstance`` does not apply to them (the kind names are
functions): compare ``tag(ref)`` with ``GLOBAL``, ``MEMBER``...
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from sightlint.semantics.fastapi import FastAPIModule


# Each kind of ref, by its tag (the last item).
GLOBAL = "g"
MEMBER = "m"
LOCAL = "fn"
DEF = "def"
SELF = "self"
CLS = "cls"
SUPER = "super"
CALL = "call"
ATTR = "attr"
OR = "or"
DIV = "div"
TYPE = "type"
ITEM = "item"
ENTER = "enter"
SEQ = "seq"
ANY = "any"
PARAM = "param"
NONE_TAG = "none"
UNKNOWN_TAG = "unknown"

# A ref: a plain tuple of its fields and its tag (see the module docstring). Plain
# tuples of str, int and tuples pickle in C (a named tuple costs a Python
# ``__getnewargs__`` call per ref when a summary is stored, and one per ref made), and
# equal named tuples were equal to these tuples anyway. Read one with :func:`tag` and
# the index of a field; the constructors below say which index holds what.
Ref = tuple[Any, ...]


def tag(ref: Ref) -> str:
    """Which kind of ref ``ref`` is (``GLOBAL``, ``MEMBER``, ...)."""
    return ref[-1]  # type: ignore[no-any-return]


def GlobalRef(dotted: str) -> Ref:
    """A dotted name reached through an import: ``pkg.mod.name`` (``[0]``)."""
    return (dotted, GLOBAL)


def MemberRef(module: str, name: str) -> Ref:
    """A module-level name ``[1]`` of module ``[0]`` (or a builtin)."""
    return (module, name, MEMBER)


def LocalFunctionRef(id: str) -> Ref:
    """A nested ``def`` or ``lambda`` (or a class in a function or class body), by id ``[0]``."""
    return (id, LOCAL)


def DefRef(id: str) -> Ref:
    """The function ``def`` makes (id ``[0]``), before its decorators apply: what a decorator is passed."""
    return (id, DEF)


def SelfRef(cls: str, method: str = "") -> Ref:
    """The instance inside a method of class ``[0]`` (``self``); ``[1]``: that method's
    id (a subclass that overrides it never runs it, so its ``self`` is never one of those)."""
    return (cls, method, SELF)


def ClsRef(cls: str) -> Ref:
    """The class ``[0]`` inside one of its classmethods (``cls``)."""
    return (cls, CLS)


def SuperRef(cls: str) -> Ref:
    """``super()`` inside a method of class ``[0]``."""
    return (cls, SUPER)


def CallRef(of: Ref) -> Ref:
    """The result of calling ``[0]`` (an instance, for a class)."""
    return (of, CALL)


def AttrRef(of: Ref, name: str) -> Ref:
    """Attribute ``[1]`` of ``[0]``."""
    return (of, name, ATTR)


def OrRef(left: Ref | None, right: Ref | None) -> Ref:
    """``[0] | [1]`` (LangChain pipes); either side may be unknown (None)."""
    return (left, right, OR)


def DivRef(of: Ref) -> Ref:
    """``[0] / something`` (``pathlib`` joins)."""
    return (of, DIV)


def TypeRef(of: Ref) -> Ref:
    """An instance of the class ``[0]`` or of any subclass (from an annotation)."""
    return (of, TYPE)


def ItemRef(of: Ref, key: str | int | None = None) -> Ref:
    """An item of ``[0]``: ``of[k]`` (``[1]``: ``k`` when it is a str or int constant), or
    each ``item`` of ``for item in of``."""
    return (of, key, ITEM)


def EnterRef(of: Ref) -> Ref:
    """What ``with of as v`` binds (``[0]``: ``of``): a generator's yield
    (``@contextmanager``), what a project ``__enter__`` returns, else ``of`` itself."""
    return (of, ENTER)


def SeqRef(items: tuple[Ref, ...], keys: tuple[str | int | None, ...] = ()) -> Ref:
    """A list, tuple, set or dict literal (``[0]``: the refs of its items, a dict's
    values), or what a generator yields; ``[1]``: a dict's constant keys, one per item
    (None: not known), or empty when none is known."""
    return (items, keys, SEQ)


def AnyRef(options: tuple[Ref, ...]) -> Ref:
    """Any of ``[0]``: a name assigned more than once, a union annotation."""
    return (options, ANY)


def ParamRef(fid: str, name: str, default: Ref | None = None) -> Ref:
    """Parameter ``[1]`` of function ``[0]``, written without an annotation: any value the
    calls of the function in its own module pass for it, or ``[2]``, its default (a call
    may omit it)."""
    return (fid, name, default, PARAM)


NONE_REF: Ref = (NONE_TAG,)  # the constant ``None``
UNKNOWN_REF: Ref = (UNKNOWN_TAG,)  # a value the file does not tell (only as an ``AttrRef`` base)

# Every tag.
TAGS = frozenset(
    (GLOBAL, MEMBER, LOCAL, DEF, SELF, CLS, SUPER, CALL, ATTR, OR, DIV, TYPE, ITEM, ENTER, SEQ, ANY, PARAM, NONE_TAG, UNKNOWN_TAG)
)


def _compact(cls: type[Any]) -> type[Any]:
    """Pickle instances as ``cls(*field values)``: slotted dataclasses otherwise unpickle
    through ``dataclasses``' Python ``__setstate__`` (and ``fields()``) per object, which
    dominated loading cached summaries."""
    names = tuple(f.name for f in fields(cls))
    assert len(names) > 1  # ``attrgetter`` of several names gives a tuple
    values = attrgetter(*names)  # in C: pickling a summary makes one call per call site

    def __reduce__(self: Any) -> tuple[Any, tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,unused-ignore]
    return cls


@_compact
# Not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, which
# made building a call site (about 20 per module, in every cold run and every load of a
# cached summary) 4x slower. Treat it as immutable all the same; ``unsafe_hash`` keeps the
# hash a frozen one had.
@dataclass(slots=True, unsafe_hash=True)
class CallSite:
    """One call written in a function body (never changed once made)."""

    callee: Ref
    line: int
    col: int
    end_line: int
    end_col: int
    text: str  # how the callee reads in the source, e.g. ``driver.verify_connectivity``
    # Arguments that may be callables the callee calls back: (param position or keyword, ref).
    fn_args: tuple[tuple[int | str, Ref], ...] = ()
    # Written as ``await call(...)``: whatever the callee is read as, the call returned an
    # awaitable, so it is not a sync call that blocks (a ``session: Session`` annotation on
    # what is really an ``AsyncSession`` does not make ``await session.execute()`` blocking).
    awaited: bool = False
    # The other arguments whose values are known (position or keyword, ref), for calls that
    # may reach a function of this module: they give its unannotated parameters values
    # (``ParamRef``).
    args: tuple[tuple[int | str, Ref], ...] = ()


@_compact
@dataclass(frozen=True, slots=True)
class Handoff:
    """Work a function hands over instead of running it: ``asyncio.to_thread(f)``,
    ``asyncio.create_task(coro())``, ``tasks.add_task(f)``.

    ``kind`` is where the work runs: "thread" (a worker thread or process), "background"
    (its own task, or a callback, on the event loop) or "task" (Starlette's background
    tasks: a coroutine function runs on the loop, a plain function in the threadpool).
    ``called``: the argument was a call, ``create_task(work(x))``: ``target`` is the
    function called at ``line:col`` (which is also a :class:`CallSite`) to make the
    coroutine; otherwise ``target`` is the callable itself, handed over at ``line:col``.
    """

    kind: str
    target: Ref
    line: int
    col: int
    called: bool
    text: str  # how the API reads in the source, e.g. ``asyncio.to_thread``


@_compact
@dataclass(frozen=True, slots=True)
class EntrySite:
    """A callable a framework calls, named outside its own definition: ``FastAPI(lifespan=f)``,
    ``Depends(f)``, ``app.add_middleware(C)``, ``asyncio.run(main())`` in a script.

    ``context`` is one of ``sightlint.project.contexts.CONTEXTS``. ``how`` says what of
    ``target`` runs: "" the callable itself (a class: its ``__init__``; an instance: its
    ``__call__``), "middleware" a middleware class's ``dispatch`` or ``__call__``.
    """

    context: str
    target: Ref
    line: int
    col: int
    how: str = ""


@_compact
@dataclass(slots=True)
class FunctionSummary:
    id: str  # ``pkg.mod.Class.method``; nested: ``pkg.mod.outer.inner``; ``...<lambda@L:C>``
    name: str
    line: int
    col: int
    is_async: bool
    cls: str | None = None  # owning class id for methods
    method_kind: str = ""  # "" (plain method), "static", "class", "property"; unused for functions
    params: tuple[str, ...] = ()
    decorators: tuple[Ref, ...] = ()
    returns: Ref | None = None  # value ref of what a call returns, when known
    calls: list[CallSite] = field(default_factory=list)
    # Calls of a parameter of this function: (parameter name, line, col).
    param_calls: list[tuple[str, int, int]] = field(default_factory=list)
    # A parameter passed on as an argument of a call: (parameter name, index of the call
    # in ``calls``, position or keyword there); the callee may call it in turn.
    param_forwards: list[tuple[str, int, int | str]] = field(default_factory=list)
    # Work handed to a thread or started as a task (to_thread, create_task, add_task, ...).
    handoffs: list[Handoff] = field(default_factory=list)
    # Suspension points in the body itself (await, async for, async with).
    awaits: int = 0
    route: bool = False  # decorated as a FastAPI/Starlette endpoint
    yield_line: int = 0  # line of the body's first ``yield`` (0: none): a lifespan's shutdown follows it
    # Where credential values flow, in files that mention them (see ``project.flows``).
    flows: list[tuple[Any, ...]] = field(default_factory=list)
    # External work, its arguments and deadlines, as plain rows (``project.work_sites``).
    work: list[tuple[Any, ...]] = field(default_factory=list)


@_compact
@dataclass(slots=True)
class ClassSummary:
    id: str
    name: str
    line: int
    bases: tuple[Ref, ...] = ()
    methods: dict[str, str] = field(default_factory=dict)  # name -> function id
    attrs: dict[str, Ref] = field(default_factory=dict)  # instance/class attribute -> value ref


@_compact
@dataclass(frozen=True, slots=True)
class TimeoutSite:
    """A timeout (``wait_for``, ``async with timeout``) and the work it wraps."""

    kind: str  # "asyncio.wait_for", "asyncio.timeout", ...
    function: str  # id of the enclosing function
    line: int
    col: int
    end_line: int
    end_col: int
    # (callee ref, awaited?, line, col, text) of each call the timeout covers.
    targets: tuple[tuple[Ref, bool, int, int, str], ...] = ()


@_compact
@dataclass(frozen=True, slots=True)
class Wiring:
    """How an application is put together, where it is written: what outlives a request
    and what runs at shutdown.

    ``kind``: "store" (a value kept past the function that made it: ``name`` is
    ``module.global``, ``state.<attr>`` for ``<app>.state.<attr> = ...`` or
    ``<class id>.<attr>`` for ``self.<attr> = ...``; ``target`` the value), "call" (a
    call of library ``name`` whose keywords matter, ``flags`` the keywords given a
    non-empty value), "close" (``receiver.close()`` and the like, the method in
    ``flags``, and "ref" when the bound method is handed over uncalled, as in
    ``stack.push_async_callback(client.aclose)``; ``target`` the receiver's value; ``name``
    ``state.<attr>`` for ``<app>.state.<attr>.close()``). ``flags`` of a store: "attr" (``self.<attr>``),
    "owned" (a value a ``with`` statement of the same function opened and closes).
    Apps, routers, routes, lifespans and event handlers are the shared FastAPI model's
    (``ModuleSummary.fastapi``).
    """

    kind: str
    name: str
    line: int
    col: int
    function: str = ""  # id of the enclosing function ("" at module level)
    receiver: Ref | None = None
    target: Ref | None = None
    flags: tuple[str, ...] = ()


@_compact
@dataclass(slots=True)
class ModuleSummary:
    module: str
    path: str
    is_package: bool = False
    imports: dict[str, str] = field(default_factory=dict)  # module-level name -> dotted target
    star_imports: list[str] = field(default_factory=list)
    globals: dict[str, Ref] = field(default_factory=dict)  # module-level assignment -> value ref
    toplevel: dict[str, str] = field(default_factory=dict)  # module-level def/class name -> id
    functions: dict[str, FunctionSummary] = field(default_factory=dict)
    classes: dict[str, ClassSummary] = field(default_factory=dict)
    timeouts: list[TimeoutSite] = field(default_factory=list)
    # Callables a framework calls, named where they are registered (decorators are on
    # the functions themselves).
    entries: list[EntrySite] = field(default_factory=list)
    # Application wiring: long-lived stores, close calls, rate-limit calls (:class:`Wiring`).
    wiring: list[Wiring] = field(default_factory=list)
    # What the module says about FastAPI (``semantics.fastapi``), when it says anything.
    fastapi: FastAPIModule | None = None
    # Password fields of request models and bcrypt contexts (see ``project.flows``).
    secrets: list[tuple[Any, ...]] = field(default_factory=list)
    # The application's own error answers (``semantics.fastapi.ErrorHandler`` rows as
    # ``("handler", *fields)``) and the middleware its apps install (``("middleware", target)``).
    error_handlers: list[tuple[Any, ...]] = field(default_factory=list)
    # What the module's dependencies are read from (:func:`dependency_terms`), computed
    # once where the summary is built (a pool worker) instead of in the serial phase.
    terms: DependencyTerms | None = None


class DependencyTerms(NamedTuple):
    """The names in a summary that may lead resolution to another module.

    ``prefixes``: every dotted prefix of every name written (imports, ``pkg.mod.name``
    references, class and function ids); ``attrs``: attribute names in references
    (``pkg.sub`` may be reached as an attribute of a module value from anywhere);
    ``members``: ``module.name`` for each module member looked up; ``member_names``:
    those members' names, which matter when the module has star imports
    (``star_imports``). ``defines``, ``extends``: :func:`hierarchy_terms`.
    """

    prefixes: frozenset[str]
    attrs: frozenset[str]
    members: frozenset[str]
    member_names: frozenset[str]
    star_imports: bool
    defines: tuple[str, ...]
    extends: tuple[str, ...]


def _fastapi_names(facts: FastAPIModule) -> list[str]:
    """The dotted names FastAPI facts resolve through (apps, routers, handlers, dependencies)."""
    names: list[str] = []
    for app in facts.apps:
        names += (app.qualified, app.lifespan or "", *app.on_startup, *app.on_shutdown)
        names += (d.qualified or "" for d in app.dependencies)
    for inclusion in facts.inclusions:
        names += (inclusion.parent, inclusion.child, *(d.qualified or "" for d in inclusion.dependencies))
    for route in facts.routes:
        names += (route.owner, route.handler, *(d.qualified or "" for d in route.all_dependencies))
    names += (e.handler for e in facts.events)
    names += (m.target for m in facts.middleware)
    return [name for name in names if name]


_TARGET = attrgetter("target")
_RECEIVER = attrgetter("receiver")
_CALLEE = attrgetter("callee")
_FN_ARGS = attrgetter("fn_args")
_ARGS = attrgetter("args")


def dependency_terms(summary: ModuleSummary) -> DependencyTerms:
    """The :class:`DependencyTerms` of ``summary`` (see ``model.module_dependencies``).

    It runs for every module of a cold run, in the pool workers. A ref's terms depend
    on its value alone and the terms are a union, so the refs the summary holds are
    gathered into a set first (in C: call sites repeat callees and arguments), then
    each distinct one is walked once, iteratively, down to its strings."""
    found: set[str] = set(summary.imports.values())
    found.update(summary.star_imports)
    refs: set[Any] = set(summary.globals.values())
    refs.update(map(_TARGET, summary.entries))
    refs.update(map(_RECEIVER, summary.wiring))
    refs.update(map(_TARGET, summary.wiring))
    if summary.fastapi is not None:
        found.update(_fastapi_names(summary.fastapi))
    pairs: set[tuple[int | str, Ref]] = set()
    for fn in summary.functions.values():
        found.add(fn.id)
        refs.update(fn.decorators)
        refs.add(fn.returns)
        if fn.handoffs:
            refs.update(map(_TARGET, fn.handoffs))
        calls = fn.calls
        if calls:
            refs.update(map(_CALLEE, calls))
            pairs.update(chain.from_iterable(map(_FN_ARGS, calls)))
            pairs.update(chain.from_iterable(map(_ARGS, calls)))
    for key, ref in pairs:
        if type(key) is str:
            found.add(key)  # a keyword
        refs.add(ref)
    for cls in summary.classes.values():
        found.add(cls.id)
        refs.update(cls.bases)
        refs.update(cls.attrs.values())
    for timeout in summary.timeouts:
        found.add(timeout.function)
        for target in timeout.targets:
            refs.add(target[0])
            found.add(target[4])  # the callee's text
    refs.discard(None)
    values: list[Any] = list(refs)
    attrs: set[str] = set()
    members: set[str] = set()
    member_names: set[str] = set()
    tags: set[str] = set()
    # A ref recurs inside others too: each distinct composite one is walked once. Each
    # ref's strings are terms, and so is its tag (added once at the end).
    seen: set[Any] = set()
    pop, push, add, add_tag = values.pop, values.extend, found.add, tags.add
    while values:
        value = pop()
        kind = value[-1]
        add_tag(kind)
        if kind == GLOBAL:
            add(value[0])
        elif kind == ATTR:
            name = value[1]
            add(name)
            attrs.add(name)
            values.append(value[0])
        elif kind == MEMBER:
            if value in seen:
                continue
            seen.add(value)
            module, name = value[0], value[1]
            add(module)
            add(name)
            members.add(f"{module}.{name}")
            member_names.add(name)
        elif kind == CALL or kind == TYPE or kind == DIV or kind == ENTER:
            values.append(value[0])
        elif kind == LOCAL or kind == DEF or kind == CLS or kind == SUPER:
            add(value[0])
        else:
            if value in seen:
                continue
            seen.add(value)
            if kind == SELF:
                add(value[0])
                add(value[1])
            elif kind == PARAM:
                add(value[0])
                add(value[1])
                if value[2] is not None:
                    values.append(value[2])
            elif kind == ITEM:
                values.append(value[0])
                if type(value[1]) is str:
                    add(value[1])
            elif kind == SEQ or kind == ANY:
                push(value[0])
                if kind == SEQ:
                    found.update(key for key in value[1] if type(key) is str)
            elif kind == OR:
                push(side for side in value[:2] if side is not None)
    found |= tags
    # Every dotted prefix, longest first: a prefix already there has its own prefixes
    # there too (or is a found name, whose prefixes its own turn adds), so stop at it
    # (the ids of one module's functions and classes share most of theirs).
    prefixes: set[str] = set(found)
    has, add_prefix = prefixes.__contains__, prefixes.add
    for text in found:
        end = text.rfind(".")
        while end != -1:
            text = text[:end]
            if has(text):
                break
            add_prefix(text)
            end = text.rfind(".")
    defines, extends = hierarchy_terms(summary)
    return DependencyTerms(
        frozenset(prefixes),
        frozenset(attrs),
        frozenset(members),
        frozenset(member_names),
        bool(summary.star_imports),
        defines,
        extends,
    )


def hierarchy_terms(summary: ModuleSummary) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of the classes ``summary`` defines, and the last names of their bases.

    Class-hierarchy analysis makes a call on a base class's instance depend on every
    module that defines a subclass, which name resolution (``model.module_dependencies``) does
    not see: the incremental graph adds a dependency from each module defining a class
    named ``N`` to each module with a class whose base's last name is ``N`` (by name, so
    re-exports and aliases through modules are covered; same-named classes elsewhere only
    add dependencies)."""
    defines = sorted({cls.name for cls in summary.classes.values()})
    extends: set[str] = set()
    for cls in summary.classes.values():
        for base in cls.bases:
            name = _last_name(base)
            if name:
                extends.add(name)
    return tuple(defines), tuple(sorted(extends))


def _last_name(ref: Ref) -> str:
    """The last name a base-class ref is spelled with (``pkg.Base``, ``Base[T]``: ``Base``)."""
    for _ in range(10):
        kind = ref[-1]
        if kind == GLOBAL:
            return ref[0].rpartition(".")[2]  # type: ignore[no-any-return]
        if kind == MEMBER or kind == ATTR:
            return ref[1]  # type: ignore[no-any-return]
        if kind == ITEM:
            ref = ref[0]
            continue
        return ""
    return ""
