"""The call graph's reach: what the project model follows beyond direct calls (issue 9).

Each test is one general rule of Python, on code of our own, most across several files;
SL101 tests at the end check the rule sees through each one, and stays quiet where the
work is offloaded, awaited, or never reaches an async function.
"""

from __future__ import annotations

from pathlib import Path

from sightlint import api, engine
from sightlint.models import Finding
from sightlint.project.model import ProjectModel
from sightlint.settings import Settings


def model(files: dict[str, str]) -> ProjectModel:
    summaries = []
    for path, code in files.items():
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        result = engine.check_source(code, path, Settings(), module=module, rules=[], summarize=True)
        assert result.summary is not None, result.findings
        summaries.append(result.summary)
    return ProjectModel(summaries)


def edges(m: ProjectModel, fid: str) -> set[str]:
    return {e.target for e in m.edges.get(fid, ())}


def externals(m: ProjectModel, fid: str) -> set[str]:
    return {call.name for call in m.externals.get(fid, ())}


# -- module-level code ------------------------------------------------------------------


def test_module_level_code_is_a_caller_of_its_own() -> None:
    m = model(
        {
            "pkg/__init__.py": "",
            "pkg/clients.py": "import redis\n\ndef make():\n    return redis.Redis()\n\nclient = make()\nclient.ping()\n",
            "pkg/app.py": "from pkg.clients import make\n\n@make\ndef decorated():\n    pass\n\nclass Box:\n    built = make()\n",
        }
    )
    assert edges(m, "pkg.clients.<module>") == {"pkg.clients.make"}
    assert externals(m, "pkg.clients.<module>") == {"redis.Redis().ping"}
    # Decorating and class bodies run at import time too.
    assert edges(m, "pkg.app.<module>") == {"pkg.clients.make"}
    assert "pkg.app.<module>" not in m.modules["pkg.app"].toplevel.values()


def test_a_module_without_calls_has_no_module_function() -> None:
    m = model({"pkg/consts.py": "X = 1\n\ndef f():\n    return X\n"})
    assert "pkg.consts.<module>" not in m.functions


# -- generic bases and class-hierarchy analysis ------------------------------------------


def test_generic_bases_inherit_their_methods() -> None:
    m = model(
        {
            "repo/base.py": (
                "from typing import Generic, TypeVar\nT = TypeVar('T')\n\n"
                "class RepositoryBase(Generic[T]):\n    def get(self, key):\n        return self.load(key)\n"
                "    def load(self, key):\n        return key\n"
            ),
            "repo/users.py": (
                "from repo.base import RepositoryBase\nfrom repo import models\n\n"
                "class UserRepo(RepositoryBase[models.User]):\n    pass\n\n"
                "def find(repo: UserRepo):\n    return repo.get(1)\n"
            ),
            "repo/models.py": "class User:\n    pass\n",
        }
    )
    assert edges(m, "repo.users.find") == {"repo.base.RepositoryBase.get"}
    assert m.mro("repo.users.UserRepo") == ("repo.users.UserRepo", "repo.base.RepositoryBase")


def test_a_call_on_a_base_class_receiver_reaches_every_override() -> None:
    m = model(
        {
            "auth/base.py": (
                "import abc\n\nclass Hasher(abc.ABC):\n    @abc.abstractmethod\n"
                "    def hash(self, password: str) -> str: ...\n"
            ),
            "auth/impl.py": (
                "import bcrypt\nfrom auth.base import Hasher\n\n"
                "class BcryptHasher(Hasher):\n    def hash(self, password):\n        return bcrypt.hashpw(password, bcrypt.gensalt())\n\n"
                "class PlainHasher(Hasher):\n    def hash(self, password):\n        return password\n"
            ),
            "auth/api.py": "from auth.base import Hasher\n\nasync def register(hasher: Hasher, pw: str):\n    return hasher.hash(pw)\n",
        }
    )
    assert edges(m, "auth.api.register") == {"auth.base.Hasher.hash", "auth.impl.BcryptHasher.hash", "auth.impl.PlainHasher.hash"}


def test_an_exact_instance_does_not_reach_overrides() -> None:
    m = model(
        {
            "svc.py": (
                "class Base:\n    def run(self):\n        pass\n\nclass Child(Base):\n    def run(self):\n        pass\n\n"
                "def use():\n    b = Base()\n    b.run()\n"
            )
        }
    )
    assert edges(m, "svc.use") == {"svc.Base.run"}


def test_template_methods_and_protocol_receivers() -> None:
    m = model(
        {
            "jobs/base.py": (
                "from typing import Protocol\n\nclass Step(Protocol):\n    def __call__(self, x): ...\n\n"
                "class Job:\n    def run(self):\n        return self.step()\n    def step(self):\n        raise NotImplementedError\n\n"
                "def apply(step: Step):\n    return step(1)\n"
            ),
            "jobs/impl.py": (
                "import time\nfrom jobs.base import Job, Step\n\nclass SlowJob(Job):\n    def step(self):\n        time.sleep(1)\n\n"
                "class Doubler(Step):\n    def __call__(self, x):\n        return 2 * x\n"
            ),
        }
    )
    assert edges(m, "jobs.base.Job.run") == {"jobs.base.Job.step", "jobs.impl.SlowJob.step"}
    assert edges(m, "jobs.base.apply") == {"jobs.base.Step.__call__", "jobs.impl.Doubler.__call__"}


