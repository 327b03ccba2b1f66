"""Per-function facts about external work and its deadlines, collected in the one walk.

The call graph says which functions call which and which external calls each makes; it
does not keep call arguments, what a name was bound to, or where a task is scheduled.
The deadline rules (SL401-SL403) need exactly that, so the collector records it here,
as plain rows in ``FunctionSummary.work`` (a fact the rules ask for by name). Rows of
module- and class-level code go on a function ``<module>`` of the module, made only when
there are some:

``("b", key, line, col, source)``  a binding: ``key`` (see :func:`WorkSites.key`) gets
    the value of the call at ``line:col`` (``source`` ""), another binding's value
    (``source`` a key) or a ``|`` pipe (``source`` "|" and the members' keys, comma-
    separated). ``key`` "r" is the function's return value.
``("c", line, col, receiver, method, deadline, guard)``  a method call that may be LLM
    work: ``receiver`` is the key of what it is called on (``self.client.chat.completions``
    counts as ``self.client``), ``deadline`` 1 when it is written inside an asyncio
    deadline of the same function (``wait_for(...)``, ``async with asyncio.timeout``),
    ``guard`` "param" / "!param" when it only runs while that parameter is true / false.
``("k", line, col, arguments, end_line, end_col)``  the timeout-related keyword arguments
    of the call at ``line:col`` (which may start where a call inside it does): ``(name, kind, value)`` with kind "n" (a number), "0" (None), "p" (a
    parameter of this function), "e" (another expression), "*" (``**`` of a dict: value
    is a local name or ""), "h" (``HttpOptions(timeout=...)``: value a number or "") and
    "t" (a ``True`` flag).
``("d", name, key, kind, value)``  the local dict ``name`` gets ``key`` (kinds as above;
    key "" just says the dict is built here, "*" that it gets unknown keys).
``("t", line, col, end_line, end_col, inner_line, inner_col, api, dropped, deadline)``
    work scheduled as a task (``create_task``, ``ensure_future``, ``add_task``...): the
    call making the coroutine (or handing the callable) is at ``inner_line:inner_col``;
    ``dropped`` 1 when the task's reference is not kept; ``deadline`` 1 when the work is
    wrapped in ``wait_for``.
``("f", line, col, end_line, end_col, api, deadline, names, positions)`` a fan-out
    (``gather``, ``wait``/``as_completed`` without ``timeout``, a ``TaskGroup`` block):
    its branches are the calls at ``positions`` (``line:col`` strings) and the calls
    collected into the local lists ``names``.
``("s", name, line, col)``  the call at ``line:col`` is collected into local ``name``
    (``tasks = [work(x) for x in xs]``, ``tasks.append(work(x))``).
``("x", line, col)``  the call at ``line:col`` is made under an asyncio deadline of this
    function (inside ``wait_for``'s argument or an ``async with asyncio.timeout`` block).
``("tw",)``  the function schedules its first argument as a task (a project task helper).
``("a", line, col, end_line, end_col, arg_line, arg_col)``  a call of a task-like name (``safe_create_task``)
    whose first argument is the call at ``arg_line:arg_col``.
``("pd", name, kind, value)``  the default of the timeout-related parameter ``name``.
``("sd", owner, name, value, line, col, end_line, end_col)``  a bare embedding model name
    (``"text-embedding-004"``) as the default of ``name`` in ``owner`` (a class id, "" for
    the module, a function id for a parameter); on the function ``<module>`` of the module
    unless a parameter's.
``("m", line, col, callee, alternatives)``  ``...Embeddings(model=...)`` at ``line:col``:
    what the model name may be, ``("s", value, line, col, end_line, end_col)`` a literal,
    ``("a", name)`` an attribute ``x.name`` (a settings field), ``("n", name)`` a module
    constant, ``("p", function, name)`` a parameter.
``("ar", line, col, ((keyword, key), ...))``  keyword arguments that may pass a client
    (``cls(llm=_llm)``, ``Service(client=self.client)``), with the keys of their values.
``("dl",)``  the function is decorated with a deadline (``@with_timeout(300)``,
    ``@timeout(30)``): what it runs is bounded, whoever calls it.
``("w",)``  the function loops forever (``while True``): a worker, not a job.
``("fg", name, first, last, index)``  lines ``first..last`` run only when the parameter
    ``name`` is true (``if sync:``; after ``if not sync: return``), and ``name`` defaults
    to a false constant (``sync=False``, ``None``, ``0``); ``index`` is its position in
    the signature, -1 when keyword-only. SL101: a branch no caller turns on.
``("ps", items)``  what the function's calls pass that may turn such a flag on, once per
    function: ``"=name"`` for a keyword whose value is not a false constant, ``"**"`` and
    ``"*"`` for unpacking, ``"callee:n"`` for ``n >= 2`` positional arguments to a callee
    of that last name.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from sightlint.semantics.fastapi import background_tasks_params

if TYPE_CHECKING:
    from sightlint.project.collector import SummaryCollector, _Frame
    from sightlint.project.summary import FunctionSummary

# Methods whose call may be LLM work or derive a client from another.
LLM_METHODS = frozenset(
    "ainvoke abatch astream astream_events astream_log agenerate apredict apredict_messages acall arun "
    "aembed_query aembed_documents aconvert_to_graph_documents create stream parse generate_content "
    "generate_content_async generate_content_stream embed_content acompletion aembedding atranscription "
    "atext_completion aresponses".split()
)
DERIVE_METHODS = frozenset(
    "with_structured_output bind_tools bind with_retry with_config with_fallbacks with_types pipe".split()
)
# Attributes between an SDK client and its method (``client.chat.completions.create``).
_SDK_PATH = frozenset({"chat", "completions", "messages", "embeddings", "models", "aio", "responses", "beta"})
TIMEOUT_KEYWORDS = frozenset({"timeout", "request_timeout", "default_request_timeout", "max_retries", "http_options"})
_TASK_APIS = frozenset({"create_task", "ensure_future"})
_SCHEDULERS = _TASK_APIS | {"add_task"}
_FANOUT = {"asyncio.gather": "gather", "asyncio.wait": "wait", "asyncio.as_completed": "as_completed"}
_GROUPS = frozenset({"asyncio.TaskGroup", "anyio.create_task_group"})
_WAIT_FOR = frozenset({"asyncio.wait_for", "async_timeout.wait_for"})
# Keyword arguments that may hand a client to a constructor or helper (``cls(llm=_llm)``).
_CLIENT_ARGUMENT = re.compile(r"llm|model|client|chat|embed", re.IGNORECASE)
_PASSABLE = frozenset({ast.Name, ast.Attribute, ast.Call})
_DEADLINE_DECORATOR = re.compile(r"timeout|deadline|time_limit", re.IGNORECASE)
_TASKISH = re.compile(r"task|spawn|background|fire", re.IGNORECASE)
_BINDABLE = frozenset({ast.Call, ast.BinOp, ast.Name, ast.Attribute, ast.IfExp, ast.BoolOp})
_COLLECTIONS = frozenset({ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp, ast.Call})
_COLLECT = frozenset({"append", "extend", "add", "insert"})


class WorkSites:
    """The rows of ``FunctionSummary.work``, written by the :class:`SummaryCollector`."""

    def __init__(self, collector: SummaryCollector) -> None:
        self.c = collector
        self._dropped: set[int] = set()
        self._deadlined: set[int] = set()
        self._groups: list[tuple[int, str, list[str]]] = []  # TaskGroup blocks: (node id, name, positions)
        self._guards: list[list[tuple[str, int, int]]] = []  # per function: (guard, first line, last line)
        # Per function, rows kept only if something needs them (see ``leave_function``):
        # local bindings, dicts, and calls collected into local lists.
        self._pending: list[_Pending] = []
        self._background_tasks: list[tuple[str, ...]] = []  # per function: its ``BackgroundTasks`` parameters
        self._values: list[dict[str, ast.expr]] = []  # per function: the last value of each local name
        self._module_fn: FunctionSummary | None = None
        self._flags: list[dict[str, int]] = []  # per function: parameters defaulting to a false constant -> index
        self._passes: list[set[str]] = []  # per function: the ``"ps"`` items of its calls

    # -- keys -------------------------------------------------------------------------

    def key(self, expr: ast.expr, frame: _Frame, depth: int = 0) -> str:
        """What a receiver or bound value is: "a:attr" (``self.attr``), "l:name" (a local),
        "p:name" (a parameter), "g:name" (a module global), "@line:col" (a call's result),
        "|k1,k2" (a pipe), "" (unknown)."""
        if depth > 6:
            return ""
        if isinstance(expr, ast.Await):
            return self.key(expr.value, frame, depth + 1)
        if isinstance(expr, ast.Name):
            name = expr.id
            if name in frame.fn.params:
                return f"p:{name}"
            if self._values and name in self._values[-1]:
                return f"l:{name}"
            return f"g:{name}"
        if isinstance(expr, ast.Attribute):
            base = expr.value
            if isinstance(base, ast.Name) and base.id == frame.self_name:
                return f"a:{expr.attr}"
            if expr.attr in _SDK_PATH:
                return self.key(base, frame, depth + 1)
            return ""
        if isinstance(expr, ast.Call):
            return f"@{expr.lineno}:{self.c.ctx.char_col(expr.lineno, expr.col_offset)}"
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            return "|" + ",".join(self._pipe_members(expr, frame, depth))
        return ""

    def _pipe_members(self, expr: ast.expr, frame: _Frame, depth: int) -> list[str]:
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr) and depth < 12:
            return self._pipe_members(expr.left, frame, depth + 1) + self._pipe_members(expr.right, frame, depth + 1)
        return [self.key(expr, frame, depth + 1)]

    def _pos(self, node: ast.expr) -> tuple[int, int]:
        return node.lineno, self.c.ctx.char_col(node.lineno, node.col_offset)

    # -- hooks called by the collector ---------------------------------------------------

    def enter_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, frame: _Frame) -> None:
        self._guards.append([])
        self._passes.append(set())
        flags: dict[str, int] = {}
        every = [*node.args.posonlyargs, *node.args.args]
        # A method's `self`/`cls` is not among the arguments its callers write.
        bound = bool(frame.fn.cls) and not isinstance(node, ast.Lambda) and not any(
            _last(d) == "staticmethod" for d in node.decorator_list
        )
        first = len(every) - len(node.args.defaults)
        for index, (arg, value) in enumerate(zip(every[first:], node.args.defaults)):
            if _false_constant(value):
                flags[arg.arg] = first + index - (1 if bound and every else 0)
        for arg, kw_default in zip(node.args.kwonlyargs, node.args.kw_defaults):
            if kw_default is not None and _false_constant(kw_default):
                flags[arg.arg] = -1
        self._flags.append(flags)
        self._pending.append(_Pending())
        self._background_tasks.append(
            background_tasks_params(node, self.c.ctx)
            if not isinstance(node, ast.Lambda) and any(_mentions_background_tasks(a.annotation) for a in (*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs))
            else ()
        )
        self._values.append({})
        if not isinstance(node, ast.Lambda):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if _DEADLINE_DECORATOR.search(_last(target)):
                    frame.fn.work.append(("dl",))  # ``@with_timeout(300)``: every call of it is bounded
                    break
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults: list[tuple[ast.arg, ast.expr | None]] = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
        defaults += list(zip(args.kwonlyargs, args.kw_defaults))
        for arg, default in defaults:
            if arg.arg in TIMEOUT_KEYWORDS and default is not None:
                frame.fn.work.append(("pd", arg.arg, *self._kind(default, frame)))
            if default is not None and _embedding_name(default):
                frame.fn.work.append(("sd", frame.fn.id, arg.arg, *self._literal(default)))

    def leave_function(self, frame: _Frame) -> None:
        """Keep the rows of local bindings, dicts and lists that the function's rows use."""
        self._guards.pop()
        flags = self._flags.pop()  # "fg" rows are written only for these
        passes = self._passes.pop()
        if passes:
            frame.fn.work.append(("ps", tuple(sorted(passes))))
        assigned = self._values[-1] if self._values else {}
        if flags and assigned and any(row[0] == "fg" and row[1] in assigned for row in frame.fn.work):
            # ``sync = sync or settings.sync``: the flag is not only what callers pass.
            frame.fn.work[:] = [row for row in frame.fn.work if not (row[0] == "fg" and row[1] in assigned)]
        self._background_tasks.pop()
        pending = self._pending.pop()
        work = frame.fn.work
        if pending.bindings and work and any(row[0] in ("c", "ar") or (row[0] == "b" and row[4]) for row in work):
            for key, value in pending.bindings:
                self._bind(key, value, frame)  # while this function's locals are still known
        self._values.pop()
        if not work:
            return
        if pending.dicts:
            spread = {arg[2] for row in work if row[0] == "k" for arg in row[3] if arg[1] == "*" and arg[2]}
            work.extend(row for row in pending.dicts if row[1] in spread)
        gathered = {name for row in work if row[0] == "f" for name in row[7]} if pending.lists else None
        if gathered:
            for name, value in pending.lists:
                if name in gathered:
                    for node in ast.walk(value):
                        if isinstance(node, ast.Call):
                            work.append(("s", name, *self._pos(node)))

    def expr_statement(self, node: ast.Expr) -> None:
        self._dropped.add(id(node.value))

    def while_loop(self, node: ast.While, frame: _Frame) -> None:
        """``while True:`` / ``while self._running:`` around awaits: a worker or poller."""
        if ("w",) in frame.fn.work:
            return
        test = node.test.operand if isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not) else node.test
        forever = isinstance(test, ast.Constant) and bool(test.value)
        flag = isinstance(test, (ast.Name, ast.Attribute)) or (
            isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr in ("is_set", "done", "is_closed")
        )
        if forever or (flag and any(isinstance(n, ast.Await) for stmt in node.body for n in ast.walk(stmt))):
            frame.fn.work.append(("w",))

    def if_statement(self, node: ast.If, frame: _Frame, end_line: int) -> None:
        """Record the parameter guards of ``if flag:`` / ``if not flag:`` branches."""
        test, negated = node.test, False
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test, negated = test.operand, True
        if not isinstance(test, ast.Name) or test.id not in frame.fn.params or not self._guards:
            return
        name = test.id
        guards = self._guards[-1]
        before = len(guards)
        body_last = node.body[-1]
        guards.append((("!" if negated else "") + name, node.body[0].lineno, body_last.end_lineno or body_last.lineno))
        other = ("" if negated else "!") + name
        if node.orelse:
            guards.append((other, node.orelse[0].lineno, node.orelse[-1].end_lineno or node.orelse[-1].lineno))
        elif isinstance(body_last, (ast.Return, ast.Raise)) and node.end_lineno is not None:
            guards.append((other, node.end_lineno + 1, end_line))  # after an early return
        index = self._flags[-1].get(name) if self._flags else None
        if index is not None:
            for guard, first, last in guards[before:]:
                if guard == name:  # runs only when the flag is on
                    frame.fn.work.append(("fg", name, first, last, index))

    def _guard(self, line: int) -> str:
        best = ""
        span = 1 << 30
        for guard, first, last in self._guards[-1] if self._guards else ():
            if first <= line <= last and last - first < span:
                best, span = guard, last - first
        return best

    def assign(self, targets: list[ast.expr], value: ast.expr | None, frame: _Frame) -> None:
        if value is None:
            return
        inner = value.value if isinstance(value, ast.Await) else value
        kind = type(inner)
        values = self._values[-1] if self._values else None
        bindable = kind in _BINDABLE
        cancelled = self._pending[-1].cancelled if self._pending else None
        for target in targets:
            target_kind = type(target)
            if cancelled:
                for bound in (target.elts if isinstance(target, ast.Tuple) else (target,)):
                    if isinstance(bound, ast.Name):
                        cancelled.pop(bound.id, None)  # new tasks under the name
            if target_kind is ast.Name:
                name = target.id  # type: ignore[attr-defined]
                if values is not None:
                    values[name] = inner
                if bindable:
                    if self._pending:
                        self._pending[-1].bindings.append((f"l:{name}", inner))
                    if name in self.c.summary.globals:  # a ``global`` set here, or a local shadowing one
                        self._bind(f"g:{name}", inner, frame)
                if kind is ast.Dict or kind is ast.Call:
                    self._dict(name, inner, frame)
                if kind in _COLLECTIONS:
                    self._collect(name, inner, frame)
            elif bindable and target_kind is ast.Attribute:
                base = target.value  # type: ignore[attr-defined]
                if type(base) is ast.Name and base.id == frame.self_name:
                    self._bind(f"a:{target.attr}", inner, frame)  # type: ignore[attr-defined]

    def aug_assign(self, node: ast.AugAssign, frame: _Frame) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            self._collect(node.target.id, node.value, frame)

    def returns(self, value: ast.expr, frame: _Frame) -> None:
        self._bind("r", value.value if isinstance(value, ast.Await) else value, frame)

    def _bind(self, key: str, value: ast.expr, frame: _Frame) -> None:
        if isinstance(value, (ast.IfExp, ast.BoolOp)):
            for part in (value.body, value.orelse) if isinstance(value, ast.IfExp) else value.values:
                self._bind(key, part, frame)
            return
        source = "" if isinstance(value, ast.Call) else self.key(value, frame)
        if not source and not isinstance(value, ast.Call):
            return
        line, col = self._pos(value)
        frame.fn.work.append(("b", key, line, col, source))

    def _dict(self, name: str, value: ast.expr, frame: _Frame) -> None:
        """``params = {...}`` / ``dict(...)``: the dict's timeout keys."""
        if not self._pending:
            return
        rows = self._pending[-1].dicts
        if isinstance(value, ast.Dict):
            rows.append(("d", name, "", "", ""))
            for k, v in zip(value.keys, value.values):
                if k is None:
                    rows.append(("d", name, "*", "", ""))
                elif isinstance(k, ast.Constant) and k.value in TIMEOUT_KEYWORDS:
                    rows.append(("d", name, k.value, *self._kind(v, frame)))
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict" and not value.args:
            rows.append(("d", name, "", "", ""))
            for keyword in value.keywords:
                if keyword.arg is None:
                    rows.append(("d", name, "*", "", ""))
                elif keyword.arg in TIMEOUT_KEYWORDS:
                    rows.append(("d", name, keyword.arg, *self._kind(keyword.value, frame)))

    def subscript_assign(self, target: ast.Subscript, value: ast.expr, frame: _Frame) -> None:
        """``params["timeout"] = timeout``."""
        if isinstance(target.value, ast.Name) and isinstance(target.slice, ast.Constant) and self._pending:
            key = target.slice.value
            if key in TIMEOUT_KEYWORDS:
                self._pending[-1].dicts.append(("d", target.value.id, key, *self._kind(value, frame)))

    def dict_update(self, node: ast.Call, frame: _Frame) -> None:
        """``params.update(extra)``: the dict gets keys sightlint cannot see."""
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "update" and isinstance(func.value, ast.Name) and self._pending:
            self._pending[-1].dicts.append(("d", func.value.id, "*", "", ""))

    def _kind(self, value: ast.expr, frame: _Frame | None) -> tuple[str, Any]:
        if isinstance(value, ast.Constant):
            if value.value is None:
                return "0", ""
            if value.value is True:
                return "t", ""
            if isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
                return "n", float(value.value)
            return "e", ""
        if isinstance(value, ast.Name) and frame is not None and value.id in frame.fn.params:
            return "p", value.id
        if isinstance(value, ast.Call) and _last(value.func) == "HttpOptions":
            for keyword in value.keywords:
                if keyword.arg == "timeout":
                    kind, number = self._kind(keyword.value, frame)
                    return "h", number if kind == "n" else ""
            return "h", None
        if isinstance(value, ast.BinOp) or isinstance(value, ast.UnaryOp):
            return "e", ""
        return "e", ""

    def _collect(self, name: str, value: ast.expr, frame: _Frame) -> None:
        """Calls written in ``value`` are gathered into the local list ``name``."""
        if self._pending and self._pending[-1].cancelled:
            self._pending[-1].cancelled.pop(name, None)  # new tasks in the list
        if not isinstance(value, (ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp, ast.Call)):
            return
        if isinstance(value, ast.Call) and _last(value.func) not in ("list", "tuple", "create_task", "ensure_future"):
            return
        if self._pending:
            self._pending[-1].lists.append((name, value))  # walked at the function's end if gathered

    def call(self, node: ast.Call, frame: _Frame, qualified: str | None) -> None:
        # Runs for every call of every function: cheap tests first, rows only when needed.
        func = node.func
        kind = type(func)
        last = func.attr if kind is ast.Attribute else (func.id if kind is ast.Name else "")  # type: ignore[attr-defined]
        if self._passes and (node.keywords or len(node.args) > 1):
            self._passed(node, last)
        if qualified in _WAIT_FOR and node.args:
            # Everything the awaited work calls while it is made: ``wait_for(gather(*(f(x) ...)))``.
            self._deadlined.update(id(n) for n in ast.walk(node.args[0]) if isinstance(n, ast.Call))
        position: tuple[int, int] | None = None
        if node.keywords:
            passed = [
                (keyword.arg, self.key(keyword.value, frame))
                for keyword in node.keywords
                if keyword.arg and type(keyword.value) in _PASSABLE and _CLIENT_ARGUMENT.search(keyword.arg)
            ]
            if passed:
                line, col = self._pos(node)
                frame.fn.work.append(("ar", line, col, tuple(p for p in passed if p[1])))
            arguments = []
            for keyword in node.keywords:
                name, value = keyword.arg, keyword.value
                if name is None:
                    arguments.append(("**", "*", value.id if isinstance(value, ast.Name) else ""))
                elif name in TIMEOUT_KEYWORDS:
                    arguments.append((name, *self._kind(value, frame)))
                elif type(value) is ast.Constant and value.value is True:
                    arguments.append((name, "t", ""))
            if arguments:
                line, col, end_line, end_col = self.c._range(node)
                position = line, col
                frame.fn.work.append(("k", line, col, tuple(arguments), end_line, end_col))
            if last.endswith("Embeddings"):
                self._model_name(node, qualified, frame)
        bodies = self.c._bodies
        deadline = 1 if id(node) in self._deadlined or (bodies and bodies[-1].frame is frame) else 0
        if deadline:
            position = position or self._pos(node)
            frame.fn.work.append(("x", *position))
        if kind is ast.Attribute:
            if last in LLM_METHODS or last in DERIVE_METHODS:
                line, col = position or self._pos(node)
                frame.fn.work.append(("c", line, col, self.key(func.value, frame), last, deadline, self._guard(line)))  # type: ignore[attr-defined]
            elif last in _COLLECT and node.args and isinstance(func.value, ast.Name):  # type: ignore[attr-defined]
                self._collect(func.value.id, ast.List(elts=list(node.args)), frame)  # type: ignore[attr-defined]
            elif last == "update":
                self.dict_update(node, frame)
            elif last == "cancel" and isinstance(func.value, ast.Name) and id(node) in self._dropped and self._pending:  # type: ignore[attr-defined]
                self._pending[-1].cancelled[func.value.id] = (node.col_offset, node.end_lineno or node.lineno)  # type: ignore[attr-defined]
        elif qualified is not None and qualified.startswith("litellm."):
            line, col = position or self._pos(node)
            frame.fn.work.append(("c", line, col, "", qualified.rsplit(".", 1)[-1], deadline, self._guard(line)))
        if last in _SCHEDULERS:
            self._task(node, frame, qualified, deadline)
        if node.args and type(node.args[0]) is ast.Call and _TASKISH.search(last):
            line, col, end_line, end_col = self.c._range(node)
            arg_line, arg_col = self._pos(node.args[0])
            frame.fn.work.append(("a", line, col, end_line, end_col, arg_line, arg_col))
        if qualified in _FANOUT:
            self._fanout(node, frame, qualified, deadline)

    def _passed(self, node: ast.Call, last: str) -> None:
        """Note what this call may pass to a flag parameter (the ``"ps"`` row)."""
        passes = self._passes[-1]
        for keyword in node.keywords:
            if keyword.arg is None:
                passes.add("**")
            elif not _false_constant(keyword.value):
                passes.add("=" + keyword.arg)
        if ast.Starred in map(type, node.args):
            passes.add("*")
        elif len(node.args) > 1:
            passes.add(f"{last}:{len(node.args)}")

    def _in_deadline(self, node: ast.Call, frame: _Frame) -> bool:
        bodies = self.c._bodies
        return id(node) in self._deadlined or bool(bodies and bodies[-1].frame is frame)

    def _task(self, node: ast.Call, frame: _Frame, qualified: str | None, deadline: int) -> None:
        func = node.func
        name = qualified.rsplit(".", 1)[-1] if qualified else (func.attr if isinstance(func, ast.Attribute) else "")
        if name == "add_task" and isinstance(func, ast.Attribute) and node.args:
            inner: ast.expr = node
            dropped = 0
            tasks = self._background_tasks[-1] if self._background_tasks else ()
            if not (isinstance(func.value, ast.Name) and func.value.id in tasks):
                return  # not a route's ``BackgroundTasks`` (a queue's or a scheduler's own ``add_task``)
        elif name in _TASK_APIS and node.args:
            inner = node.args[0]
            wrapped = inner.func if isinstance(inner, ast.Call) else inner
            if isinstance(wrapped, ast.Name) and (wrapped.id in frame.fn.params or wrapped.id in frame.nested):
                # A task helper of the project: ``create_task(coro)`` of its parameter, or of a
                # nested function that awaits it (``safe_create_task(coro, label)``).
                if ("tw",) not in frame.fn.work:
                    frame.fn.work.append(("tw",))
                if wrapped.id in frame.fn.params:
                    return
            group = isinstance(func, ast.Attribute) and self._is_group(func.value)
            dropped = 1 if id(node) in self._dropped and not group and not self._ruf006_accepted(node) else 0
            if group and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                for _, block_name, positions in self._groups:
                    if func.value.id == block_name:
                        positions.append("%d:%d" % self._pos(inner))
            if isinstance(inner, ast.Call) and self.c.ctx.qualified_name(inner.func) in _WAIT_FOR and inner.args:
                deadline, inner = 1, inner.args[0]
            if not isinstance(inner, ast.Call) and not dropped:
                return
        else:
            return
        line, col, end_line, end_col = self.c._range(node)
        inner_line, inner_col = self._pos(inner)
        text = func.attr if isinstance(func, ast.Attribute) else (qualified or "")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            text = f"{func.value.id}.{func.attr}"
        frame.fn.work.append(("t", line, col, end_line, end_col, inner_line, inner_col, text, dropped, deadline))

    def _ruf006_accepted(self, node: ast.Call) -> bool:
        """``# noqa: RUF006`` on the call's lines: the project chose to drop this task."""
        lines = self.c.ctx.lines
        for number in range(node.lineno, min((node.end_lineno or node.lineno), node.lineno + 5) + 1):
            if 0 < number <= len(lines) and "RUF006" in lines[number - 1] and "noqa" in lines[number - 1]:
                return True
        return False

    def _is_group(self, receiver: ast.expr) -> bool:
        if not isinstance(receiver, ast.Name):
            return False
        return any(name == receiver.id for _, name, _ in self._groups)

    def for_loop(self, node: ast.For) -> None:
        """``for t in tasks: ... t.cancel()``: the tasks in ``tasks`` are being cancelled."""
        target, things = node.target, node.iter
        if not isinstance(target, ast.Name) or not isinstance(things, ast.Name) or not self._pending:
            return
        for statement in node.body:
            for inner in ast.walk(statement):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute)
                    and inner.func.attr == "cancel"
                    and isinstance(inner.func.value, ast.Name)
                    and inner.func.value.id == target.id
                ):
                    self._pending[-1].cancelled[things.id] = (node.col_offset, node.end_lineno or node.lineno)
                    return

    def _drains_cancelled(self, node: ast.Call, names: list[str]) -> bool:
        """The fan-out only awaits tasks its block has just cancelled (``for t in tasks:
        t.cancel()`` then ``await asyncio.gather(*tasks, return_exceptions=True)``): it waits
        for the cancellations, not for work. The cancelling statement must sit in the same
        block, before the fan-out's statement, with no way out of the block between them."""
        cancelled = self._pending[-1].cancelled if self._pending else None
        if not cancelled or not names or any(name not in cancelled for name in names):
            return False
        lines = self.c.ctx.lines
        for name in names:
            column, last = cancelled[name]
            if not last < node.lineno <= len(lines) or _indent(lines[node.lineno - 1]) != column:
                return False
            for number in range(last + 1, node.lineno):
                text = lines[number - 1]
                if text.strip() and not text.lstrip().startswith("#") and _indent(text) < column:
                    return False  # the block ended in between
        return True

    def _fanout(self, node: ast.Call, frame: _Frame, qualified: str | None, deadline: int) -> None:
        api = _FANOUT.get(qualified or "")
        if api is None:
            return
        if api != "gather" and any(kw.arg == "timeout" for kw in node.keywords):
            return
        names: list[str] = []
        positions: list[str] = []
        for arg in node.args:
            value = arg.value if isinstance(arg, ast.Starred) else arg
            if isinstance(value, ast.Name):
                names.append(value.id)
            for inner in ast.walk(value):
                if isinstance(inner, ast.Call):
                    positions.append("%d:%d" % self._pos(inner))
        if not positions and self._drains_cancelled(node, names):
            return
        line, col, end_line, end_col = self.c._range(node)
        frame.fn.work.append(("f", line, col, end_line, end_col, api, deadline, tuple(names), tuple(positions)))

    def open_group(self, node: ast.AsyncWith, frame: _Frame) -> None:
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and self.c.ctx.qualified_name(expr.func) in _GROUPS and isinstance(item.optional_vars, ast.Name):
                self._groups.append((id(node), item.optional_vars.id, []))

    def close_group(self, node: ast.AsyncWith, frame: _Frame) -> None:
        while self._groups and self._groups[-1][0] == id(node):
            _, name, positions = self._groups.pop()
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call):
                    line, col, end_line, end_col = self.c._range(expr)
                    bodies = self.c._bodies
                    deadline = 1 if any(b.frame is frame and b.node_id != id(node) for b in bodies) else 0
                    frame.fn.work.append(("f", line, col, end_line, end_col, "TaskGroup", deadline, (), tuple(positions)))
                    break


    # -- module and class level -------------------------------------------------------------

    def _module_rows(self) -> list[tuple[Any, ...]]:
        """The rows of module- and class-level code, kept on a function ``<module>`` of the
        module (made only when there is something to keep)."""
        if self._module_fn is None:
            from sightlint.project.summary import FunctionSummary

            summary = self.c.summary
            fid = f"{summary.module}.<module>"
            found = summary.functions.get(fid)  # the call graph's module-level caller may exist already
            if found is None:
                found = summary.functions[fid] = FunctionSummary(id=fid, name="<module>", line=0, col=0, is_async=False)
            self._module_fn = found
        return self._module_fn.work

    def outside_function(self, targets: list[ast.expr], value: ast.expr | None, owner: str) -> None:
        """A module or class body assignment: embedding model names and module-level clients."""
        if value is None:
            return
        if isinstance(value, ast.Call) and _last(value.func) == "Field":  # pydantic ``Field(default=...)``
            default = next((kw.value for kw in value.keywords if kw.arg == "default"), value.args[0] if value.args else None)
            if default is not None and _embedding_name(default):
                value = default
        if _embedding_name(value):
            for target in targets:
                if isinstance(target, ast.Name):
                    self._module_rows().append(("sd", owner, target.id, *self._literal(value)))
        elif isinstance(value, ast.Call) and not owner:
            for target in targets:
                if isinstance(target, ast.Name):
                    line, col = self._pos(value)
                    self._module_rows().append(("b", f"g:{target.id}", line, col, ""))

    def module_call(self, node: ast.Call, qualified: str | None) -> None:
        """A call at module level: its timeout keywords and ``model=``."""
        keywords = [kw for kw in node.keywords if kw.arg is None or kw.arg in TIMEOUT_KEYWORDS]
        if keywords:
            arguments = []
            for keyword in keywords:
                if keyword.arg is None:
                    arguments.append(("**", "*", ""))
                else:
                    arguments.append((keyword.arg, *self._kind(keyword.value, None)))
            line, col, end_line, end_col = self.c._range(node)
            self._module_rows().append(("k", line, col, tuple(arguments), end_line, end_col))
        self._model_name(node, qualified, None)

    def _model_name(self, node: ast.Call, qualified: str | None, frame: _Frame | None) -> None:
        """``...Embeddings(model=...)``: the names the model may be (SL404)."""
        if not _last(node.func).endswith("Embeddings"):
            return
        for keyword in node.keywords:
            if keyword.arg == "model":
                found = tuple(self._alternatives(keyword.value, frame, 0))
                if found:
                    line, col = self._pos(node)
                    rows = frame.fn.work if frame is not None else self._module_rows()
                    rows.append(("m", line, col, qualified or _last(node.func), found))

    def _alternatives(self, expr: ast.expr, frame: _Frame | None, depth: int) -> list[tuple[Any, ...]]:
        if depth > 4:
            return []
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [("s", *self._literal(expr))]
        if isinstance(expr, ast.BoolOp):
            return [alt for value in expr.values for alt in self._alternatives(value, frame, depth + 1)]
        if isinstance(expr, ast.IfExp):
            return self._alternatives(expr.body, frame, depth + 1) + self._alternatives(expr.orelse, frame, depth + 1)
        if isinstance(expr, ast.Attribute):
            return [("a", expr.attr)]
        if isinstance(expr, ast.Name):
            if frame is not None and expr.id in frame.fn.params:
                return [("p", frame.fn.id, expr.id)]
            local = self._values[-1].get(expr.id) if frame is not None and self._values else None
            if local is not None:
                return self._alternatives(local, frame, depth + 1)
            return [("n", expr.id)]
        return []  # built at run time (an f-string, a concatenation): not known here

    def _literal(self, node: ast.expr) -> tuple[Any, ...]:
        line, col, end_line, end_col = self.c._range(node)
        value = node.value if isinstance(node, ast.Constant) else ""
        return (value, line, col, end_line, end_col)


