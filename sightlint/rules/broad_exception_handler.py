from __future__ import annotations

import ast
from textwrap import dedent
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import Finding
from sightlint.project.model import is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind
from sightlint.semantics.handlers import (
    broad_caught,
    build_code,
    database_write,
    may_catch_broadly,
    dotted,
    last_name,
    must_not_raise,
    parser,
    pure_call,
    security_name,
    swallows,
    walk,
    words,
)
from sightlint.semantics.nodes import children

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_LOG_METHODS = frozenset("debug info warning warn error critical fatal exception log msg".split())
_LOG_RECEIVERS = frozenset("log logger logging loggers".split())
# Calls that record the traceback, wherever they are made from.
_TRACING_CALLS = frozenset(
    "print_exc format_exc print_exception format_exception capture_exception record_exception exception".split()
)
# Exceptions whose raising is the translation to an HTTP response (the framework renders them).
_HTTP_ERRORS = ("HTTPException", "WebSocketException", "RequestValidationError")
_RESPONSES = ("Response", "JSONResponse", "PlainTextResponse", "HTMLResponse", "ORJSONResponse", "UJSONResponse", "RedirectResponse")
_FALLBACK_WORDS = frozenset("fallback default defaults placeholder dummy unknown".split())
_SENTINELS = frozenset(("unknown", "n/a", "na", "none", "null", "?", "-", "error"))
_MAIN_NAMES = frozenset(("main", "_main", "async_main", "amain", "cli"))
_SLEEPS = frozenset(("sleep",))
# Names the fix may bind the caught exception to, in order of preference.
_EXC_NAMES = ("exc", "error", "caught_exc")


class _Shape(NamedTuple):
    """What a broad handler does with the error: the phrase for the message and its severity."""

    severity: Severity
    message: str
    fixable: bool = False