def test_awaited_calls_keep_only_coroutine_overrides() -> None:
    m = model(
        {
            "store.py": (
                "class Store:\n    async def save(self):\n        pass\n\n"
                "class SyncStore(Store):\n    def save(self):\n        pass\n\n"
                "class AsyncStore(Store):\n    async def save(self):\n        pass\n\n"
                "async def handler(store: Store):\n    await store.save()\n"
            )
        }
    )
    assert edges(m, "store.handler") == {"store.Store.save", "store.AsyncStore.save"}


def test_c3_method_resolution_order() -> None:
    m = model(
        {
            "mro.py": (
                "class A:\n    def f(self):\n        pass\n\nclass B(A):\n    pass\n\n"
                "class C(A):\n    def f(self):\n        pass\n\nclass D(B, C):\n    pass\n\n"
                "def use():\n    D().f()\n"
            )
        }
    )
    assert m.mro("mro.D") == ("mro.D", "mro.B", "mro.C", "mro.A")
    assert edges(m, "mro.use") == {"mro.C.f"}


def test_project_subclasses_of_external_classes_inherit_their_methods() -> None:
    m = model(
        {
            "client.py": (
                "import requests\n\nclass Client(requests.Session):\n    def fetch(self, url):\n        return self.get(url)\n\n"
                "def ping():\n    return Client().post('u')\n"
            )
        }
    )
    assert externals(m, "client.Client.fetch") == {"requests.Session().get"}
    assert externals(m, "client.ping") == {"requests.Session().post"}


# -- types from annotations, injection, attributes, factories ------------------------------


def test_optional_and_union_annotations() -> None:
    m = model(
        {
            "u.py": (
                "from typing import Optional, Union\n\nclass A:\n    def go(self):\n        pass\n\n"
                "class B:\n    def go(self):\n        pass\n\n"
                "def one(x: Optional[A]):\n    x.go()\n\ndef two(x: A | B | None):\n    x.go()\n\n"
                "def three(x: 'Union[A, B]'):\n    x.go()\n"
            )
        }
    )
    assert edges(m, "u.one") == {"u.A.go"}
    assert edges(m, "u.two") == edges(m, "u.three") == {"u.A.go", "u.B.go"}


def test_annotated_depends_aliases_and_depends_without_annotation() -> None:
    m = model(
        {
            "app/__init__.py": "",
            "app/db.py": (
                "from typing import Annotated, Iterator\nfrom fastapi import Depends\nfrom sqlalchemy.orm import Session\n\n"
                "class Repo:\n    def list(self):\n        pass\n\n"
                "def get_session() -> Iterator[Session]:\n    with Session() as s:\n        yield s\n\n"
                "def get_repo():\n    yield Repo()\n\n"
                "def make_repo():\n    return Repo()\n\n"
                "SessionDep = Annotated[Session, Depends(get_session)]\n"
            ),
            "app/routes.py": (
                "from fastapi import Depends\nfrom app.db import SessionDep, get_repo, make_repo\n\n"
                "async def one(db: SessionDep):\n    db.commit()\n\n"
                "async def two(repo=Depends(get_repo)):\n    repo.list()\n\n"
                "async def three(repo=Depends(make_repo)):\n    repo.list()\n"
            ),
        }
    )
    assert externals(m, "app.routes.one") == {"sqlalchemy.orm.Session().commit"}
    assert edges(m, "app.routes.two") == {"app.db.Repo.list"}
    assert edges(m, "app.routes.three") == {"app.db.Repo.list"}


def test_attributes_from_init_class_annotations_and_factories() -> None:
    m = model(
        {
            "svc/__init__.py": "",
            "svc/parts.py": (
                "class Mailer:\n    def send(self):\n        pass\n\n"
                "class Cache:\n    def get(self):\n        pass\n\n"
                "def build_mailer() -> Mailer:\n    ...\n"
            ),
            "svc/service.py": (
                "from functools import lru_cache, partial\nfrom svc.parts import Mailer, Cache, build_mailer\n\n"
                "@lru_cache\ndef get_cache():\n    return Cache()\n\n"
                "class Service:\n    cache: Cache\n\n    def __init__(self, mailer: Mailer):\n        self.mailer = mailer\n"
                "        self.other = build_mailer()\n\n"
                "    def run(self):\n        self.mailer.send()\n        self.cache.get()\n        self.other.send()\n"
                "        get_cache().get()\n        later = partial(self.mailer.send, 1)\n        later()\n"
            ),
        }
    )
    assert edges(m, "svc.service.Service.run") == {"svc.parts.Mailer.send", "svc.parts.Cache.get", "svc.service.get_cache"}


def test_names_assigned_more_than_once_hold_either_value() -> None:
    m = model(
        {
            "pick.py": (
                "def a():\n    pass\n\ndef b():\n    pass\n\n"
                "def choose(flag):\n    f = a\n    if flag:\n        f = b\n    f()\n\n"
                "def none_first():\n    g = None\n    g = a\n    g()\n"
            )
        }
    )
    assert edges(m, "pick.choose") == {"pick.a", "pick.b"}
    assert edges(m, "pick.none_first") == {"pick.a"}


# -- context managers, generators, loops -----------------------------------------------------


