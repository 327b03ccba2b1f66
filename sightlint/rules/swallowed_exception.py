from __future__ import annotations

import ast
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from textwrap import dedent
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import Finding
from sightlint.project.model import is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import Binding, BindingKind, Scope, ScopeKind
from sightlint.semantics.handlers import (
    DB_RECEIVERS,
    INSPECTION_CALLS,
    LOGGER_NAMES,
    broad_caught,
    build_code,
    decorates_trace,
    may_catch_broadly,
    must_not_raise,
    pure_call,
    trivial,
)
from sightlint.semantics.handlers import database_write as _database_write
from sightlint.semantics.handlers import last_name as _last_name
from sightlint.semantics.handlers import parser as _parser
from sightlint.semantics.handlers import last_word as _last_word
from sightlint.semantics.handlers import security_name as _security_name
from sightlint.semantics.handlers import walk as _walk
from sightlint.semantics.handlers import _LOGGING_BASES, _LOGGING_METHODS
from sightlint.semantics.handlers import words as _words  # noqa: F401 (tests import it from here)

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_SUPPRESS = {"contextlib.suppress"}
# Module-level assignments from calls with these names create a logger we can reuse.
_LOGGER_FACTORIES = {"getLogger", "get_logger", "getChild"}
_PREFERRED_LOGGER_NAMES = LOGGER_NAMES
# Imported objects with these names are loggers (`from app.log import logger`, loguru's
# `logger`); `log` is not among them: `from math import log`.
_IMPORTED_LOGGERS = {"logger", "_logger", "LOGGER", "_LOGGER"}
# The names the fix may give the logger it creates, in order of preference.
_NEW_LOGGER_NAMES = ("logger", "_logger", "sightlint_logger")

_DB_READS = frozenset("execute scalar scalars scalar_one get fetch fetchrow fetchval fetchall fetchone query".split())
# HTTP and LLM calls: modules, client methods, and the receivers those methods belong to.
_HTTP_MODULES = ("httpx.", "requests.", "aiohttp.", "urllib.request.", "openai.", "anthropic.", "litellm.")
_HTTP_METHODS = frozenset("get post put patch delete request send stream fetch".split())
_HTTP_RECEIVERS = frozenset("client http httpx requests api".split())
_LLM_METHODS = frozenset(
    "invoke ainvoke acompletion completion agenerate achat acomplete embed_query embed_documents "
    "aembed_query aembed_documents".split()
)
# `client.chat.completions.create(...)`, `client.messages.create(...)`, `client.embeddings.create(...)`.
_LLM_RESOURCES = frozenset("completions messages embeddings responses".split())

# Environment probes: is the tool or distribution there?
_ENV_PROBES = frozenset(
    "subprocess.check_output subprocess.run subprocess.check_call subprocess.getoutput shutil.which "
    "importlib.import_module importlib.metadata.version importlib.metadata.distribution "
    "pkg_resources.get_distribution".split()
)
_PREDICATE_NAME = re.compile(r"^_*(is|has|can|should|supports|looks_like|check|valid)(_|$)")


# A comment in the handler that says the silence is deliberate.
_DELIBERATE = re.compile(
    r"\b(silent(ly)?|ignor(e|ed|es|ing)|expected|best[- ]effort|intentional(ly)?|deliberate(ly)?|on purpose|"
    r"harmless|permissive|non[- ]?critical|not (critical|important|fatal|needed|required|available)|"
    r"(might|may) not (be|exist|work)|don'?t care|safe to|never let|don'?t (throw|raise|fail|crash)|"
    r"fall ?back to|"
    r"ok(ay)? (if|to)|fine (if|to))\b",
    re.IGNORECASE,
)
_PROBE_VALUES = ("ignore", "low")
# A linter told to accept this broad handler: ruff's BLE001/S110/S112/E722, pylint's
# broad-except/bare-except, PyCharm's PyBroadException. The handler has been reviewed.
_REVIEWED = re.compile(
    r"(noqa\b.*\b(BLE001|S110|S112|E722))|pylint:\s*disable=[\w,-]*(broad-except|broad-exception-caught|bare-except)"
    r"|noinspection\s+PyBroadException",
    re.IGNORECASE,
)
# Folders and modules of telemetry: tracing, metrics and analytics must not break what
# they observe, so their best-effort handlers are not findings.
_TELEMETRY_PARTS = frozenset(
    "otel opentelemetry telemetry tracing tracer metrics monitoring observability analytics instrumentation".split()
)
# Words of visual work: a colour, a progress bar, an avatar. Failing it silently changes
# how something looks, not what is stored or who gets in.
_COSMETIC_WORDS = frozenset(
    "color colour colors colours colorize progress spinner avatar photo photos icon emoji "
    "thumbnail banner favicon theme".split()
)
# Functions that guess (language, encoding, dialect): "cannot tell" is an answer.
_DETECTION_WORDS = frozenset("detect guess infer sniff".split())
_DETECTED_WORDS = frozenset("language lang dialect encoding charset mime mimetype locale".split())


@dataclass(frozen=True)
class SwallowedExceptionOptions:
    """The settings of SL201 (swallowed-exception)."""

    probe: str = field(default="ignore", metadata={"choices": _PROBE_VALUES})
    """Probes (parse, lookup, import, tool and true/false checks): "ignore" or "low"."""


