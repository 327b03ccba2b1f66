from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from sightlint.models import Finding
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import Binding, BindingKind, Scope, ScopeKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_BROAD = {"Exception", "BaseException"}
_BROAD_QUALIFIED = {"builtins.Exception", "builtins.BaseException"}
# Module-level assignments from calls with these names create a logger we can reuse.
_LOGGER_FACTORIES = {"getLogger", "get_logger", "getChild"}
_PREFERRED_LOGGER_NAMES = ("logger", "log", "_logger", "_log", "LOGGER", "LOG")
# Imported objects with these names are loggers (`from app.log import logger`, loguru's
# `logger`); `log` is not among them: `from math import log`.
_IMPORTED_LOGGERS = {"logger", "_logger", "LOGGER", "_LOGGER"}
# The names the fix may give the logger it creates, in order of preference.
_NEW_LOGGER_NAMES = ("logger", "_logger", "sightlint_logger")
# Anything that can run code or leave the frame makes an expression more than a fallback value.
_ACTIVE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
# ...except calls to these builtins, which only build a fallback value: `str(persona.age)`.
_VALUE_BUILTINS = {"bool", "dict", "float", "frozenset", "int", "len", "list", "set", "str", "tuple"}


class SwallowedException(Rule):
    """
    ## What it flags
    A bare `except:` or a broad handler (`Exception`, `BaseException`, or a tuple that
    contains one) whose body only passes, continues, breaks, returns a plain value or
    assigns a fallback: nothing is called, nothing is raised and the caught exception is
    never used. Handlers for specific exceptions (`except KeyError: pass`) and
    `contextlib.suppress(...)` are deliberate and are not flagged. A handler that calls
    anything — a logger at any level, `traceback.print_exc()`, a Sentry capture, a
    rollback — or raises, or stores or returns the exception (`last_error = exc`) is not
    flagged either: a broad handler that logs without the traceback is the business of
    SL202 (broad-exception-handler), not of this rule.

    ## Why it matters
    The error disappears without a trace. In an authentication dependency, a database
    outage, a bug in token decoding and a forged token all become the same silent
    "anonymous user"; nobody is alerted and the logs hold nothing to debug with. A bare
    `except:` also swallows `KeyboardInterrupt`, `SystemExit` and `asyncio` cancellation.

    ## Fix
    Inserts `logger.exception("Ignored error in <function>")` as the first statement of
    the handler, which logs the message with the full traceback and then carries on
    exactly as before; a `pass` that becomes redundant is replaced, and comments are
    kept. The module's logger is reused when it has one (`X = logging.getLogger(...)`,
    `structlog.get_logger(...)`, or an imported `logger`) and its name still means that
    logger inside the handler: a parameter, a local of an enclosing function or anything
    else of the same name hides it. Otherwise `import logging` and
    `logger = logging.getLogger(__name__)` are added after the imports, the logger
    named by the first of `logger`, `_logger`, `sightlint_logger` that means nothing yet
    in the handler (no fix if none is free; a star import could provide any of them).
    The fix is **safe**: control flow does not change, not even for a bare `except:`
    (which still catches what it caught; narrow it by hand if it swallows
    cancellation). It is offered only inside functions, because a handler that runs at
    import time could run before the new logger exists.
    """

    meta = RuleMeta(
        code="SL201",
        name="swallowed-exception",
        severity=Severity.CRITICAL,
        summary="Broad exception handler swallows the error without logging or re-raising it.",
        audit="§6",
        fix=FixSafety.SAFE,
        fix_title="Log the error with its traceback (`logger.exception`)",
        tags=("errors",),
    )

    bad = (
        Bad(
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception:\n"
            "        # public endpoints work without a user\n"
            "        pass\n"
            "    return None\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception:\n"
            "        # public endpoints work without a user\n"
            '        logger.exception("Ignored error in get_current_user_optional")\n'
            "    return None\n",
            in_docs=True,
        ),
        Bad(
            "import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def ping(client):\n"
            "    try:\n"
            "        return client.ping()\n"
            "    except: pass  # best effort\n",
            fixed="import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def ping(client):\n"
            "    try:\n"
            "        return client.ping()\n"
            "    except:  # best effort\n"
            '        log.exception("Ignored error in ping")\n',
        ),
        Bad(
            "import structlog\n"
            "\n"
            "logger = structlog.get_logger()\n"
            "\n"
            "class Cache:\n"
            "    async def get(self, key):\n"
            "        try:\n"
            "            return await self.redis.get(key)\n"
            "        except Exception as exc:\n"
            "            return None\n",
            fixed="import structlog\n"
            "\n"
            "logger = structlog.get_logger()\n"
            "\n"
            "class Cache:\n"
            "    async def get(self, key):\n"
            "        try:\n"
            "            return await self.redis.get(key)\n"
            "        except Exception as exc:\n"
            '            logger.exception("Ignored error in Cache.get")\n'
            "            return None\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def load_all(paths):\n"
            "    for path in paths:\n"
            "        try:\n"
            "            yield parse(path)\n"
            "        except BaseException:\n"
            "            continue\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def load_all(paths):\n"
            "    for path in paths:\n"
            "        try:\n"
            "            yield parse(path)\n"
            "        except BaseException:\n"
            '            logger.exception("Ignored error in load_all")\n'
            "            continue\n",
        ),
        Bad(
            '"""Scale helpers."""\n'
            "from __future__ import annotations\n"
            "\n"
            "def midpoint(raw, low, high):\n"
            "    try:\n"
            "        return int(raw)\n"
            "    except (ValueError, Exception):\n"
            "        value = (low + high) // 2\n"
            "    return value\n",
            fixed='"""Scale helpers."""\n'
            "from __future__ import annotations\n"
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def midpoint(raw, low, high):\n"
            "    try:\n"
            "        return int(raw)\n"
            "    except (ValueError, Exception):\n"
            '        logger.exception("Ignored error in midpoint")\n'
            "        value = (low + high) // 2\n"
            "    return value\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def outer():\n"
            "    def close(conn):\n"
            "        try:\n"
            "            conn.close()\n"
            "        except Exception:\n"
            "            ...\n"
            "    return close\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def outer():\n"
            "    def close(conn):\n"
            "        try:\n"
            "            conn.close()\n"
            "        except Exception:\n"
            '            logger.exception("Ignored error in outer.close")\n'
            "    return close\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def demographics(persona):\n"
            "    try:\n"
            "        return build(persona)\n"
            "    except Exception:\n"
            "        result = {'age': str(persona.age), 'city': None}\n"
            "    return result\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def demographics(persona):\n"
            "    try:\n"
            "        return build(persona)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in demographics")\n'
            "        result = {'age': str(persona.age), 'city': None}\n"
            "    return result\n",
        ),
        Bad(
            "import os\n"
            "\n"
            "def cleanup(path):\n"
            "    try:\n"
            "        os.remove(path)\n"
            "    except Exception:\n"
            "        pass\n"
            "    try:\n"
            "        os.rmdir(os.path.dirname(path))\n"
            "    except Exception: pass\n",
            fixed="import os\n"
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def cleanup(path):\n"
            "    try:\n"
            "        os.remove(path)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in cleanup")\n'
            "    try:\n"
            "        os.rmdir(os.path.dirname(path))\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in cleanup")\n',
            count=2,
        ),
        # `log` here is the parameter, which may be None: the fix must not call it.
        Bad(
            "import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def notify(client, message, log=None):\n"
            "    try:\n"
            "        client.send(message)\n"
            "    except Exception:\n"
            "        pass\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def notify(client, message, log=None):\n"
            "    try:\n"
            "        client.send(message)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in notify")\n',
        ),
        # At import time the new logger might not exist yet: flagged, but no fix.
        Bad("try:\n    import settings_local\nexcept Exception:\n    settings_local = None\n"),
    )

    good = (
        Good(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception:\n"
            '        logger.exception("Token validation failed")\n'
            "    return None\n",
            in_docs=True,
        ),
        Good("def get(d, k):\n    try:\n        return d[k]\n    except KeyError:\n        pass\n"),
        Good("def parse(s):\n    try:\n        return int(s)\n    except (ValueError, TypeError):\n        return None\n"),
        Good("import contextlib, os\n\ndef rm(p):\n    with contextlib.suppress(Exception):\n        os.remove(p)\n"),
        Good("def f():\n    try:\n        g()\n    except Exception:\n        rollback()\n        raise\n"),
        Good(
            "from fastapi import HTTPException\n"
            "\n"
            "def check(token):\n"
            "    try:\n"
            "        return decode(token)\n"
            "    except Exception:\n"
            "        raise HTTPException(status_code=401)\n"
        ),
        Good("try:\n    import orjson\nexcept ImportError:\n    orjson = None\n"),
        Good(
            "import asyncio\n"
            "\n"
            "async def stop(task):\n"
            "    task.cancel()\n"
            "    try:\n"
            "        await task\n"
            "    except asyncio.CancelledError:\n"
            "        pass\n"
        ),
        Good("import traceback\n\ndef f():\n    try:\n        g()\n    except Exception:\n        traceback.print_exc()\n"),
        Good("def f(log):\n    try:\n        g()\n    except Exception as e:\n        log.debug(f'g failed: {e}')\n"),
        Good(
            "def retry(fn):\n"
            "    last = None\n"
            "    for _ in range(3):\n"
            "        try:\n"
            "            return fn()\n"
            "        except Exception as exc:\n"
            "            last = exc\n"
            "    raise RuntimeError('gave up') from last\n"
        ),
        # A fallback that calls our own code does something; whether that hides errors is SL202's call.
        Good("def f():\n    try:\n        return g()\n    except Exception:\n        return default_settings()\n"),
        Good("class Exception(Warning):\n    pass\n\ndef f():\n    try:\n        g()\n    except Exception:\n        pass\n"),
    )

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        caught = self._broad(node.type)
        if caught is None or not all(self._trivial(stmt, node.name) for stmt in node.body):
            return
        if node.type is None:
            message = "Bare `except:` swallows every error (even cancellation) without logging or re-raising it."
        else:
            message = f"`except {caught}:` swallows the error without logging or re-raising it."
        # The finding covers the `except ...` clause only, so `# noqa` on that line works.
        end = node.type if node.type is not None else None
        clause = ast.Pass(
            lineno=node.lineno,
            col_offset=node.col_offset,
            end_lineno=end.end_lineno if end is not None else node.lineno,
            end_col_offset=end.end_col_offset if end is not None else node.col_offset + len("except"),
        )
        self.report(clause, message, fixable=bool(self.context.function_stack))

    def _broad(self, node: ast.expr | None) -> str | None:
        """The caught type as written if it is broad (``"bare"`` for ``except:``), else None."""
        if node is None:
            return "bare"
        if isinstance(node, ast.Tuple):
            return ast.unparse(node) if any(self._broad(e) for e in node.elts) else None
        if isinstance(node, ast.Name):
            if node.id in _BROAD and self.context.resolve_name(node.id) is None and not self.context.is_local(node.id):
                return node.id
            return node.id if self.context.resolve_name(node.id) in _BROAD_QUALIFIED else None
        if isinstance(node, ast.Attribute) and self.context.qualified_name(node) in _BROAD_QUALIFIED:
            return ast.unparse(node)
        return None

    def _trivial(self, stmt: ast.stmt, name: str | None) -> bool:
        """True for a statement that neither reports, re-raises nor uses the exception."""
        if isinstance(stmt, (ast.Pass, ast.Continue, ast.Break)):
            return True
        if isinstance(stmt, ast.Expr):
            return isinstance(stmt.value, ast.Constant)
        if isinstance(stmt, ast.Return):
            return stmt.value is None or self._inert(stmt.value, name)
        if isinstance(stmt, ast.Assign):
            return all(self._inert(t, name) for t in stmt.targets) and self._inert(stmt.value, name)
        if isinstance(stmt, ast.AnnAssign):
            return self._inert(stmt.target, name) and (stmt.value is None or self._inert(stmt.value, name))
        return False

    def _inert(self, expr: ast.expr, name: str | None) -> bool:
        """True for a plain value: nothing is called and the caught exception is not used."""
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Call) and self._value_builtin(sub.func):
                continue
            if isinstance(sub, _ACTIVE):
                return False
            if name is not None and isinstance(sub, ast.Name) and sub.id == name:
                return False
        return True

    def _value_builtin(self, func: ast.expr) -> bool:
        return (
            isinstance(func, ast.Name)
            and func.id in _VALUE_BUILTINS
            and self.context.resolve_name(func.id) is None
            and not self.context.is_local(func.id)
        )

    # -- fix -------------------------------------------------------------------------

    fix_node = ("ExceptHandler", "ExceptStarHandler")

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        import libcst as cst

        if not isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return None
        line, col = finding.span.line, finding.span.col
        scope = self.context.scope_at(line, col)
        if scope.kind is not ScopeKind.FUNCTION:
            return None
        found = _logger_at(self.context, line, col)
        if found is None:
            return None
        logger, created = found
        label = _label(scope)
        call = cst.parse_statement(f'{logger}.exception("Ignored error in {label}")')
        assert isinstance(call, cst.SimpleStatementLine)
        body = node.body
        if isinstance(body, cst.SimpleStatementSuite):
            rest = [s for s in body.body if not _placeholder(s)]
            lines: list[cst.BaseStatement] = [call]
            if rest:
                rest[-1] = rest[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                lines.append(cst.SimpleStatementLine(body=rest))
            new_body: cst.BaseSuite = cst.IndentedBlock(body=lines, header=body.trailing_whitespace)
        else:
            assert isinstance(body, cst.IndentedBlock)
            first = body.body[0]
            if isinstance(first, cst.SimpleStatementLine) and all(_placeholder(s) for s in first.body):
                stmts = [first.with_changes(body=call.body), *body.body[1:]]
            else:
                stmts = [call, *body.body]
            new_body = body.with_changes(body=stmts)
        imports: tuple[tuple[str, str | None], ...] = (("logging", None),) if created else ()
        statements = ((logger, f"{logger} = logging.getLogger(__name__)"),) if created else ()
        return Fix(replacement=node.with_changes(body=new_body), imports=imports, module_statements=statements)


def _placeholder(stmt: cst.BaseSmallStatement) -> bool:
    """``pass`` or a bare ``...``: statements the new logging call makes redundant."""
    import libcst as cst

    return isinstance(stmt, cst.Pass) or (isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Ellipsis))


