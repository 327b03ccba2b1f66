"""SL201's fix: where it may log, which logger it calls, what it logs, where imports go."""

from __future__ import annotations

import ast

import pytest

from sightlint.fixer import fix_source
from sightlint.rules.swallowed_exception import SwallowedException, _prevailing_convention
from sightlint.settings import Settings

SL201 = Settings(select=("SL201",))


def fix(source: str, path: str = "app/m.py", module: str | None = "app.m", **kw: object) -> str | None:
    outcome = fix_source(source.encode(), path, SL201, module=module, **kw)  # type: ignore[arg-type]
    assert outcome.status != "failed", outcome.reason
    if outcome.new is None:
        return None
    text = outcome.new.decode()
    ast.parse(text)
    again = fix_source(outcome.new, path, SL201, module=module, **kw)  # type: ignore[arg-type]
    assert again.status == "unchanged"
    return text


HANDLER = "def work(job):\n    try:\n        job.run()\n    except Exception:\n        pass\n"


# -- never from logging code ---------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        # any method of a logging class, not only format/emit/filter
        "import logging\n\nclass H(logging.Handler):\n    def _payload(self, record):\n        try:\n            return build(record)\n        except Exception:\n            return None\n",
        "import logging\n\nclass F(logging.Filter):\n    def filter(self, record):\n        def inner():\n            try:\n                record.ctx = ctx()\n            except Exception:\n                pass\n        inner()\n        return True\n",
        # a format()/filter() of a duck-typed formatter, taking a record
        "class JsonFormatter:\n    def format(self, record):\n        try:\n            record.trace = span()\n        except Exception:\n            pass\n        return str(record)\n",
        # a structlog processor
        "def add_trace(logger, method_name, event_dict):\n    try:\n        event_dict['trace'] = span()\n    except Exception:\n        pass\n    return event_dict\n",
        # __del__, reached through a helper nested in it
        "class C:\n    def __del__(self):\n        def go():\n            try:\n                self.h.release()\n            except Exception:\n                pass\n        go()\n",
        # signal handlers: installed by name, or recognised by their parameters
        "import signal\n\ndef on_term(*args):\n    try:\n        save_state()\n    except Exception:\n        pass\n\nsignal.signal(signal.SIGTERM, on_term)\n",
        "def handler(signum, frame):\n    try:\n        save_state()\n    except Exception:\n        pass\n",
        "import asyncio\n\nclass App:\n    def _stop(self):\n        try:\n            self.server.stop()\n        except Exception:\n            pass\n\n    def run(self, loop):\n        loop.add_signal_handler(2, self._stop)\n",
    ],
)
def test_no_fix_in_logging_code_del_or_signal_handlers(source: str) -> None:
    assert fix(source) is None


@pytest.mark.parametrize("module", ["traceback", "re._parser", "threading", "string", "logging.handlers"])
def test_no_fix_in_modules_the_logging_package_imports(module: str) -> None:
    path = module.replace(".", "/") + ".py"
    assert fix(HANDLER, path=path, module=module) is None
    assert fix(HANDLER, path="app/jobs.py", module="app.jobs") is not None


# -- which logger ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "call"),
    [
        ("from app.core.logging import setup_logger\n\nlogger = setup_logger(__name__)\n", "logger.exception"),
        ("import structlog\n\nlog = structlog.get_logger()\n", "log.exception"),
        ("from app.log import logger\n", "logger.exception"),
        ("from loguru import logger\n", "logger.exception"),
        ("import logging\n\nLOGGER = logging.getLogger('app').getChild('jobs')\n", "LOGGER.exception"),
        ("from app.logs import log\n", "log.exception"),
    ],
)
def test_the_modules_own_logger_is_used_whatever_its_factory(header: str, call: str) -> None:
    out = fix(header + "\n\n" + HANDLER)
    assert out is not None and f'{call}("Ignored error in work")' in out
    assert "getLogger(__name__)" not in out.replace(header, "")  # no second logger
    assert out.count("import logging") == header.count("import logging")


