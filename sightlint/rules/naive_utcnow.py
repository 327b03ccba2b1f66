from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind, ScopeKind
from sightlint.semantics.handlers import walk
from sightlint.semantics.nodes import subnodes

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_NAIVE = {
    "datetime.datetime.utcnow": "now",
    "datetime.datetime.utcfromtimestamp": "fromtimestamp",
}
# Calls that declare a column, and the column types that can be timezone-aware.
_COLUMN_CALLS = {"Column", "mapped_column", "Field"}
_DATETIME_TYPES = {"DateTime", "TIMESTAMP"}
# A file that never writes this declares no timezone-aware column: the column checks
# (an ``ast.walk`` of every ``Column(...)`` call) are skipped there.
_TZ_TRUE = re.compile(r"timezone\s*=\s*True")

# ``{call}`` is the call found (``_CALLS``): the messages name it, not always ``utcnow()``.
_COMPARED = (
    "`{call}` returns a naive datetime, and this function compares it with (or "
    "subtracts) an aware one: mixing them raises `TypeError`."
)
_STORED = (
    "`{call}` returns a naive datetime stored in a `DateTime(timezone=True)` "
    "column: it reads back aware, so mixing it with naive values raises `TypeError`, and "
    "some drivers read a naive value in the session's time zone."
)
# ``{method}`` is filled in at the finding: `.timestamp()` or `.astimezone()`.
_LOCAL = (
    "`{{call}}` returns a naive datetime, and this function calls `.{method}()` on it, which "
    "reads a naive datetime as the host's local time: the result is off by the host's UTC "
    "offset wherever the process does not run in UTC."
)
_DEFAULT = (
    "`datetime.utcnow()` in a parameter's default is evaluated once, when the `def` runs: "
    "every call that leaves the argument out gets that moment, not the current time (and a "
    "naive datetime, from a call deprecated since Python 3.12). Default to `None` and read "
    "the clock in the body."
)
# Methods that read a naive datetime as local time (Python's datetime documentation).
_LOCAL_METHODS = ("timestamp", "astimezone")
# method -> (the call as the messages name it, its aware replacement); the fix titles follow.
_CALLS = {
    "utcnow": ("datetime.utcnow()", "datetime.now(timezone.utc)"),
    "utcfromtimestamp": ("datetime.utcfromtimestamp(t)", "datetime.fromtimestamp(t, tz=timezone.utc)"),
}
_MEDIUM = (
    "`{call}` is deprecated and returns a naive datetime; use `{aware}`, "
    "with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column)."
)


@dataclass
class _Frame:
    """What one function (or the module's top level) does with datetimes, lexically."""

    naive: set[int] = field(default_factory=set)  # ids of the naive calls in it
    assigned: dict[str, list[ast.expr]] = field(default_factory=dict)  # name -> values bound to it
    pairs: list[tuple[ast.expr, ast.expr]] = field(default_factory=list)  # compared or subtracted
    local: list[tuple[ast.expr, str]] = field(default_factory=list)  # receivers of `.timestamp()`/`.astimezone()`