def _false_constant(node: ast.expr) -> bool:
    """``False``, ``None``, ``0``, ``""``: a default that leaves an ``if flag:`` branch off."""
    return type(node) is ast.Constant and not node.value and not isinstance(node.value, bytes)


def _mentions_background_tasks(annotation: ast.expr | None) -> bool:
    """A cheap test before asking ``semantics.fastapi`` (most parameters are not one)."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant):
        return isinstance(annotation.value, str) and "BackgroundTasks" in annotation.value
    return _last(annotation) == "BackgroundTasks" or isinstance(annotation, (ast.Subscript, ast.BinOp))


def _embedding_name(node: ast.expr) -> bool:
    """A bare Gemini embedding model name: ``"text-embedding-004"``, not ``"models/..."``."""
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    value = node.value
    return "embedding" in value and "/" not in value and len(value) < 80 and not any(c.isspace() for c in value)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


class _Pending:
    """Rows of one function kept until its end (``WorkSites.leave_function``)."""

    __slots__ = ("bindings", "cancelled", "dicts", "lists")

    def __init__(self) -> None:
        self.bindings: list[tuple[str, ast.expr]] = []  # (local key, value), made rows only if needed
        self.dicts: list[tuple[Any, ...]] = []
        self.lists: list[tuple[str, ast.expr]] = []  # (local list name, expression collected into it)
        # Local task names just cancelled (``for t in tasks: t.cancel()``, ``task.cancel()``):
        # name -> (column of the cancelling statement, its last line).
        self.cancelled: dict[str, tuple[int, int]] = {}


def _last(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""