def test_from_math_import_log_is_not_a_logger() -> None:
    out = fix("from math import log\n\n\n" + HANDLER)
    assert out is not None and "logger = logging.getLogger(__name__)" in out and "log.exception" not in out


@pytest.mark.parametrize(
    "source",
    [
        # a parameter called logger / log
        "def work(job, logger=None):\n    try:\n        job.run()\n    except Exception:\n        pass\n",
        "def work(job, log):\n    try:\n        job.run()\n    except Exception:\n        pass\n",
        # a local of the function or of an enclosing one
        "def work(job):\n    logger = job.logger\n    try:\n        job.run()\n    except Exception:\n        pass\n",
        "def outer(job):\n    log = job.log\n    def work():\n        try:\n            job.run()\n        except Exception:\n            pass\n    return work\n",
    ],
)
def test_a_parameter_or_local_named_logger_is_never_called(source: str) -> None:
    out = fix(source)
    assert out is not None
    tree = ast.parse(out)
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(".exception")]
    assert len(calls) == 1
    called = ast.unparse(calls[0].value)  # type: ignore[attr-defined]
    made = [s for s in tree.body if isinstance(s, ast.Assign) and ast.unparse(s) == f"{called} = logging.getLogger(__name__)"]
    assert made, out


def test_a_hidden_module_logger_is_reached_as_getlogger_name_not_duplicated() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef work(job, logger=None):\n    try:\n        job.run()\n    except Exception:\n        pass\n"
    out = fix(source)
    assert out is not None
    assert 'logging.getLogger(__name__).exception("Ignored error in work")' in out
    assert out.count("= logging.getLogger") == 1


def test_a_hidden_logger_of_another_factory_gets_no_fix() -> None:
    source = "from app.log import setup_logger\n\nlogger = setup_logger()\n\ndef work(job, logger=None):\n    try:\n        job.run()\n    except Exception:\n        pass\n"
    assert fix(source) is None


# -- the project's convention ------------------------------------------------------------

STRUCTLOG = ("app.a", "app/a.py", "import structlog\n\nlogger = structlog.get_logger()\n")
STRUCTLOG_B = ("app.b", "app/b.py", "import os\nimport structlog\n\nlogger = structlog.get_logger()\n")
STDLIB = ("app.c", "app/c.py", "import logging\n\nlogger = logging.getLogger(__name__)\n")


def facts(*sources: tuple[str, str, str]) -> dict[str, dict[str, object]]:
    return {"SL201": SwallowedException.fix_facts_for(list(sources))}


def test_a_project_on_structlog_gets_structlog() -> None:
    out = fix("import os\n\n\n" + HANDLER, facts=facts(STRUCTLOG, STRUCTLOG_B, STDLIB))
    assert out is not None
    assert "import logging" not in out
    assert out.startswith("import os\n\nimport structlog\n\nlogger = structlog.get_logger()\n")


def test_one_module_is_no_convention_and_the_default_is_stdlib() -> None:
    assert _prevailing_convention([STRUCTLOG]) is None
    assert _prevailing_convention([STDLIB, STDLIB]) is None
    out = fix(HANDLER, facts=facts(STRUCTLOG))
    assert out is not None and "logger = logging.getLogger(__name__)" in out