class SwallowedException(Rule):
    """
    ## What it flags
    A bare `except:`, a broad handler (`Exception`, `BaseException`, or a tuple that
    contains one) or `contextlib.suppress(Exception)` that makes an error disappear: the
    handler only passes, continues, breaks, returns a plain value or assigns a fallback —
    nothing is called, nothing is raised and the caught exception is never used. A
    handler that calls anything (a logger at any level, `traceback.print_exc()`, a
    rollback), raises, or stores or returns the exception is not flagged, nor is a handler
    for specific exceptions (`except KeyError: pass`); a broad handler that logs without
    the traceback is SL202's business.

    The severity says what was swallowed:

    - **critical** — the `try` body makes a security or data decision: it calls
      something named for authentication, tokens, permissions, passwords, credentials
      or payment (`decode_access_token(...)`, `jwt.decode(...)`,
      `user.check_permission(...)`) or writes a database (`session.commit()`,
      `db.add(row)`): the failure silently changes what is stored or who gets in.
    - **medium** — a silent broad handler around other work, including one that returns
      or stores the result of an HTTP, LLM or database call (`return await
      client.post(...)`, `rows = await session.execute(...)`): judged on real back ends,
      such fallbacks (a schema read, a cache read, an empty reply) are worth fixing but
      rarely first.
    - **one grade lower, without a fix** — when the silence is written on purpose: a
      comment in the handler says so ("silently ignore", "best effort", "expected"; a
      log call next to it would contradict it), a linter exemption for the broad
      handler sits on it (`# noqa: BLE001`, `S110`, `# noinspection PyBroadException`,
      `# pylint: disable=broad-except`), or it is `contextlib.suppress(Exception)`.
      A returned HTTP/LLM/database result becomes low; a database write becomes
      medium; other work silenced on purpose is not reported (judged on real back ends,
      none was worth a reviewer's time). A security decision stays critical: an error
      ignored on purpose in authentication is the audit's case.
    - In tests (`test_*.py`, `*_test.py`, a `tests/` folder), which decide nothing in
      production, only a swallowed `assert` is reported (low, no fix): that check can
      never fail. A comment saying the check is optional on purpose ("non-deterministic,
      don't throw if missing") silences it, except for `assert False, "should have
      raised"`, which a broad handler always turns into a pass.
    - **not reported** — cleanup that must not raise: a handler in a `finally:` block
      or in a handler that ends by re-raising, in
      `__exit__`/`__aexit__`/`close`/`aclose`/`__del__` or a function named for cleanup
      (`shutdown_clients`), around closing calls only (`conn.close()`), around reaping
      a task (`await task`) or around a body that cannot raise (`pass`); metrics and
      tracing (`counter.add(1)`, `gauge.set(n)`, `span.set_attribute(k, str(v))` and
      the values computed for them), and the synchronous work of telemetry modules (a
      path part named `otel`, `telemetry`, `tracing`, `monitoring`, `observability`,
      `analytics`, `instrumentation`; an awaited read there is still reported); a
      handler in a `logging.Formatter`/`Handler`/`Filter` subclass's
      `format`/`emit`/`filter` (logging from there re-enters the handler:
      `RecursionError`); developer and CI tooling, told by how the code runs and not by
      folder names (an agent's `tools/` folder is service code): a file in a hidden
      folder that no package ships (`.github/scripts/`, `.circleci/`), a file that
      starts with a shebang (`#!/usr/bin/env python3`), an
      `if __name__ == "__main__":` block, or a package's build code (a module defining a
      hatchling build hook or a setuptools command, or calling `setup(...)`), where
      only a security decision (critical) or a database write (medium) is reported;
      visual work (the function or what the
      body sets is named for a colour, a progress bar, a photo, an avatar or an icon:
      `user["image"] = ...`, `progress.update(...)`); the caller's own fallback — the
      handler returns a parameter that the guarded work passes to nothing and no HTTP,
      LLM or database client read is in the body (`async def subject(content,
      fallback): ... except Exception: return fallback`); a debug line computed and logged (`tok = load(p);
      logger.info(tok.decode(ids))`); and **probes**, where the failure is an expected
      answer and the handler's fallback is one statement (or plain assignments of local
      names): a body that only parses, converts, inspects or looks up a value
      (`json.loads(raw)`, `int(text)`, `str(getattr(client, "_base_url", ""))`,
      `base64.b64decode(data)`, `urlparse(url)`, `Path(p).name`, `pd.to_numeric(col)`,
      `parsedate_to_datetime(raw)`, `data["key"]`), file metadata and content sniffing
      (`os.path.getsize`, `magic.Magic(mime=True).from_file(p)`,
      `csv.Sniffer().sniff(s)`, `mimetypes.guess_type`), type introspection
      (`typing.get_type_hints`, `inspect.signature`), one lookup in another
      distribution (`babel.numbers.get_territory_currencies(country)`), a function that
      detects or guesses a language, encoding, dialect or MIME type and answers a
      constant, a choice among the members of the class the function is annotated to
      return, with one of them as the fallback (`def strategy(meta) -> Strategy:` ...
      `except Exception: pass` ... `return Strategy.LINE_BASED`; a `return []` for a
      `-> list` is lost data and stays reported), a read of another library's private
      internals (`query._compile_state()`, `shape._element`, never `self._x`), where
      the handler is the version guard, a filter whose yes/no test (a function of the
      module or method of the class annotated `-> bool`) failed and the item is left
      out (`if self._overlaps(s, z): keep.append(s)` / `continue`), a true/false check (`def is_up(url) -> bool:` whose handler returns
      `False`, a `-> bool | None` check answering None, or a body ending in `return
      False` whose handler returns `True`), a body of imports only, a local import and
      reads of what it provides, an import of another distribution by its top-level
      name used in the `try` (`import uvloop`), a handler that also names
      `ImportError` (an optional dependency), or a tool probe
      (`subprocess.run(["git", ...], check=False)` and reading its output).

    ## Why it matters
    The error disappears without a trace. In an authentication dependency, a database
    outage, a bug in token decoding and a forged token all become the same silent
    "anonymous user"; a failed commit looks like a saved order; nobody is alerted and the
    logs hold nothing to debug with. A bare `except:` also swallows `KeyboardInterrupt`,
    `SystemExit` and `asyncio` cancellation. A probe is different: logging its expected
    failure would print an ERROR with a traceback on the normal path (every plain-text
    message that is not JSON, every poll before a server is up) — narrow its exception
    type instead (`except (ValueError, TypeError):`, `except httpx.HTTPError:`).

    ## Fix
    For critical and medium findings inside a function, inserts
    `logger.exception("Ignored error in <function>")` as the first statement of the
    handler, which logs the message with the full traceback and then carries on exactly
    as before; a `pass` that becomes redundant is replaced, and comments are kept. Where
    the failure is routine — the `try` runs in a loop (a retry, a parse of each item), it
    is the negative answer of a yes/no check (`is_valid_url` returning `False`), the `try`
    body imports something (an optional dependency may be missing), or a
    comment in the handler explains the fallback ("app doesn't exist yet, deploy it";
    not for a critical finding) — a traceback per occurrence would flood the log: the
    fix logs one line without it, `logger.debug("Ignored error in <function>: %r", exc)`
    in a loop, a yes/no check or around an import, `logger.warning(...)` where a comment foresaw the
    failure or the finding is critical (a non-stdlib logger gets an f-string), naming
    the exception `exc` (or `error`, `err`) if the handler does not
    (a bare `except:` becomes the equivalent `except BaseException as exc:`).

    Which logger: the module's own, whatever makes it — `logging.getLogger(...)`,
    `structlog.get_logger(...)`, `logger = setup_logger()` (a logger name assigned from a
    call whose name says log), or an imported `logger` — if its name still means that
    logger inside the handler. A parameter or local that happens to be called `logger` or
    `log` is never called (with `log=None` the handler would raise); where it hides a
    module logger made by `logging.getLogger(__name__)`, the fix calls
    `logging.getLogger(__name__)` (the same logger object). A module without a logger gets
    one made the project's prevailing way when `sightlint fix` sees two or more modules
    share one (`logger = structlog.get_logger()`, `from app.core.logging import
    get_logger` + `logger = get_logger(__name__)`, `from app.log import logger`) and
    importing it cannot come back to this module (no import cycle); else `import logging`
    and `logger = logging.getLogger(__name__)`, once, named by the first of `logger`,
    `_logger`, `sightlint_logger` free in the handler. Imports go where isort (and ruff's
    `I001`) put them: `import logging` in the standard-library group, sorted; never twice.

    The fix is **safe**: control flow does not change, not even for a bare `except:`
    (which still catches what it caught; narrow it by hand if it swallows
    cancellation). No fix where logging itself is unsafe: in any method of a
    `logging.Formatter`/`Handler`/`Filter` subclass (and functions nested in one), a
    `format`/`filter`/`emit` that takes a log `record`, a structlog processor (it
    takes `event_dict`), `__del__` (it may run during interpreter shutdown or inside the
    logging machinery), and signal handlers (`signal.signal(SIGTERM, handler)`,
    `loop.add_signal_handler(...)`, or `(signum, frame)` parameters: logging takes a lock
    the interrupted code may hold); and none in the modules the `logging` package
    imports itself (`os`, `re`, `threading`, `traceback`, ...: the added import would be
    circular). Not offered either at import time (the new logger might not exist yet),
    for `contextlib.suppress` (it has no handler to log from), for low findings, or for
    probes (narrow the exception type by hand).

    ## Options
    Probes are not reported by default; `probe = "low"` lists them at low severity, to
    find the ones worth narrowing to the exceptions they expect. Any other value stops
    the run with exit code 2.
    """

    meta = RuleMeta(
        code="SL201",
        name="swallowed-exception",
        severity=Severity.CRITICAL,
        summary="Broad exception handler swallows the error without logging or re-raising it.",
        audit="§6",
        fix=FixSafety.SAFE,
        fix_title="Log the error with its traceback (`logger.exception`)",
        tags=("errors",),
    )
    Options = SwallowedExceptionOptions

    bad = (
        Bad(
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception:\n"
            "        # public endpoints work without a user\n"
            "        pass\n"
            "    return None\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "\n"
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception as exc:\n"
            "        # public endpoints work without a user\n"
            '        logger.warning("Ignored error in get_current_user_optional: %r", exc)\n'
            "    return None\n",
            in_docs=True,
        ),
        Bad(
            "import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def ping(client):\n"
            "    try:\n"
            "        return client.ping()\n"
            "    except: pass  # offline\n",
            fixed="import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def ping(client):\n"
            "    try:\n"
            "        return client.ping()\n"
            "    except BaseException as exc:  # offline\n"
            '        log.warning("Ignored error in ping: %r", exc)\n',
        ),
        Bad(
            "import structlog\n"
            "\n"
            "logger = structlog.get_logger()\n"
            "\n"
            "class Cache:\n"
            "    async def get(self, key):\n"
            "        try:\n"
            "            return await self.redis.get(key)\n"
            "        except Exception as exc:\n"
            "            return None\n",
            fixed="import structlog\n"
            "\n"
            "logger = structlog.get_logger()\n"
            "\n"
            "class Cache:\n"
            "    async def get(self, key):\n"
            "        try:\n"
            "            return await self.redis.get(key)\n"
            "        except Exception as exc:\n"
            '            logger.exception("Ignored error in Cache.get")\n'
            "            return None\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def load_all(paths):\n"
            "    for path in paths:\n"
            "        try:\n"
            "            yield parse(path)\n"
            "        except BaseException:\n"
            "            continue\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def load_all(paths):\n"
            "    for path in paths:\n"
            "        try:\n"
            "            yield parse(path)\n"
            "        except BaseException as exc:\n"
            '            logger.debug("Ignored error in load_all: %r", exc)\n'
            "            continue\n",
        ),
        Bad(
            '"""Scale helpers."""\n'
            "from __future__ import annotations\n"
            "\n"
            "def midpoint(scale, raw, low, high):\n"
            "    try:\n"
            "        return scale.position(raw)\n"
            "    except (ValueError, Exception):\n"
            "        value = (low + high) // 2\n"
            "    return value\n",
            fixed='"""Scale helpers."""\n'
            "from __future__ import annotations\n"
            "\n"
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "\n"
            "def midpoint(scale, raw, low, high):\n"
            "    try:\n"
            "        return scale.position(raw)\n"
            "    except (ValueError, Exception):\n"
            '        logger.exception("Ignored error in midpoint")\n'
            "        value = (low + high) // 2\n"
            "    return value\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def outer():\n"
            "    def release(conn):\n"
            "        try:\n"
            "            conn.release()\n"
            "        except Exception:\n"
            "            ...\n"
            "    return release\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def outer():\n"
            "    def release(conn):\n"
            "        try:\n"
            "            conn.release()\n"
            "        except Exception:\n"
            '            logger.exception("Ignored error in outer.release")\n'
            "    return release\n",
        ),
        Bad(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def demographics(persona):\n"
            "    try:\n"
            "        return build(persona)\n"
            "    except Exception:\n"
            "        result = {'age': str(persona.age), 'city': None}\n"
            "    return result\n",
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "def demographics(persona):\n"
            "    try:\n"
            "        return build(persona)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in demographics")\n'
            "        result = {'age': str(persona.age), 'city': None}\n"
            "    return result\n",
        ),
        Bad(
            "import os\n"
            "\n"
            "def remove_upload(path):\n"
            "    try:\n"
            "        os.remove(path)\n"
            "    except Exception:\n"
            "        pass\n"
            "    try:\n"
            "        os.rmdir(os.path.dirname(path))\n"
            "    except Exception: pass\n",
            fixed="import logging\n"
            "import os\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "\n"
            "def remove_upload(path):\n"
            "    try:\n"
            "        os.remove(path)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in remove_upload")\n'
            "    try:\n"
            "        os.rmdir(os.path.dirname(path))\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in remove_upload")\n',
            count=2,
        ),
        # `log` here is the parameter, which may be None: the fix must not call it.
        Bad(
            "import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def notify(client, message, log=None):\n"
            "    try:\n"
            "        client.send(message)\n"
            "    except Exception:\n"
            "        pass\n",
            fixed="import logging\n"
            "\n"
            "log = logging.getLogger(__name__)\n"
            "\n"
            "def notify(client, message, log=None):\n"
            "    try:\n"
            "        client.send(message)\n"
            "    except Exception:\n"
            '        logging.getLogger(__name__).exception("Ignored error in notify")\n',
        ),
        # At import time the new logger might not exist yet: flagged, but no fix.
        Bad("try:\n    SETTINGS = load_settings()\nexcept Exception:\n    SETTINGS = None\n"),
        # Critical: a database write fails silently and the order looks saved.
        Bad(
            dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def place_order(session, order):
                    try:
                        session.add(order)
                        await session.commit()
                    except Exception:
                        pass
                    return order
                """
            ),
            fixed=dedent(
                """\
                import logging

                logger = logging.getLogger(__name__)

                async def place_order(session, order):
                    try:
                        session.add(order)
                        await session.commit()
                    except Exception:
                        logger.exception("Ignored error in place_order")
                    return order
                """
            ),
        ),
        # Critical: an LLM call's failure becomes an empty answer that is returned.
        Bad(
            dedent(
                """\
                async def summarise(llm, text):
                    try:
                        return await llm.ainvoke(text)
                    except Exception:
                        return ""
                """
            ),
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "\n"
            "async def summarise(llm, text):\n"
            "    try:\n"
            "        return await llm.ainvoke(text)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in summarise")\n'
            '        return ""\n',
        ),
        # `suppress(Exception)` swallows like `except Exception: pass`, on purpose: a returned
        # HTTP result is low, and there is no handler to log from.
        Bad(
            "import contextlib\n\nasync def refresh(client, user):\n    with contextlib.suppress(Exception):\n"
            "        user.plan = await client.get('/me/plan')\n"
        ),
        # Low: the comment says the silence is deliberate; a log call there would contradict it.
        Bad(
            dedent(
                """\
                def track(run_tree, llm, decision):
                    try:
                        run_tree.metadata["result"] = llm.invoke(decision)
                    except Exception:
                        pass  # Silently ignore if run tree is not available
                """
            )
        ),
        # Medium, not critical: a database write silenced on purpose.
        Bad(
            dedent(
                """\
                def drop_indexes(session, names):
                    for name in names:
                        try:
                            session.commit()
                        except Exception:  # noqa: BLE001
                            pass
                """
            )
        ),
        # Not a probe: the handler does more than fall back (two statements).
        Bad(
            dedent(
                """\
                def age(raw, stats):
                    try:
                        return int(raw)
                    except Exception:
                        stats.bad = True
                        return None
                """
            ),
            fixed="import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "\n"
            "def age(raw, stats):\n"
            "    try:\n"
            "        return int(raw)\n"
            "    except Exception:\n"
            '        logger.exception("Ignored error in age")\n'
            "        stats.bad = True\n"
            "        return None\n",
        ),
    )

    good = (
        Good(
            "import logging\n"
            "\n"
            "logger = logging.getLogger(__name__)\n"
            "\n"
            "async def get_current_user_optional(token, db):\n"
            "    try:\n"
            "        return await load_user(token, db)\n"
            "    except Exception:\n"
            '        logger.exception("Token validation failed")\n'
            "    return None\n",
        ),
        Good("def get(d, k):\n    try:\n        return d[k]\n    except KeyError:\n        pass\n"),
        # Other work silenced on purpose (`suppress`, a comment, a linter exemption): not reported.
        Good("import contextlib, os\n\ndef rm(p):\n    with contextlib.suppress(Exception):\n        os.remove(p)\n"),
        Good(
            dedent(
                """\
                import faulthandler, sys

                def setup():
                    try:
                        faulthandler.enable(file=sys.stderr, all_threads=True)
                    except Exception:
                        pass  # Faulthandler might not be available
                """
            )
        ),
        Good("def parse(s):\n    try:\n        return int(s)\n    except (ValueError, TypeError):\n        return None\n"),
        # Probes: the failure is the answer, and the handler's one statement is the fallback.
        Good(
            dedent(
                """\
                import json

                def unpack(message):
                    try:
                        data = json.loads(message)
                        return data.get("message", message)
                    except Exception:
                        return message  # plain text is not JSON
                """
            ),
            in_docs=True,
        ),
        Good(
            dedent(
                """\
                import httpx

                def is_server_up(url: str) -> bool:
                    try:
                        return httpx.get(f"{url}/health", timeout=2.0).is_success
                    except Exception:
                        return False
                """
            )
        ),
        Good("try:\n    import orjson\nexcept Exception:\n    orjson = None\n"),
        Good(
            dedent(
                """\
                from subprocess import check_output

                def git_revision(path):
                    try:
                        revision = check_output(["git", "rev-parse", "HEAD"], cwd=path)
                    except Exception:
                        return None
                    return revision.decode().strip()
                """
            )
        ),
        # Cleanup that must not raise.
        Good(
            dedent(
                """\
                import contextlib

                class Client:
                    async def close(self):
                        with contextlib.suppress(Exception):
                            await self.http.aclose()

                    def __del__(self):
                        try:
                            self.pool.release_all()
                        except Exception:
                            pass

                def run(job, conn):
                    try:
                        job.run(conn)
                    finally:
                        try:
                            conn.rollback_if_open()
                        except Exception:
                            pass
                """
            )
        ),
        # Logging from inside a formatter re-enters the handler (RecursionError).
        Good(
            dedent(
                """\
                import logging

                class JSONFormatter(logging.Formatter):
                    def format(self, record):
                        data = {"message": record.getMessage()}
                        try:
                            data["trace_id"] = current_span().trace_id
                        except Exception:
                            pass
                        return dumps(data)
                """
            )
        ),
        Good("def f():\n    try:\n        g()\n    except Exception:\n        rollback()\n        raise\n"),
        Good(
            "from fastapi import HTTPException\n"
            "\n"
            "def check(token):\n"
            "    try:\n"
            "        return decode(token)\n"
            "    except Exception:\n"
            "        raise HTTPException(status_code=401)\n"
        ),
        Good("try:\n    import orjson\nexcept ImportError:\n    orjson = None\n"),
        Good(
            "import asyncio\n"
            "\n"
            "async def stop(task):\n"
            "    task.cancel()\n"
            "    try:\n"
            "        await task\n"
            "    except asyncio.CancelledError:\n"
            "        pass\n"
        ),
        Good("import traceback\n\ndef f():\n    try:\n        g()\n    except Exception:\n        traceback.print_exc()\n"),
        Good("def f(log):\n    try:\n        g()\n    except Exception as e:\n        log.debug(f'g failed: {e}')\n"),
        Good(
            "def retry(fn):\n"
            "    last = None\n"
            "    for _ in range(3):\n"
            "        try:\n"
            "            return fn()\n"
            "        except Exception as exc:\n"
            "            last = exc\n"
            "    raise RuntimeError('gave up') from last\n"
        ),
        # A fallback that calls our own code does something; whether that hides errors is SL202's call.
        Good("def f():\n    try:\n        return g()\n    except Exception:\n        return default_settings()\n"),
        Good("class Exception(Warning):\n    pass\n\ndef f():\n    try:\n        g()\n    except Exception:\n        pass\n"),
        Good(
            dedent(
                """\
                def strategy(registry, mime) -> Strategy:
                    try:
                        return registry.by_mime(mime)
                    except Exception:
                        pass
                    return Strategy.LINE_BASED
                """
            )
        ),
        Good(
            dedent(
                """\
                def joined_models(query, models):
                    if hasattr(query, "_compile_state"):
                        try:
                            for mapper in query._compile_state()._join_entities:
                                models.append(mapper.class_)
                        except Exception:
                            pass
                """
            )
        ),
    )

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a handler `broad_caught` calls broad, or a `suppress(...)` with an
        # argument it calls broad (not None, so not bare): see `may_catch_broadly`.
        return may_catch_broadly(text)

    def __init__(self, context: Context, options: Any = None) -> None:
        super().__init__(context, options)
        # `try` and `with` statements inside some `finally:` block of this file.
        self._in_finally: set[ast.AST] = set()
        # Line ranges of the module's `if __name__ == "__main__":` blocks, read when first needed.
        self._main_lines: list[tuple[int, int]] | None = None
        # The `try` (or `with`) statement of each handler checked.
        self._try_of: dict[ast.AST, ast.stmt] = {}

    def visit_Try(self, node: ast.Try) -> None:
        self._check_try(node)

    def visit_TryStar(self, node: ast.Try) -> None:
        self._check_try(node)

    def visit_With(self, node: ast.With) -> None:
        self._check_with(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._check_with(node)

    def _check_try(self, node: ast.Try) -> None:
        # Cleanup on the way out: in `finally:`, or in a handler that re-raises.
        on_the_way_out = [h.body for h in node.handlers if isinstance(h.body[-1], ast.Raise) and h.body[-1].exc is None]
        for block in (node.finalbody, *on_the_way_out):
            for stmt in _walk(block):
                if isinstance(stmt, (ast.Try, ast.With, ast.AsyncWith)) or type(stmt).__name__ == "TryStar":
                    self._in_finally.add(stmt)
        for handler in node.handlers:
            caught = broad_caught(self.context, handler.type)
            if caught is None or not all(trivial(self.context, stmt, handler.name) for stmt in handler.body):
                continue
            self._try_of[handler] = node
            grade = self._grade(node, node.body, handler.body, handler, _names_import_error(handler.type))
            if grade is None:
                continue
            what = "Bare `except:` swallows every error (even cancellation)" if handler.type is None else (
                f"`except {caught}:` swallows the error"
            )
            # The finding covers the `except ...` clause only, so `# noqa` on that line works.
            end = handler.type
            clause = ast.Pass(
                lineno=handler.lineno,
                col_offset=handler.col_offset,
                end_lineno=end.end_lineno if end is not None else handler.lineno,
                end_col_offset=end.end_col_offset if end is not None else handler.col_offset + len("except"),
            )
            around = f" {grade.around}" if grade.around else ""
            message = f"{what}{around} without logging or re-raising it{grade.advice}."
            fixable = grade.fixable and bool(self.context.function_stack)
            self.report(clause, message, fixable=fixable, severity=grade.severity)

    def _check_with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            call = item.context_expr
            if not (isinstance(call, ast.Call) and self.context.qualified_name(call.func) in _SUPPRESS):
                continue
            caught = next((ast.unparse(arg) for arg in call.args if broad_caught(self.context, arg)), None)
            if caught is None:
                continue
            optional = any(_names_import_error(arg) for arg in call.args)
            self._try_of[node] = node
            grade = self._grade(node, node.body, [ast.Pass()], node, optional, suppressed=True)
            if grade is not None:
                around = f" {grade.around}" if grade.around else ""
                message = f"`suppress({caught})` swallows the error{around} without logging it{grade.advice}."
                self.report(call, message, fixable=False, severity=grade.severity)

    # -- grading ---------------------------------------------------------------------

    def _grade(
        self,
        node: ast.AST,
        body: list[ast.stmt],
        fallback: list[ast.stmt],
        handler: ast.AST,
        optional_import: bool,
        suppressed: bool = False,
    ) -> _Grade | None:
        """How bad swallowing errors of ``body`` is; None when it is not worth reporting.
        Tests decide nothing in production: only a swallowed `assert` is reported there
        (low, without a fix), since that check can never fail."""
        if node in self._in_finally or must_not_raise(self.context, body):
            return None
        if _reaps_tasks(body) or _inert_body(body):
            return None
        if is_test_path(self.context.path):
            asserts = [n for n in _walk(body) if isinstance(n, ast.Assert)]
            # `assert False, "should have raised"` swallowed is a test that cannot fail, whatever
            # the comment says; other checks made optional on purpose ("non-deterministic, don't
            # throw if missing") are the author's choice.
            if any(_always_fails(a) for a in asserts) or (
                asserts and not _says_deliberate(self.context.lines, handler)
            ):
                return _Grade(Severity.LOW, "and with it a failing `assert`", False)
            return None
        return self._grade_code(body, fallback, handler, optional_import, suppressed)

    def _grade_code(
        self, body: list[ast.stmt], fallback: list[ast.stmt], handler: ast.AST, optional_import: bool, suppressed: bool
    ) -> _Grade | None:
        sensitive = _security_name(body)
        if sensitive is not None:
            # Deliberate or not: an error ignored on purpose in authentication is the audit's case.
            return _Grade(Severity.CRITICAL, f"around a security decision (`{sensitive}`)", True)
        write = _database_write(body)
        grade = _Grade(Severity.CRITICAL, f"around a database write (`{write}`)", True) if write else None
        if grade is None:
            if (
                self._tooling(handler, body)
                or self._reviewed(handler)
                or decorates_trace(self.context, body)
                or self._cosmetic(body)
            ):
                # Developer tooling, telemetry and cosmetic work: best effort by nature; a
                # linter exemption for the handler says someone reviewed it.
                return None
            probe = "import probe" if optional_import else self._probe(body, fallback)
            if probe is not None:
                if self.options.probe == "ignore":
                    return None
                return _Grade(Severity.LOW, f"of a {probe}", False, "; catch the exceptions the probe expects instead")
            external = self._external_result(body)
            if external is not None:
                # Medium, not critical: judged on real code (letta, private-gpt), 9 of 9
                # such findings printed critical were schema reads, cache reads and CLI
                # listings whose silent fallback a reviewer would fix, but not first.
                grade = _Grade(Severity.MEDIUM, f"of `{external}`, whose result is returned or stored,", True)
        elif self._tooling(handler, body):
            # A database write in a developer script: a developer sees the result.
            grade = _Grade(Severity.MEDIUM, f"{grade.around} in developer tooling", True)
        # Written on purpose (`suppress(Exception)`, or a comment saying so): one grade down
        # and no fix, since a log call next to "silently ignore" would contradict it.
        deliberate = None
        if grade is not None and self._reviewed(handler):
            deliberate = "on purpose, as its linter exemption says,"
        elif suppressed:
            deliberate = "on purpose"
        elif _says_deliberate(self.context.lines, handler):
            deliberate = "on purpose, as its comment says,"
        if grade is None:
            # Other work silenced on purpose: judged on letta, private-gpt and polar, none of
            # 14 such findings (a timestamp format, `setrlimit` where it may not exist, a
            # retried SQL fix) was worth a reviewer's time.
            return None if deliberate else _Grade(Severity.MEDIUM, "", True)
        if not deliberate:
            return grade
        lower = Severity.MEDIUM if grade.severity is Severity.CRITICAL else Severity.LOW
        return _Grade(lower, f"{grade.around} {deliberate}", False)

    def _reviewed(self, handler: ast.AST) -> bool:
        """True when a linter exemption for broad handlers sits on the handler's lines or on
        the comment lines just above its `try` (`# noinspection PyBroadException`)."""
        first, last = getattr(handler, "lineno", 1), getattr(handler, "end_lineno", None) or 1
        lines = self.context.lines
        if any(_REVIEWED.search(line) for line in lines[first - 1 : last]):
            return True
        owner = self._try_of.get(handler)
        if owner is None:
            return False
        index = owner.lineno - 1
        if index < len(lines) and _REVIEWED.search(lines[index]):
            return True
        index -= 1
        while index >= 0 and lines[index].lstrip().startswith("#"):
            if _REVIEWED.search(lines[index]):
                return True
            index -= 1
        return False

    def _tooling(self, handler: ast.AST, body: list[ast.stmt]) -> bool:
        """True in developer or CI tooling and in telemetry modules (`otel/`, `tracing.py`,
        `monitoring/`): code whose silent failure costs no user anything. Tooling is told
        by how the code is run, not by folder names (a `tools/` folder may hold an agent's
        tools): a file in a hidden folder (`.github/scripts/`, `.circleci/`), which no
        package ships; a file that starts with a shebang (`#!/usr/bin/env python3`), run as
        a program; a module's `if __name__ == "__main__":` block; or a package's build code
        (``build_code``: a hatchling build hook, a setuptools command, `setup.py`)."""
        parts = self.context.path.replace("\\", "/").split("/")
        if any(part.startswith(".") and part not in (".", "..") for part in parts[:-1]):
            return True
        lines = self.context.lines
        if lines and lines[0].startswith("#!"):
            return True
        stem = parts[-1].rsplit(".", 1)[0]
        if any(_words(part) & _TELEMETRY_PARTS for part in (*parts[:-1], stem)) and not any(
            isinstance(n, ast.Await) for n in _walk(body)
        ):
            # ...its synchronous bookkeeping; an awaited read there (an endpoint returning a
            # stored trace) is data like any other.
            return True
        line = getattr(handler, "lineno", 0)
        if any(first <= line <= last for first, last in self._main_blocks()):
            return True
        return build_code(self.context)

    def _main_blocks(self) -> list[tuple[int, int]]:
        if self._main_lines is None:
            self._main_lines = [
                (stmt.lineno, stmt.end_lineno or stmt.lineno)
                for stmt in self.context.tree.body
                if isinstance(stmt, ast.If) and _is_main_test(stmt.test)
            ]
        return self._main_lines

    def _cosmetic(self, body: list[ast.stmt]) -> bool:
        """True when the guarded work is cosmetic: the function or what the body sets is
        named for a colour, a title, a progress bar, an avatar (`_generate_thread_subject`,
        `user["image"] = photo`, `bar.update(...)` in `show_progress`)."""
        function = self.context.current_function
        name = getattr(function, "name", "")
        if _words(name) & _COSMETIC_WORDS:
            return True
        for node in _walk(body):
            target: str | None = None
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                target = node.id
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                target = node.attr
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                target = node.slice.value
            # `progress_made = True` is a loop's flag, not a progress bar.
            if target is not None and _words(target) & (_COSMETIC_WORDS - {"progress"}):
                return True
            if isinstance(node, ast.Call) and _words(_last_name(getattr(node.func, "value", node.func))) & {
                "progress",
                "pbar",
                "spinner",
            }:
                return True  # `progress.update(task, advance=1)`
        return False

    def _probe(self, body: list[ast.stmt], fallback: list[ast.stmt]) -> str | None:
        """The kind of probe ``body`` is — a check whose failure is an expected answer,
        answered by the handler's fallback (one statement, or plain assignments of
        local names) — or None."""
        if not _fallback_only(fallback):
            return None
        if all(isinstance(s, (ast.Import, ast.ImportFrom)) or _constant_assign(s) for s in body) and any(
            isinstance(s, (ast.Import, ast.ImportFrom)) for s in body
        ):
            return "import probe"
        calls = [n for n in _walk(body) if isinstance(n, ast.Call)]
        # `magic.Magic(mime=True).from_file(p)`, `csv.Sniffer().sniff(s)`: building the
        # inspector is part of the inspection.
        inspected = {
            id(c.func.value)
            for c in calls
            if isinstance(c.func, ast.Attribute) and _last_name(c.func) in INSPECTION_CALLS
        }
        calls = [c for c in calls if id(c) not in inspected]
        work = [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        imports_here = len(work) < len(body)
        if self._optional_dependency(body):
            return "optional dependency"
        if _diagnostics_only(self.context, body):
            return "diagnostic log"
        tools = [c for c in calls if self._target(c.func, imports_here) in _ENV_PROBES]
        # `subprocess.run([...], check=False)` and reading its output: the tool's absence is the answer.
        if tools and (len(work) == 1 or all(c in tools or pure_call(self.context, c) for c in calls)):
            return "tool probe"
        if _returns_bool_constant(fallback[-1]) and (
            self._predicate(self.context.current_function) or _answers_opposite(body, fallback[-1])
        ):
            return "true/false check"
        if _returns_none(fallback[-1]) and self._predicate(self.context.current_function):
            # `def has_forms() -> bool | None`: None is "cannot tell".
            return "true/false check"
        if self._detection(fallback[-1]):
            return "detection"
        if self._caller_fallback(body, fallback[-1]) and not any(self._external(c) for c in calls):
            return "call with the caller's fallback"
        if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom)) for n in _walk(body)):
            return None
        if self._default_member(body, fallback[-1]):
            return "choice with a default"
        if _foreign_internals(body) and not any(self._external(c) for c in calls):
            return "probe of another library's internals"
        if self._filter_test(body, fallback[-1], calls):
            return "filter test"
        if imports_here and all(pure_call(self.context, c) or _adds_constant(c) for c in calls):
            # A local import and reads of what it provides (`from app.settings import s; if
            # s.flag: betas.append("x")`): the import failing is what the handler expects.
            return "import probe"
        adds = [c for c in calls if _adds_constant(c)]
        if adds and all(c in adds or pure_call(self.context, c) for c in calls):
            # Reads of settings that decide which constants to add (`if settings.long_context
            # and model.startswith("claude"): betas.append("context-1m")`): lookups.
            return "lookup probe"
        if not all(pure_call(self.context, c) for c in calls):
            return self._library_lookup(work) or self._guarded_callee(work, fallback[-1])
        looks_up = any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) for n in _walk(body))
        # One value, or a few local names, computed with pure calls only (`client = getattr(self,
        # "_client", None); url = str(getattr(client, "_base_url", "") or "")`).
        single = (len(work) == 1 and isinstance(work[0], (ast.Return, ast.Assign, ast.AnnAssign))) or (
            bool(calls)
            and all(
                isinstance(s, (ast.Return, ast.AnnAssign))
                or (isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets))
                for s in work
            )
        )
        if not looks_up and single:
            # One value read off an object (`return len(reader.pages)`, `return reader.is_encrypted`):
            # an attribute lookup with a fallback, like `d[k]` (private-gpt's PDF metadata probes);
            # or one conversion (`str(getattr(client, "_base_url", ""))`).
            looks_up = bool(calls) or any(
                isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) for n in _walk(body)
            )
        if looks_up or any(_parser(_last_name(c.func)) or _last_name(c.func) in INSPECTION_CALLS for c in calls):
            return "parse or lookup probe"
        return None

    def _optional_dependency(self, body: list[ast.stmt]) -> bool:
        """True for a body that imports another distribution by its top-level name (`import
        uvloop`, `from InquirerPy import inquirer`), not the standard library or the project,
        and uses it without awaiting anything: the handler is the path for when it is not
        installed."""
        if any(isinstance(n, ast.Await) for n in _walk(body)):
            return False
        own = (self.context.module or "").split(".")[0]
        for node in _walk(body):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                # A distribution by its top-level name (`import uvloop`, `from InquirerPy import
                # inquirer`); `from letta.functions.parsers import f` is some project's module.
                if "." not in name and name != own and name not in sys.stdlib_module_names:
                    return True
        return False

    def _detection(self, answer: ast.stmt) -> bool:
        """True in a function that detects or guesses (a language, an encoding, a dialect)
        whose handler answers a constant: "cannot tell"."""
        function = self.context.current_function
        found = _words(getattr(function, "name", ""))
        if not (found & _DETECTION_WORDS or found & _DETECTED_WORDS):
            return False
        return isinstance(answer, ast.Return) and (answer.value is None or isinstance(answer.value, ast.Constant))

    def _caller_fallback(self, body: list[ast.stmt], answer: ast.stmt) -> bool:
        """True when the handler returns a parameter that the guarded work does not pass to
        anything (`async def make_subject(content, fallback): try: ...; return subject or
        fallback except Exception: return fallback`): the caller handed over the answer for
        failure, so failing is part of the function's contract. Returning an input of the
        work (`return token` around `decrypt(token)`) is not this: that hides the failure
        from the caller; nor is a default returned when a client read fails (`return await
        client.get(key)` / `return default`), which tells "missing" and "down" apart no more
        (the caller checks that in `_probe`)."""
        function = self.context.current_function
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        if not (isinstance(answer, ast.Return) and isinstance(answer.value, ast.Name)):
            return False
        name = answer.value.id
        args = function.args
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)} - {"self", "cls"}
        if name not in params:
            return False
        for node in _walk(body):
            if isinstance(node, ast.Call) and any(
                isinstance(n, ast.Name) and n.id == name
                for arg in (*node.args, *(k.value for k in node.keywords))
                for n in ast.walk(arg)
            ):
                return False
        return True

    def _default_member(self, body: list[ast.stmt], answer: ast.stmt) -> bool:
        """True in a function that chooses one member of the class it is annotated to return
        (`def strategy(meta) -> ChunkingStrategy:`) and answers a member of that class when
        the guarded work fails: `except Exception: return ChunkingStrategy.LINE_BASED`, or
        `except Exception: pass` around a `return` when the function ends with that default.
        "Cannot tell" has an answer; a constant of another type (`return []` for a list of
        tool calls) is lost data, not a default choice."""
        function = self.context.current_function
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or function.returns is None:
            return False
        kind = function.returns
        if not isinstance(kind, (ast.Name, ast.Attribute)) or last_name_of(kind) in _BUILTIN_TYPES:
            return False
        wanted = ast.unparse(kind)

        def member(stmt: ast.stmt) -> bool:
            value = stmt.value if isinstance(stmt, ast.Return) else None
            return isinstance(value, ast.Attribute) and ast.unparse(value.value) == wanted

        if member(answer):
            return True
        return (
            isinstance(answer, ast.Pass)
            and any(isinstance(n, ast.Return) for n in _walk(body))
            and bool(function.body)
            and member(function.body[-1])
        )

    def _filter_test(self, body: list[ast.stmt], answer: ast.stmt, calls: list[ast.Call]) -> bool:
        """True for a filter in a loop whose test failed: the body only decides, with a
        yes/no function of this file (annotated `-> bool`) and value reads, whether to add
        the item to a local collection (`if self._overlaps(shape, zone): keep.append(shape)`),
        and the handler moves on to the next item. A failed test leaves the item out."""
        if not isinstance(answer, (ast.Continue, ast.Pass)):
            return False
        tests = [c for c in calls if self._predicate_callee(c.func)]
        if not tests:
            return False
        for call in calls:
            if call in tests or pure_call(self.context, call):
                continue
            func = call.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("append", "add")
                and isinstance(func.value, ast.Name)
                and self.context.is_local(func.value.id)
            ):
                continue
            return False
        return all(isinstance(s, (ast.Assign, ast.If, ast.Expr)) for s in body)

    def _predicate_callee(self, func: ast.expr) -> bool:
        """True when ``func`` is a function of this module, or a method of the enclosing
        class called on `self`, annotated `-> bool`."""
        scope: list[ast.stmt] = self.context.tree.body
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            if not self.context.class_stack:
                return False
            scope = self.context.class_stack[-1].body
        elif not isinstance(func, ast.Name):
            return False
        name = _last_name(func)
        callee = next(
            (f for f in scope if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == name), None
        )
        return isinstance(callee, ast.FunctionDef) and callee.returns is not None and ast.unparse(callee.returns) == "bool"

    def _guarded_callee(self, work: list[ast.stmt], answer: ast.stmt) -> str | None:
        """A constant fallback around one call of a function of this file (a method of
        the same class) that already catches every error itself and answers a default
        (`cap = self._compute_cap()` where `_compute_cap` has its own `except Exception:`):
        the outer handler has nothing left to swallow."""
        if len(work) != 1 or not isinstance(work[0], (ast.Assign, ast.Return)):
            return None
        value = work[0].value
        if not isinstance(value, ast.Call) or not _constant_answer(answer):
            return None
        func = value.func
        scope: list[ast.stmt] = self.context.tree.body
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            if not self.context.class_stack:
                return None
            scope = self.context.class_stack[-1].body
        elif not isinstance(func, ast.Name):
            return None
        name = _last_name(func)
        callee = next(
            (f for f in scope if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == name), None
        )
        if callee is None:
            return None
        body = [s for s in callee.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        guarded = [s for s in body if isinstance(s, ast.Try)]
        if len(guarded) != 1 or body[0] is not guarded[0]:
            return None
        if not all(broad_caught(self.context, h.type) for h in guarded[0].handlers):
            return None
        rest = body[1:]
        if all(
            isinstance(s, ast.Return)
            and all(pure_call(self.context, c) for c in ast.walk(s) if isinstance(c, ast.Call))
            for s in rest
        ):
            return "call that catches its own errors"
        return None

    def _library_lookup(self, work: list[ast.stmt]) -> str | None:
        """One synchronous call of another distribution's lookup function, stored or returned
        (`currencies = babel.numbers.get_territory_currencies(country)`): it raises on an
        unknown key, and the fallback is the answer for that."""
        if len(work) != 1 or not isinstance(work[0], (ast.Return, ast.Assign, ast.AnnAssign)):
            return None
        value = work[0].value
        if not isinstance(value, ast.Call) or any(isinstance(a, ast.Call) for a in ast.walk(value) if a is not value):
            return None
        qualified = self.context.qualified_name(value.func)
        own = (self.context.module or "").split(".")[0]
        if qualified is None or not own or qualified.split(".")[0] == own or "." not in qualified:
            return None
        if _words(_last_name(value.func)) & {"get", "lookup", "find", "resolve"}:
            return "lookup probe"
        return None

    def _target(self, func: ast.expr, imports_here: bool) -> str | None:
        """The qualified name of a called ``func``; with ``imports_here``, also through an
        import in the same ``try`` body, which the walk has not reached yet."""
        qualified = self.context.qualified_name(func)
        if qualified is not None or not imports_here:
            return qualified
        attrs: list[str] = []
        while isinstance(func, ast.Attribute):
            attrs.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            return None
        binding = self.context.binding_at(func.id, func.lineno, self.context.char_col(func.lineno, func.col_offset))
        if binding.kind is not BindingKind.IMPORT or binding.qualified is None:
            return None
        return ".".join([binding.qualified, *reversed(attrs)])

    def _predicate(self, function: ast.AST | None) -> bool:
        """True for a function that answers yes or no: `-> bool`, or named `is_...`, `has_...`."""
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        returns = function.returns
        if returns is not None:
            text = ast.unparse(returns).strip("'\"").replace(" ", "")
            return text in ("bool", "bool|None", "None|bool", "Optional[bool]", "typing.Optional[bool]")
        return _PREDICATE_NAME.match(function.name) is not None


    def _external_result(self, body: list[ast.stmt]) -> str | None:
        """The first HTTP, LLM or database call whose value the body returns or stores."""
        for stmt in _walk(body):
            if isinstance(stmt, (ast.Return, ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
                for sub in ast.walk(stmt.value):
                    if isinstance(sub, ast.Call) and self._external(sub):
                        return ast.unparse(sub.func)
        return None

    def _external(self, call: ast.Call) -> bool:
        qualified = self.context.qualified_name(call.func)
        if qualified is not None and qualified.startswith(_HTTP_MODULES):
            return True
        func = call.func
        if not isinstance(func, ast.Attribute):
            return False
        method, receiver = func.attr, _last_word(_last_name(func.value))
        if method in _LLM_METHODS:
            return True
        if method == "create" and _last_name(func.value) in _LLM_RESOURCES:
            return True
        return (method in _HTTP_METHODS and receiver in _HTTP_RECEIVERS) or (
            method in _DB_READS and receiver in DB_RECEIVERS
        )





    # -- fix -------------------------------------------------------------------------

    fix_node = ("ExceptHandler", "ExceptStarHandler")

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        import libcst as cst

        if not isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return None
        line, col = finding.span.line, finding.span.col
        scope = self.context.scope_at(line, col)
        if scope.kind is not ScopeKind.FUNCTION or _in_logging_machinery(self.context):
            return None
        handler, loop, guarded = self._handler_at(line, col)
        if handler is None or self._logging_code(scope):
            return None
        loggers: list[str] | None = getattr(self, "_module_loggers", None)
        if loggers is None:
            loggers = self._module_loggers = _module_loggers(self.context)
        found = _logger_at(self.context, line, col, self.fix_facts.get("logger_convention"), loggers)
        if found is None:
            return None
        label = _label(scope)
        # Traceback where the failure is unexpected; in a loop (a retry, a parse of each
        # item) or as the negative answer of a yes/no check it is routine: one line, at
        # debug (warning for a critical finding), without a traceback each time.
        # A comment in the handler that explains the fallback ("app doesn't exist yet, deploy
        # it", "tool may have been deleted") marks an expected path too, unless the finding
        # is critical (a security decision or a database write stays loud).
        explained = finding.severity < Severity.CRITICAL and _commented(self.context.lines, handler)
        yes_no = self._predicate(scope.node) or self._function_facts(scope.node)[0]
        # An import in the `try` body makes a missing optional dependency one of the
        # expected failures (`import uvloop` before switching the event loop policy).
        optional = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in _walk(guarded))
        routine = loop or explained or optional or (_answers_bool(handler) and yes_no)
        new_handler: cst.ExceptHandler | cst.ExceptStarHandler = node
        if routine:
            name = handler.name or _fresh_name(self.context, scope, line, col, self._function_facts(scope.node)[1])
            if name is None:
                return None
            if handler.name is None:
                if node.type is None:  # a bare `except:` is `except BaseException:`
                    new_handler = new_handler.with_changes(
                        type=cst.Name("BaseException"), whitespace_after_except=cst.SimpleWhitespace(" ")
                    )
                new_handler = new_handler.with_changes(
                    name=cst.AsName(
                        name=cst.Name(name),
                        whitespace_before_as=cst.SimpleWhitespace(" "),
                        whitespace_after_as=cst.SimpleWhitespace(" "),
                    )
                )
            # Debug where it repeats (a loop) or answers no; a warning where it was foreseen
            # (a comment) or is critical: visible, one line, no traceback.
            quiet = (loop or optional or not explained) and finding.severity < Severity.CRITICAL
            level = "debug" if quiet else "warning"
            if found.kind == "stdlib":
                source = f'{found.name}.{level}("Ignored error in {label}: %r", {name})'
            else:
                source = f'{found.name}.{level}(f"Ignored error in {label}: {{{name}!r}}")'
        else:
            source = f'{found.name}.exception("Ignored error in {label}")'
        call = cst.parse_statement(source)
        assert isinstance(call, cst.SimpleStatementLine)
        body = node.body
        if isinstance(body, cst.SimpleStatementSuite):
            rest = [s for s in body.body if not _placeholder(s)]
            lines: list[cst.BaseStatement] = [call]
            if rest:
                rest[-1] = rest[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                lines.append(cst.SimpleStatementLine(body=rest))
            new_body: cst.BaseSuite = cst.IndentedBlock(body=lines, header=body.trailing_whitespace)
        else:
            assert isinstance(body, cst.IndentedBlock)
            first = body.body[0]
            if isinstance(first, cst.SimpleStatementLine) and all(_placeholder(s) for s in first.body):
                stmts = [first.with_changes(body=call.body), *body.body[1:]]
            else:
                stmts = [call, *body.body]
            new_body = body.with_changes(body=stmts)
        statements = ((found.name, found.statement),) if found.statement else ()
        return Fix(replacement=new_handler.with_changes(body=new_body), imports=found.imports, module_statements=statements)

    def _function_facts(self, function: ast.AST) -> tuple[bool, frozenset[str]]:
        """Whether ``function`` returns only bools, and the names it uses: walked once per
        function, however many of its handlers are fixed (a walk per handler made fix
        time grow with the square of a function's handlers)."""
        memo: dict[int, tuple[bool, frozenset[str]]] | None = getattr(self, "_facts_memo", None)
        if memo is None:
            self._facts_memo: dict[int, tuple[bool, frozenset[str]]] = {}
            memo = self._facts_memo
        facts = memo.get(id(function))
        if facts is None:
            facts = memo[id(function)] = (_returns_only_bools(function), _used_names(function))
        return facts

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        """The project's prevailing logger convention, from ``(module, path, text)`` of every file."""
        convention = _prevailing_convention(sources)
        return {"logger_convention": convention} if convention is not None else {}

    def _handler_at(self, line: int, col: int) -> tuple[ast.ExceptHandler | None, bool, list[ast.stmt]]:
        """The handler whose ``except`` starts at ``line:col``, whether its ``try`` runs in a
        loop of the same function, and the ``try`` body it guards (one walk per file)."""
        handlers: dict[tuple[int, int], tuple[ast.ExceptHandler, bool, list[ast.stmt]]] | None = getattr(self, "_handlers", None)
        if handlers is None:
            handlers = {}
            context = self.context
            todo: list[tuple[ast.AST, bool]] = [(context.tree, False)]
            while todo:
                node, loop = todo.pop()
                if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                    for h in node.handlers:  # type: ignore[attr-defined]
                        handlers[(h.lineno, context.char_col(h.lineno, h.col_offset))] = (h, loop, node.body)  # type: ignore[attr-defined]
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                    loop = False
                for child in ast.iter_child_nodes(node):
                    in_loop = loop or (isinstance(node, (ast.For, ast.AsyncFor, ast.While)) and child in node.body)
                    todo.append((child, in_loop))
            self._handlers = handlers
        return handlers.get((line, col), (None, False, []))

    def _logging_code(self, scope: Scope) -> bool:
        """True inside code where logging must not happen: any method (or function nested in
        one) of a logging ``Formatter``/``Handler``/``Filter`` class, a ``format``/``filter``/
        ``emit`` taking a log record, a structlog processor, ``__del__`` and signal handlers."""
        signal_handlers: frozenset[str] | None = getattr(self, "_signal_names", None)
        if signal_handlers is None:
            signal_handlers = self._signal_names = _signal_handlers(self.context.tree)
        current: Scope | None = scope
        while current is not None:
            node = current.node
            if current.kind is ScopeKind.CLASS and isinstance(node, ast.ClassDef):
                if any(_last_name(base).endswith(_LOGGING_BASES) for base in node.bases):
                    return True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
                if node.name == "__del__" or node.name in signal_handlers:
                    return True
                if node.name in _LOGGING_METHODS and "record" in params:
                    return True
                if params[-2:] in (["signum", "frame"], ["sig", "frame"]) or params[-1:] == ["event_dict"]:
                    return True  # a signal handler; a structlog processor
            current = current.parent
        return False


class _Grade(NamedTuple):
    """A silent handler's severity, the phrase that says why, and whether to offer the fix."""

    severity: Severity
    around: str
    fixable: bool
    advice: str = ""


















def _names_import_error(node: ast.expr | None) -> bool:
    """True for a caught tuple that names ``ImportError`` or ``ModuleNotFoundError``: the
    author says the broad catch is about an optional dependency."""
    elts = node.elts if isinstance(node, ast.Tuple) else [node] if node is not None else []
    return any(_last_name(e) in ("ImportError", "ModuleNotFoundError") for e in elts)






_BUILTIN_TYPES = frozenset("bool int float str bytes list dict set tuple frozenset object None Any".split())


def last_name_of(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _foreign_internals(body: list[ast.stmt]) -> bool:
    """True when ``body`` reads a private attribute of an object other than `self` or `cls`
    (`query._compile_state()`, `shape._element`): it reaches into another library's
    internals, which may be missing or shaped differently in another version, and the
    broad handler is the version guard."""
    for node in _walk(body):
        if not (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        return True
    return False


def _reaps_tasks(body: list[ast.stmt]) -> bool:
    """True for a body that only awaits tasks (`await task`): reaping a task that was
    cancelled or has failed, whose error was handled where it happened."""
    return all(
        isinstance(s, ast.Expr)
        and isinstance(s.value, ast.Await)
        and isinstance(s.value.value, (ast.Name, ast.Attribute))
        for s in body
    )


def _diagnostics_only(context: Context, body: list[ast.stmt]) -> bool:
    """True for a body that only computes something to log and logs it (`tok = load(p);
    logger.info(f"decoded: {tok.decode(ids)}")`): losing a debug line loses nothing else."""
    logged: set[str] = set()
    assigned: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _logs(stmt.value):
            logged.update(n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name))
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            assigned.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        else:
            return False
    return bool(logged) and assigned <= logged


def _logs(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and (
        _last_name(func.value) in (*LOGGER_NAMES, "logging")
        and func.attr in ("debug", "info", "warning", "warn", "error", "critical", "log", "exception")
    )


def _inert_body(body: list[ast.stmt]) -> bool:
    """True for a body that cannot raise: only `pass`, `...` and docstrings."""
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body)


def _always_fails(node: ast.Assert) -> bool:
    """``assert False, "should have raised"`` (or any falsy constant)."""
    return isinstance(node.test, ast.Constant) and not node.test.value


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = {ast.unparse(test.left), ast.unparse(test.comparators[0])}
    return sides == {"__name__", "'__main__'"}


def _fallback_only(fallback: list[ast.stmt]) -> bool:
    """One statement, or assignments of local names (`error_body = response.text`) that may
    end with a return: a fallback value, not a side effect."""
    if len(fallback) == 1:
        return True
    *assigns, last = fallback
    def local(stmt: ast.stmt) -> bool:
        return isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets)

    return all(local(s) for s in assigns) and (isinstance(last, ast.Return) or local(last))


def _answers_opposite(body: list[ast.stmt], answer: ast.stmt) -> bool:
    """True when the body ends by returning the other boolean constant (`return False` /
    `except: return True`): a yes/no check, whatever the function is called."""
    last = body[-1] if body else None
    return (
        _returns_bool_constant(answer)
        and last is not None
        and _returns_bool_constant(last)
        and isinstance(answer, ast.Return)
        and isinstance(last, ast.Return)
        and isinstance(answer.value, ast.Constant)
        and isinstance(last.value, ast.Constant)
        and last.value.value is not answer.value.value
    )


def _adds_constant(call: ast.Call) -> bool:
    """``betas.append("x")``: a constant added to a collection."""
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr in ("append", "add", "extend", "insert")
        and all(isinstance(a, ast.Constant) for a in call.args)
    )