def test_context_manager_factories_bind_what_they_yield() -> None:
    m = model(
        {
            "cm.py": (
                "from contextlib import contextmanager, asynccontextmanager\n\n"
                "class Conn:\n    def query(self):\n        pass\n\n"
                "class Pool:\n    def __enter__(self):\n        return Conn()\n    def __exit__(self, *a):\n        pass\n\n"
                "@contextmanager\ndef connect():\n    conn = Conn()\n    yield conn\n\n"
                "@asynccontextmanager\nasync def aconnect():\n    yield Conn()\n\n"
                "async def use():\n    with connect() as c:\n        c.query()\n    async with aconnect() as d:\n        d.query()\n"
                "    with Pool() as e:\n        e.query()\n"
            )
        }
    )
    assert "cm.Conn.query" in edges(m, "cm.use")
    assert [e.line for e in m.edges["cm.use"] if e.target == "cm.Conn.query"] == [24, 26, 28]


def test_for_loops_over_generators_lists_and_annotated_iterables() -> None:
    m = model(
        {
            "loop.py": (
                "from typing import Iterator\n\nclass Job:\n    def run(self):\n        pass\n\n"
                "def jobs():\n    yield Job()\n\ndef listed() -> list[Job]:\n    ...\n\n"
                "def go():\n    for job in jobs():\n        job.run()\n\n"
                "def go_listed():\n    for job in listed():\n        job.run()\n\n"
                "def go_literal():\n    for job in [Job(), Job()]:\n        job.run()\n"
            )
        }
    )
    for fid in ("loop.go", "loop.go_listed", "loop.go_literal"):
        assert "loop.Job.run" in edges(m, fid), fid


# -- decorators and callbacks ----------------------------------------------------------------


def test_project_decorators_run_their_wrapper() -> None:
    m = model(
        {
            "util/__init__.py": "",
            "util/retry.py": (
                "import functools, time\n\n"
                "def retry(times):\n    def decorator(fn):\n        @functools.wraps(fn)\n        def wrapper(*args):\n"
                "            for _ in range(times):\n                time.sleep(1)\n            return fn(*args)\n        return wrapper\n    return decorator\n\n"
                "def logged(fn):\n    def inner(*a):\n        return fn(*a)\n    return inner\n\n"
                "def transparent(fn):\n    return fn\n"
            ),
            "util/use.py": (
                "from util.retry import retry, logged, transparent\n\n"
                "@retry(3)\ndef fetch():\n    pass\n\n@logged\ndef save():\n    pass\n\n@transparent\ndef plain():\n    pass\n\n"
                "async def handler():\n    fetch()\n    save()\n    plain()\n"
            ),
        }
    )
    assert edges(m, "util.use.handler") == {
        "util.use.fetch",
        "util.retry.retry.decorator.wrapper",
        "util.use.save",
        "util.retry.logged.inner",
        "util.use.plain",
    }
    assert "time.sleep" in externals(m, "util.retry.retry.decorator.wrapper")


def test_callbacks_forwarded_through_helpers_and_external_callbacks() -> None:
    m = model(
        {
            "cb.py": (
                "import time\n\ndef work():\n    pass\n\n"
                "def inner(fn):\n    return fn()\n\ndef outer(callback):\n    return inner(callback)\n\n"
                "def top(f):\n    return outer(f)\n\n"
                "def caller():\n    top(work)\n    inner(time.sleep)\n\ndef direct():\n    inner(work)\n"
            )
        }
    )
    assert m.called_params("cb.top") == {"f"}
    assert "cb.work" in edges(m, "cb.caller")
    assert externals(m, "cb.caller") == {"time.sleep"}
    # The context-insensitive edge, as written in the helper.
    assert {e.target for e in m.param_edges["cb.inner"]} == {"cb.work"}


def test_callables_in_dicts_and_lists_called_by_subscript() -> None:
    m = model(
        {
            "dispatch.py": (
                "def on_a():\n    pass\n\ndef on_b():\n    pass\n\ndef on_c():\n    pass\n\n"
                "HANDLERS = {'a': on_a, 'b': on_b}\nHANDLERS['c'] = on_c\n\n"
                "def handle(kind):\n    return HANDLERS[kind]()\n\n"
                "def each():\n    steps = [on_a]\n    steps.append(on_b)\n    for step in steps:\n        step()\n"
            )
        }
    )
    assert edges(m, "dispatch.handle") == {"dispatch.on_a", "dispatch.on_b", "dispatch.on_c"}
    assert edges(m, "dispatch.each") == {"dispatch.on_a", "dispatch.on_b"}


def test_builtins_that_call_back_and_raise() -> None:
    m = model(
        {
            "b.py": (
                "class Bad(Exception):\n    def __init__(self):\n        pass\n\n"
                "def key(x):\n    return x\n\ndef sort(items):\n    return sorted(items, key=key)\n\n"
                "def fail():\n    raise Bad\n"
            )
        }
    )
    assert edges(m, "b.sort") == {"b.key"}
    assert edges(m, "b.fail") == {"b.Bad.__init__"}


# -- SL101 through the graph --------------------------------------------------------------


def sl101(tmp_path: Path, files: dict[str, str]) -> list[Finding]:
    for path, text in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    result = api.check_paths([tmp_path], Settings(select=("SL101",)), cwd=tmp_path, jobs=1, use_cache=False)
    assert not result.errors and not result.internal_errors
    return result.findings