class BroadExceptionHandler(Rule):
    """
    ## What it flags
    A broad handler (`except Exception`, `except BaseException`, a bare `except:`, or a
    tuple holding one of them) that does something, yet loses the error. The message
    names the shape:

    - **converts** every error into another exception without `raise ... from`
      (`raise ValueError(f"Failed: {e}")`);
    - **returns a made-up fallback** — a value that stands in for the real result
      (`return "General population"`, `return f"Segment {age}"`, `return
      self._fallback_concepts()`, or falling through to such a `return`) — logging only
      the message (`logger.warning("failed: %s", e)`, no traceback) or nothing. A
      rendering of the values the function was given is a degraded result, not a made-up
      one: an f-string or `+` concatenation whose own text is only punctuation between
      the values (`f"{message.name or 'user'}: {message.content[0].text}"`);
    - **turns every error into a 500** (`raise HTTPException(500, detail=str(e))`)
      without logging it: FastAPI logs no `HTTPException`;
    - **carries on silently around a database write** (rolls back, logs nothing).

    The severity is **medium**, and **high** when the guarded work is a security
    decision (a call named for tokens, passwords, permissions, payment) or a database
    write (`session.commit()`) and the handler lets the caller see success: it falls
    through to a `return` of a real value (or answers `True`), in a function whose
    caller reads its result, without recording a failure state (`job.status =
    "failed"`). A high finding is reported even when the traceback is logged.

    Not flagged: handlers that re-raise (a bare `raise`, `raise exc`, `raise X(...) from
    exc`, `raise self.map_error(exc)` handing the error on); that log the traceback
    (`logger.exception(...)`, `exc_info=`, `traceback.format_exc()`,
    `capture_exception`) and degrade; that give an answer the caller can tell apart
    (`None`, `False`, `[]`, `"unknown"`, `(model_id, False)`, `{"status": "error"}`), or
    hand the error on as data (`{"error": str(e)}`); that compute the result another way
    (get-or-create, a second parser); yes/no checks answering their failure case;
    parse and lookup probes; and the boundaries where catching everything is the job:
    the translation to an HTTP response (`raise HTTPException(404, ...)`, `return
    JSONResponse(...)`), a worker loop that logs and keeps serving (the `try` is the body
    of a `while` or `async for` loop), a retry (the handler sleeps), `main()` and
    `if __name__ == "__main__":`, a package's build code (a module defining a hatchling
    build hook or a setuptools command, or calling `setup(...)`: the build frontend runs
    it, never the service), cleanup that must not raise (`close`, `__exit__`, a
    `finally:` block), optional imports, and tests. A `raise SystemExit(1)` (or click's and
    typer's `Exit`) is not a conversion: the program ends, and Python prints no traceback
    for a `SystemExit`, so `from exc` would show nothing more. A `raise` marked `# noqa: B904` is
    not reported as a conversion, nor is one that an enclosing `try` of the same
    function catches without raising on (`raise ValueError("str() failed")` landing in
    its own `except (RecursionError, ValueError):`): that is a jump, not an error the
    callers see. A handler that neither logs, re-raises nor raises is
    SL201's (`swallowed-exception`), probes included: no handler is reported by both.

    ## Why it matters
    `except Exception` also catches the bugs: an `AttributeError` from a refactor, a
    `TypeError` from a changed signature, a database outage. Converted into
    `ValueError`, an outage reaches the caller that turns `ValueError` into "400 Bad
    Request" as the user's fault, and the original exception is only the implicit
    context of the new one ("During handling of the above exception, another exception
    occurred"), not its declared cause. Returned as a made-up value, a failed LLM call
    becomes a persona named "General population" that nobody can tell from a real one,
    with one log line (`failed: 'NoneType' object is not subscriptable`) that says
    neither where nor why. A 500 whose `HTTPException` nobody logged leaves the server
    log empty: FastAPI's handler only renders it (fastapi 0.165.0,
    `fastapi/exception_handlers.py`, `http_exception_handler` returns the JSON response
    and logs nothing). Catch the exceptions the code expects (`httpx.HTTPError`,
    `SQLAlchemyError`, `OutputParserException`), log the rest with the traceback, or let
    them propagate.

    ## Fix
    For the "converts without `raise ... from`" shape, adds `from <name>` to each `raise`
    in the handler that has no cause, binding the exception (`except Exception as exc:`)
    when the handler does not name it (with the first of `exc`, `error`, `caught_exc`
    that means nothing else there; a bare `except:` becomes `except BaseException as
    exc:`, which catches the same). The new exception then carries the original as its
    `__cause__` ("The above exception was the direct cause"), and the handler raises
    the same new exception as before, so control flow does not change: the fix is
    **safe**. The other shapes need a decision (which exceptions to catch, whether to
    log the traceback or re-raise) and get no fix.

    ## See also
    ruff's `BLE001` (blind-except) and pylint's `W0718` (broad-exception-caught) flag
    every broad handler that does not re-raise, whatever it does; ruff's `B904` asks for
    `raise ... from` in every handler, broad or not. SL202 reports only the broad
    handlers that lose the error, names how, leaves the deliberate boundaries alone, and
    grades a failed write or security check that looks like success above the rest.
    """

    meta = RuleMeta(
        code="SL202",
        name="broad-exception-handler",
        severity=Severity.MEDIUM,
        summary="Broad `except Exception` in a service path hides specific failures.",
        audit="§14",
        fix=FixSafety.SAFE,
        fix_title="Chain the new exception to the caught one (`raise ... from exc`)",
        since="0.1.0",
        tags=("errors",),
    )

    bad = (
        Bad(
            dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def generate(llm, messages):
                    try:
                        return await llm.ainvoke(messages)
                    except Exception as e:
                        logger.error(f"Failed: {e}")
                        raise ValueError(f"Failed: {e}")
                """
            ),
            fixed=dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def generate(llm, messages):
                    try:
                        return await llm.ainvoke(messages)
                    except Exception as e:
                        logger.error(f"Failed: {e}")
                        raise ValueError(f"Failed: {e}") from e
                """
            ),
            in_docs=True,
        ),
        # No name bound: the fix binds one.
        Bad(
            "def load(path):\n    try:\n        return read(path)\n    except Exception:\n        raise RuntimeError('cannot load')\n",
            fixed="def load(path):\n    try:\n        return read(path)\n"
            "    except Exception as exc:\n        raise RuntimeError('cannot load') from exc\n",
        ),
        # Logs the message only, and returns a fallback.
        Bad(
            dedent(
                """\
                import logging

                log = logging.getLogger(__name__)

                def fetch_segments(client, project_id):
                    try:
                        return client.segments(project_id)
                    except Exception as e:
                        log.warning("segment fetch failed: %s", e)
                        return ["general population"]
                """
            )
        ),
        # Logs the message only, then the function returns its fallback.
        Bad(
            "def segment_name(llm, logger):\n    try:\n        return llm.invoke('name this segment').content\n"
            "    except BaseException as exc:\n        logger.error(str(exc))\n    return 'Segment'\n"
        ),
        # Text of its own around the input is still made up, and so is a fallback-named value.
        Bad("def title(doc):\n    try:\n        return summarize(doc)\n    except Exception as e:\n        log.warning('summary failed: %s', e)\n        return f'Document {doc.id}'\n"),
        Bad("def title(doc):\n    try:\n        return summarize(doc)\n    except Exception as e:\n        log.warning('summary failed: %s', e)\n        return f'{DEFAULT_TITLE}: {doc.id}'\n"),
        Bad("def title(doc):\n    try:\n        return summarize(doc)\n    except Exception as e:\n        log.warning('summary failed: %s', e)\n        return 'Untitled ' + doc.id\n"),
        # Returns a fallback without logging the error.
        Bad("def tool(query, cache):\n    try:\n        return search(query)\n    except Exception:\n        cache.invalidate(query)\n        return DEFAULT_RESULTS\n"),
        # A 500 with nothing logged: FastAPI logs no HTTPException.
        Bad(
            "from fastapi import HTTPException\n\nasync def communities(service):\n    try:\n        return await service.communities()\n"
            "    except Exception as e:\n        raise HTTPException(status_code=500, detail=str(e))\n"
        ),
        # High: a failed commit is logged (even with the traceback) and the caller sees success.
        Bad(
            dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def save_order(session, order):
                    try:
                        session.add(order)
                        await session.commit()
                    except Exception:
                        logger.exception("could not save order")
                    return {"status": "saved"}
                """
            )
        ),
        # High: a failed token check lets the request through.
        Bad(
            "def current_user(token, logger):\n    user = None\n    try:\n        user = verify_token(token)\n"
            "    except Exception as e:\n        logger.warning(f'token check failed: {e}')\n        user = guest()\n    return user\n"
        ),
        # The error vanishes: rolled back, nothing logged, the loop goes on.
        Bad(
            "def migrate(rows, session):\n    for row in rows:\n        try:\n            session.add(convert(row))\n"
            "            session.commit()\n        except:\n            session.rollback()\n"
        ),
    )

    good = (
        Good(
            dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def answer(llm, messages):
                    try:
                        reply = await llm.ainvoke(messages)
                    except Exception:
                        logger.exception("LLM call failed; using the fallback answer")
                        return FALLBACK_ANSWER
                    return reply.content
                """
            ),
            in_docs=True,
        ),
        Good("def f(session):\n    try:\n        g()\n    except Exception:\n        session.rollback()\n        raise\n"),
        # A degraded rendering of the input (letta's `groups/helpers.py`), not a made-up value.
        Good(
            dedent(
                """\
                def render(message):
                    try:
                        return "\\n".join(f"{message.name or 'user'}: {c.text}" for c in message.content)
                    except Exception:
                        if message.content:
                            return f"{message.name or 'user'}: {message.content[0].text}"
                        return None
                """
            )
        ),
        Good(
            "def label(item, log):\n    try:\n        return describe(item)\n    except Exception as e:\n"
            "        log.warning('no description: %s', e)\n        return item.title + ': ' + item.kind\n"
        ),
        Good("def f():\n    try:\n        g()\n    except Exception as e:\n        raise RuntimeError('g failed') from e\n"),
        Good(
            "def describe(value):\n    try:\n        try:\n            text = repr(value)\n        except Exception:\n"
            "            raise ValueError('repr failed')\n        return text[:100]\n    except ValueError:\n"
            "        return '<unprintable>'\n"
        ),
        # The route's translation to an HTTP response.
        Good(
            "from fastapi import HTTPException\n\nasync def get_item(item_id, logger):\n    try:\n        return await load(item_id)\n"
            "    except Exception as e:\n        logger.error(f'load failed: {e}')\n        raise HTTPException(status_code=500, detail='load failed')\n"
        ),
        # A worker loop logs and keeps serving.
        Good(
            "async def consume(queue, logger):\n    while True:\n        job = await queue.get()\n        try:\n"
            "            await handle(job)\n        except Exception as e:\n            logger.error('job failed: %s', e)\n"
        ),
        # A retry: the handler waits for the next attempt.
        Good(
            "import time\n\ndef connect(factory, logger):\n    for attempt in range(5):\n        try:\n            return factory()\n"
            "        except Exception as e:\n            logger.warning('attempt %d failed: %s', attempt, e)\n            time.sleep(2 ** attempt)\n"
        ),
        Good("import sys\n\ndef main():\n    try:\n        run()\n    except Exception as e:\n        print(f'error: {e}')\n        sys.exit(1)\n"),
        # SL201's business: the handler neither logs nor raises.
        Good("def f():\n    try:\n        return g()\n    except Exception:\n        return None\n"),
        # Cleanup that must not raise.
        Good("class Client:\n    def close(self):\n        try:\n            self.conn.close()\n        except Exception as e:\n            log.debug(e)\n"),
        Good("def f(logger):\n    try:\n        g()\n    except Exception as e:\n        logger.error('g failed', exc_info=e)\n"),
        # A degraded path the caller can tell apart: logged, then an empty answer or nothing.
        Good(
            "def cached(redis, key, logger):\n    try:\n        return redis.get(key)\n    except Exception as e:\n"
            "        logger.warning('cache read failed: %s', e)\n        return None\n"
        ),
        Good("def remember(redis, key, value, logger):\n    try:\n        redis.set(key, value)\n    except Exception as e:\n        logger.warning(f'cache write failed: {e}')\n"),
        # The error handed on as data.
        Good("def run_tool(tool, args):\n    try:\n        return tool(**args)\n    except Exception as e:\n        return {'error': str(e)}\n"),
        # Narrow handlers are fine.
        Good("def f(logger):\n    try:\n        g()\n    except (KeyError, ValueError) as e:\n        logger.error(e)\n        raise TypeError('bad') \n"),
    )

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a broad handler of a `try` (`_check`): the keyword `except`, and
        # a type `broad_caught` calls broad (see `may_catch_broadly`).
        return "except" in text and may_catch_broadly(text)

    def __init__(self, context: Context, options: Any = None) -> None:
        super().__init__(context, options)
        self._in_loop: set[ast.AST] = set()  # `try` statements that are a worker loop's body
        self._in_finally: set[ast.AST] = set()
        self._main_guard: set[ast.AST] = set()
        # Per-function and per-`try` answers, asked again for each handler of a `try` and
        # each `try` of a function (a long function has dozens).
        self._function_blocks: dict[ast.AST, list[list[ast.stmt]]] = {}
        self._security: dict[ast.AST, str | None] = {}
        self._write: dict[ast.AST, str | None] = {}
        # Each handler's and each `try`'s body nodes (``walk``), listed once: the checks read
        # them up to six times; and whether each function returns a value (`_returns_value`).
        self._walked: dict[ast.AST, list[ast.AST]] = {}
        self._returning: dict[ast.AST, bool] = {}
        # The `try` statements seen so far whose handlers catch something (last names; "*" for
        # a broad handler), outermost first: what catches a `raise` in one's body (``_jumps``,
        # rarely asked; each body is walked only then).
        self._catching: list[tuple[ast.Try, list[str]]] = []

    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
                self._main_guard.update(walk(stmt.body))

    def visit_While(self, node: ast.While) -> None:
        self._in_loop.update(s for s in node.body if isinstance(s, ast.Try))

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._in_loop.update(s for s in node.body if isinstance(s, ast.Try))

    def visit_Try(self, node: ast.Try) -> None:
        self._check(node)

    def visit_TryStar(self, node: ast.Try) -> None:
        self._check(node)

    def _nodes(self, node: ast.ExceptHandler | ast.Try) -> list[ast.AST]:
        """``walk(node.body)`` of a handler or a `try`, made once per node."""
        nodes = self._walked.get(node)
        if nodes is None:
            nodes = self._walked[node] = walk(node.body)
        return nodes

    def _check(self, node: ast.Try) -> None:
        caught_here: list[str] = []
        for handler in node.handlers:
            if any(isinstance(s, ast.Raise) for s in self._nodes(handler)):
                continue  # it raises on: what reaches it may still reach the callers
            if broad_caught(self.context, handler.type) is not None:
                caught_here.append("*")
            elif handler.type is not None:
                kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught_here += [last_name(kind) for kind in kinds]
        if caught_here:
            self._catching.append((node, caught_here))
        if node.finalbody:
            self._in_finally.update(s for s in walk(node.finalbody) if isinstance(s, ast.Try))
        for handler in node.handlers:
            last = handler.body[-1]
            if isinstance(last, ast.Raise) and last.exc is None:
                self._in_finally.update(s for s in self._nodes(handler) if isinstance(s, ast.Try))
        if is_test_path(self.context.path) or node in self._in_finally or node in self._main_guard or build_code(self.context):
            return
        function = self.context.current_function
        if getattr(function, "name", None) in _MAIN_NAMES or must_not_raise(self.context, node.body):
            return
        if all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body):
            return  # an optional dependency
        for handler in node.handlers:
            caught = broad_caught(self.context, handler.type)
            if caught is None or swallows(self.context, handler):
                continue
            shape = self._shape(node, handler)
            if shape is None:
                continue
            what = "Bare `except:`" if handler.type is None else f"`except {caught}`"
            end = handler.type
            clause = ast.Pass(
                lineno=handler.lineno,
                col_offset=handler.col_offset,
                end_lineno=end.end_lineno if end is not None else handler.lineno,
                end_col_offset=end.end_col_offset if end is not None else handler.col_offset + len("except"),
            )
            self.report(clause, f"{what} {shape.message}", severity=shape.severity, fixable=shape.fixable)

    def _shape(self, node: ast.Try, handler: ast.ExceptHandler) -> _Shape | None:
        """What ``handler`` does with the error, or None for the clean shapes."""
        name = handler.name
        raises = [s for s in _own(handler.body) if isinstance(s, ast.Raise)]
        if any(r.exc is None or r.cause is not None or _is_name(r.exc, name) for r in raises):
            return None  # re-raised, or chained
        calls = [n for n in self._nodes(handler) if isinstance(n, ast.Call)]
        traced = any(self._traces(call) for call in calls)
        logs = traced or any(self._logs(call) for call in calls)
        http = [r.exc for r in raises if _http_error(r.exc)] + self._responses(handler)
        if http:
            # The translation to an HTTP response; FastAPI logs neither an HTTPException nor
            # a response it is handed, so a 500 with nothing logged leaves no trace at all.
            if not logs and any(_server_error(e) for e in http):
                return _Shape(
                    Severity.MEDIUM,
                    "turns every error into a 500 response without logging it: FastAPI does not log an "
                    "`HTTPException`, so the server log holds nothing; log it with `logger.exception(...)` first.",
                )
            return None
        # `raise mapped` / `raise self.handle_error(e)`: the error object is handed to whatever
        # builds the new one, which can keep it (judged on letta's LLM error mappers).
        # `# noqa: B904` on the raise: the author chose not to chain (ruff's B904 asks for `from`).
        converts = [
            r.exc
            for r in raises
            if isinstance(r.exc, ast.Call)
            and not _passes(r.exc, name)
            and "B904" not in self.context.lines[r.lineno - 1]
            and not self._jumps(r)
            and not self._exits(r.exc)
        ]
        if converts:
            new = last_name(converts[0])
            return _Shape(
                Severity.MEDIUM,
                f"converts every error into `{new}` without `raise ... from`: bugs and outages alike become "
                f"`{new}`, and the original is not its cause; chain it (`from {name or 'exc'}`) or catch what you expect.",
                fixable=True,
            )
        if raises:
            return None  # raises what it was handed or built from the error
        returns = [s for s in self._nodes(handler) if isinstance(s, ast.Return)]
        if returns:
            success = any(_success_value(r.value) for r in returns)
        else:
            after = self._return_after(node)
            success = after is not None and _success_value(after.value)
        if returns and all(_bool_constant(r.value) for r in returns) and self._predicate():
            return None  # a yes/no check answers its failure case (`is_reachable() -> bool`)
        security = self._security[node] if node in self._security else self._security.setdefault(node, security_name(node.body, self._nodes(node)))
        write = self._write[node] if node in self._write else self._write.setdefault(node, database_write(node.body, self._nodes(node)))
        risky = security or write
        # Success reaches a caller only from a function that returns something (a background
        # task that returns None reports through the state it records).
        # A security fallback lets the request through when the handler falls through or
        # answers yes (`return True`); returning an earlier value is a decision we cannot read.
        if security and returns and not any(_truthy_constant(r.value) for r in returns):
            risky = write
        if risky and success and self._returns_value() and not _records_failure(handler.body):
            kind = "security decision" if security else "database write"
            logged = "logs" if logs else "records"
            return _Shape(
                Severity.HIGH,
                f"around a {kind} (`{risky}`) {logged} the failure and carries on as if it succeeded: "
                "the caller cannot tell; re-raise, or catch the specific exception and report the failure.",
            )
        if traced:
            return None
        if node in self._in_loop and not returns:
            return None  # a worker loop logs and keeps serving
        if any(last_name(call) in _SLEEPS for call in self._nodes(handler) if isinstance(call, ast.Call)):
            return None  # a retry waits for the next attempt
        if name is not None and not logs and any(isinstance(n, ast.Name) and n.id == name for n in self._nodes(handler)):
            return None  # the error is handed on as data (`errors.append(str(e))`, `{"error": str(e)}`)
        if self._probe(node):
            return None  # a parse or lookup whose failure is the answer: SL201's probes, done in more steps
        fallback = self._made_up(node, handler, returns)
        if fallback is None:
            # Logged and carried on, an empty answer (`None`, `[]`, `False`) the caller can tell
            # apart, or another way to the result (get-or-create, a second parser): judged on
            # letta, degraded paths a reviewer keeps. A write rolled back in silence is not.
            if logs or returns or write is None:
                return None
            return _Shape(
                Severity.MEDIUM,
                f"around a database write (`{write}`) carries on without logging the error: the write is lost "
                "and nothing says so; log it with `logger.exception(...)` or re-raise.",
            )
        how = "logs only the message (no traceback) and returns" if logs else "returns"
        unlogged = "" if logs else " without logging the error"
        return _Shape(
            Severity.MEDIUM,
            f"{how} a made-up fallback (`{fallback}`){unlogged}: callers cannot tell it from a real result, for "
            "bugs and outages alike; log with `logger.exception(...)` and catch the exceptions you expect.",
        )

    def _exits(self, call: ast.Call) -> bool:
        """True for `raise SystemExit(...)` (and click's and typer's `Exit`, which click's
        `main` turns into `sys.exit`): the program ends, and Python prints no traceback for
        a `SystemExit`, so `from exc` would change nothing anyone sees."""
        func = call.func
        if isinstance(func, ast.Name) and func.id == "SystemExit":
            return self.context.resolve_name("SystemExit") is None
        return self.context.qualified_name(func) in _EXIT_EXCEPTIONS

    def _jumps(self, raised: ast.Raise) -> bool:
        """True when an enclosing `try` of the same function catches what ``raised`` raises
        (`except Exception: raise ValueError("str() failed")` inside a `try` whose handler
        takes `ValueError`): the raise is a jump to that handler, not an error handed to the
        callers, and chaining it would change nothing anyone sees."""
        kind = last_name(raised.exc) if raised.exc is not None else ""
        return bool(kind) and any(c == kind or c == "*" for c in self._caught_around(raised))

    def _caught_around(self, raised: ast.Raise) -> list[str]:
        """What the handlers of the `try` statements seen so far whose body holds ``raised``
        (in the same function) catch, outermost first."""
        line = raised.lineno
        caught: list[str] = []
        for node, kinds in self._catching:
            first, last = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            if first <= line <= last and any(stmt is raised for stmt in self._nodes(node)):
                caught += kinds
        return caught

    def _made_up(self, node: ast.Try, handler: ast.ExceptHandler, returns: list[ast.Return]) -> str | None:
        """The fallback the handler hands back in place of the real result: a returned value
        that is not empty (`"Unknown"`, `self._default()`), or, when the handler falls
        through, the value the function returns after the `try` whose body returned."""
        for handler_return in returns:
            if _made_up_value(handler_return.value):
                return ast.unparse(handler_return)[:40]
        if returns or not any(isinstance(n, ast.Return) and n.value is not None for n in self._nodes(node)):
            return None
        after = self._return_after(node)
        if after is not None and _made_up_value(after.value):
            return ast.unparse(after)[:40]
        return None

    def _return_after(self, node: ast.Try) -> ast.Return | None:
        """The `return` that follows ``node`` in its block (where a handler that falls through goes)."""
        function = self.context.current_function
        if function is None or isinstance(function, ast.Lambda):
            return None
        blocks = self._function_blocks.get(function)
        if blocks is None:
            blocks = self._function_blocks[function] = _blocks(function)
        for block in blocks:
            if node in block:
                return next((s for s in block[block.index(node) + 1 :] if isinstance(s, ast.Return)), None)
        return None

    def _predicate(self) -> bool:
        """True inside a function that answers yes or no (`-> bool`, `is_...`, `has_...`)."""
        function = self.context.current_function
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        if function.returns is not None:
            return ast.unparse(function.returns).strip("'\"") == "bool"
        return function.name.lstrip("_").startswith(("is_", "has_", "can_", "should_", "check_"))

    def _probe(self, node: ast.Try) -> bool:
        """A body that only parses, converts or looks up values (`json.loads(args)["message"]`)."""
        nodes = self._nodes(node)
        if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom)) for n in nodes):
            return False
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        return bool(calls) and all(pure_call(self.context, c) for c in calls) and any(
            parser(last_name(c.func)) for c in calls
        )

    def _traces(self, call: ast.Call) -> bool:
        """True for a call that records the traceback: `logger.exception`, `exc_info=...`."""
        for keyword in call.keywords:
            if keyword.arg in ("exc_info", "exception") and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value in (False, None)
            ):
                return True
        return last_name(call) in _TRACING_CALLS

    def _logs(self, call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id == "print" and self.context.resolve_name("print") is None
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr in ("echo", "secho", "print") or (func.attr == "warn" and last_name(func.value) == "warnings"):
            return True
        receiver = dotted(func.value)
        return func.attr in _LOG_METHODS and any(words(part) & _LOG_RECEIVERS or part.lower() in _LOG_RECEIVERS for part in receiver)

    def _responses(self, handler: ast.ExceptHandler) -> list[ast.expr]:
        """The responses the handler returns (`return JSONResponse(...)`)."""
        return [
            stmt.value
            for stmt in self._nodes(handler)
            if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Call) and last_name(stmt.value).endswith(_RESPONSES)
        ]

    def _returns_value(self) -> bool:
        """True when the enclosing function returns something a caller reads."""
        function = self.context.current_function
        if function is None or isinstance(function, ast.Lambda):
            return False
        found = self._returning.get(function)
        if found is None:
            found = self._returning[function] = any(
                isinstance(n, ast.Return) and not _failure_value(n.value) for n in walk(function.body)
            )
        return found

    # -- fix -------------------------------------------------------------------------

    fix_node = ("ExceptHandler", "ExceptStarHandler")

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        import libcst as cst

        if not isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return None
        name = node.name.name.value if node.name is not None and isinstance(node.name.name, cst.Name) else None
        new_name = None
        if name is None:
            line, col = finding.span.line, finding.span.col
            new_name = next((n for n in _EXC_NAMES if self._free(n, line, col)), None)
            if new_name is None:
                return None
            name = new_name
        chained: str = name

        class _Chain(cst.CSTTransformer):
            def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
                return False

            def visit_Lambda(self, node: cst.Lambda) -> bool:
                return False

            def visit_ClassDef(self, node: cst.ClassDef) -> bool:
                return False

            def visit_ExceptHandler(self, node: cst.ExceptHandler) -> bool:
                return False  # a nested handler answers for its own exception

            def leave_Raise(self, original: cst.Raise, updated: cst.Raise) -> cst.Raise:
                exc = updated.exc
                if not isinstance(exc, cst.Call) or updated.cause is not None:
                    return updated  # `raise`, `raise built_error`, already chained
                if any(isinstance(arg.value, cst.Name) and arg.value.value == chained for arg in exc.args):
                    return updated  # `raise self.map_error(exc)`: the error is handed on
                return updated.with_changes(cause=cst.From(item=cst.Name(chained)))

        body = node.body.visit(_Chain())
        assert isinstance(body, cst.BaseSuite)
        replacement = node.with_changes(body=body)
        if new_name is not None:
            # A bare `except:` cannot bind a name; `except BaseException` catches the same.
            caught = node.type if node.type is not None else cst.Name("BaseException")
            replacement = replacement.with_changes(
                type=caught, name=cst.AsName(name=cst.Name(new_name)), whitespace_after_except=cst.SimpleWhitespace(" ")
            )
        return Fix(replacement=replacement)

    def _free(self, name: str, line: int, col: int) -> bool:
        """True when ``name`` means nothing at ``line:col`` (binding it there hides nothing)."""
        return self.context.binding_at(name, line, col).kind is BindingKind.UNBOUND


