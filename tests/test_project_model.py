"""The project model: summaries collected in the engine's walk, names resolved across
modules, call edges, and what is deliberately *not* an edge."""

from __future__ import annotations

import ast
import pickle

from sightlint import engine
from sightlint.api import check_source
from sightlint.project.model import ProjectModel
from sightlint.project.summary import EntrySite, GlobalRef, MemberRef, ModuleSummary
from sightlint.settings import Settings


def summarize(files: dict[str, str]) -> list[ModuleSummary]:
    out = []
    for path, code in files.items():
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        result = engine.check_source(code, path, Settings(), module=module, rules=[], summarize=True)
        assert result.summary is not None, result.findings
        out.append(result.summary)
    return out


def model(files: dict[str, str]) -> ProjectModel:
    return ProjectModel(summarize(files))


def edges(m: ProjectModel, fid: str) -> set[str]:
    return {e.target for e in m.edges.get(fid, ())}


def test_summary_is_compact_and_picklable_without_ast_nodes() -> None:
    (summary,) = summarize({"pkg/a.py": "import time\nclass A:\n    def f(self):\n        time.sleep(1)\n"})

    def walk(value: object) -> None:
        assert not isinstance(value, ast.AST)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif hasattr(value, "__slots__"):
            for name in value.__slots__:
                walk(getattr(value, name))

    walk(summary)
    again = pickle.loads(pickle.dumps(summary))
    assert again == summary
    assert len(pickle.dumps(summary)) < 2000


def test_re_exports_aliases_and_relative_imports_resolve() -> None:
    m = model(
        {
            "pkg/__init__.py": "from .impl import work as work\n",
            "pkg/impl.py": "def work():\n    pass\n",
            "pkg/sub/__init__.py": "from .. import work\n",
            "app/main.py": "from pkg.sub import work as w\nimport pkg as p\n\ndef a():\n    w()\n\ndef b():\n    p.work()\n",
        }
    )
    assert edges(m, "app.main.a") == {"pkg.impl.work"}
    assert edges(m, "app.main.b") == {"pkg.impl.work"}


def test_star_imports_and_module_level_aliases() -> None:
    m = model(
        {
            "lib/core.py": "class Impl:\n    def __init__(self):\n        pass\n",
            "lib/__init__.py": "from lib.core import *\n",
            "app.py": "from lib import Impl\nPreferred = Impl\n\ndef make():\n    return Preferred()\n",
        }
    )
    assert edges(m, "app.make") == {"lib.core.Impl.__init__"}


def test_methods_inheritance_super_and_attribute_types() -> None:
    m = model(
        {
            "svc.py": (
                "class Base:\n"
                "    def run(self):\n"
                "        pass\n"
                "class Child(Base):\n"
                "    def run(self):\n"
                "        super().run()\n"
                "    def go(self):\n"
                "        self.run()\n"
                "class Holder:\n"
                "    other: 'Base'\n"
                "    def __init__(self):\n"
                "        self.child = Child()\n"
                "    def use(self):\n"
                "        self.child.go()\n"
                "        self.other.run()\n"
            )
        }
    )
    assert edges(m, "svc.Child.run") == {"svc.Base.run"}
    assert edges(m, "svc.Child.go") == {"svc.Child.run"}
    assert edges(m, "svc.Holder.__init__") == set()  # Child has no __init__ of its own
    # ``other: Base`` may hold a ``Child``: its override runs too (class-hierarchy analysis).
    assert edges(m, "svc.Holder.use") == {"svc.Child.go", "svc.Base.run", "svc.Child.run"}


def test_return_annotations_and_returned_values_type_the_result() -> None:
    m = model(
        {
            "f.py": (
                "class C:\n"
                "    def m(self):\n"
                "        pass\n"
                "def make() -> C:\n"
                "    ...\n"
                "def make2():\n"
                "    return C()\n"
                "def use():\n"
                "    make().m()\n"
                "    x = make2()\n"
                "    x.m()\n"
            )
        }
    )
    assert edges(m, "f.use") == {"f.make", "f.make2", "f.C.m"}


