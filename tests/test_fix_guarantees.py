"""Issue 13's guarantees that no other test pinned on its own.

The others, and where they are tested: comments, formatting, encoding, BOM, newline style
and file mode kept (``test_fixer.py``: ``test_comments_and_formatting_elsewhere_are_untouched``,
``test_latin1_coding_cookie_is_kept``, ``test_bom_is_kept``, ``test_crlf_newlines_are_kept``,
``test_fix_file_writes_atomically_and_keeps_mode``; ``test_fix_command.py`` through the
command; ``test_hardening.py`` CR-only and form feeds); imports in their isort group and
never repeated (``test_sl201_fix.py``); introduced names never shadow a local, parameter
or module name (``test_sl201_fix.py`` parameters/locals named ``logger`` and fresh
exception names, ``test_fixer.py`` a local ``timezone``, ``test_sl705_sl706.py`` a hoisted
def's name); every written file parses (``test_fixer.py``
``test_output_that_does_not_parse_is_refused``; ``test_fuzz.py``); a second fix changes
nothing (every fixture snapshot in ``test_fixtures.py``); no logging from logging
handlers, formatters, filters, ``__del__`` or signal handlers (``test_sl201_fix.py``).
"""

from __future__ import annotations

import ast

from sightlint.fixer import fix_source
from sightlint.settings import Settings

BOTH = Settings(select=("SL201", "SL301"))

JOBS = '''"""Jobs."""

from __future__ import annotations

import os
from datetime import datetime

import httpx

from app.db import session


async def tick(client: httpx.AsyncClient):
    try:
        await client.get(os.environ["URL"])
    except Exception:
        pass
    return datetime.utcnow()


async def tock(client: httpx.AsyncClient):
    try:
        await client.get("/")
    except Exception:
        pass
    return datetime.utcnow()
'''


def _fix(source: str, settings: Settings = BOTH) -> str:
    outcome = fix_source(source.encode(), "app/jobs.py", settings, module="app.jobs", first_party=frozenset({"app"}))
    assert outcome.status == "changed", (outcome.status, outcome.reason, outcome.skipped)
    assert outcome.new is not None
    again = fix_source(outcome.new, "app/jobs.py", settings, module="app.jobs", first_party=frozenset({"app"}))
    assert again.status == "unchanged"
    return outcome.new.decode()


def test_imports_of_several_rules_are_added_once_each_in_their_groups() -> None:
    """Two rules, two fixes each, in one pass: `import logging` once, in the stdlib group in
    order; `timezone` once, merged into the existing `from datetime import`; the logger once,
    after the imports; third-party and first-party groups untouched."""
    out = _fix(JOBS)
    header = out.split("\n\n\nasync def", 1)[0]
    assert header == (
        '"""Jobs."""\n\nfrom __future__ import annotations\n\nimport logging\nimport os\n'
        "from datetime import datetime, timezone\n\nimport httpx\n\nfrom app.db import session\n\n"
        "logger = logging.getLogger(__name__)"
    )
    assert out.count("import logging") == 1 and out.count("timezone") == 3  # the import and two calls
    assert out.count("logger = ") == 1


def test_a_handler_in_a_finally_block_gets_no_logging() -> None:
    """Cleanup in `finally:` must not raise or log on the way out (the exception being
    propagated would be joined by a logging call that may fail itself): no fix there, while
    the same handler outside `finally:` is fixed."""
    source = (
        "import logging\n\nlogger = logging.getLogger(__name__)\n\n\n"
        "def cleanup(conn):\n    try:\n        conn.work()\n    finally:\n        try:\n            conn.send_stats()\n"
        "        except Exception:\n            pass\n\n\n"
        "def other(conn):\n    try:\n        conn.send_stats()\n    except Exception:\n        pass\n"
    )
    out = _fix(source, Settings(select=("SL201",)))
    cleanup, other = out.split("def other", 1)
    assert "logger." not in cleanup and cleanup.endswith("        except Exception:\n            pass\n\n\n")
    assert "logger.exception" in other
    ast.parse(out)


def test_a_fresh_exception_name_never_shadows_what_the_function_reads_later() -> None:
    """A handler given a name (`except Exception as exc:` for a one-line debug message)
    takes one the function does not use: `exc` and `error` are read after the handler here,
    and `except ... as name` would unbind them."""
    source = (
        "import logging\n\nlogger = logging.getLogger(__name__)\n\n\n"
        "def drain(queue, exc, error):\n    for item in queue:\n        try:\n            item.run()\n"
        "        except Exception:\n            pass\n    return exc, error\n"
    )
    out = _fix(source, Settings(select=("SL201",)))
    handler = out.split("except Exception", 1)[1].split("\n", 1)[0]
    assert handler.startswith(" as ") and handler.split(" as ")[1].rstrip(":") not in ("exc", "error")
    assert out.endswith("    return exc, error\n")


def test_a_cross_file_fix_held_back_by_an_overlap_is_applied_in_the_same_run() -> None:
    # SL704 rewrites the whole route (a decorator and a parameter) and SL401 the LLM call
    # inside it: the second waits for a pass of its own, and that pass must find it again
    # (both are project-phase findings: a per-file re-check does not see them). Found by
    # test_fuzz: the first fix left the SL401 fix for a second run.
    code = (
        "from fastapi import FastAPI, Request\nfrom langchain_openai import ChatOpenAI\n"
        "from slowapi import Limiter\nfrom slowapi.util import get_remote_address\n\n"
        "app = FastAPI()\nlimiter = Limiter(key_func=get_remote_address)\nllm = ChatOpenAI()\n\n\n"
        '@app.post("/summaries")\nasync def summarise(request: Request, text: str) -> str:\n'
        "    return (await llm.ainvoke(text)).content\n"
    )
    settings = Settings(select=("SL401", "SL704"))
    first = fix_source(code.encode(), "app/main.py", settings, unsafe=True)
    assert first.new is not None
    assert sorted(f.code for f in first.applied) == ["SL401", "SL704"]
    new = first.new.decode()
    assert '@limiter.limit("10/minute")' in new and "asyncio.wait_for(llm.ainvoke(text), timeout=60)" in new
    assert fix_source(first.new, "app/main.py", settings, unsafe=True).status == "unchanged"