HASHERS = {
    "app/__init__.py": "",
    "app/auth/__init__.py": "",
    "app/auth/base.py": "import abc\n\nclass PasswordProvider(abc.ABC):\n    @abc.abstractmethod\n    def hash(self, pw): ...\n",
    "app/auth/bcrypt_provider.py": (
        "import bcrypt\nfrom app.auth.base import PasswordProvider\n\n"
        "class BcryptProvider(PasswordProvider):\n    def hash(self, pw):\n        return bcrypt.hashpw(pw, bcrypt.gensalt())\n"
    ),
}


def test_sl101_reaches_a_password_hasher_through_its_provider_base(tmp_path: Path) -> None:
    files = dict(HASHERS)
    files["app/routes.py"] = (
        "from fastapi import APIRouter, Depends\nfrom app.auth.base import PasswordProvider\n\nrouter = APIRouter()\n\n"
        "def get_provider() -> PasswordProvider:\n    ...\n\n"
        "@router.post('/register')\nasync def register(pw: str, provider: PasswordProvider = Depends(get_provider)):\n"
        "    return provider.hash(pw)\n"
    )
    found = sl101(tmp_path, files)
    assert {(f.path, f.line) for f in found} == {("app/auth/bcrypt_provider.py", 6)}
    assert "register" in (found[0].detail or "") + found[0].message + " ".join(r.message for r in found[0].related)


def test_sl101_stays_quiet_when_the_hasher_is_offloaded(tmp_path: Path) -> None:
    files = dict(HASHERS)
    files["app/routes.py"] = (
        "import asyncio\nfrom app.auth.base import PasswordProvider\n\n"
        "async def register(pw: str, provider: PasswordProvider):\n    return await asyncio.to_thread(provider.hash, pw)\n"
    )
    assert sl101(tmp_path, files) == []


def test_sl101_stays_quiet_on_a_sync_only_graph(tmp_path: Path) -> None:
    files = dict(HASHERS)
    files["app/cli.py"] = "from app.auth.base import PasswordProvider\n\ndef register(pw, provider: PasswordProvider):\n    return provider.hash(pw)\n"
    assert sl101(tmp_path, files) == []


def test_sl101_an_awaited_client_with_a_misleading_annotation_is_clean(tmp_path: Path) -> None:
    files = {
        "svc/__init__.py": "",
        "svc/clients.py": (
            "import requests\n\nclass Client(requests.Session):\n    async def fetch(self, url):\n        return url\n"
        ),
        "svc/api.py": (
            "from svc.clients import Client\n\nasync def get(client: Client):\n    return await client.get('u')\n"
        ),
    }
    assert sl101(tmp_path, files) == []
    files["svc/api.py"] = "from svc.clients import Client\n\nasync def get(client: Client):\n    return client.get('u')\n"
    assert [(f.path, f.line) for f in sl101(tmp_path, files)] == [("svc/api.py", 4)]


def test_sl101_follows_a_project_retry_decorator_and_a_template_method(tmp_path: Path) -> None:
    files = {
        "w/__init__.py": "",
        "w/retry.py": (
            "import time\n\ndef retry(fn):\n    def wrapper(*a):\n        time.sleep(0.5)\n        return fn(*a)\n    return wrapper\n"
        ),
        "w/jobs.py": (
            "import subprocess\nfrom w.retry import retry\n\n@retry\ndef ping():\n    return 1\n\n"
            "class Job:\n    async def run(self):\n        ping()\n        return self.step()\n    def step(self):\n        return 0\n\n"
            "class Shell(Job):\n    def step(self):\n        return subprocess.run(['ls'])\n"
        ),
    }
    found = sorted((f.path, f.line) for f in sl101(tmp_path, files))
    assert found == [("w/jobs.py", 17), ("w/retry.py", 5)]


def test_warm_runs_follow_an_edited_subclass_the_caller_never_imports(tmp_path: Path) -> None:
    """``api`` calls ``hasher.hash`` on a ``Hasher``; ``impl`` (which ``api`` never
    imports) defines the override. Editing ``impl`` must change ``api``'s chain on a warm
    run exactly as on an uncached one, also with the base re-exported by a package."""
    settings = Settings(select=("SL101",))
    root, cache = tmp_path / "p", tmp_path / "cache"
    (root / "auth").mkdir(parents=True)
    (root / "auth" / "__init__.py").write_text("from auth.base import Hasher as Hasher\n")
    (root / "auth" / "base.py").write_text("class Hasher:\n    def hash(self, pw):\n        return pw\n")
    (root / "api.py").write_text("from auth.base import Hasher\n\nasync def register(h: Hasher):\n    return h.hash('x')\n")
    fast = "from auth import Hasher\n\nclass Impl(Hasher):\n    def other(self, pw):\n        return pw\n"
    slow = "import time\nfrom auth import Hasher\n\nclass Impl(Hasher):\n    def hash(self, pw):\n        time.sleep(1)\n"
    (root / "impl.py").write_text(fast)

    def both() -> list[Finding]:
        warm = api.check_paths([root], settings, cwd=root, jobs=1, cache_dir=cache).findings
        cold = api.check_paths([root], settings, cwd=root, jobs=1, use_cache=False).findings
        assert warm == cold
        return cold

    assert both() == []
    (root / "impl.py").write_text(slow)
    assert [(f.path, f.line) for f in both()] == [("impl.py", 6)]
    (root / "impl.py").write_text(fast)
    assert both() == []
    (root / "impl.py").write_text(slow)
    assert len(both()) == 1


