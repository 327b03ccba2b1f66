"""SL705 and SL706 beyond their examples: options, fix limits, and the shared FastAPI model."""

from __future__ import annotations

import textwrap

from sightlint.api import check_source
from sightlint.config import rule_options
from sightlint.fixer import fix_source
from sightlint.models import FixSafety
from sightlint.rules.health_check_probes_nothing import HealthCheckOptions
from sightlint.settings import Settings

PROBES = textwrap.dedent(
    """
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/status")
    async def status():
        return {"ok": True}


    @app.get("/health")
    async def health():
        return {"ok": True}
    """
)


def _codes(text: str, settings: Settings) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in check_source(text, "app/main.py", settings).findings]


def test_route_classes_are_configurable() -> None:
    assert _codes(PROBES, Settings(select=("SL706",))) == [("SL706", 13)]
    options = rule_options("health-check-probes-nothing", {"readiness-paths": ["status"], "liveness-paths": ["health"]})
    assert options == HealthCheckOptions(readiness_paths=("status",), liveness_paths=("health",))
    settings = Settings(select=("SL706",), rule_options={"health-check-probes-nothing": options})
    assert _codes(PROBES, settings) == [("SL706", 8)]


def test_both_rules_share_one_model_and_report_once_each() -> None:
    text = textwrap.dedent(
        """
        from fastapi import APIRouter

        router = APIRouter(prefix="/healthz")


        @router.get("")
        async def healthz():
            def body():
                return {"ok": True}

            return body()
        """
    )
    found = _codes(text, Settings(select=("SL705", "SL706")))
    assert sorted(found) == [("SL705", 9), ("SL706", 8)]


def test_no_fix_when_the_move_would_lose_or_clash() -> None:
    text = textwrap.dedent(
        """
        from fastapi import FastAPI

        app = FastAPI()


        def render(x):
            return x


        @app.get("/a")
        async def a():
            def render(x):  # a module-level render exists: moving would replace it
                return [x]

            return render(1)


        @app.get("/b")
        async def b():
            # what this helper is for: the move would drop this comment
            def helper():
                return 2

            return helper()


        @app.get("/c")
        async def c(limit: int = DEFAULT):
            def page(size=DEFAULT):  # a default evaluated at definition time
                return size

            return page()


        @app.get("/d")
        async def d():
            def wrapped():  # the name is bound again: moved, the handler would read an unbound local
                return 3

            wrapped = cache(wrapped)
            return wrapped()
        """
    )
    settings = Settings(select=("SL705",))
    findings = check_source(text, "app/main.py", settings).findings
    assert [(f.line, f.fix_safety) for f in findings] == [
        (13, FixSafety.NONE),
        (22, FixSafety.NONE),
        (30, FixSafety.NONE),
        (38, FixSafety.NONE),
    ]
    assert fix_source(text.encode(), "app/main.py", settings).status == "unchanged"