def _label(scope: Scope) -> str:
    """``Class.method`` / ``outer.inner``: the functions and classes around ``scope``."""
    names: list[str] = []
    current: Scope | None = scope
    while current is not None:
        if current.name:
            names.append(current.name)
        current = current.parent
    return ".".join(reversed(names))


def _logger_at(context: Context, line: int, col: int) -> tuple[str, bool] | None:
    """The module logger to call at ``line:col`` and whether the fix must create it; None
    when no name would mean a module logger there."""
    module = context.scopes.module
    found = [name for name, bindings in module.bindings.items() if all(_makes_logger(b) for b in bindings)]
    found.sort(key=lambda name: (_rank(name), module.bindings[name][0].line, module.bindings[name][0].col))
    for name in found:
        # A parameter, an enclosing function's local or a class attribute may hide it here.
        if context.binding_at(name, line, col).at_module_level:
            return name, False
    logging_module = context.module_binding("logging")
    if logging_module is not None and (logging_module.kind is not BindingKind.IMPORT or logging_module.qualified != "logging"):
        return None
    for name in _NEW_LOGGER_NAMES:
        if context.binding_at(name, line, col).kind is BindingKind.UNBOUND:
            return name, True
    return None


def _rank(name: str) -> int:
    return _PREFERRED_LOGGER_NAMES.index(name) if name in _PREFERRED_LOGGER_NAMES else len(_PREFERRED_LOGGER_NAMES)


def _makes_logger(binding: Binding) -> bool:
    """True for ``X = logging.getLogger(...)`` (or another factory) and ``from m import logger``."""
    node = binding.node
    if binding.kind is BindingKind.IMPORT:
        return isinstance(node, ast.ImportFrom) and any(
            alias.name in _IMPORTED_LOGGERS and (alias.asname or alias.name) == binding.name for alias in node.names
        )
    value = binding.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return callee in _LOGGER_FACTORIES