def test_self_in_a_method_is_never_a_subclass_that_overrides_the_method() -> None:
    m = model(
        {
            "prov.py": (
                "import requests\n\nclass Provider:\n    async def models_async(self):\n        return self.models()\n"
                "    def models(self):\n        return []\n\n"
                "class Ollama(Provider):\n    async def models_async(self):\n        return []\n"
                "    def models(self):\n        return requests.get('u')\n\n"
                "class Plain(Provider):\n    def models(self):\n        return [1]\n"
            )
        }
    )
    # An Ollama never runs Provider.models_async (it has its own), a Plain does.
    assert edges(m, "prov.Provider.models_async") == {"prov.Provider.models", "prov.Plain.models"}


def test_callable_defaults_and_the_iteration_protocol() -> None:
    m = model(
        {
            "it.py": (
                "import requests\n\ndef local():\n    pass\n\n"
                "def fetch(url, get=requests.get, hook=local):\n    hook()\n    return get(url)\n\n"
                "class Pages:\n    def __iter__(self):\n        return self\n    def __next__(self):\n        raise StopIteration\n\n"
                "def walk():\n    for page in Pages():\n        pass\n    for item in [1, 2]:\n        pass\n"
            )
        }
    )
    assert edges(m, "it.fetch") == {"it.local"}
    assert externals(m, "it.fetch") == {"requests.get"}
    assert edges(m, "it.walk") == {"it.Pages.__iter__", "it.Pages.__next__"}
    assert externals(m, "it.walk") == set()  # no dunder calls on a list


def test_sl101_production_code_only_tests_reach_is_still_reported(tmp_path: Path) -> None:
    """Wider reach lets tests reach more production code; that must not hide it."""
    files = {
        "app/__init__.py": "",
        "app/mount.py": "from pathlib import Path\n\nasync def prepare(dest: Path, data: bytes):\n    dest.write_bytes(data)\n",
        "tests/test_mount.py": "from app.mount import prepare\n\nasync def test_prepare(tmp_path):\n    await prepare(tmp_path / 'x', b'')\n",
    }
    found = sl101(tmp_path, files)
    assert [(f.path, f.line) for f in found] == [("app/mount.py", 4)]
    assert "no known entry point" in found[0].message


def test_decorating_inside_a_function_runs_the_decorator_there() -> None:
    m = model(
        {
            "deco.py": (
                "import time\n\ndef register(fn):\n    time.sleep(0.1)\n    return fn\n\n"
                "def factory():\n    @register\n    def handler():\n        pass\n    return handler\n"
            )
        }
    )
    assert edges(m, "deco.factory") == {"deco.register"}
    assert "deco.<module>" not in m.functions  # nothing runs at import time


def test_sl101_flask_async_views_run_on_a_loop_of_their_own(tmp_path: Path) -> None:
    view = "import time\nfrom {pkg} import {cls}\n\napp = {cls}(__name__)\n\n@app.{deco}('/ask')\nasync def ask():\n    time.sleep(1)\n"
    assert sl101(tmp_path / "flask", {"app.py": view.format(pkg="flask", cls="Flask", deco="route")}) == []
    found = sl101(tmp_path / "fastapi", {"app.py": view.format(pkg="fastapi", cls="FastAPI", deco="get")})
    assert [(f.path, f.line) for f in found] == [("app.py", 8)]


# -- unannotated parameters: what the module's own calls pass ---------------------------


def test_unannotated_parameters_take_what_the_modules_own_calls_pass() -> None:
    m = model(
        {
            "params.py": (
                "class Store:\n    def save(self):\n        pass\n\n"
                "class Cache:\n    def flush(self):\n        pass\n\n"
                "class Saver:\n    def __init__(self, store):\n        self.store = store\n"
                "    def run(self):\n        self.store.save()\n\n"
                "def on_a():\n    pass\n\n"
                "def table(d):\n    d['a']()\n\n"
                "def each(items):\n    for item in items:\n        pass\n\n"
                "class Pages:\n    def __iter__(self):\n        return self\n    def __next__(self):\n        raise StopIteration\n\n"
                "def outer(x):\n    inner(x)\n\ndef inner(y):\n    y.flush()\n\n"
                "def defaulted(c=Cache()):\n    c.flush()\n\n"
                "def main():\n    Saver(Store()).run()\n    table({'a': on_a})\n    each(Pages())\n    outer(Cache())\n    defaulted()\n"
            )
        }
    )
    assert edges(m, "params.Saver.run") == {"params.Store.save"}  # ``self.store = store`` in __init__
    assert edges(m, "params.table") == {"params.on_a"}  # a dict passed in
    assert edges(m, "params.each") == {"params.Pages.__iter__", "params.Pages.__next__"}
    assert edges(m, "params.inner") == {"params.Cache.flush"}  # passed on through ``outer``
    assert edges(m, "params.defaulted") == {"params.Cache.flush"}  # the default