def _own(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of a handler's ``body`` that are its own: not in a nested function, nor in
    a nested handler (which answers for its own exception)."""
    # In ``ast.iter_child_nodes``' order, without the ``ctx`` markers (no caller asks for them).
    found: list[ast.AST] = []
    todo: list[ast.AST] = list(reversed(body))
    pop, extend, append, closed = todo.pop, todo.extend, found.append, _OWN_STOPS
    while todo:
        node = pop()
        append(node)
        if type(node) in closed:
            continue
        below = children(node)
        below.reverse()
        extend(below)
    return found


_OWN_STOPS = frozenset((ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ExceptHandler))


def _is_name(node: ast.expr, name: str | None) -> bool:
    return name is not None and isinstance(node, ast.Name) and node.id == name


def _http_error(node: ast.expr | None) -> bool:
    return node is not None and last_name(node).endswith(_HTTP_ERRORS)


def _server_error(node: ast.expr | None) -> bool:
    """`HTTPException(500, ...)`, `JSONResponse(status_code=status.HTTP_503_...)`."""
    if not isinstance(node, ast.Call):
        return False
    values = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "status_code")]
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and 500 <= value.value < 600:
            return True
        if isinstance(value, (ast.Attribute, ast.Name)) and last_name(value).startswith("HTTP_5"):
            return True
    return False


def _records_failure(body: list[ast.stmt]) -> bool:
    """True when the handler stores a failure state (`doc.status = "failed"`, `job.error = ...`)."""
    for node in walk(body):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and words(t.attr) & {"status", "error", "state", "failed"} for t in node.targets
        ):
            return True
    return False


def _blocks(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[list[ast.stmt]]:
    """Every statement list of ``function`` (not entering nested functions)."""
    # Statement lists hang only off statements, handlers and match cases, so the walk skips
    # expressions; a nested function's or class's own body counts, its inner blocks do not.
    found: list[list[ast.stmt]] = [function.body]
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        inner = not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                found.append(block)
                if inner:
                    todo += block
        if inner:
            todo += getattr(node, "handlers", ())
            todo += getattr(node, "cases", ())
    return found


def _made_up_value(value: ast.expr | None) -> bool:
    """A value made up to stand in for the real result: text (`"General population"`,
    `f"Segment {age}"`), `True`, a container holding such a value, or something named for
    a fallback (`fallback_name`, `self._default_concepts()`). Not: an empty or sentinel
    answer the caller can tell apart (`None`, `False`, `[]`, `"unknown"`), a number (a
    score or a sentinel: `return 10000  # high difference on error`), or the result
    computed another way from the input (`[Chunk(audio)]`, `fallback_parser.parse(text)`)."""
    if value is None or _reports_failure(value) or _failure_value(value):
        return False
    if isinstance(value, ast.Constant):
        return value.value is True or (isinstance(value.value, str) and value.value != "")
    if isinstance(value, ast.JoinedStr):
        return not _renders_values(value)
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return any(_made_up_value(e) for e in value.elts)
    if isinstance(value, ast.Dict):
        return any(_made_up_value(v) for v in value.values)
    if isinstance(value, ast.IfExp):
        return _made_up_value(value.body) or _made_up_value(value.orelse)
    if isinstance(value, ast.BinOp):
        parts = _concatenated(value)
        if isinstance(value.op, ast.Add) and any(not isinstance(part, ast.Constant) for part in parts):
            # `name + ": " + text`: the separators are no text of its own, like an f-string's.
            parts = [part for part in parts if not _separator(part)]
        return any(_made_up_value(part) for part in parts)
    if isinstance(value, ast.Call) and not all(isinstance(a, ast.Constant) for a in (*value.args, *(k.value for k in value.keywords))):
        return False
    if isinstance(value, (ast.Name, ast.Attribute, ast.Call)):
        return any(words(part) & _FALLBACK_WORDS for part in dotted(value))
    return False


def _separator(node: ast.expr) -> bool:
    """A string constant without a letter (`": "`, `"\n"`, `" - "`): punctuation between values."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and not any(c.isalpha() for c in node.value)


def _concatenated(value: ast.BinOp) -> list[ast.expr]:
    """The operands of ``a + b + c`` (left-nested), or the two of any other operator."""
    if not isinstance(value.op, ast.Add):
        return [value.left, value.right]
    left = _concatenated(value.left) if isinstance(value.left, ast.BinOp) and isinstance(value.left.op, ast.Add) else [value.left]
    return [*left, value.right]


def _renders_values(value: ast.JoinedStr) -> bool:
    """An f-string that only renders values it was given (`f"{message.name or 'user'}:
    {message.content[0].text}"`, `f"[{title}]"`): text of its own (a letter outside the
    `{...}`) or a fallback-named value (`f"{DEFAULT_LABEL}"`) makes it made up
    (`f"Segment {age}"`). A rendering of the input is a degraded result, not an invented one."""
    formatted = [part.value for part in value.values if isinstance(part, ast.FormattedValue)]
    return (
        bool(formatted)
        and all(_separator(part) for part in value.values if not isinstance(part, ast.FormattedValue))
        and not any(_made_up_value(part) for part in formatted)
    )


def _reports_failure(value: ast.expr) -> bool:
    """A value that says it is no real result: a sentinel string, or text naming an error."""
    for node in ast.walk(value):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip().lower()
            if text in _SENTINELS or words(text) & {"error", "failed", "failure", "unavailable"}:
                return True
    return False


def _truthy_constant(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Constant) and bool(value.value)


# Exceptions that end a command-line program without a traceback (click's `Command.main`:
# `except Exit as e: sys.exit(e.exit_code)` in standalone mode; typer re-exports click's `Exit`).
_EXIT_EXCEPTIONS = frozenset({"builtins.SystemExit", "click.exceptions.Exit", "click.Exit", "typer.Exit"})


def _passes(call: ast.Call, name: str | None) -> bool:
    """True when the caught exception itself is an argument of ``call`` (not just its text)."""
    if name is None:
        return False
    return any(_is_name(arg, name) for arg in (*call.args, *(k.value for k in call.keywords)))


def _failure_value(value: ast.expr | None) -> bool:
    """`return`, `return None`, `return False`, `return model_id, False`: the caller can tell it failed."""
    if isinstance(value, ast.Tuple):
        return any(_failure_value(e) for e in value.elts)
    return value is None or (isinstance(value, ast.Constant) and value.value in (None, False))


def _success_value(value: ast.expr | None) -> bool:
    """A returned value that does not say the work failed (not `None`/`False`, not
    "Incident summary not generated. An error occurred.")."""
    return not _failure_value(value) and not (value is not None and _reports_failure(value))


def _bool_constant(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Constant) and isinstance(value.value, bool)
