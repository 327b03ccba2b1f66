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
  ``Annotated[..., Depends(f)]`` and dependencies of dependencies).
- :data:`STARTUP`: the application's lifespan, outside serving: the function given as
  ``lifespan=``, ``on_startup``/``on_shutdown`` handlers, ``@app.on_event`` and
  ``add_event_handler``. Shutdown is included: the part of a lifespan after its ``yield``
  and shutdown handlers also run while no request is served (after the server drained
  them), and telling them apart would need the ``yield``'s position in each chain.
- :data:`BACKGROUND`: a task of its own on the loop, started while serving or at start-up:
  ``asyncio.create_task``/``ensure_future``, ``TaskGroup.create_task``, anyio
  ``start_soon``, ``loop.call_soon``/``call_later`` callbacks, and
  ``BackgroundTasks.add_task`` of a coroutine function.
- :data:`THREAD`: a worker thread (or process): sync route handlers and sync
  dependencies (run in the threadpool), ``asyncio.to_thread``, ``run_in_executor``,
  ``run_in_threadpool``, ``anyio.to_thread.run_sync``, ``threading.Thread(target=...)``
  and its subclasses' ``run``, executor ``submit`` and ``add_task`` of a plain function.
- :data:`SCRIPT`: a program's own start: ``asyncio.run(main())`` at module level, calls
  under ``if __name__ == "__main__":`` and click/typer commands.
- :data:`TEST`: pytest tests (``test*`` functions and ``Test*`` methods in ``test_*.py``,
  ``*_test.py`` or under a ``tests`` folder) and fixtures.
"""

from __future__ import annotations

REQUEST = "request"
STARTUP = "startup"
BACKGROUND = "background"
THREAD = "thread"
SCRIPT = "script"
TEST = "test"
CONTEXTS: tuple[str, ...] = (REQUEST, STARTUP, BACKGROUND, THREAD, SCRIPT, TEST)