def test_calls_of_a_parameter_stay_context_sensitive() -> None:
    """``run(fn)`` calling ``fn()``: the graph's edge runs from each caller to what it
    passed (so an async caller passing a coroutine function does not reach the blocking
    function a sync caller passes); ``param_edges`` has the helper's view."""
    m = model(
        {
            "run.py": (
                "import time\n\ndef slow():\n    time.sleep(1)\n\ndef fast():\n    pass\n\n"
                "def make():\n    return fast\n\n"
                "def run(fn):\n    return fn()\n\n"
                "def sync_caller():\n    run(slow)\n\nasync def async_caller():\n    run(make())\n"
            )
        }
    )
    assert edges(m, "run.run") == set()
    assert {e.target for e in m.param_edges["run.run"]} == {"run.slow", "run.fast"}
    assert "run.slow" in edges(m, "run.sync_caller")
    assert "run.slow" not in edges(m, "run.async_caller")


def test_parameters_are_followed_through_a_parameter_call() -> None:
    m = model(
        {
            "chain.py": (
                "def leaf():\n    pass\n\n"
                "def call_it(a):\n    a()\n\n"
                "def apply(f, x):\n    f(x)\n\n"
                "class K:\n    @classmethod\n    def build(cls, part):\n        part()\n\n"
                "apply(call_it, leaf)\nK.build(leaf)\n"
            )
        }
    )
    # ``apply`` passes ``x`` (= leaf) to ``f`` (= call_it), which calls it.
    assert {e.target for e in m.param_edges["chain.call_it"]} == {"chain.leaf"}
    # A classmethod's first argument is ``cls``, also when called on the class.
    assert {e.target for e in m.param_edges["chain.K.build"]} == {"chain.leaf"}


def test_decorators_are_passed_the_function_itself_bottom_up() -> None:
    m = model(
        {
            "stack.py": (
                "def outer(f):\n    def wrap():\n        return f()\n    return wrap\n\n"
                "def inner(f):\n    def wrap():\n        return f()\n    return wrap\n\n"
                "@outer\n@inner\ndef work():\n    pass\n"
            )
        }
    )
    # ``outer`` gets what ``inner`` returned; ``inner`` gets ``work`` itself, not the
    # decorated name (whose call would run the wrappers again).
    assert {e.target for e in m.param_edges["stack.outer.wrap"]} == {"stack.inner.wrap"}
    assert {e.target for e in m.param_edges["stack.inner.wrap"]} == {"stack.work"}


def test_only_the_functions_own_module_gives_its_parameters_values() -> None:
    """A caller in another module does not type the parameter: the module's graph would
    then depend on the modules importing it (see ``ProjectModel._parameter``)."""
    m = model(
        {
            "lib.py": "def send(client):\n    return client.get('u')\n",
            "app.py": "import requests\nfrom lib import send\n\nasync def h():\n    return send(requests.Session())\n",
        }
    )
    assert externals(m, "lib.send") == set()


def test_sl101_a_blocking_client_passed_to_a_helper_of_the_module(tmp_path: Path) -> None:
    files = {
        "svc.py": (
            "import httpx\nimport requests\n\n"
            "def _send(session, url):\n    return session.get(url)\n\n"
            "async def _send_async(client, url):\n    return await client.get(url)\n\n"
            "async def handler():\n    return _send(requests.Session(), 'u')\n\n"
            "async def clean_handler():\n    return await _send_async(httpx.AsyncClient(), 'u')\n"
        )
    }
    assert [(f.path, f.line) for f in sl101(tmp_path, files)] == [("svc.py", 5)]
    # The helper's only caller is sync: nothing blocks an event loop.
    files["svc.py"] = files["svc.py"].replace("async def handler", "def handler")
    assert sl101(tmp_path, files) == []


def test_warm_runs_follow_an_argument_changed_in_another_module(tmp_path: Path) -> None:
    """``svc`` passes what ``clients.make`` returns to its own helper: editing ``clients``
    changes the helper's parameter, on a warm run exactly as on an uncached one."""
    settings = Settings(select=("SL101",))
    root, cache = tmp_path / "p", tmp_path / "cache"
    root.mkdir()
    (root / "svc.py").write_text(
        "from clients import make\n\ndef _send(session):\n    return session.get('u')\n\n"
        "async def handler():\n    return _send(make())\n"
    )
    sync = "import requests\n\ndef make():\n    return requests.Session()\n"
    other = "import requests\n\nclass Fake:\n    def get(self, url):\n        return url\n\ndef make():\n    return Fake()\n"

    def both() -> list[Finding]:
        warm = api.check_paths([root], settings, cwd=root, jobs=1, cache_dir=cache).findings
        cold = api.check_paths([root], settings, cwd=root, jobs=1, use_cache=False).findings
        assert warm == cold
        return cold

    (root / "clients.py").write_text(sync)
    assert [(f.path, f.line) for f in both()] == [("svc.py", 4)]
    (root / "clients.py").write_text(other)
    assert both() == []
    (root / "clients.py").write_text(sync)
    assert len(both()) == 1


# -- constant keys and straight-line re-assignment --------------------------------------