def _constant_assign(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)


def _constant_answer(stmt: ast.stmt) -> bool:
    """``cap = 5000``, ``return None``: a fallback that is one constant."""
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.Return)) else None
    return (value is None and isinstance(stmt, ast.Return)) or isinstance(value, ast.Constant)


def _returns_none(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Return) and (
        stmt.value is None or (isinstance(stmt.value, ast.Constant) and stmt.value.value is None)
    )


def _returns_bool_constant(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, bool)


def _says_deliberate(lines: list[str], node: ast.AST) -> bool:
    """True when a comment in ``node``'s lines says the silence is on purpose."""
    first, last = getattr(node, "lineno", 1), getattr(node, "end_lineno", None) or getattr(node, "lineno", 1)
    for line in lines[first - 1 : last]:
        _, hash_, comment = line.partition("#")
        if hash_ and _DELIBERATE.search(comment):
            return True
    return False


def _placeholder(stmt: cst.BaseSmallStatement) -> bool:
    """``pass`` or a bare ``...``: statements the new logging call makes redundant."""
    import libcst as cst

    return isinstance(stmt, cst.Pass) or (isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Ellipsis))


def _label(scope: Scope) -> str:
    """``Class.method`` / ``outer.inner``: the functions and classes around ``scope``."""
    names: list[str] = []
    current: Scope | None = scope
    while current is not None:
        if current.name:
            names.append(current.name)
        current = current.parent
    return ".".join(reversed(names))