def call_edges(m: ProjectModel, fid: str) -> set[str]:
    return {e.target for e in m.edges.get(fid, ()) if e.kind == "call"}


def test_offloaded_callables_are_thread_edges_and_unknown_callees_no_edges() -> None:
    m = model(
        {
            "o.py": (
                "import asyncio\n"
                "def work():\n"
                "    pass\n"
                "async def a(callback, obj):\n"
                "    await asyncio.to_thread(work)\n"
                "    asyncio.get_running_loop().run_in_executor(None, work)\n"
                "    callback()\n"
                "    obj.method()\n"
                "    getattr(obj, 'x')()\n"
            )
        }
    )
    assert call_edges(m, "o.a") == set()
    assert [(e.target, e.line, e.kind, e.via) for e in m.edges["o.a"]] == [
        ("o.work", 5, "thread", "passed to asyncio.to_thread"),
        ("o.work", 6, "thread", "passed to asyncio.get_running_loop().run_in_executor"),
    ]
    fn = m.functions["o.a"]
    assert [(h.kind, h.called) for h in fn.handoffs] == [("thread", False), ("thread", False)]
    assert fn.param_calls == [("callback", 7, 4)]


def test_tasks_are_background_edges_and_background_tasks_follow_the_function() -> None:
    m = model(
        {
            "t.py": (
                "import asyncio\n"
                "from fastapi import BackgroundTasks\n"
                "async def job():\n"
                "    pass\n"
                "def sync_job():\n"
                "    pass\n"
                "def make():\n"
                "    return job()\n"
                "async def a(tasks: BackgroundTasks):\n"
                "    asyncio.create_task(job())\n"
                "    asyncio.create_task(make())\n"
                "    tasks.add_task(job)\n"
                "    tasks.add_task(sync_job)\n"
                "    asyncio.get_running_loop().call_soon(sync_job)\n"
            )
        }
    )
    assert sorted((e.target, e.line, e.kind) for e in m.edges["t.a"]) == [
        ("t.job", 10, "background"),  # the coroutine runs as its own task, not in the caller
        ("t.job", 12, "background"),  # Starlette awaits async background tasks on the loop
        ("t.make", 11, "call"),  # called here, now: what it returns is not known
        ("t.sync_job", 13, "thread"),  # ... and runs sync ones in the threadpool
        ("t.sync_job", 14, "background"),  # a callback on the loop
    ]


def test_callbacks_passed_to_a_helper_that_calls_its_parameter() -> None:
    m = model(
        {
            "h.py": "def retry(factory, n=3):\n    return factory()\n",
            "u.py": (
                "from h import retry\n"
                "def target():\n"
                "    pass\n"
                "def caller():\n"
                "    retry(target)\n"
                "    retry(factory=lambda: target())\n"
            ),
        }
    )
    assert edges(m, "u.caller") == {"h.retry", "u.target", "u.caller.<lambda@6:18>"}
    assert edges(m, "u.caller.<lambda@6:18>") == {"u.target"}


def test_cycles_in_imports_and_classes_terminate() -> None:
    m = model(
        {
            "c1.py": "from c2 import X\nclass A(B):\n    pass\nclass B(A):\n    pass\ndef f():\n    X()\n    A().nothing()\n",
            "c2.py": "from c1 import X\n",
        }
    )
    assert edges(m, "c1.f") == set()


def test_nested_defs_and_lambdas_are_separate_functions() -> None:
    m = model(
        {
            "n.py": (
                "async def outer():\n"
                "    def inner():\n"
                "        pass\n"
                "    f = lambda: inner()\n"
                "    inner()\n"
                "    f()\n"
            )
        }
    )
    assert edges(m, "n.outer") == {"n.outer.inner", "n.outer.<lambda@4:8>"}
    assert m.functions["n.outer"].is_async and not m.functions["n.outer.inner"].is_async