def test_dicts_with_constant_keys_give_the_value_at_the_key() -> None:
    m = model(
        {
            "keys.py": (
                "def f1():\n    pass\n\ndef f2():\n    pass\n\ndef f3():\n    pass\n\ndef f4():\n    pass\n\n"
                "def exact():\n    d = {'a': f1, 'b': f2, 1: f3}\n    d['a']()\n    d[1]()\n\n"
                "def replaced():\n    d = {'a': f1}\n    d['a'] = f2\n    d['a']()\n\n"
                "def updated():\n    d = {'a': f1}\n    d.update({'a': f3})\n    d['a']()\n\n"
                "def branch(flag):\n    d = {'a': f1}\n    if flag:\n        d['a'] = f2\n    d['a']()\n\n"
                "def unknown(k):\n    d = {'a': f1, 'b': f2}\n    d[k]()\n\n"
                "def loose(k):\n    d = {'a': f1}\n    d[k] = f4\n    d['a']()\n\n"
                "def missing():\n    d = {'a': f1, 'b': f2}\n    d['c']()\n"
            )
        }
    )
    assert edges(m, "keys.exact") == {"keys.f1", "keys.f3"}  # ``1`` is not ``"1"``
    assert edges(m, "keys.replaced") == {"keys.f2"}
    assert edges(m, "keys.updated") == {"keys.f3"}
    assert edges(m, "keys.branch") == {"keys.f1", "keys.f2"}  # maybe replaced
    assert edges(m, "keys.unknown") == {"keys.f1", "keys.f2"}
    assert edges(m, "keys.loose") == {"keys.f1", "keys.f4"}  # ``k`` may be ``"a"``
    assert edges(m, "keys.missing") == {"keys.f1", "keys.f2"}  # a key never seen: any item


def test_straight_line_reassignment_of_a_local_replaces_its_value() -> None:
    m = model(
        {
            "flow.py": (
                "class A:\n    def m(self):\n        pass\n\nclass B:\n    def m(self):\n        pass\n\n"
                "def replaced():\n    x = A()\n    x = B()\n    x.m()\n\n"
                "def before():\n    x = A()\n    x.m()\n    x = B()\n\n"
                "def branch(flag):\n    x = A()\n    if flag:\n        x = B()\n    x.m()\n\n"
                "def derived():\n    x = A()\n    x = wrap(x)\n    x.m()\n\n"
                "y = A()\ny.m()\ny = B()\n"
            )
        }
    )
    assert edges(m, "flow.replaced") == {"flow.B.m"}
    assert edges(m, "flow.before") == {"flow.A.m"}
    assert edges(m, "flow.branch") == {"flow.A.m", "flow.B.m"}
    # ``x = wrap(x)`` (a call whose result is not known) keeps what ``x`` held.
    assert edges(m, "flow.derived") == {"flow.A.m"}
    # A module-level name is read as it is at the end of the module (functions run
    # later), so its values are kept together.
    assert edges(m, "flow.<module>") >= {"flow.A.m", "flow.B.m"}


def test_a_decorator_factory_is_applied_to_the_function() -> None:
    m = model(
        {
            "fact.py": (
                "def register(name):\n    def dec(f):\n        return f\n    return dec\n\n"
                "def timed(n):\n    def dec(f):\n        def wrapper():\n            return f()\n        return wrapper\n    return dec\n\n"
                "@register('x')\ndef plain():\n    pass\n\n@timed(1)\ndef work():\n    pass\n\n"
                "def use():\n    plain()\n    work()\n"
            )
        }
    )
    # ``register('x')`` returns a decorator that returns the function itself: no wrapper.
    assert edges(m, "fact.use") == {"fact.plain", "fact.work", "fact.timed.dec.wrapper"}
    assert {"fact.register.dec", "fact.timed.dec"} <= edges(m, "fact.<module>")
    assert {e.target for e in m.param_edges["fact.timed.dec.wrapper"]} == {"fact.work"}


def test_items_of_a_project_object_come_from_its_protocol_methods() -> None:
    m = model(
        {
            "proto.py": (
                "def job():\n    pass\n\ndef other():\n    pass\n\n"
                "class Steps:\n    def __iter__(self):\n        return self\n    def __next__(self):\n        return job\n\n"
                "class Gen:\n    def __iter__(self):\n        yield other\n\n"
                "class Table:\n    def __getitem__(self, key):\n        return other\n\n"
                "def run():\n    for step in Steps():\n        step()\n    for g in Gen():\n        g()\n    Table()['x']()\n"
            )
        }
    )
    assert edges(m, "proto.run") >= {"proto.job", "proto.other", "proto.Steps.__iter__", "proto.Steps.__next__"}


def test_a_parameter_that_may_be_returned_or_replaced_keeps_the_alternative() -> None:
    m = model(
        {
            "alt.py": (
                "import uuid\n\n"
                "def media(enabled=True):\n    def decorator(func):\n        if not enabled:\n            return func\n"
                "        async def wrapper():\n            return await func()\n        return wrapper\n    return decorator\n\n"
                "@media(enabled=True)\nasync def tool():\n    pass\n\n"
                "class Ids:\n    def __init__(self, factory=None):\n        self._factory = factory or (lambda: uuid.uuid4().hex)\n"
                "    def new(self):\n        return self._factory()\n\n"
                "async def use():\n    await tool()\n    Ids().new()\n"
            )
        }
    )
    # ``return func`` (disabled) does not hide the wrapper the decorator also returns.
    assert "alt.media.decorator.wrapper" in edges(m, "alt.use")
    # ``factory or default``: the default lambda may be what is called.
    assert edges(m, "alt.Ids.new") == {"alt.Ids.__init__.<lambda@18:36>"}


# -- thread hand-offs give back the function's result ------------------------------------