# Modules the `logging` package imports (with the interpreter's start-up modules, across
# Python 3.9-3.13): an `import logging` added to one of them would be circular. Measured
# with `python -S -I -c "import logging, sys; print(sorted(sys.modules))"` and the
# imports of logging/__init__.py, traceback.py and linecache.py of each version.
_LOGGING_IMPORTS = frozenset(
    "abc atexit builtins codecs collections contextlib copyreg encodings enum functools genericpath io "
    "itertools keyword linecache logging marshal operator os posixpath ntpath nt posix re reprlib stat string "
    "sys textwrap threading time token tokenize traceback types warnings weakref zipimport sre_compile "
    "sre_parse sre_constants ast _colorize heapq site _sitebuiltins _weakrefset _collections_abc "
    "_thread _io _abc _codecs _collections _functools _operator _signal _sre _stat _string _warnings _weakref".split()
)
# Names the fix may give the exception when it must add `as <name>`, in order of preference.
_NEW_EXCEPTION_NAMES = ("exc", "error", "err", "sightlint_exc")
# The stdlib convention, the default when the project has none of its own.
_STDLIB = "stdlib"


@dataclass(frozen=True)
class _Logger:
    """The logger a fix calls: its name, what to add for it, and what kind of logger it is
    (``"stdlib"`` takes %-style arguments; others get an f-string)."""

    name: str
    kind: str
    imports: tuple[tuple[str, str | None], ...] = ()
    statement: str | None = None