class NaiveUtcnow(Rule):
    """
    ## What it flags
    Calls to `datetime.utcnow()` and `datetime.utcfromtimestamp()`, and the bare
    callable `datetime.utcnow` handed over to be called later (for example as a column's
    `default=` or a dataclass `default_factory=`), however `datetime` was imported.

    ## Why it matters
    Both are deprecated since Python 3.12, and both return a *naive* `datetime` that merely
    happens to hold UTC, which is easy to misuse: `.timestamp()` and `.astimezone()` read
    it as local time, and comparing or subtracting it with an aware datetime raises
    `TypeError` at run time. The finding is **medium**, and **high** where the misuse is
    visible: the naive result (or a name bound to it) is compared with or subtracted
    from an aware value in the same function (`datetime.now(tz)`, `.astimezone()`, a
    value built with `tzinfo=`), it is read as local time in the same function
    (`.timestamp()` or `.astimezone()` called on it, on `it ± timedelta`, or on a name
    bound only to such values: a JWT `exp` of `(datetime.utcnow() + ttl).timestamp()` is
    off by the host's UTC offset), or it is stored in a column the module declares
    `DateTime(timezone=True)` (its `default=`, or an attribute or keyword of that name).
    `datetime.utcnow()` in a parameter's default of a module's or a class's `def` is
    **high** too, and has no fix: the default is evaluated once, when the `def` runs at
    import, so every call that leaves the argument out gets that moment, naive or aware
    (default to `None` and read the clock in the body).
    The message and the fix title name the call found and its own replacement:
    `datetime.utcfromtimestamp(t)` → `datetime.fromtimestamp(t, tz=timezone.utc)`.

    ## Fix
    Two fixes are offered.

    - The default fix is **safe**: it removes the deprecated call and keeps the value
      naive, exactly as before: `datetime.now(timezone.utc).replace(tzinfo=None)`,
      `datetime.fromtimestamp(t, tz=timezone.utc).replace(tzinfo=None)`, and for the
      callable `lambda: datetime.now(timezone.utc).replace(tzinfo=None)`. Code comparing
      the value with naive column values, or appending `"Z"` to its `isoformat()`, keeps
      working.
    - The **aware** fix, `datetime.now(timezone.utc)`, `datetime.fromtimestamp(t,
      tz=timezone.utc)`, `lambda: datetime.now(timezone.utc)`, is offered only where the
      value meets aware values: the **high** findings (compared with or subtracted from an
      aware value, read as local time, or stored in a `DateTime(timezone=True)` column).
      There keeping the value naive would keep the `TypeError` (or the local-time reading,
      or the mismatch with the aware column), so it is their only fix; it is **unsafe** (`--unsafe-fixes`): `isoformat()` gains
      `+00:00`, and other uses of the value may still expect it naive. Everywhere else
      `--unsafe-fixes` still applies the naive-preserving fix: an aware value written into
      a naive `DateTime` column is rejected by asyncpg (`timestamp without time zone`), and
      subtracting it from a naive value read back raises `TypeError` in a scheduled job.

    Both add `from datetime import timezone` when needed. Where `datetime` is the module
    (`import datetime as d`) they write `d.timezone.utc`; where the name `timezone`
    already means something else (`from pytz import timezone`) they use the module if it
    is imported, else `from datetime import timezone as dt_timezone`. When the project
    targets Python 3.11 or later (`target-version`), they write `UTC` (`from datetime
    import UTC`, or `d.UTC`) instead of `timezone.utc`; it is the same object. The callable
    form in a class body gets no fix when it needs a name the class body binds (the new
    lambda could not see it). `target-version` is a project-wide setting (see the
    configuration page); it defaults to the oldest Python that `requires-python` admits.

    ## See also
    - https://docs.python.org/3/library/datetime.html#datetime.datetime.utcnow
    """

    meta = RuleMeta(
        code="SL301",
        name="naive-utcnow",
        severity=Severity.MEDIUM,
        summary=(
            "`datetime.utcnow()` is deprecated and returns a naive datetime; use `datetime.now(timezone.utc)`, "
            "with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column)."
        ),
        audit="§9",
        fix=FixSafety.SAFE,
        fix_title="Keep the value naive: `datetime.now(timezone.utc).replace(tzinfo=None)`",
        unsafe_fix_title="Make the value aware: `datetime.now(timezone.utc)`",
        tags=("time",),
    )

    bad = (
        Bad(
            "from datetime import datetime, timedelta\n"
            "\n"
            "def expiry(minutes: int):\n"
            "    return datetime.utcnow() + timedelta(minutes=minutes)\n",
            fixed="from datetime import datetime, timedelta, timezone\n"
                  "\n"
                  "def expiry(minutes: int):\n"
                  "    return datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=minutes)\n",
            in_docs=True,
        ),
        Bad(
            "import datetime\n"
            "\n"
            "stamp = datetime.datetime.utcnow()\n",
            fixed="import datetime\n"
                  "\n"
                  "stamp = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)\n",
        ),
        Bad(
            "from datetime import datetime as dt\n"
            "\n"
            "now = dt.utcnow()\n",
            fixed="from datetime import datetime as dt, timezone\n"
                  "\n"
                  "now = dt.now(timezone.utc).replace(tzinfo=None)\n",
        ),
        Bad(
            "import datetime as d\n"
            "\n"
            "now = d.datetime.utcnow().isoformat()\n",
            fixed="import datetime as d\n"
                  "\n"
                  "now = d.datetime.now(d.timezone.utc).replace(tzinfo=None).isoformat()\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "\n"
            "def parse(ts):\n"
            "    return datetime.utcfromtimestamp(ts)\n",
            fixed="from datetime import datetime, timezone\n"
                  "\n"
                  "def parse(ts):\n"
                  "    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "from sqlalchemy import Column, DateTime\n"
            "\n"
            "created_at = Column(DateTime, default=datetime.utcnow)\n",
            fixed="from datetime import datetime, timezone\n"
                  "from sqlalchemy import Column, DateTime\n"
                  "\n"
                  "created_at = Column(DateTime, default=lambda: datetime.now(timezone.utc).replace(tzinfo=None))\n",
        ),
        Bad(
            "from dataclasses import dataclass, field\n"
            "from datetime import datetime\n"
            "\n"
            "@dataclass\n"
            "class Event:\n"
            "    at: datetime = field(default_factory=datetime.utcnow)\n",
            fixed="from dataclasses import dataclass, field\n"
                  "from datetime import datetime, timezone\n"
                  "\n"
                  "@dataclass\n"
                  "class Event:\n"
                  "    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "\n"
            "def claims(sub):\n"
            "    return {'sub': sub, 'iat': datetime.utcnow(), 'nbf': datetime.utcnow()}\n",
            fixed="from datetime import datetime, timezone\n"
                  "\n"
                  "def claims(sub):\n"
                  "    return {'sub': sub, 'iat': datetime.now(timezone.utc).replace(tzinfo=None), 'nbf': datetime.now(timezone.utc).replace(tzinfo=None)}\n",
            count=2,
        ),
        Bad(
            "def stamp():\n"
            "    from datetime import datetime\n"
            "    return datetime.utcnow()\n",
            fixed="from datetime import timezone\n"
                  "\n"
                  "\n"
                  "def stamp():\n"
                  "    from datetime import datetime\n"
                  "    return datetime.now(timezone.utc).replace(tzinfo=None)\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "from pytz import timezone\n"
            "\n"
            "PARIS = timezone('Europe/Paris')\n"
            "\n"
            "def now_utc():\n"
            "    return datetime.utcnow()\n",
            fixed="from datetime import datetime\n"
                  "from pytz import timezone\n"
                  "from datetime import timezone as dt_timezone\n"
                  "\n"
                  "PARIS = timezone('Europe/Paris')\n"
                  "\n"
                  "def now_utc():\n"
                  "    return datetime.now(dt_timezone.utc).replace(tzinfo=None)\n",
        ),
        Bad(
            "import datetime as dt_mod\n"
            "from datetime import datetime\n"
            "\n"
            "def parse(ts, timezone):\n"
            "    return datetime.utcfromtimestamp(\n"
            "        ts,\n"
            "    )\n",
            fixed="import datetime as dt_mod\n"
                  "from datetime import datetime\n"
                  "\n"
                  "def parse(ts, timezone):\n"
                  "    return datetime.fromtimestamp(\n"
                  "        ts, tz=dt_mod.timezone.utc,\n"
                  "    ).replace(tzinfo=None)\n",
        ),
        Bad(
            "from datetime import datetime, timezone\n"
            "\n"
            "def is_expired(token):\n"
            "    now = datetime.utcnow()\n"
            "    return now > token.expires_at.astimezone(timezone.utc)\n",
            unsafe_fixed="from datetime import datetime, timezone\n"
                         "\n"
                         "def is_expired(token):\n"
                         "    now = datetime.now(timezone.utc)\n"
                         "    return now > token.expires_at.astimezone(timezone.utc)\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "from sqlalchemy import Column, DateTime\n"
            "\n"
            "class Job:\n"
            "    started_at = Column(DateTime(timezone=True), default=datetime.utcnow)\n",
            unsafe_fixed="from datetime import datetime, timezone\n"
                         "from sqlalchemy import Column, DateTime\n"
                         "\n"
                         "class Job:\n"
                         "    started_at = Column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))\n",
        ),
        Bad(
            "from datetime import datetime, timedelta\n"
            "\n"
            "def expires(ttl: int) -> float:\n"
            "    now = datetime.utcnow()\n"
            "    return (now + timedelta(seconds=ttl)).timestamp()\n",
            unsafe_fixed="from datetime import datetime, timedelta, timezone\n"
                         "\n"
                         "def expires(ttl: int) -> float:\n"
                         "    now = datetime.now(timezone.utc)\n"
                         "    return (now + timedelta(seconds=ttl)).timestamp()\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "\n"
            "def activities(db, ended_at: datetime = datetime.utcnow()):\n"
            "    return db.query(ended_at)\n",
            fixed=None,
        ),
    )

    good = (
        Good(
            "from datetime import datetime, timezone\n\nnow = datetime.now(timezone.utc)\n",
            in_docs=True,
        ),
        Good("from datetime import UTC, datetime\n\nnow = datetime.now(UTC)\n"),
        Good("import datetime\n\nnow = datetime.datetime.now(datetime.timezone.utc)\n"),
        Good("def f(datetime):\n    return datetime.utcnow()\n"),
        Good("from datetime import datetime\n\ndef f(clock):\n    datetime = clock\n    return datetime.utcnow()\n"),
        Good("import arrow\n\nnow = arrow.utcnow()\n"),
        Good("import pendulum\n\nnow = pendulum.now('UTC')\n"),
        Good("datetime = FakeClock()\nnow = datetime.utcnow()\n"),
        Good("from datetime import datetime\n\nfn_name = 'utcnow'\nnow = datetime.fromtimestamp(0)\n"),
        Good("import time\n\nnow = time.time()\n"),
        Good("from datetime import datetime, timezone\n\nnow = datetime.now(timezone.utc).replace(tzinfo=None)\n"),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._called: set[int] = set()
        self._pending: list[ast.expr] = []  # naive calls and callables, in order
        self._high: dict[int, str] = {}  # id of a naive node -> the message of a high finding
        # Column calls declaring `DateTime(timezone=True)`, with the ids of their nodes once
        # asked (`_stored`): a naive node inside one is stored into an aware column.
        self._tz_columns_seen: list[tuple[ast.Call, set[int] | None]] = []
        self._frames = [_Frame()]
        self._classes: list[str] = []
        self._tz_columns: dict[str, set[str]] = {}  # class -> its DateTime(timezone=True) columns
        self._stores: list[tuple[str | None, str, ast.expr]] = []  # (class called or None, name, value)
        self._tz_text = _TZ_TRUE.search(self.context.text) is not None
        # `_declares_tz` of each column call asked about (an assigned one is asked twice:
        # its assignment is visited before the call).
        self._tz_calls: dict[ast.Call, bool] = {}
        self._tz_lines: set[int] | None = None  # `_tz_rows`, found on first use
        self._tz_known = False
        self._in_defaults: set[int] = set()  # ids of the calls a parameter's default makes

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Both names end in ``utc...`` spelt out in the text (an attribute or an import).
        return "utcnow" in text or "utcfromtimestamp" in text

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and self.context.qualified_name(node.func) in _NAIVE:
            self._called.add(id(node.func))
            self._frames[-1].naive.add(id(node))
            self._add_pending(node)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in _LOCAL_METHODS:
            self._frames[-1].local.append((node.func.value, node.func.attr))
        called = _last_name(node.func)
        if called in _COLUMN_CALLS and self._tz_text and self._declares_tz(node):
            self._tz_columns_seen.append((node, None))
        for keyword in node.keywords:
            if keyword.arg is not None and called is not None:
                self._stores.append((called, keyword.arg, keyword.value))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self._called or not isinstance(node.ctx, ast.Load):
            return
        if self.context.qualified_name(node) == "datetime.datetime.utcnow":
            self._add_pending(node)

    def _add_pending(self, node: ast.expr) -> None:
        """A naive call or callable, found now: high when it sits in a column call declaring
        `DateTime(timezone=True)` (visited before it, as an ancestor)."""
        self._pending.append(node)
        seen = self._tz_columns_seen
        if seen:
            line = node.lineno
            for index, (column, inner) in enumerate(seen):
                if column.lineno <= line <= (column.end_lineno or column.lineno):
                    if inner is None:
                        inner = {id(sub) for sub in ast.walk(column)}
                        seen[index] = (column, inner)
                    if id(node) in inner:
                        self._high.setdefault(id(node), _STORED)
                        return

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        self._frames[-1].pairs.extend(zip(operands, operands[1:]))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Sub):
            self._frames[-1].pairs.append((node.left, node.right))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self._frames[-1].assigned.setdefault(target.id, []).append(value)
            if self._tz_text and self._classes and isinstance(value, ast.Call) and _last_name(value.func) in _COLUMN_CALLS:
                if self._declares_tz(value):
                    self._tz_columns.setdefault(self._classes[-1], set()).add(target.id)
        elif isinstance(target, ast.Attribute):
            self._stores.append((None, target.attr, value))

    def _declares_tz(self, call: ast.Call) -> bool:
        found = self._tz_calls.get(call)
        if found is None:
            # A `timezone=` keyword spells `timezone` on the call's own lines: a call whose
            # lines do not hold the word needs no walk.
            rows = self._tz_rows()
            end = call.end_lineno or call.lineno
            if rows is not None and not any(call.lineno <= row <= end for row in rows):
                found = self._tz_calls[call] = False
            else:
                found = self._tz_calls[call] = _declares_tz(call)
        return found

    def _tz_rows(self) -> set[int] | None:
        """The lines (1-based, as the parser numbers them) that hold the word ``timezone``;
        None when the text's words may differ from its identifiers (not ASCII: NFKC) or its
        lines may be numbered otherwise (a carriage return ends a line for the parser)."""
        if not self._tz_known:
            self._tz_known = True
            text = self.context.text
            rows: set[int] | None = None
            if text.isascii() and "\r" not in text:
                rows = set()
                at = text.find("timezone")
                while at != -1:
                    rows.add(text.count("\n", 0, at) + 1)
                    at = text.find("timezone", at + 8)
            self._tz_lines = rows
        return self._tz_lines

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._classes.append(node.name)

    def leave_ClassDef(self, node: ast.ClassDef) -> None:
        self._classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # A `def` of the module or of a class runs once, at import: its defaults are that
        # moment for good. One inside a function runs (and takes its defaults) per call.
        defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        if defaults and len(self._frames) == 1:
            self._in_defaults.update(_calls_made_now(defaults))
        self._frames.append(_Frame())

    visit_AsyncFunctionDef = visit_FunctionDef

    def leave_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._grade(self._frames.pop())

    leave_AsyncFunctionDef = leave_FunctionDef

    def end_module(self) -> None:
        self._grade(self._frames[0])
        columns = {name for names in self._tz_columns.values() for name in names}
        for called, name, value in self._stores:
            if name in (self._tz_columns.get(called, set()) if called is not None else columns):
                for naive in _naive_in(value, _Frame(), _ids(self._pending)):
                    self._high.setdefault(naive, _STORED)
        for node in self._pending:
            message = self._high.get(id(node))
            if id(node) in self._in_defaults and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "utcnow":
                # Neither fix helps: the default stays one moment, naive or aware.
                self.report(node, _DEFAULT, severity=Severity.HIGH, fixable=False)
                continue
            if isinstance(node, ast.Attribute):
                callable_message = (
                    "`datetime.utcnow` passed as a callable produces naive datetimes; "
                    "use `lambda: datetime.now(timezone.utc)`, with `.replace(tzinfo=None)` "
                    "where the values meet naive datetimes (a naive `DateTime` column)."
                )
                self.report(node, (message or callable_message).format(call="datetime.utcnow"), **_graded(message))
            else:
                method = node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else "utcnow"
                call, aware = _CALLS.get(method, _CALLS["utcnow"])
                self.report(node, (message or _MEDIUM).format(call=call, aware=aware), **_graded(message))
                if method != "utcnow" and self.findings[-1].fix_title is not None:
                    # The rule's fix titles name utcnow's replacement: name this call's.
                    last = self.findings[-1]
                    tail = "" if last.fix_safety is FixSafety.UNSAFE else ".replace(tzinfo=None)"
                    how = "Make the value aware" if tail == "" else "Keep the value naive"
                    self.findings[-1] = dataclasses.replace(last, fix_title=f"{how}: `{aware}{tail}`")

    def _grade(self, frame: _Frame) -> None:
        """Mark the frame's naive calls that meet an aware value, or are read as local time
        (`.timestamp()`, `.astimezone()`), as high."""
        for left, right in frame.pairs:
            for naive, other in ((left, right), (right, left)):
                if _aware(other, frame, 0):
                    for found in _naive_in(naive, frame, frame.naive):
                        self._high.setdefault(found, _COMPARED)
        for receiver, method in frame.local:
            # Only a value that is naive whatever binding it comes from: a name also bound
            # to `now.replace(tzinfo=timezone.utc)` may be aware by then.
            for found in _naive_in(receiver, frame, frame.naive, every=True):
                self._high.setdefault(found, _LOCAL.format(method=method))

    # -- fix -------------------------------------------------------------------------

    fix_node = ("Call", "Attribute")

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """The naive-preserving fix; the aware one with ``self.unsafe_fixes``."""
        import libcst as cst

        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            receiver, method = node.func.value, node.func.attr.value
        elif isinstance(node, cst.Attribute) and node.attr.value == "utcnow":
            receiver, method = node.value, "callable"
        else:
            return None
        root = _root_name(receiver)
        if method == "callable" and root is not None and _class_body_binds(self.context, root, finding):
            return None  # the new lambda could not see it
        tz_source, imports, statements = self._utc(receiver, finding, deferred=method == "callable")
        if tz_source is None:
            return None
        tz = cst.parse_expression(tz_source)
        fix_imports = tuple(imports)
        # Aware only where the value meets aware values (the high findings, whose only fix is
        # this unsafe one): written into a naive column or compared with naive values, an
        # aware value raises TypeError (asyncpg rejects it for `timestamp without time zone`).
        aware = finding.fix_safety is FixSafety.UNSAFE
        finish = (lambda call: call) if aware else _drop_tzinfo
        if method == "callable":
            now = cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name("now")), args=[cst.Arg(tz)])
            return Fix(cst.Lambda(params=cst.Parameters(), body=finish(now)), fix_imports, statements)
        assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
        if method == "utcnow" and not node.args:
            func = node.func.with_changes(attr=cst.Name("now"))
            return Fix(finish(node.with_changes(func=func, args=[cst.Arg(tz)])), fix_imports, statements)
        if method == "utcfromtimestamp" and len(node.args) == 1:
            (arg,) = node.args
            if arg.keyword is not None or arg.star:
                return None
            tz_arg = cst.Arg(tz, keyword=cst.Name("tz"), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
            if isinstance(arg.comma, cst.Comma):
                # Keep a trailing comma (and the line break after it) at the end.
                args = [arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                        tz_arg.with_changes(comma=arg.comma)]
            else:
                args = [arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), tz_arg]
            func = node.func.with_changes(attr=cst.Name("fromtimestamp"))
            return Fix(finish(node.with_changes(func=func, args=args)), fix_imports, statements)
        return None

    def _utc_alias(self, receiver: cst.BaseExpression, line: int, col: int) -> tuple[str, list[tuple[str, str | None]]] | None:
        """``UTC`` (Python 3.11+) spelt so that it works at the finding, plus its import; None
        when the name is taken (the caller then writes ``timezone.utc``)."""
        import libcst as cst

        context = self.context
        if isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name):
            module = context.binding_at(receiver.value.value, line, col)
            if module.kind is BindingKind.IMPORT and module.qualified == "datetime":
                return f"{receiver.value.value}.UTC", []  # the module form, `d.datetime.utcnow()`
            return None
        utc = context.binding_at("UTC", line, col)
        if utc.kind is BindingKind.IMPORT and utc.qualified == "datetime.UTC":
            return "UTC", []
        if utc.kind is BindingKind.UNBOUND:
            return "UTC", [("datetime", "UTC")]
        spelled = context.reference_to("datetime.UTC", line, col)
        return (spelled, []) if spelled is not None else None

    def _utc(
        self, receiver: cst.BaseExpression, finding: Finding, *, deferred: bool
    ) -> tuple[str | None, list[tuple[str, str | None]], tuple[tuple[str, str], ...]]:
        """Source of a UTC tzinfo that works at the finding, plus the imports it needs.

        ``deferred``: the source goes into a new lambda, which cannot see the names a
        class body binds.
        """
        import libcst as cst

        line, col = finding.span.line, finding.span.col
        context = self.context
        if context.settings.target_python >= (3, 11):
            found = self._utc_alias(receiver, line, col)
            if found is not None and not (deferred and _class_body_binds(context, found[0].split(".", 1)[0], finding)):
                return found[0], found[1], ()
        tz = context.binding_at("timezone", line, col)
        if isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name):
            module = context.binding_at(receiver.value.value, line, col)
            if module.kind is BindingKind.IMPORT and module.qualified == "datetime":
                source = f"{receiver.value.value}.timezone.utc"  # the module form, `d.datetime.utcnow()`
            else:
                return None, [], ()
        elif tz.kind is BindingKind.IMPORT and tz.qualified == "datetime.timezone":
            source = "timezone.utc"
        elif tz.kind is BindingKind.UNBOUND:
            return "timezone.utc", [("datetime", "timezone")], ()
        else:
            spelled = context.reference_to("datetime.timezone", line, col)
            if spelled is None:
                alias = "dt_timezone"
                if context.binding_at(alias, line, col).kind is not BindingKind.UNBOUND:
                    return None, [], ()
                return f"{alias}.utc", [], ((alias, f"from datetime import timezone as {alias}"),)
            source = f"{spelled}.utc"
        if deferred and _class_body_binds(context, source.split(".", 1)[0], finding):
            return None, [], ()
        return source, [], ()