def test_a_project_logger_module_with_a_factory() -> None:
    mods = [
        (f"app.api.m{i}", f"app/api/m{i}.py", "from app.core.log import get_logger\n\nlogger = get_logger(__name__)\n")
        for i in range(3)
    ]
    provider = ("app.core.log", "app/core/log.py", "import logging\nfrom app.core.config import settings\n")
    config = ("app.core.config", "app/core/config.py", "import os\n")
    known = facts(*mods, provider, config)
    out = fix("import os\n\nimport httpx\n\n\n" + HANDLER, path="app/api/x.py", module="app.api.x", facts=known)
    assert out is not None
    assert out.startswith("import os\n\nimport httpx\n\nfrom app.core.log import get_logger\n\nlogger = get_logger(__name__)\n"), out
    # The provider imports app.core.config: a fix there would be an import cycle -> stdlib.
    out = fix(HANDLER, path="app/core/config.py", module="app.core.config", facts=known)
    assert out is not None and "logger = logging.getLogger(__name__)" in out and "get_logger" not in out


def test_relative_imports_count_towards_the_convention() -> None:
    mods = [(f"app.api.m{i}", f"app/api/m{i}.py", "from ..log import logger\n") for i in range(2)]
    convention = _prevailing_convention(mods)
    assert convention is not None and convention.imports == (("app.log", "logger"),) and convention.statement is None
    out = fix(HANDLER, path="app/jobs.py", module="app.jobs", facts=facts(*mods))
    assert out is not None and out.startswith("from app.log import logger\n") and "logger.exception" in out


# -- what it logs ------------------------------------------------------------------------


def test_in_a_loop_one_debug_line_without_traceback() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef load(paths):\n    out = []\n    for p in paths:\n        try:\n            out.append(read(p))\n        except:\n            continue\n    return out\n"
    out = fix(source)
    assert out is not None
    assert "        except BaseException as exc:\n            logger.debug(\"Ignored error in load: %r\", exc)\n            continue\n" in out
    assert ".exception(" not in out


def test_a_retry_loop_keeps_an_existing_exception_name_and_avoids_used_names() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\nasync def connect(exc):\n    while True:\n        try:\n            return await open_conn()\n        except Exception:\n            delay = 2\n"
    out = fix(source)
    assert out is not None and "except Exception as error:" in out and 'logger.debug("Ignored error in connect: %r", error)' in out


def test_a_critical_finding_in_a_loop_is_a_warning() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef save(session, rows):\n    for row in rows:\n        try:\n            session.add(row)\n            session.commit()\n        except Exception as e:\n            pass\n"
    out = fix(source)
    assert out is not None and 'logger.warning("Ignored error in save: %r", e)' in out


def test_a_non_stdlib_logger_gets_an_f_string() -> None:
    source = "from loguru import logger\n\ndef load(paths):\n    for p in paths:\n        try:\n            read(p)\n        except Exception:\n            pass\n"
    out = fix(source)
    assert out is not None and 'logger.debug(f"Ignored error in load: {exc!r}")' in out


def test_the_negative_answer_of_a_yes_no_check_is_debug() -> None:
    source = "def is_reachable(url) -> bool:\n    try:\n        ping(url)\n        return True\n    except Exception:\n        return False\n"
    out = fix(source)
    if out is not None:  # the checker may call it a probe and offer nothing
        assert ".exception(" not in out and "logger.debug(" in out


def test_an_unexpected_failure_keeps_the_traceback() -> None:
    out = fix(HANDLER)
    assert out is not None and 'logger.exception("Ignored error in work")' in out


# -- imports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("import os\nimport sys\n\nimport httpx\n\nfrom app import db\n", "import logging\nimport os\nimport sys\n\nimport httpx\n\nfrom app import db\n"),
        ("import asyncio\nimport os\n\nimport httpx\n", "import asyncio\nimport logging\nimport os\n\nimport httpx\n"),
        ("import asyncio\nfrom typing import Any\n\nimport httpx\n", "import asyncio\nimport logging\nfrom typing import Any\n\nimport httpx\n"),
        ("from typing import Any\n\nimport httpx\n", "import logging\nfrom typing import Any\n\nimport httpx\n"),
        ("import httpx\n\nfrom app import db\n", "import logging\n\nimport httpx\n\nfrom app import db\n"),
        ("from __future__ import annotations\n\nimport httpx\n", "from __future__ import annotations\n\nimport logging\n\nimport httpx\n"),
        ("from app import db\n", "import logging\n\nfrom app import db\n"),
        ('"""Doc."""\n', '"""Doc."""\n\nimport logging\n'),
    ],
)
def test_import_logging_goes_into_the_stdlib_group_sorted(header: str, expected: str) -> None:
    out = fix(header + "\n\n" + HANDLER)
    assert out is not None and out.startswith(expected + "\nlogger = logging.getLogger(__name__)\n"), out
    assert out.count("import logging") == 1