@dataclass(frozen=True)
class _Convention:
    """How the project's modules get their logger: ``imports`` and an assignment template
    (``{name} = get_logger(__name__)``), or an import that provides the logger itself
    (``statement`` None, ``name`` the imported name). ``avoid``: the project modules that
    importing it runs (a fix there would make an import cycle)."""

    imports: tuple[tuple[str, str | None], ...]
    statement: str | None
    name: str
    kind: str
    avoid: frozenset[str] = frozenset()
    # The project package that provides it, if it is the project's own (a module outside
    # that package, such as a standalone script, may run without it: it gets the default).
    package: str | None = None


def _in_logging_machinery(context: Context) -> bool:
    """True for a module that ``logging`` imports (or that would shadow one): adding
    ``import logging`` there would make a circular import."""
    module = context.module
    if module is None:
        module = context.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return module in _LOGGING_IMPORTS or module.split(".")[0] in _LOGGING_IMPORTS


def _commented(lines: list[str], handler: ast.ExceptHandler) -> bool:
    """True if a comment sits in the handler (on its ``except`` line or in its body)."""
    last = handler.end_lineno or handler.lineno
    for line in lines[handler.lineno - 1 : last]:
        code = re.sub(r"(\"[^\"]*\"|'[^']*')", "", line)
        _, hash_, comment = code.partition("#")
        if hash_ and comment.strip() and not _DIRECTIVE.match(comment):
            return True
    return False


