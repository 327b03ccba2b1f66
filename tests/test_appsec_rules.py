"""SL202, SL702 and SL703 beyond their examples: no handler reported by both SL201 and
SL202, SL202's fix picks a free name, SL703 follows a validator added on a warm run, and
the credential flows the collector records."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from sightlint import api, engine
from sightlint.api import check_source, check_sources
from sightlint.fixer import fix_source
from sightlint.project import flows
from sightlint.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _handler_lines(paths: list[Path]) -> dict[str, set[tuple[str, int]]]:
    found: dict[str, set[tuple[str, int]]] = {"SL201": set(), "SL202": set()}
    settings = Settings(select=("SL201", "SL202"))
    for path in paths:
        result = check_source(path.read_bytes(), str(path), settings)
        assert not result.errors
        for finding in result.findings:
            found[finding.code].add((finding.path, finding.line))
    return found


def test_no_handler_is_reported_by_both_sl201_and_sl202() -> None:
    paths = [FIXTURES / "SL201.py", FIXTURES / "SL202.py", *sorted((FIXTURES / "sight_app").rglob("*.py"))]
    found = _handler_lines(paths)
    assert found["SL201"] and found["SL202"]
    assert not found["SL201"] & found["SL202"]


def test_sl202_and_sl201_split_one_file_between_them() -> None:
    code = dedent(
        """\
        import logging

        logger = logging.getLogger(__name__)

        def a():
            try:
                return g()
            except Exception:
                return None

        def b():
            try:
                return g()
            except Exception as e:
                logger.warning("g failed: %s", e)
                return "default answer"
        """
    )
    result = check_source(code, "m.py", Settings(select=("SL201", "SL202")))
    assert [(f.code, f.line) for f in result.findings] == [("SL201", 8), ("SL202", 14)]


_BUILD_HOOK = dedent(
    """\
    import shutil

    {imports}


    class BuildError(Exception):
        pass


    def copy_assets(src, dst):
        try:
            shutil.copytree(src, dst)
        except Exception as e:
            raise BuildError(f"copy failed: {{e}}")


    def read_manifest(path):
        try:
            return open(path).read()
        except Exception:
            return ""


    {tail}
    """
)


def test_a_packages_build_code_is_not_a_service_path() -> None:
    # A hatchling build hook (chainlit's backend/build.py, `[tool.hatch.build.hooks.custom]`),
    # a setuptools command or a `setup.py`: the build frontend runs them, the service never
    # does, so neither SL201 nor SL202 reports their handlers.
    settings = Settings(select=("SL201", "SL202"))
    quiet = [
        ("from hatchling.builders.hooks.plugin.interface import BuildHookInterface",
         "class AssetsHook(BuildHookInterface):\n    def initialize(self, version, build_data):\n        copy_assets('a', 'b')"),
        ("import hatchling.metadata.plugin.interface as hooks",
         "class Meta(hooks.MetadataHookInterface):\n    pass"),
        ("from setuptools.command.build_py import build_py", "class BuildPy(build_py):\n    pass"),
        ("import setuptools", "setuptools.setup(name='pkg')"),
    ]
    for imports, tail in quiet:
        code = _BUILD_HOOK.format(imports=imports, tail=tail)
        assert check_source(code, "build.py", settings).findings == [], imports
    # The same handlers in service code: a class of its own named like a hook, a helper
    # imported from distutils, a `setup()` of the project's own: all still reported.
    loud = [
        ("from myapp.plugins import BuildHookInterface", "class AssetsHook(BuildHookInterface):\n    pass"),
        ("from distutils.util import strtobool", "FLAG = strtobool('1')"),
        ("from myapp.bootstrap import setup", "setup(name='pkg')"),
    ]
    for imports, tail in loud:
        code = _BUILD_HOOK.format(imports=imports, tail=tail)
        found = [(f.code, f.line) for f in check_source(code, "build.py", settings).findings]
        assert found == [("SL202", 13), ("SL201", 20)], imports


def test_sl202_fix_binds_a_name_that_hides_nothing() -> None:
    code = dedent(
        """\
        def load(exc, error):
            try:
                return read(exc)
            except Exception:
                raise RuntimeError("cannot load")
        """
    )
    outcome = fix_source(code.encode(), "m.py", Settings(select=("SL202",)))
    assert outcome.new is not None
    fixed = outcome.new.decode()
    assert "except Exception as caught_exc:" in fixed
    assert 'raise RuntimeError("cannot load") from caught_exc' in fixed


def test_sl202_leaves_a_nested_function_raise_alone() -> None:
    code = dedent(
        """\
        def load():
            try:
                return read()
            except Exception as e:
                def later():
                    raise KeyError("x")
                raise RuntimeError("cannot load")
        """
    )
    outcome = fix_source(code.encode(), "m.py", Settings(select=("SL202",)))
    assert outcome.new is not None
    fixed = outcome.new.decode()
    assert 'raise KeyError("x")\n' in fixed
    assert 'raise RuntimeError("cannot load") from e' in fixed


PROJECT = {
    "app/schemas.py": "from pydantic import BaseModel\n\nclass UserCreate(BaseModel):\n    password: str\n",
    "app/security.py": "import bcrypt\n\ndef hash_password(p: str) -> bytes:\n    return bcrypt.hashpw(p.encode(), bcrypt.gensalt())\n",
    "app/routes.py": (
        "from app.schemas import UserCreate\nfrom app.security import hash_password\n\n"
        "async def register(body: UserCreate):\n    return hash_password(body.password)\n"
    ),
}
VALIDATED = (
    "from pydantic import BaseModel, field_validator\n\nclass UserCreate(BaseModel):\n    password: str\n\n"
    '    @field_validator("password")\n    @classmethod\n    def _fits(cls, v: str) -> str:\n'
    '        if len(v.encode("utf-8")) > 72:\n            raise ValueError("too long")\n        return v\n'
)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, code in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(code, encoding="utf-8")


def _sl703(root: Path, cache: Path) -> list[tuple[str, int]]:
    run = api.check_paths([root], Settings(select=("SL703",)), cwd=root, cache_dir=cache, use_cache=True, jobs=1)
    assert not run.errors and not run.internal_errors
    return [(f.path, f.line) for f in run.findings]


def test_sl703_follows_a_validator_added_on_a_warm_run(tmp_path: Path) -> None:
    root, cache = tmp_path / "project", tmp_path / "cache"
    _write(root, PROJECT)
    assert _sl703(root, cache) == [("app/schemas.py", 4)]
    assert _sl703(root, cache) == [("app/schemas.py", 4)]
    (root / "app/schemas.py").write_text(VALIDATED, encoding="utf-8")
    assert _sl703(root, cache) == []
    (root / "app/schemas.py").write_text(PROJECT["app/schemas.py"], encoding="utf-8")
    assert _sl703(root, cache) == [("app/schemas.py", 4)]


def test_sl703_is_silent_when_only_part_of_the_way_is_checked() -> None:
    # The schema alone: nothing says its password reaches bcrypt.
    run = check_sources({"app/schemas.py": PROJECT["app/schemas.py"]}, Settings(select=("SL703",)))
    assert run.findings == []


def test_flows_follow_aliases_and_say_how_a_length_check_answers() -> None:
    code = dedent(
        """\
        import bcrypt

        def digest(password: str, user: "UserIn") -> bytes:
            raw = password.encode("utf-8")
            if len(raw) > 72:
                raise ValueError("too long")
            if 72 < len(user.password.encode()):
                raise HTTPException(422)
            try:
                return bcrypt.hashpw(raw, bcrypt.gensalt())
            except (ValueError, TypeError):
                return b""
        """
    )
    result = engine.check_source(code, "app/m.py", Settings(select=("SL703",)), rules=(), module="app.m", summarize=True)
    assert result.summary is not None
    rows = result.summary.functions["app.m.digest"].flows
    assert ("param", "user", "UserIn") in rows
    assert ("bytes", "password", "raise") in rows
    assert ("bytes", "user.password", "http") in rows
    assert ("arg", 10, 15, 0, "password") in rows
    assert ("caught", 10, 15, "ValueError,TypeError") in rows


def test_flows_are_not_collected_where_no_password_is_mentioned() -> None:
    assert not flows.mentions_credentials("def f(token):\n    return hash(token)\n")
    assert flows.mentions_credentials("pwd_context = CryptContext(schemes=['bcrypt'])\n")


def test_sl202_judges_a_nested_handler_by_its_own_exception() -> None:
    # letta's summarizer: the outer handler hands `e` to the mapper; the inner one raises
    # the mapped error of its own exception. Neither converts without its cause.
    code = dedent(
        """\
        def summarize(client):
            try:
                return client.run()
            except Exception as e:
                try:
                    raise client.handle_llm_error(e)
                except ContextWindowError:
                    try:
                        return client.run_smaller()
                    except Exception as fallback_error:
                        raise client.handle_llm_error(fallback_error)
        """
    )
    assert check_source(code, "m.py", Settings(select=("SL202",))).findings == []


def test_sl202_a_failed_write_answered_with_an_error_message_is_no_success() -> None:
    # dispatch's incident summary: the commit fails, the traceback is logged, and the
    # caller gets a text that says so.
    code = dedent(
        """\
        def summarize(db_session, incident, log):
            try:
                incident.summary = generate(incident)
                db_session.add(incident)
                db_session.commit()
                return incident.summary
            except Exception as e:
                log.exception(f"summary failed: {e}")
                return "Incident summary not generated. An error occurred."
        """
    )
    assert check_source(code, "m.py", Settings(select=("SL202",))).findings == []


LOGIN = {
    "app/schemas.py": "from pydantic import BaseModel\n\nclass Login(BaseModel):\n    password: str\n\nclass Signup(BaseModel):\n    password: str\n",
    "app/routes.py": (
        "import bcrypt\nfrom fastapi import APIRouter\nfrom app.schemas import Login, Signup\n\nrouter = APIRouter()\n\n"
        "@router.post('/login')\nasync def login(body: Login):\n    return bcrypt.checkpw(body.password.encode(), b'...')\n\n"
        "@router.post('/signup')\nasync def signup(body: Signup):\n    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())\n"
    ),
}
ERRORS_MIDDLEWARE = (
    "from fastapi import FastAPI, status\nfrom fastapi.responses import JSONResponse\n"
    "from starlette.middleware.base import BaseHTTPMiddleware\nfrom app.routes import router\n\n"
    "class ExceptionMiddleware(BaseHTTPMiddleware):\n    async def dispatch(self, request, call_next):\n"
    "        try:\n            response = await call_next(request)\n"
    "        except ValueError:\n            response = JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, content={})\n"
    "        except Exception:\n            response = JSONResponse(status_code=500, content={})\n"
    "        return response\n\napp = FastAPI()\napp.include_router(router)\napp.add_middleware(ExceptionMiddleware)\n"
)


# An app serves the routes it includes (which imports them).
INCLUDE = "from app.routes import router\napp.include_router(router)\n"


def _sl703_run(files: dict[str, str]) -> list[tuple[int, str, str]]:
    run = check_sources(files, Settings(select=("SL703",)))
    assert not run.errors and not run.internal_errors
    return sorted((f.line, f.severity.name.lower(), f.message) for f in run.findings)


def test_sl703_an_app_that_answers_value_error_itself_leaves_only_the_truncation() -> None:
    # No handler: bcrypt 5's ValueError is a 500 at login and at sign-up.
    plain = _sl703_run({**LOGIN, "app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert [(line, severity) for line, severity, _ in plain] == [(4, "high"), (7, "high")]
    # dispatch's shape: a middleware turns ValueError into a 422. The login's ValueError is a
    # failed request, not a 500 (not reported); the sign-up still hashes only 72 bytes on bcrypt 4.x.
    for main in (
        ERRORS_MIDDLEWARE,
        "from fastapi import FastAPI\nfrom fastapi.responses import JSONResponse\napp = FastAPI()\n\n"
        "@app.exception_handler(ValueError)\nasync def bad_value(request, exc):\n    return JSONResponse(status_code=400, content={})\n"
        + INCLUDE,
        "from fastapi import FastAPI\nfrom app.handlers import on_value_error\napp = FastAPI()\napp.add_exception_handler(ValueError, on_value_error)\n"
        + INCLUDE,
    ):
        found = _sl703_run({**LOGIN, "app/main.py": main})
        assert [(line, severity) for line, severity, _ in found] == [(7, "medium")], main
        assert "silently ignores everything past 72 bytes" in found[0][2] and "no 500 here" in found[0][2]
        # The handler of an app that does not serve the routes (nothing joins them in the
        # module-dependency graph: another application of the repository) answers nothing
        # for them.
        alone = _sl703_run({**LOGIN, "app/main.py": main.replace(INCLUDE, ""), "app/serve.py": "from app.routes import router\n"})
        assert [(line, severity) for line, severity, _ in alone] == ([(7, "medium")] if main == ERRORS_MIDDLEWARE else [(4, "high"), (7, "high")])
    # A middleware that answers ValueError with a 500, or is never installed, changes nothing.
    for main in (
        ERRORS_MIDDLEWARE.replace("HTTP_422_UNPROCESSABLE_ENTITY", "HTTP_500_INTERNAL_SERVER_ERROR"),
        ERRORS_MIDDLEWARE.replace("app.add_middleware(ExceptionMiddleware)\n", ""),
    ):
        assert [(line, severity) for line, severity, _ in _sl703_run({**LOGIN, "app/main.py": main})] == [(4, "high"), (7, "high")]


def test_sl703_a_try_on_the_way_is_named_before_the_app_level_handler() -> None:
    # dispatch's change_password: the route's own `try: ... except ValueError` answers bcrypt
    # 5's error with a 400 before the application's middleware could see it.
    caught = LOGIN["app/routes.py"].replace(
        "    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())\n",
        "    try:\n        return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())\n"
        "    except ValueError as e:\n        raise HTTPException(status_code=400, detail=str(e)) from e\n",
    ).replace("from fastapi import APIRouter", "from fastapi import APIRouter, HTTPException")
    for main in (ERRORS_MIDDLEWARE, "from fastapi import FastAPI\napp = FastAPI()\n"):
        found = _sl703_run({**LOGIN, "app/routes.py": caught, "app/main.py": main})
        signup = [(severity, message) for line, severity, message in found if line == 7]
        assert signup == [("medium", signup[0][1])]
        assert "caught on the way, in `signup`" in signup[0][1] and "middleware" not in signup[0][1]


def test_sl703_app_level_handler_findings_are_the_same_with_and_without_the_cache(tmp_path: Path) -> None:
    root, cache = tmp_path / "project", tmp_path / "cache"
    _write(root, {**LOGIN, "app/main.py": ERRORS_MIDDLEWARE})
    cold = api.check_paths([root], Settings(select=("SL703",)), cwd=root, use_cache=False, jobs=1)
    for _ in range(2):
        warm = api.check_paths([root], Settings(select=("SL703",)), cwd=root, cache_dir=cache, use_cache=True, jobs=1)
        assert [(f.path, f.line, f.severity, f.message) for f in warm.findings] == [
            (f.path, f.line, f.severity, f.message) for f in cold.findings
        ]
    assert [(f.path, f.line) for f in cold.findings] == [("app/schemas.py", 7)]


def test_sl202_a_raise_caught_by_an_enclosing_try_is_a_jump_not_a_conversion() -> None:
    # letta's tracing: `raise ValueError("str() failed")` lands in the enclosing try's own
    # `except (..., ValueError)`, which answers a placeholder; chaining it changes nothing.
    jump = dedent(
        """\
        def describe(value):
            try:
                try:
                    text = repr(value)
                except Exception:
                    raise ValueError("str() failed")
                return text[:100]
            except (RecursionError, ValueError):
                return "<serialization failed>"
        """
    )
    assert check_source(jump, "m.py", Settings(select=("SL202",))).findings == []
    # Near misses: a handler of another type, or one that raises on, hands the error on.
    for outer in ("except KeyError:\n        return None", "except ValueError:\n        log(); raise"):
        code = dedent(
            """\
            def describe(value):
                try:
                    try:
                        text = repr(value)
                    except Exception:
                        raise ValueError("str() failed")
                    return text[:100]
                OUTER
            """
        ).replace("OUTER", outer)
        (finding,) = check_source(code, "m.py", Settings(select=("SL202",))).findings
        assert finding.line == 5 and "converts every error into `ValueError`" in finding.message
    # Outside any try, the conversion reaches the callers.
    plain = "def load(path):\n    try:\n        return read(path)\n    except Exception:\n        raise RuntimeError('x')\n"
    assert len(check_source(plain, "m.py", Settings(select=("SL202",))).findings) == 1