def _drop_tzinfo(aware: cst.Call) -> cst.Call:
    """``aware.replace(tzinfo=None)``: the same naive value the deprecated call returned."""
    import libcst as cst

    no_space = cst.SimpleWhitespace("")
    arg = cst.Arg(cst.Name("None"), keyword=cst.Name("tzinfo"), equal=cst.AssignEqual(whitespace_before=no_space, whitespace_after=no_space))
    inner = aware.with_changes(lpar=[], rpar=[])  # parentheses around the call go around the whole
    return cst.Call(func=cst.Attribute(value=inner, attr=cst.Name("replace")), args=[arg], lpar=aware.lpar, rpar=aware.rpar)


def _class_body_binds(context: Context, name: str, finding: Finding) -> bool:
    """True if ``name`` at the finding is bound by a class body (a lambda there cannot see it)."""
    scope = context.binding_at(name, finding.span.line, finding.span.col).scope
    return scope is not None and scope.kind is ScopeKind.CLASS


def _root_name(expression: cst.BaseExpression) -> str | None:
    """``d`` for ``d.datetime``; None when the expression does not start with a name."""
    import libcst as cst

    while isinstance(expression, cst.Attribute):
        expression = expression.value
    return expression.value if isinstance(expression, cst.Name) else None


def _graded(message: str | None) -> dict[str, Any]:
    """A high finding (``message`` says why) gets only the aware fix: keeping the value
    naive would keep the problem and silence the finding."""
    return {"severity": Severity.HIGH, "fix_safety": FixSafety.UNSAFE} if message else {}