# Comments for tools, not readers: they explain nothing about the failure.
_DIRECTIVE = re.compile(r"\s*(expect:|noqa|type:|pragma|sightlint:|pylint:|nosec|fmt:|ruff:|mypy:|pyright:)", re.IGNORECASE)


def _returns_only_bools(function: ast.AST) -> bool:
    """True for a function whose every ``return`` gives ``True`` or ``False`` (a property
    `broken`, a check `plugin_ok`): it answers yes or no, whatever its name."""
    returns = [n for n in _walk(getattr(function, "body", [])) if isinstance(n, ast.Return)]
    return bool(returns) and all(_returns_bool_constant(r) for r in returns)


def _answers_bool(handler: ast.ExceptHandler) -> bool:
    """True for a handler that returns ``True`` or ``False``: in a yes/no check
    (`is_valid_url`), the failure is the expected negative answer."""
    return any(_returns_bool_constant(stmt) for stmt in handler.body)


def _used_names(function: ast.AST) -> frozenset[str]:
    """The names and parameters used anywhere in ``function``."""
    return frozenset(n.id if isinstance(n, ast.Name) else n.arg for n in ast.walk(function) if isinstance(n, (ast.Name, ast.arg)))


def _fresh_name(context: Context, scope: Scope, line: int, col: int, used: frozenset[str]) -> str | None:
    """A name for the caught exception that nothing in or around the function uses
    (``used``: :func:`_used_names` of the function): ``except ... as name`` unbinds it
    when the handler ends."""
    for name in _NEW_EXCEPTION_NAMES:
        if name in used or name in scope.bindings:
            continue
        if context.binding_at(name, line, col).kind is BindingKind.UNBOUND:
            return name
    return None