def test_a_thread_hand_off_returns_what_its_function_returns() -> None:
    # Code that ``sightlint fix`` moved into a thread keeps its types: ``await
    # asyncio.to_thread(make)`` and ``loop.run_in_executor(None, make)`` are ``make()``.
    m = model(
        {
            "pkg/__init__.py": "",
            "pkg/svc.py": "class Service:\n    def work(self):\n        pass\n\n    def other(self):\n        pass\n\ndef make():\n    return Service()\n",
            "pkg/api.py": (
                "import asyncio\nfrom pkg.svc import make\n\n"
                "async def handler():\n    svc = await asyncio.to_thread(make)\n    svc.work()\n\n"
                "async def executor():\n    loop = asyncio.get_running_loop()\n"
                "    svc = await loop.run_in_executor(None, make)\n    svc.other()\n\n"
                "async def unknown(pool):\n    svc = await pool.submit(make)\n    svc.other()\n"
            ),
        }
    )
    assert "pkg.svc.Service.work" in edges(m, "pkg.api.handler")
    assert "pkg.svc.Service.other" in edges(m, "pkg.api.executor")
    # The hand-off runs ``make`` in a thread: its edge stays a thread edge, not a call.
    assert {e.kind for e in m.edges["pkg.api.handler"] if e.target == "pkg.svc.make"} == {"thread"}
    assert "pkg.svc.Service.other" not in edges(m, "pkg.api.unknown")


# -- generators handed to a thread -------------------------------------------------------

_ROWS = (
    "import requests\n\n"
    "def rows():\n    yield requests.get('https://example.com', timeout=5).text\n\n"
    "def plain():\n    return [requests.get('https://example.com', timeout=5).text]\n"
)


def test_a_generator_handed_to_a_thread_runs_there() -> None:
    # A generator function's body runs where its generator is iterated: made on the loop
    # and handed to ``to_thread(next, it)`` / ``to_thread(list, gen())`` /
    # ``run_in_executor(None, list, gen())``, it runs in the worker thread.
    m = model(
        {
            "pkg/__init__.py": "",
            "pkg/data.py": _ROWS,
            "pkg/api.py": (
                "import asyncio\nfrom pkg.data import rows, plain\n\n"
                "async def stepped():\n    it = rows()\n    s = object()\n"
                "    while (x := await asyncio.to_thread(next, it, s)) is not s:\n        pass\n\n"
                "async def listed():\n    return await asyncio.to_thread(list, rows())\n\n"
                "async def executor():\n    loop = asyncio.get_running_loop()\n"
                "    return await loop.run_in_executor(None, list, rows())\n\n"
                "async def iterated():\n    it = rows()\n    first = await asyncio.to_thread(next, it, None)\n    return [first, *it]\n\n"
                "async def reassigned():\n    it = rows()\n    it = rows()\n    return await asyncio.to_thread(list, it)\n\n"
                "async def closure():\n    it = rows()\n\n"
                "    async def each():\n        while (x := await asyncio.to_thread(next, it, None)) is not None:\n            yield x\n\n"
                "    return each()\n\n"
                "async def closure_iterated():\n    it = rows()\n\n"
                "    async def each():\n        yield await asyncio.to_thread(next, it, None)\n        for x in it:\n            yield x\n\n"
                "    return each()\n\n"
                "async def looped():\n    return [x for x in rows()]\n\n"
                "async def plain_arg():\n    return await asyncio.to_thread(list, plain())\n"
            ),
        }
    )

    def kinds(fid: str, target: str) -> set[str]:
        return {e.kind for e in m.edges.get(fid, ()) if e.target == target}

    for fid in ("stepped", "listed", "executor", "closure"):
        assert kinds(f"pkg.api.{fid}", "pkg.data.rows") == {"thread"}, fid
    # A closure's variable handed over by a nested function counts too. Near misses:
    # iterated on the loop too (also in a closure), a local assigned twice, iterated in a
    # comprehension, and a plain function (it runs when called, on the loop).
    for fid in ("iterated", "reassigned", "looped", "closure_iterated"):
        assert kinds(f"pkg.api.{fid}", "pkg.data.rows") == {"call"}, fid
    assert kinds("pkg.api.plain_arg", "pkg.data.plain") == {"call"}


def test_sl101_a_generator_handed_to_a_thread(tmp_path: Path) -> None:
    found = sl101(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/data.py": _ROWS,
            "pkg/api.py": (
                "import asyncio\nfrom fastapi import FastAPI\nfrom pkg.data import rows, plain\n\napp = FastAPI()\n\n"
                "@app.get('/a')\nasync def stepped():\n    it = rows()\n    return await asyncio.to_thread(next, it, None)\n\n"
                "@app.get('/b')\nasync def listed():\n    return await asyncio.to_thread(list, rows())\n"
            ),
        },
    )
    assert found == []
    found = sl101(
        tmp_path,
        {
            "pkg/api.py": (
                "import asyncio\nfrom fastapi import FastAPI\nfrom pkg.data import rows, plain\n\napp = FastAPI()\n\n"
                "@app.get('/a')\nasync def stepped():\n    it = rows()\n    first = await asyncio.to_thread(next, it, None)\n    return [first, *it]\n\n"
                "@app.get('/c')\nasync def plain_arg():\n    return await asyncio.to_thread(list, plain())\n"
            ),
        },
    )
    assert sorted((f.path, f.line, f.severity.name.lower()) for f in found) == [
        ("pkg/data.py", 4, "critical"),
        ("pkg/data.py", 7, "critical"),
    ]
