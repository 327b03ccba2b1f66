"""The statement-level fixes of SL501 (double-checked locking), SL701 (cleanup after the
lifespan's ``yield``), SL703 (a 72-byte validator) and SL704 (``@limiter.limit``): where
they are offered, what they write across files, and where they decline."""

from __future__ import annotations

import ast
from pathlib import Path
from textwrap import dedent

from sightlint.api import check_source, check_sources
from sightlint.fixer import fix_paths, fix_source
from sightlint.models import FixSafety
from sightlint.settings import Settings


def _fix(code: str, select: str) -> str | None:
    outcome = fix_source(dedent(code).encode(), "app.py", Settings(select=(select,)), unsafe=True)
    assert outcome.status != "failed", outcome.reason
    if outcome.new is None:
        return None
    text = outcome.new.decode()
    ast.parse(text)
    again = fix_source(outcome.new, "app.py", Settings(select=(select,)), unsafe=True)
    assert again.status == "unchanged"
    return text


def _safety(code: str, select: str) -> list[FixSafety]:
    run = check_sources({"app.py": dedent(code).encode()}, Settings(select=(select,)))
    return [f.fix_safety for f in run.findings]


# -- SL501 ---------------------------------------------------------------------------------


def test_sl501_lock_name_taken_gets_a_suffix() -> None:
    code = """\
        _STORE = None
        _STORE_LOCK = "not a lock"


        def get_store():
            global _STORE
            if _STORE is None:
                _STORE = connect_store()
            return _STORE
        """
    fixed = _fix(code, "SL501")
    assert fixed is not None
    assert "_STORE_LOCK_2 = threading.Lock()" in fixed and "with _STORE_LOCK_2:" in fixed
    assert '_STORE_LOCK = "not a lock"' in fixed


def test_sl501_lock_goes_right_after_its_global_also_after_a_def() -> None:
    code = """\
        import os


        def helper():
            return os.getcwd()


        _POOL = None


        async def pool():
            global _POOL
            if _POOL is None:
                _POOL = await connect_pool(helper())
            return _POOL
        """
    fixed = _fix(code, "SL501")
    assert fixed is not None
    lines = fixed.splitlines()
    assert lines.index("_POOL_LOCK = asyncio.Lock()") == lines.index("_POOL = None") + 1
    assert "        async with _POOL_LOCK:" in fixed
    assert fixed.startswith("import asyncio\nimport os\n")


def test_sl501_no_fix_for_class_attributes_elif_or_a_getter_calling_itself() -> None:
    class_attr = """\
        class Registry:
            _instance = None

            @classmethod
            def get(cls):
                if cls._instance is None:
                    cls._instance = cls()
                return cls._instance
        """
    with_elif = """\
        _CLIENT = None


        def client(flag):
            global _CLIENT
            if flag:
                return None
            elif _CLIENT is None:
                _CLIENT = make_client()
            return _CLIENT
        """
    recursive = """\
        _CLIENT = None


        def client():
            global _CLIENT
            if _CLIENT is None:
                _CLIENT = make_client(fallback=client)
                client()
            return _CLIENT
        """
    for code in (class_attr, with_elif, recursive):
        assert _safety(code, "SL501") == [FixSafety.NONE]
        assert _fix(code, "SL501") is None


# -- SL701 ---------------------------------------------------------------------------------


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    return tmp_path


_LIFESPAN = """\
    import logging
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    from app.db import engine

    logger = logging.getLogger(__name__)


    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await engine.connect()
        yield
        logger.info("bye")


    app = FastAPI(lifespan=lifespan)
    """


