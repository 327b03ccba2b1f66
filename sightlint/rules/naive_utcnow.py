from __future__ import annotations

import ast

from sightlint.rules.base import Bad, FixSafety, Good, Rule, RuleMeta, Severity

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
    the callable form with `lambda: datetime.now(timezone.utc)`, importing `timezone`.
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
            in_docs=True,
        ),
        Bad("import datetime\n\nstamp = datetime.datetime.utcnow()\n"),
        Bad("from datetime import datetime as dt\n\nnow = dt.utcnow()\n"),
        Bad("import datetime as d\n\nnow = d.datetime.utcnow().isoformat()\n"),
        Bad("from datetime import datetime\n\ndef parse(ts):\n    return datetime.utcfromtimestamp(ts)\n"),
        Bad(
            "from datetime import datetime\n"
            "from sqlalchemy import Column, DateTime\n"
            "\n"
            "created_at = Column(DateTime, default=datetime.utcnow)\n"
        ),
        Bad(
            "from dataclasses import dataclass, field\n"
            "from datetime import datetime\n"
            "\n"
            "@dataclass\n"
            "class Event:\n"
            "    at: datetime = field(default_factory=datetime.utcnow)\n"
        ),
        Bad(
            "from datetime import datetime\n"
            "\n"
            "def claims(sub):\n"
            "    return {'sub': sub, 'iat': datetime.utcnow(), 'nbf': datetime.utcnow()}\n",
            count=2,
        ),
        Bad(
            "def stamp():\n"
            "    from datetime import datetime\n"
            "    return datetime.utcnow()\n"
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