def test_an_existing_import_logging_is_not_repeated() -> None:
    out = fix("import httpx\nimport logging\n\n\n" + HANDLER)
    assert out is not None and out.count("import logging") == 1 and out.startswith("import httpx\nimport logging\n\nlogger =")


def test_a_module_outside_the_providers_package_gets_the_default() -> None:
    """A module outside the package (reporting/report.py) may run without the project's package installed."""
    mods = [(f"app.api.m{i}", f"app/api/m{i}.py", "from app.log import get_logger\n\nlogger = get_logger(__name__)\n") for i in range(2)]
    known = facts(*mods, ("app.log", "app/log.py", "import logging\n"))
    out = fix(HANDLER, path="reporting/report.py", module="report", facts=known)
    assert out is not None and "logger = logging.getLogger(__name__)" in out and "app.log" not in out
    out = fix(HANDLER, path="app/jobs.py", module="app.jobs", facts=known)
    assert out is not None and "from app.log import get_logger" in out


def test_a_project_module_named_like_the_stdlib_does_not_move_stdlib_imports() -> None:
    source = "import os\nfrom types import ModuleType\n\nimport yaml\n\n\n" + HANDLER
    outcome = fix_source(source.encode(), "app/m.py", SL201, module="app.m", first_party=frozenset({"app", "types", "logging"}))
    assert outcome.new is not None
    assert outcome.new.decode().startswith("import logging\nimport os\nfrom types import ModuleType\n\nimport yaml\n")


def test_a_comment_that_foresees_the_failure_gives_a_warning_without_traceback() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef deploy(app):\n    try:\n        return lookup(app)\n    except Exception:\n        # App doesn't exist yet, deploy it\n        pass\n    return create(app)\n"
    out = fix(source)
    assert out is not None and 'logger.warning("Ignored error in deploy: %r", exc)' in out
    # `#` inside a string is no comment.
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef tag(x):\n    try:\n        x.run()\n    except Exception:\n        x.t = '#1'\n"
    out = fix(source)
    assert out is not None and 'logger.exception("Ignored error in tag")' in out


def test_a_critical_finding_with_a_comment_keeps_the_traceback() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\nasync def user(token):\n    try:\n        return decode_access_token(token)\n    except Exception:\n        # public access\n        pass\n"
    out = fix(source)
    assert out is not None and 'logger.exception("Ignored error in user")' in out


def test_a_property_that_answers_yes_or_no_logs_the_negative_answer_at_debug() -> None:
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\nclass Plugin:\n    @property\n    def broken(self):\n        try:\n            registry.get(self.slug)\n            return False\n        except Exception:\n            return True\n"
    out = fix(source)
    if out is not None:  # the checker may call it a probe
        assert 'logger.debug("Ignored error in Plugin.broken: %r", exc)' in out


def test_an_import_in_the_try_body_makes_the_failure_optional() -> None:
    # (An optional third-party import alone, `import uvloop; uvloop.install()`, is a probe SL201
    # does not report; a project plugin loader is reported, and its failure is optional.)
    source = "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef serve(app):\n    try:\n        from app.plugins import load_plugins\n        load_plugins(app)\n    except Exception:\n        pass\n    run(app)\n"
    out = fix(source)
    assert out is not None and 'logger.debug("Ignored error in serve: %r", exc)' in out