def test_fastapi_routes_and_dependencies_are_recorded() -> None:
    (summary,) = summarize(
        {
            "r.py": (
                "from fastapi import APIRouter, Depends\n"
                "router = APIRouter()\n"
                "def dep():\n"
                "    return 1\n"
                "@router.get('/x')\n"
                "def endpoint(d=Depends(dep)):\n"
                "    return d\n"
            )
        }
    )
    assert summary.functions["r.endpoint"].route
    assert not summary.functions["r.dep"].route
    assert summary.entries == [EntrySite("request", MemberRef("r", "dep"), 6, 23)]


def test_summaries_pickle_compactly_and_round_trip() -> None:
    """The cache pickles summaries; they must come back equal (and without dataclass state dicts)."""
    import pickle

    from sightlint.project.summary import CallSite, ClassSummary, FunctionSummary, Handoff, ModuleSummary, TimeoutSite

    site = CallSite(GlobalRef("time.sleep"), 3, 4, 3, 17, "time.sleep", ((0, MemberRef("pkg.mod", "cb")),))
    handoff = Handoff("thread", MemberRef("pkg.mod", "cb"), 4, 4, False, "asyncio.to_thread")
    fn = FunctionSummary("pkg.mod.f", "f", 2, 0, True, calls=[site], param_calls=[("cb", 5, 4)], handoffs=[handoff], awaits=1)
    cls = ClassSummary("pkg.mod.C", "C", 9, bases=(GlobalRef("base.B"),), methods={"run": "pkg.mod.C.run"})
    module = ModuleSummary(
        "pkg.mod", "pkg/mod.py", functions={fn.id: fn}, classes={cls.id: cls},
        timeouts=[TimeoutSite("asyncio.wait_for", fn.id, 3, 4, 3, 30, ((GlobalRef("x"), True, 3, 20, "x"),))],
        entries=[EntrySite("startup", GlobalRef("pkg.life.lifespan"), 7, 30), EntrySite("request", GlobalRef("m.M"), 8, 19, "middleware")],
    )  # fmt: skip
    blob = pickle.dumps(module, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"__setstate__" not in blob and b"_dataclass_setstate" not in blob
    assert pickle.loads(blob) == module


def test_refs_of_different_kinds_are_different_keys() -> None:
    """Refs memoise the model's values: two kinds with the same fields must not collide."""
    from sightlint.project.summary import CallRef, ClsRef, DivRef, LocalFunctionRef, SelfRef, SuperRef

    same_fields = [SelfRef("m.C"), ClsRef("m.C"), SuperRef("m.C"), GlobalRef("m.C"), LocalFunctionRef("m.C")]
    assert len(set(same_fields)) == len(same_fields)
    assert CallRef(GlobalRef("p.Path")) != DivRef(GlobalRef("p.Path"))
    assert pickle.loads(pickle.dumps(same_fields, protocol=pickle.HIGHEST_PROTOCOL)) == same_fields


def test_dependency_terms_read_every_string_inside_refs() -> None:
    from sightlint.project.summary import AttrRef, CallRef, FunctionSummary, OrRef, dependency_terms

    returns = OrRef(CallRef(AttrRef(GlobalRef("pkg.deep.factory"), "make")), AttrRef(MemberRef("pkg.other", "thing"), "sub"))
    fn = FunctionSummary("pkg.mod.f", "f", 1, 0, False, returns=returns)
    terms = dependency_terms(ModuleSummary("pkg.mod", "pkg/mod.py", functions={fn.id: fn}))
    assert {"pkg", "pkg.deep", "pkg.deep.factory", "pkg.other", "pkg.mod.f"} <= terms.prefixes
    assert terms.attrs == {"make", "sub"}
    assert terms.members == {"pkg.other.thing"} and terms.member_names == {"thing"}