def _last_name(func: ast.expr) -> str | None:
    """``Column`` for ``Column`` and ``sa.Column``."""
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _declares_tz(call: ast.Call) -> bool:
    """True if a column call holds ``DateTime(timezone=True)`` (also in ``sa_column=Column(...)``)."""
    for inner in subnodes(call):
        if isinstance(inner, ast.Call) and _last_name(inner.func) in _DATETIME_TYPES:
            for keyword in inner.keywords:
                if keyword.arg == "timezone" and isinstance(keyword.value, ast.Constant) and keyword.value.value is True:
                    return True
    return False


def _calls_made_now(expressions: list[ast.expr]) -> set[int]:
    """Ids of the calls evaluating ``expressions`` makes (not those in a ``lambda`` body)."""
    return {id(node) for node in walk(expressions) if type(node) is ast.Call}


def _ids(nodes: list[ast.expr]) -> set[int]:
    return {id(node) for node in nodes}


def _naive_in(expr: ast.expr, frame: _Frame, naive: set[int], depth: int = 0, *, every: bool = False) -> list[int]:
    """Ids of the naive calls ``expr`` evaluates to, lexically: the call, ``call ± x``, or a
    name the frame binds to one (``every``: only if each value bound to it is one)."""
    if id(expr) in naive:
        return [id(expr)]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub)):
        return _naive_in(expr.left, frame, naive, depth, every=every)
    if isinstance(expr, ast.Name) and depth < 3:
        found = [_naive_in(value, frame, naive, depth + 1, every=every) for value in frame.assigned.get(expr.id, ())]
        if every and not all(found):
            return []
        return [i for ids in found for i in ids]
    return []


def _aware(expr: ast.expr, frame: _Frame, depth: int) -> bool:
    """True if ``expr`` is visibly aware: ``x.now(tz)``, ``x.fromtimestamp(t, tz)``,
    ``.astimezone()``, a call with ``tzinfo=`` (not None), ``aware ± x``, or a name bound to one."""
    if isinstance(expr, ast.Call):
        func = expr.func
        has_tz = any(k.arg == "tz" for k in expr.keywords)
        if isinstance(func, ast.Attribute):
            if func.attr == "astimezone":
                return True
            if func.attr == "now" and (expr.args or has_tz):
                return True
            if func.attr == "fromtimestamp" and (len(expr.args) > 1 or has_tz):
                return True
        return any(
            k.arg == "tzinfo" and not (isinstance(k.value, ast.Constant) and k.value.value is None)
            for k in expr.keywords
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub)):
        return _aware(expr.left, frame, depth)
    if isinstance(expr, ast.Name) and depth < 3:
        return any(_aware(value, frame, depth + 1) for value in frame.assigned.get(expr.id, ()))
    return False
