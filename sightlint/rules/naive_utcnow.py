from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from sightlint.models import Finding
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind, ScopeKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_NAIVE = {
    "datetime.datetime.utcnow": "now",
    "datetime.datetime.utcfromtimestamp": "fromtimestamp",
}


class NaiveUtcnow(Rule):
    """
    ## What it flags
    Calls to `datetime.utcnow()` and `datetime.utcfromtimestamp()`, and the bare
    callable `datetime.utcnow` handed over to be called later (for example as a column's
    `default=` or a dataclass `default_factory=`), however `datetime` was imported.

    ## Why it matters
    Both return a *naive* `datetime` that merely happens to hold UTC. Python 3.12
    deprecates them, and the value silently changes meaning once it meets an aware
    datetime or code that assumes local time: JWT `exp`/`iat` claims, expiry checks and
    database timestamps drift by the server's UTC offset, and comparing a naive value with
    an aware one raises `TypeError` at run time.

    ## Fix
    Replaces `datetime.utcnow()` with `datetime.now(timezone.utc)`,
    `datetime.utcfromtimestamp(t)` with `datetime.fromtimestamp(t, tz=timezone.utc)`, and
    the callable form with `lambda: datetime.now(timezone.utc)`, adding
    `from datetime import timezone` when needed. Where `datetime` is the module
    (`import datetime as d`) it writes `d.timezone.utc` instead; where the name `timezone`
    already means something else (`from pytz import timezone`) it uses the module if it
    is imported, else `from datetime import timezone as dt_timezone`. The callable form
    in a class body gets no fix when it needs a name the class body binds (the new
    lambda could not see it).
    The fix is **unsafe**: the result becomes timezone-aware, and aware and naive
    datetimes cannot be compared or subtracted, so code mixing the new value with other
    naive values (or a `TIMESTAMP WITHOUT TIME ZONE` column) can start raising.

    ## See also
    - https://docs.python.org/3/library/datetime.html#datetime.datetime.utcnow
    """

    meta = RuleMeta(
        code="SL301",
        name="naive-utcnow",
        severity=Severity.CRITICAL,
        summary="`datetime.utcnow()` returns a naive datetime; use `datetime.now(timezone.utc)`.",
        audit="§9",
        fix=FixSafety.UNSAFE,
        fix_title="Use an aware `datetime.now(timezone.utc)`",
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
            "    return datetime.now(timezone.utc) + timedelta(minutes=minutes)\n",
            in_docs=True,
        ),
        Bad(
            "import datetime\n\nstamp = datetime.datetime.utcnow()\n",
            fixed="import datetime\n\nstamp = datetime.datetime.now(datetime.timezone.utc)\n",
        ),
        Bad(
            "from datetime import datetime as dt\n\nnow = dt.utcnow()\n",
            fixed="from datetime import datetime as dt, timezone\n\nnow = dt.now(timezone.utc)\n",
        ),
        Bad(
            "import datetime as d\n\nnow = d.datetime.utcnow().isoformat()\n",
            fixed="import datetime as d\n\nnow = d.datetime.now(d.timezone.utc).isoformat()\n",
        ),
        Bad(
            "from datetime import datetime\n\ndef parse(ts):\n    return datetime.utcfromtimestamp(ts)\n",
            fixed="from datetime import datetime, timezone\n\n"
            "def parse(ts):\n    return datetime.fromtimestamp(ts, tz=timezone.utc)\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "from sqlalchemy import Column, DateTime\n"
            "\n"
            "created_at = Column(DateTime, default=datetime.utcnow)\n",
            fixed="from datetime import datetime, timezone\n"
            "from sqlalchemy import Column, DateTime\n"
            "\n"
            "created_at = Column(DateTime, default=lambda: datetime.now(timezone.utc))\n",
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
            "    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))\n",
        ),
        Bad(
            "from datetime import datetime\n"
            "\n"
            "def claims(sub):\n"
            "    return {'sub': sub, 'iat': datetime.utcnow(), 'nbf': datetime.utcnow()}\n",
            fixed="from datetime import datetime, timezone\n"
            "\n"
            "def claims(sub):\n"
            "    return {'sub': sub, 'iat': datetime.now(timezone.utc), 'nbf': datetime.now(timezone.utc)}\n",
            count=2,
        ),
        Bad(
            "def stamp():\n"
            "    from datetime import datetime\n"
            "    return datetime.utcnow()\n",
            fixed="from datetime import timezone\n"
            "\n"
            "def stamp():\n"
            "    from datetime import datetime\n"
            "    return datetime.now(timezone.utc)\n",
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
            "    return datetime.now(dt_timezone.utc)\n",
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
            "    )\n",
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
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._called: set[int] = set()

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Both names end in ``utc...`` spelt out in the text (an attribute or an import).
        return "utcnow" in text or "utcfromtimestamp" in text

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and self.context.qualified_name(node.func) in _NAIVE:
            self._called.add(id(node.func))
            self.report(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self._called or not isinstance(node.ctx, ast.Load):
            return
        if self.context.qualified_name(node) == "datetime.datetime.utcnow":
            self.report(
                node,
                "`datetime.utcnow` passed as a callable produces naive datetimes; "
                "use `lambda: datetime.now(timezone.utc)`.",
            )

    # -- fix -------------------------------------------------------------------------

    fix_node = ("Call", "Attribute")

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
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
        if method == "callable":
            now = cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name("now")), args=[cst.Arg(tz)])
            return Fix(cst.Lambda(params=cst.Parameters(), body=now), fix_imports, statements)
        assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
        if method == "utcnow" and not node.args:
            func = node.func.with_changes(attr=cst.Name("now"))
            return Fix(node.with_changes(func=func, args=[cst.Arg(tz)]), fix_imports, statements)
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
            return Fix(node.with_changes(func=func, args=args), fix_imports, statements)
        return None

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
