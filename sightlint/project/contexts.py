"""Where code runs: the contexts a project function is reachable from, and how.

Every entry point of the model carries a context (``ProjectModel.entries``), and chains
carry it along the call graph's edges: a ``"call"`` edge keeps the caller's context, a
``"thread"`` edge switches to :data:`THREAD` and a ``"background"`` edge to
:data:`BACKGROUND`. So a rule can ask "is this reached from a request?" or "is this
reachable from a thread?", and get a shortest chain that shows why.

The contexts:

- :data:`REQUEST`: on the event loop, serving a request: async route handlers
  (``@app.get``, ``add_api_route``, websocket routes, exception handlers), HTTP
  middleware (``@app.middleware("http")``, ``BaseHTTPMiddleware.dispatch``, the
  ``__call__`` of classes given to ``add_middleware``) and async dependencies
  (``Depends``/``Security``, wherever written, which covers router ``dependencies=[...]``,
  ``Annotated[..., Depends(f)]`` and dependencies of dependencies), and python-socketio
  event handlers of an ``AsyncServer`` (``@sio.on(event)``, ``@sio.event``), which it
  runs on the loop whether they are async or not.
- :data:`STARTUP`: the application's lifespan, outside serving: the function given as
  ``lifespan=``, ``on_startup``/``on_shutdown`` handlers, ``@app.on_event`` and
  ``add_event_handler``. Shutdown is included: the part of a lifespan after its ``yield``
  and shutdown handlers also run while no request is served (after the server drained
  them), and telling them apart would need the ``yield``'s position in each chain.
- :data:`BACKGROUND`: a task of its own on the loop, started while serving or at start-up:
  ``asyncio.create_task``/``ensure_future``, ``TaskGroup.create_task``, anyio
  ``start_soon``, ``loop.call_soon``/``call_later`` callbacks, and
  ``BackgroundTasks.add_task`` of a coroutine function. A task that a test or a script
  starts stays in :data:`TEST` or :data:`SCRIPT`: it serves nothing.
- :data:`THREAD`: a worker thread (or process): sync route handlers and sync
  dependencies (run in the threadpool), ``asyncio.to_thread``, ``run_in_executor``,
  ``run_in_threadpool``, ``anyio.to_thread.run_sync``, ``threading.Thread(target=...)``
  and its subclasses' ``run``, executor ``submit`` and ``add_task`` of a plain function.
- :data:`SCRIPT`: a program's own start: ``asyncio.run(main())`` at module level, calls
  under ``if __name__ == "__main__":`` and click/typer commands.
- :data:`TEST`: pytest tests (``test*`` functions and ``Test*`` methods in ``test_*.py``,
  ``*_test.py`` or under a ``tests`` or ``e2e`` folder) and fixtures, and every entry point
  a test module declares (the routes, middleware and lifespan of an app built in a test
  serve only the test client).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sightlint.project.model import Edge

REQUEST = "request"
STARTUP = "startup"
BACKGROUND = "background"
THREAD = "thread"
SCRIPT = "script"
TEST = "test"
CONTEXTS: tuple[str, ...] = (REQUEST, STARTUP, BACKGROUND, THREAD, SCRIPT, TEST)
# Not an entry context: code no known entry point reaches (a route registered in a way
# sightlint does not read, library code), as rules grade it (:meth:`RunsIn.graded`).
UNKNOWN = "unknown"

# Edge kinds (``Edge.kind``) that move the callee to another context.
_SWITCH = {"thread": THREAD, "background": BACKGROUND}
_CACHE_KEY = ("where code runs",)
# Contexts whose tasks stay theirs: a task a pytest test or a script starts runs on the
# test's or script's own loop while it runs, serving nothing (BACKGROUND is a task started
# while serving or at start-up).
_OWN_LOOP = frozenset({SCRIPT, TEST})


class CallGraph(Protocol):
    """What :func:`where_code_runs` reads: a ``ProjectModel`` or the cached graph."""

    @property
    def functions(self) -> Mapping[str, Any]: ...

    @property
    def edges(self) -> Mapping[str, list[Edge]]: ...

    @property
    def entries(self) -> Mapping[str, frozenset[str]]: ...

    @property
    def cache(self) -> dict[Any, Any]: ...


class RunsIn:
    """The contexts each function of a graph is reachable from (see the module docstring)."""

    def __init__(self, graph: CallGraph) -> None:
        functions, edges = graph.functions, graph.edges
        # context -> function -> (edge into it, the context of the edge's source), or None
        # for an entry point of that context. One BFS over (function, context) states from
        # every entry at once: each state is reached first by a shortest chain.
        self._reached: dict[str, dict[str, tuple[Edge, str] | None]] = {c: {} for c in CONTEXTS}
        queue: deque[tuple[str, str]] = deque()
        for fid, contexts in graph.entries.items():
            if fid not in functions:
                continue
            for context in contexts:
                seen = self._reached.setdefault(context, {})
                if fid not in seen:
                    seen[fid] = None
                    queue.append((fid, context))
        reached, switch = self._reached, _SWITCH
        while queue:
            fid, context = queue.popleft()
            for edge in edges.get(fid, ()):
                target = edge.target
                into = switch.get(edge.kind, context)
                if into == BACKGROUND and context in _OWN_LOOP:
                    into = context  # a task a test or script starts runs in that test or script
                seen = reached[into]
                if target not in seen:
                    seen[target] = (edge, context)
                    queue.append((target, into))
        self._contexts: dict[str, frozenset[str]] = {}

    def contexts(self, fid: str) -> frozenset[str]:
        """The contexts ``fid`` runs in (empty when no known entry point reaches it)."""
        found = self._contexts.get(fid)
        if found is None:
            found = self._contexts[fid] = frozenset(c for c, seen in self._reached.items() if fid in seen)
        return found

    def graded(self, fid: str, test_code: bool, ignore: frozenset[str] = frozenset()) -> frozenset[str]:
        """The contexts a rule grades ``fid`` by (``test_code``: ``fid`` is written in test
        code, ``is_test_path``), leaving out ``ignore`` (SL101 ignores threads). Production
        code that only tests are seen to reach has real callers sightlint does not know, so it
        counts as :data:`UNKNOWN` too, not as test-only; code nothing reaches is
        :data:`UNKNOWN`, or :data:`TEST` in test code (helpers of tests whose imports the
        model cannot resolve)."""
        found = self.contexts(fid)
        if not found:
            return frozenset({TEST if test_code else UNKNOWN})
        contexts = found - ignore
        if contexts == {TEST} and not test_code:
            return frozenset({TEST, UNKNOWN})
        return contexts

    def chain(self, fid: str, context: str) -> list[Edge] | None:
        """A shortest chain of edges by which ``fid`` runs in ``context``, from an entry
        point: ``[]`` when ``fid`` is one itself, None when it does not run there. The chain
        starts at an entry of ``context`` or, when a thread or task hop brings it there,
        at an entry of the context that hop is made from."""
        seen = self._reached.get(context)
        if seen is None or fid not in seen:
            return None
        chain: list[Edge] = []
        step = seen[fid]
        while step is not None:
            edge, context = step
            chain.append(edge)
            step = self._reached[context][edge.source]
        chain.reverse()
        return chain

    def reached_from_request(self, fid: str) -> bool:
        """Whether ``fid`` runs on the event loop while serving a request."""
        return fid in self._reached[REQUEST]

    def reachable_from_thread(self, fid: str) -> bool:
        """Whether ``fid`` may run in a worker thread (or process), off the event loop."""
        return fid in self._reached[THREAD]


def where_code_runs(graph: CallGraph) -> RunsIn:
    """:class:`RunsIn` for ``graph``, computed once per graph (kept in ``graph.cache``)."""
    found = graph.cache.get(_CACHE_KEY)
    if not isinstance(found, RunsIn):
        found = graph.cache[_CACHE_KEY] = RunsIn(graph)
    return found