def _signal_handlers(tree: ast.Module) -> frozenset[str]:
    """Names of the functions the module installs as signal handlers
    (`signal.signal(SIGTERM, on_term)`, `loop.add_signal_handler(SIGINT, self._stop)`)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _last_name(node.func) in ("signal", "add_signal_handler") and len(node.args) >= 2:
            target = node.args[1]
            if isinstance(target, ast.Call) and target.args:  # functools.partial(handler, ...)
                target = target.args[0]
            name = _last_name(target)
            if name:
                names.add(name)
    return frozenset(names)


def _module_loggers(context: Context) -> list[str]:
    """The names of the module's loggers, the preferred first."""
    module = context.scopes.module
    found = [name for name, bindings in module.bindings.items() if all(_makes_logger(b) for b in bindings)]
    found.sort(key=lambda name: (_rank(name), module.bindings[name][0].line, module.bindings[name][0].col))
    return found


def _logger_at(
    context: Context, line: int, col: int, convention: _Convention | None = None, loggers: list[str] | None = None
) -> _Logger | None:
    """The logger to call at ``line:col``: the module's own (whatever its factory), else one
    made the project's way, else ``logging.getLogger(__name__)``; None when no name would
    mean that logger there (a parameter or a local called ``logger`` is not it)."""
    module = context.scopes.module
    found = loggers if loggers is not None else _module_loggers(context)
    for name in found:
        # A parameter, an enclosing function's local or a class attribute may hide it here.
        if context.binding_at(name, line, col).at_module_level:
            return _Logger(name, _logger_kind(module.bindings[name][0]))
    if found:
        # The module's logger is hidden here (a parameter `log=None`): the same stdlib
        # logger is `logging.getLogger(__name__)`; a second module logger would be wrong.
        first = module.bindings[found[0]][0]
        same = isinstance(first.value, ast.Call) and ast.unparse(first.value) == "logging.getLogger(__name__)"
        reach = context.binding_at("logging", line, col)
        if same and reach.kind is BindingKind.IMPORT and reach.qualified == "logging" and reach.at_module_level:
            return _Logger("logging.getLogger(__name__)", _STDLIB)
        return None
    inside = convention is not None and (
        convention.package is None
        or (context.module or "").split(".")[0] == convention.package
        # a module discovery could not name (a folder without __init__.py) in the package's folder
        or context.path.replace("\\", "/").split("/")[0] == convention.package
    )
    if convention is not None and inside and context.module not in convention.avoid:
        made = _made_the_projects_way(context, line, col, convention)
        if made is not None:
            return made
    logging_module = context.module_binding("logging")
    if logging_module is not None and (logging_module.kind is not BindingKind.IMPORT or logging_module.qualified != "logging"):
        return None
    for name in _NEW_LOGGER_NAMES:
        if context.binding_at(name, line, col).kind is BindingKind.UNBOUND:
            return _Logger(name, _STDLIB, (("logging", None),), f"{name} = logging.getLogger(__name__)")
    return None