def test_sl701_closes_resources_of_other_modules_each_guarded(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/db.py": """\
                from sqlalchemy.ext.asyncio import create_async_engine

                engine = create_async_engine("postgresql+asyncpg://db/app")
                """,
            "app/cache.py": """\
                from redis.asyncio import Redis

                _redis: Redis | None = None


                def get_redis() -> Redis:
                    global _redis
                    if _redis is None:
                        _redis = Redis.from_url("redis://cache")
                    return _redis
                """,
            "app/main.py": _LIFESPAN,
        },
    )
    report = fix_paths([root], Settings(select=("SL701",)), unsafe=True, use_cache=False)
    assert not report.failed
    text = (root / "app/main.py").read_text()
    ast.parse(text)
    # `engine` is imported at the top and always set: used as is; `_redis` may still be None
    # and lives elsewhere: imported at shutdown and closed only if set.
    assert "        await engine.dispose()\n    except Exception:\n        logger.exception(" in text
    assert "        from app.cache import _redis\n\n        if _redis is not None:\n            await _redis.aclose()" in text
    assert report.after is not None and not [f for f in report.after.findings if f.code == "SL701"]


def test_sl701_uses_close_when_redis_is_pinned_below_5_0_1(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "requirements.txt": "fastapi\nredis==4.6.0\n",
            "app/__init__.py": "",
            "app/main.py": """\
                from contextlib import asynccontextmanager

                from fastapi import FastAPI
                from redis.asyncio import Redis

                redis = Redis.from_url("redis://cache")


                @asynccontextmanager
                async def lifespan(app: FastAPI):
                    yield


                app = FastAPI(lifespan=lifespan)
                """,
        },
    )
    fix_paths([root], Settings(select=("SL701",)), unsafe=True, use_cache=False)
    text = (root / "app/main.py").read_text()
    assert "await redis.close()" in text and "aclose" not in text
    assert "logger = logging.getLogger(__name__)" in text


def test_sl701_no_fix_without_a_yield() -> None:
    code = """\
        import httpx
        from fastapi import FastAPI

        app = FastAPI()


        @app.on_event("startup")
        async def open_client() -> None:
            app.state.http = httpx.AsyncClient(timeout=10)
        """
    assert _safety(code, "SL701") == [FixSafety.NONE]


# -- SL703 ---------------------------------------------------------------------------------


def test_sl703_optional_field_and_pydantic_v1(tmp_path: Path) -> None:
    code = """\
        import bcrypt
        from fastapi import APIRouter
        from pydantic import BaseModel, validator

        router = APIRouter()


        class Reset(BaseModel):
            password: str | None = None

            @validator("password")
            def _strip(cls, value):
                return value.strip() if value else value


        @router.post("/reset")
        def reset(body: Reset):
            return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
        """
    root = _project(tmp_path, {"app/__init__.py": "", "app/api.py": code})
    fix_paths([root], Settings(select=("SL703",)), unsafe=True, use_cache=False)
    text = (root / "app/api.py").read_text()
    assert '    @validator("password")\n    def _password_fits_bcrypt(cls, value: str | None) -> str | None:' in text
    assert 'if value is not None and len(value.encode("utf-8")) > 72:' in text
    assert "field_validator" not in text


def test_sl703_no_fix_on_a_sqlmodel_table() -> None:
    code = """\
        import bcrypt
        from fastapi import APIRouter
        from sqlmodel import SQLModel

        router = APIRouter()


        class Account(SQLModel, table=True):
            password: str


        @router.post("/accounts")
        def create(body: Account):
            return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
        """
    assert _fix(code, "SL703") is None


# -- SL704 ---------------------------------------------------------------------------------

_ROUTE = """\
    from fastapi import APIRouter, Request
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    router = APIRouter()
    limiter = Limiter(key_func=get_remote_address)
    llm = ChatOpenAI()


    class Question(BaseModel):
        text: str


    @router.post("/ask")
    async def ask({params}) -> str:
        return (await llm.ainvoke("hi")).content
    """


def test_sl704_keeps_an_existing_request_parameter() -> None:
    fixed = _fix(_ROUTE.format(params="request: Request, q: str"), "SL704")
    assert fixed is not None
    assert '@router.post("/ask")\n@limiter.limit("10/minute")\nasync def ask(request: Request, q: str) -> str:' in fixed


def test_sl704_adds_request_to_an_endpoint_without_parameters() -> None:
    fixed = _fix(_ROUTE.format(params=""), "SL704")
    assert fixed is not None and "async def ask(request: Request) -> str:" in fixed


def test_sl704_declines_a_request_parameter_that_is_not_a_starlette_request() -> None:
    # slowapi takes the parameter named `request` and raises when it is not a Request.
    assert _fix(_ROUTE.format(params="request: Question"), "SL704") is None


def test_sl704_no_fix_without_a_limiter_in_the_module() -> None:
    code = """\
        # file: app/limits.py
        from slowapi import Limiter
        from slowapi.util import get_remote_address

        limiter = Limiter(key_func=get_remote_address)
        # file: app/api.py
        from fastapi import APIRouter, Request
        from langchain_openai import ChatOpenAI

        router = APIRouter()
        llm = ChatOpenAI()


        @router.post("/ask")
        async def ask(request: Request) -> str:
            return (await llm.ainvoke("hi")).content
        # file: app/main.py
        from fastapi import FastAPI
        from app.api import router
        from app.limits import limiter

        app = FastAPI()
        app.state.limiter = limiter
        app.include_router(router)
        """
    from sightlint.rules.base import example_files

    files = {path: text.encode() for path, text in example_files(dedent(code), "x.py").items()}
    run = check_sources(files, Settings(select=("SL704",)))
    assert [f.fix_safety for f in run.findings if f.code == "SL704"] == [FixSafety.NONE]


def test_fixes_compile_and_recheck_clean_in_one_file() -> None:
    result = check_source(dedent(_ROUTE.format(params="q: str")).encode(), "app.py", Settings(select=("SL704",)))
    assert not result.findings  # a cross-file rule: nothing without the project phase