def _made_the_projects_way(context: Context, line: int, col: int, convention: _Convention) -> _Logger | None:
    for mod, imported in convention.imports:
        bound = context.module_binding(imported or mod.split(".")[0])
        wanted = f"{mod}.{imported}" if imported else mod.split(".")[0]
        if bound is not None and (bound.kind is not BindingKind.IMPORT or bound.qualified != wanted):
            return None  # the name the import would bind means something else here
    if convention.statement is None:
        if context.binding_at(convention.name, line, col).kind is BindingKind.UNBOUND:
            return _Logger(convention.name, convention.kind, convention.imports)
        return None
    for name in dict.fromkeys((convention.name, *_NEW_LOGGER_NAMES)):
        if context.binding_at(name, line, col).kind is BindingKind.UNBOUND:
            return _Logger(name, convention.kind, convention.imports, convention.statement.format(name=name))
    return None


def _rank(name: str) -> int:
    return _PREFERRED_LOGGER_NAMES.index(name) if name in _PREFERRED_LOGGER_NAMES else len(_PREFERRED_LOGGER_NAMES)


def _makes_logger(binding: Binding) -> bool:
    """True for the module's logger: ``X = logging.getLogger(...)`` (or another logger
    factory: ``get_logger``, ``getChild``), ``logger = setup_logger()`` (a preferred logger
    name assigned from a call whose name says log), and ``from m import logger``."""
    node = binding.node
    if binding.kind is BindingKind.IMPORT:
        if not isinstance(node, ast.ImportFrom):
            return False
        for alias in node.names:
            if (alias.asname or alias.name) != binding.name:
                continue
            if alias.name in _IMPORTED_LOGGERS or (alias.name == "log" and "log" in (node.module or "").lower()):
                return True
        return False
    value = binding.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if callee in _LOGGER_FACTORIES:
        return True
    return binding.name in _PREFERRED_LOGGER_NAMES and "log" in ast.unparse(func).lower()


def _logger_kind(binding: Binding) -> str:
    """``"stdlib"`` for ``logging.getLogger(...)`` (and its ``getChild``), else ``"other"``."""
    value = binding.value
    if isinstance(value, ast.Call):
        text = ast.unparse(value.func)
        if text in ("logging.getLogger", "getLogger") or text.startswith("logging.getLogger(") and text.endswith(".getChild"):
            return _STDLIB
    return "other"


_ASSIGN_RE = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?P<call>(?P<root>[A-Za-z_]\w*)(?:\.\w+)*)\((?P<args>[^()\n]*)\)[ \t]*(?:#.*)?$",
    re.MULTILINE,
)
_FROM_RE = re.compile(r"^from[ \t]+(?P<mod>\.*[\w.]*)[ \t]+import[ \t]+(?:\((?P<many>[^)]*)\)|(?P<names>[^\n#]*))", re.MULTILINE)
_IMPORT_RE = re.compile(r"^import[ \t]+(?P<mods>[\w., \t]+)", re.MULTILINE)


def _resolve(mod: str, module: str | None, is_package: bool) -> str | None:
    """``from ..core.log import x`` in ``app.api.users`` -> ``app.core.log``; None if unknown."""
    level = len(mod) - len(mod.lstrip("."))
    if not level:
        return mod
    if module is None:
        return None
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(parts) or (level - 1 == len(parts) and not mod.lstrip(".")):
        return None
    base = parts[: len(parts) - (level - 1)]
    rest = mod.lstrip(".")
    return ".".join([*base, rest] if rest else base) or None


def _file_conventions(module: str | None, text: str, is_package: bool) -> tuple[list[tuple[str, str | None, str]], set[str]]:
    """How one file gets its logger (as convention keys) and the modules it imports at top level."""
    imported: dict[str, str] = {}  # bound name -> "mod" or "mod.name"
    imports: set[str] = set()
    for match in _FROM_RE.finditer(text):
        mod = _resolve(match["mod"], module, is_package)
        if mod is None:
            continue
        imports.add(mod)
        for part in (match["many"] or match["names"] or "").replace("\n", " ").split(","):
            words = part.split("#")[0].split()
            if len(words) == 1 and words[0].isidentifier():
                imported[words[0]] = f"{mod}.{words[0]}"
                imports.add(f"{mod}.{words[0]}")
    for match in _IMPORT_RE.finditer(text):
        for part in match["mods"].split(","):
            words = part.split()
            if len(words) == 1:
                imported[words[0].split(".")[0]] = words[0].split(".")[0]
                imports.add(words[0])
    found: list[tuple[str, str | None, str]] = []
    if "log" not in text:
        return found, imports
    for name, target in imported.items():
        if name in _IMPORTED_LOGGERS and "." in target:
            found.append((target.rsplit(".", 1)[0], name, ""))
    for match in _ASSIGN_RE.finditer(text):
        if match["name"] not in _PREFERRED_LOGGER_NAMES or "log" not in match["call"].lower():
            continue
        source = imported.get(match["root"])
        if source is None:
            continue
        args = "__name__" if match["args"].strip() in ("__name__", "name=__name__") else match["args"].strip()
        if args not in ("", "__name__"):
            continue  # a logger named for one module (`getLogger("app.db")`) is no template
        statement = "{name} = " + f"{match['call']}({args})"
        if source == match["root"]:
            found.append((source, None, statement))
        else:
            found.append((source.rsplit(".", 1)[0], match["root"], statement))
    return found, imports


def _prevailing_convention(sources: Sequence[tuple[str | None, str, str]]) -> _Convention | None:
    """The way most of the project's modules that have a logger get it, unless that is
    ``logging.getLogger(__name__)`` (the default anyway) or fewer than two modules do."""
    counts: dict[tuple[str, str | None, str], int] = {}
    imports: dict[str, set[str]] = {}
    for module, path, text in sources:
        found, imported = _file_conventions(module, text, path.endswith("__init__.py"))
        if module is not None:
            imports[module] = imported
        for key in dict.fromkeys(found):
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    key, count = max(counts.items(), key=lambda item: (item[1], item[0] == ("logging", None, "{name} = logging.getLogger(__name__)")))
    mod, name, statement = key
    if count < 2 or (mod == "logging" and statement.endswith("logging.getLogger(__name__)")):
        return None
    kind = _STDLIB if statement.endswith("getLogger(__name__)") and mod == "logging" else "other"
    # The project modules that importing the provider runs: a fix in one of them would be circular.
    avoid: set[str] = set()
    todo = [mod] if name is None else [mod, f"{mod}.{name}"]
    while todo:
        current = todo.pop()
        parts = current.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in imports and prefix not in avoid:
                avoid.add(prefix)
                todo.extend(imports[prefix])
    provided = name if not statement and name else "logger"
    top = mod.split(".")[0]
    package = top if any(m.split(".")[0] == top for m in imports) else None
    return _Convention(((mod, name),), statement or None, provided, kind, frozenset(avoid), package)
