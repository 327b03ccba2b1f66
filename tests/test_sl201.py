"""SL201 graded by what is swallowed: severities, probes, the `probe` setting."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.api import check_source
from sightlint.cli import main
from sightlint.config import ConfigError, rule_options
from sightlint.models import Severity
from sightlint.rules.swallowed_exception import (
    SwallowedExceptionOptions,
    _database_write,
    _parser,
    _says_deliberate,
    _security_name,
    _words,
)
from sightlint.settings import Settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "SL201.py"
SL201 = Settings(select=("SL201",))
MARK = re.compile(r"#\s*expect:\s*SL201(?:@\d+)?\s*\((?P<severity>\w+)\)")


def _body(source: str) -> list[ast.stmt]:
    return ast.parse(source).body


def _graded(source: str, settings: Settings = SL201) -> list[tuple[int, str]]:
    result = check_source(source.encode(), "m.py", settings)
    return [(f.line, f.severity.label) for f in result.findings if f.code == "SL201"]


def test_fixture_marks_name_the_severity() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    expected = [(n, m["severity"]) for n, line in enumerate(text.splitlines(), 1) if (m := MARK.search(line))]
    assert len(expected) == text.count("# expect: SL201"), "every mark names its severity"
    assert _graded(text) == expected


def test_words_split_identifiers() -> None:
    assert _words("decode_access_token") == {"decode", "access", "token"}
    assert _words("accessToken") == {"access", "token"}
    assert _words("HTTPClient") == {"http", "client"}


def test_security_names() -> None:
    assert _security_name(_body("payload = decode_access_token(credentials.credentials)")) == "decode_access_token"
    assert _security_name(_body("ok = user.check_permission('x')")) == "user.check_permission"
    assert _security_name(_body("claims = jwt.decode(raw, key)")) == "jwt.decode"
    assert _security_name(_body("await MCPOAuth.update_async(session, sid)")) == "MCPOAuth.update_async"
    # Reading a security record decides nothing (a failed read denies).
    assert _security_name(_body("await MCPOAuth.read_async(session, sid)")) is None
    # A key passed along decides nothing; LLM token counting is not authentication.
    assert _security_name(_body("r = httpx.get(url, headers={'Authorization': api_key})")) is None
    assert _security_name(_body("n = count_token(text, max_token=3)")) is None
    assert _security_name(_body("reply = llm.invoke(prompt)")) is None


def test_database_writes() -> None:
    assert _database_write(_body("session.add(row)\nawait session.commit()")) == "session.add"
    assert _database_write(_body("await self.db.delete(row)")) == "self.db.delete"
    assert _database_write(_body("collection.insert_one(doc)")) == "collection.insert_one"
    # `add` and `delete` write only on a receiver named like a database; `execute` mostly reads.
    assert _database_write(_body("seen.add(key)\ncache.delete(key)")) is None
    assert _database_write(_body("metrics.db_pool_checkout_counter.add(1)")) is None
    assert _database_write(_body("rows = conn.execute(query)")) is None


def test_parsers_by_name() -> None:
    assert all(_parser(n) for n in ("loads", "json_loads", "parse_partial_json", "parse", "int", "b64decode"))
    assert not any(_parser(n) for n in ("save_json", "load", "fetch", "read_text"))


def test_tests_decide_nothing_in_production() -> None:
    source = "async def f(session, row):\n    try:\n        await session.commit()\n    except Exception:\n        pass\n"
    assert _graded(source) == [(4, "critical")]
    assert check_source(source.encode(), "tests/test_orders.py", SL201).findings == []
    # ...but a swallowed `assert` is a check that can never fail.
    dead = "def test_reply(messages):\n    try:\n        assert messages[0].otid\n    except Exception:\n        pass\n"
    found = check_source(dead.encode(), "tests/test_reply.py", SL201).findings
    assert [f.severity for f in found] == [Severity.LOW]
    assert found[0].fix_title is None and "`assert`" in found[0].message


def test_a_deliberate_comment_lowers_data_findings_but_not_security_ones() -> None:
    photo = (
        "async def profile(client, user):\n"
        "    try:\n"
        "        user['plan'] = await client.get('/me/plan')\n"
        "    except Exception:\n"
        "        pass  # Ignore errors getting the plan\n"
    )
    found = check_source(photo.encode(), "m.py", SL201).findings
    # An external result is medium; said to be deliberate, one grade lower and no fix.
    assert [(f.severity, f.fix_title) for f in found] == [(Severity.LOW, None)]
    # Cosmetic work (a photo, a colour, a title) is best effort: not reported at all.
    cosmetic = photo.replace("user['plan']", "user['photo']")
    assert check_source(cosmetic.encode(), "m.py", SL201).findings == []
    write = photo.replace("user['plan'] = await client.get('/me/plan')", "await session.commit()")
    found = check_source(write.encode(), "m.py", SL201).findings
    assert [(f.severity, f.fix_title) for f in found] == [(Severity.MEDIUM, None)]
    auth = photo.replace("client.get('/me/plan')", "verify_token(user)")
    assert _graded(auth) == [(4, "critical")]


def test_metrics_and_cleanup_functions_are_not_reported() -> None:
    metrics = "def tick(n):\n    try:\n        MetricRegistry().backlog_gauge.set(n)\n    except Exception:\n        pass\n"
    assert _graded(metrics) == []
    shutdown = "async def shutdown_clients(clients):\n    for c in clients:\n        try:\n            await c.flush_and_stop()\n        except Exception:\n            pass\n"
    assert _graded(shutdown) == []
    # The same body in a function not named for cleanup is reported.
    assert _graded(shutdown.replace("shutdown_clients", "restart_clients")) == [(5, "medium")]


def test_cleanup_before_re_raising_is_not_reported() -> None:
    source = (
        "import contextlib\n\n"
        "async def run(producer):\n"
        "    try:\n"
        "        await consume()\n"
        "    except BaseException:\n"
        "        producer.cancel()\n"
        "        with contextlib.suppress(Exception):\n"
        "            await producer\n"
        "        raise\n"
    )
    assert _graded(source) == []


def test_deliberate_comments() -> None:
    source = "try:\n    f()\nexcept Exception:\n    pass  # Silently ignore: the run tree may be gone\n"
    handler = ast.parse(source).body[0].handlers[0]  # type: ignore[attr-defined]
    assert _says_deliberate(source.splitlines(), handler)
    plain = source.replace("Silently ignore: the run tree may be gone", "the run tree may be gone")
    assert not _says_deliberate(plain.splitlines(), handler)


PROBES = {
    "parse": "import json\n\ndef unpack(m):\n    try:\n        return json.loads(m)['message']\n    except Exception:\n        return m\n",
    "predicate": "import httpx\n\ndef is_up(url) -> bool:\n    try:\n        return httpx.get(url).is_success\n    except Exception:\n        return False\n",
    "import": "def load():\n    try:\n        import orjson\n    except Exception:\n        return None\n    return orjson\n",
    "partial json": "def args(raw):\n    try:\n        kwargs = parse_partial_json(raw) or {}\n    except Exception:\n        kwargs = {}\n    return kwargs\n",
    "optional import": "def tok():\n    try:\n        return build_remote()\n    except (ImportError, Exception):\n        return None\n",
    "version": "try:\n    from importlib.metadata import version\n\n    VERSION = version('app')\nexcept Exception:\n    VERSION = 'unknown'\n",
    "error body": "def message(e):\n    try:\n        return e.response.json()['error']\n    except Exception:\n        return str(e)\n",
    "lookup": "def port(env):\n    try:\n        value = int(env['PORT'])\n    except Exception:\n        value = 8000\n    return value\n",
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probes_are_quiet_by_default_and_low_when_asked(name: str) -> None:
    assert _graded(PROBES[name]) == []
    listed = Settings(select=("SL201",), rule_options={"swallowed-exception": SwallowedExceptionOptions(probe="low")})
    found = check_source(PROBES[name].encode(), "m.py", listed).findings
    assert [f.severity for f in found] == [Severity.LOW]
    assert "catch the exceptions the probe expects" in found[0].message
    assert found[0].fix_title is None, "a probe is narrowed by hand, not logged"


def test_a_security_word_outranks_a_probe() -> None:
    source = "import jwt\n\ndef claims(token):\n    try:\n        return jwt.decode(token, 'k')\n    except Exception:\n        return None\n"
    assert _graded(source) == [(6, "critical")]


def test_a_predicate_that_is_an_authorisation_check_stays_critical() -> None:
    source = "def is_admin(token) -> bool:\n    try:\n        return verify_token(token).admin\n    except Exception:\n        return False\n"
    assert _graded(source) == [(4, "critical")]


def test_probe_option_rejects_unknown_values() -> None:
    with pytest.raises(ConfigError, match=r"unknown value 'lo'.*valid values: ignore, low"):
        rule_options("swallowed-exception", {"probe": "lo"})
    assert rule_options("swallowed-exception", {"probe": "low"}) == SwallowedExceptionOptions(probe="low")


def test_unknown_probe_value_stops_the_run_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sightlint.rules.swallowed-exception]\nprobe = "all"\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--no-cache", "m.py"])
    assert result.exit_code == 2, result.output
    assert "valid values: ignore, low" in result.output


def test_an_attribute_read_with_a_fallback_is_a_lookup_probe() -> None:
    """private-gpt's PDF metadata helpers: one value read off an object, None when it fails."""
    probe = (
        "def pages(reader):\n"
        "    try:\n"
        "        return len(reader.pages)\n"
        "    except Exception:\n"
        "        return None\n"
    )
    assert _graded(probe) == []
    assert _graded(probe.replace("len(reader.pages)", "reader.is_encrypted")) == []
    # Not a probe: the read is followed by more work, or it calls something that does I/O.
    assert _graded(probe.replace("return len(reader.pages)", "n = len(reader.pages)\n        save(n)")) == [(5, "medium")]
    assert _graded(probe.replace("len(reader.pages)", "reader.fetch_pages()")) == [(4, "medium")]


def test_a_read_off_a_security_object_is_not_a_security_decision() -> None:
    """letta's MCP OAuth helpers: a swallowed read returns an error (denies); a swallowed write
    of the authorisation code is the audit's kind of silence."""
    read = (
        "async def load(db, sid):\n"
        "    try:\n"
        "        record = await MCPOAuth.read_async(db_session=db, identifier=sid)\n"
        "    except Exception:\n"
        "        return None\n"
        "    return record\n"
    )
    assert _graded(read) == [(4, "medium")]
    write = read.replace("MCPOAuth.read_async", "MCPOAuth.update_async")
    assert _graded(write) == [(4, "critical")]
    assert _graded(read.replace("MCPOAuth.read_async", "auth.verify_token")) == [(4, "critical")]


# -- judged on letta, private-gpt, chainlit, dispatch and polar (p201) ------------------
# Each case: (path, source, expected (line, severity) list). The clean ones are the classes
# that cried wolf; each has a flagged near-miss next to it.
_JUDGED = [
    # File metadata, libmagic, csv.Sniffer, email dates, type hints: the failure is "cannot tell".
    (
        "app/files.py",
        "def size(p) -> int | None:\n    try:\n        import os\n\n        return os.path.getsize(p)\n"
        "    except Exception:\n        return None\n",
        [],
    ),
    (
        "app/files.py",
        "def size(p) -> int | None:\n    try:\n        import os\n\n        return len(read_blob(p))\n"
        "    except Exception:\n        return None\n",
        [(6, "medium")],
    ),
    (
        "app/files.py",
        "import magic\n\ndef listing(entries):\n    for entry in entries:\n        try:\n"
        "            kind = magic.Magic(mime=True).from_file(str(entry))\n        except Exception:\n"
        "            kind = 'application/octet-stream'\n        yield entry, kind\n",
        [],
    ),
    (
        "app/files.py",
        "import magic\n\ndef listing(entries):\n    for entry in entries:\n        try:\n"
        "            kind = magic.Magic(mime=True).from_file(read_remote(entry))\n        except Exception:\n"
        "            kind = 'application/octet-stream'\n        yield entry, kind\n",
        [(7, "medium")],
    ),
    # pandas conversions and paths built from a URL.
    (
        "app/frames.py",
        "import pandas as pd\nfrom contextlib import suppress\n\ndef convert(column):\n"
        "    with suppress(Exception):\n        numeric = pd.to_numeric(column, errors='coerce')\n"
        "        if not numeric.isna().all():\n            return numeric\n    return column\n",
        [],
    ),
    (
        "app/uris.py",
        "from pathlib import Path\nfrom urllib.parse import urlparse\n\ndef filename(value, fallback):\n"
        "    try:\n        parsed = urlparse(value)\n        name = Path(parsed.path).name\n"
        "        return name or fallback\n    except Exception:\n        return fallback\n",
        [],
    ),
    (
        "app/uris.py",
        "from pathlib import Path\n\ndef filename(value):\n"
        "    try:\n        name = Path(value).read_text()\n"
        "        return name or ''\n    except Exception:\n        return ''\n",
        [(7, "medium")],
    ),
    # An optional dependency imported and used in the `try`; not our own module, not an await.
    (
        "app/server.py",
        "def start(settings):\n    try:\n        if settings.use_uvloop:\n            import asyncio\n\n"
        "            import uvloop\n\n            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\n"
        "    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/server.py",
        "def start(settings):\n    try:\n        if settings.use_uvloop:\n            import asyncio\n\n"
        "            from app import loops\n\n            asyncio.set_event_loop_policy(loops.policy())\n"
        "    except Exception:\n        pass\n",
        [(9, "medium")],
    ),
    (
        "sandbox/executor.py",
        "def run(func, kwargs):\n    try:\n        from app.functions.parsers import coerce\n\n"
        "        kwargs = coerce(kwargs, func.__annotations__)\n    except Exception:\n        pass\n    return func(**kwargs)\n",
        [(6, "medium")],
    ),
    # A debug line computed and logged; computing something kept is work.
    (
        "app/adapter.py",
        "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef show(ids, model):\n    try:\n"
        "        tok = load_tokenizer(model)\n        logger.info(f'decoded: {tok.decode(ids)}')\n"
        "    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/adapter.py",
        "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef show(ids, model, state):\n    try:\n"
        "        state.tok = load_tokenizer(model)\n        logger.info('loaded')\n"
        "    except Exception:\n        pass\n",
        [(9, "medium")],
    ),
    # A linter exemption for the broad handler says it was reviewed; a database write still counts.
    (
        "app/inspect.py",
        "def comment(conn, q):\n    # noinspection PyBroadException\n    try:\n        res = conn.execute(q).scalar()\n"
        "        return res or None\n    except Exception:\n        return None\n",
        [],
    ),
    (
        "app/inspect.py",
        "def comment(conn, q):\n    try:\n        res = conn.execute(q).scalar()\n"
        "        return res or None\n    except Exception:  # noqa: BLE001\n        return None\n",
        [],
    ),
    (
        "app/inspect.py",
        "def save(session, row):\n    try:  # noqa: S110\n        session.add(row)\n        session.commit()\n"
        "    except Exception:\n        pass\n",
        [(5, "medium")],
    ),
    (
        "app/inspect.py",
        "def comment(conn, q):\n    # the comment query\n    try:\n        res = conn.execute(q).scalar()\n"
        "        return res or None\n    except Exception:\n        return None\n",
        [(6, "medium")],
    ),
    (
        "app/files.py",
        "import csv\n\ndef dialect(sample):\n    try:\n        found = csv.Sniffer().sniff(sample)\n"
        "    except Exception:\n        found = csv.excel\n    return found\n",
        [],
    ),
    (
        "app/mail.py",
        "import contextlib\nfrom email.utils import parsedate_to_datetime\n\ndef date(mail, raw):\n"
        "    with contextlib.suppress(Exception):\n        mail.date = parsedate_to_datetime(raw)\n",
        [],
    ),
    (
        "app/mail.py",
        "def date(mail, raw):\n    try:\n        mail.date = store_date(raw)\n    except Exception:\n        pass\n",
        [(4, "medium")],
    ),
    (
        "app/deps.py",
        "import typing\n\ndef hints(dependency):\n    try:\n"
        "        found = typing.get_type_hints(dependency, include_extras=True)\n"
        "    except Exception:\n        return None\n    return found\n",
        [],
    ),
    # A conversion of one value read off an object.
    (
        "app/tags.py",
        "def base(client):\n    try:\n        url = str(getattr(client, '_base_url', '') or '')\n"
        "    except Exception:\n        url = ''\n    return url\n",
        [],
    ),
    (
        "app/tags.py",
        "def base(self):\n    try:\n        client = getattr(self, '_client', None)\n"
        "        url = str(getattr(client, '_base_url', '') or '')\n    except Exception:\n        url = ''\n    return url\n",
        [],
    ),
    (
        "app/tags.py",
        "def base(self):\n    try:\n        client = getattr(self, '_client', None)\n"
        "        url = str(client.resolve_url())\n    except Exception:\n        url = ''\n    return url\n",
        [(5, "medium")],
    ),
    (
        "app/agents.py",
        "def tags(agent, request):\n    try:\n        agent.tags = list(request.tags or [])\n    except Exception:\n        pass\n",
        [],
    ),
    # Cancelling a generator is cleanup.
    (
        "app/streams.py",
        "async def _handle_cancellation(gen):\n    try:\n        await gen.stop_stream()\n    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/streams.py",
        "async def _handle_completion(gen):\n    try:\n        await gen.stop_stream()\n    except Exception:\n        pass\n",
        [(4, "medium")],
    ),
    # A tool probe that reads the tool's output (`check=False`); not one that ships it somewhere.
    (
        "app/version.py",
        "import subprocess\n\ndef git_config(key):\n    try:\n"
        "        result = subprocess.run(['git', 'config', key], capture_output=True, text=True, check=False)\n"
        "        return result.stdout.strip() if result.returncode == 0 else ''\n"
        "    except Exception:\n        return ''\n",
        [],
    ),
    (
        "app/version.py",
        "import subprocess\n\ndef git_config(key):\n    try:\n"
        "        result = subprocess.run(['git', 'config', key], capture_output=True, text=True, check=False)\n"
        "        upload(result.stdout)\n"
        "    except Exception:\n        return ''\n",
        [(7, "medium")],
    ),
    # Yes/no whatever the name: the body answers False, the handler True.
    (
        "app/plugins.py",
        "class Plugin:\n    @property\n    def broken(self):\n        try:\n            registry.get(self.slug)\n"
        "            return False\n        except Exception:\n            return True\n",
        [],
    ),
    (
        "app/plugins.py",
        "class Plugin:\n    @property\n    def broken(self):\n        try:\n            registry.get(self.slug)\n"
        "            return False\n        except Exception:\n            return None\n",
        [(7, "medium")],
    ),
    # "Cannot tell" from a yes/no check typed `bool | None`; None from a function that returns data.
    (
        "app/pdf.py",
        "def has_forms(reader) -> bool | None:\n    try:\n        return len(reader.get_form_text_fields()) > 0\n"
        "    except Exception:\n        return None\n",
        [],
    ),
    (
        "app/pdf.py",
        "def form_fields(reader) -> list | None:\n    try:\n        return reader.get_form_text_fields()\n"
        "    except Exception:\n        return None\n",
        [(4, "medium")],
    ),
    # SQLAlchemy's Inspector raises NotImplementedError where a dialect has no comments.
    (
        "app/schema.py",
        "from sqlalchemy import inspect\n\ndef comment(engine, table):\n    meta = inspect(engine)\n    try:\n"
        "        data = meta.get_table_comment(table_name=table)\n        if data and isinstance(data, dict):\n"
        "            return data.get('text') or None\n    except Exception:\n        return None\n",
        [],
    ),
    (
        "app/schema.py",
        "from sqlalchemy import inspect\n\ndef comment(engine, table):\n    meta = inspect(engine)\n    try:\n"
        "        data = meta.get_columns(table_name=table)\n        if data and isinstance(data, dict):\n"
        "            return data.get('text') or None\n    except Exception:\n        return None\n",
        [(9, "medium")],
    ),
    # A call of our own that already catches its errors and answers a default; one that does not.
    (
        "app/agent.py",
        "class Agent:\n    def _cap(self) -> int:\n        try:\n            cap = int(self.state.window * 0.8)\n"
        "        except Exception:\n            cap = 5000\n        return max(5000, cap)\n\n"
        "    def clamp(self, text):\n        try:\n            cap = self._cap()\n        except Exception:\n"
        "            cap = 5000\n        return text[:cap]\n",
        [],
    ),
    (
        "app/agent.py",
        "class Agent:\n    def _cap(self) -> int:\n        cap = int(self.state.window * 0.8)\n        return max(5000, cap)\n\n"
        "    def clamp(self, text):\n        try:\n            cap = self._cap()\n        except Exception:\n"
        "            cap = 5000\n        return text[:cap]\n",
        [(9, "medium")],
    ),
    # Language, encoding and dialect detection.
    (
        "app/lang.py",
        "def detect_language(text):\n    try:\n        code = str(langdetect(text))\n"
        "        return LANGS.get(code)\n    except Exception:\n        return None\n",
        [],
    ),
    (
        "app/lang.py",
        "def translate(text):\n    try:\n        return translator.translate(text)\n"
        "    except Exception:\n        return None\n",
        [(4, "medium")],
    ),
    # Decorating a trace must not break the traced code; storing something is not tracing.
    (
        "app/service.py",
        "def annotate(span, name, value):\n    try:\n        span.set_attribute(f'param.{name}', str(value)[:100])\n"
        "    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/service.py",
        "def annotate(span, name, value):\n    try:\n        span.set_attribute(f'param.{name}', str(value)[:100])\n"
        "        cache.store(name, value)\n    except Exception:\n        pass\n",
        [(5, "medium")],
    ),
    # Telemetry modules: their synchronous bookkeeping is best effort, an awaited read is data.
    (
        "app/monitoring/watchdog.py",
        "def check(state, lag):\n    try:\n        if lag > state.limit:\n            mark_degraded(lag)\n"
        "    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/routers/telemetry.py",
        "async def trace(server, step):\n    try:\n        return await server.traces.get_by_step(step)\n"
        "    except Exception:\n        pass\n",
        [(4, "medium")],
    ),
    # Developer and CI tooling, told by how it runs: a hidden folder no package ships, a
    # shebang, a `__main__` block...
    (
        ".github/scripts/sweep.py",
        "def remote(run):\n    try:\n        return run(['git', 'remote'])\n    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/migrate_all.py",
        "#!/usr/bin/env python3\ndef track(payload):\n    try:\n        send(payload)\n    except Exception:\n        pass\n",
        [],
    ),
    # ...not by folder names: an agent's `tools/` are the service's code.
    (
        "src/tools/pylon_tools.py",
        "def article(article_id):\n    try:\n        names = fetch_collections()\n    except Exception:\n"
        "        names = {}\n    return render(article_id, names)\n",
        [(4, "medium")],
    ),
    (
        "dev/cli/analytics.py",
        "def track(payload):\n    try:\n        send(payload)\n    except Exception:\n        pass\n",
        [],
    ),
    (
        "app/cli.py",
        "if __name__ == '__main__':\n    try:\n        track()\n    except Exception:\n        pass\n    main()\n",
        [],
    ),
    # ...but a script's silent database write is still worth a look.
    (
        ".circleci/seed.py",
        "def seed(session, rows):\n    try:\n        session.add_all(rows)\n        session.commit()\n"
        "    except Exception:\n        pass\n",
        [(5, "medium")],
    ),
    # Cosmetic work: a subject line, a photo, a progress bar; a loop's `progress_made` flag is not one.
    (
        "app/threads.py",
        "async def _generate_thread_subject(agent, content, fallback):\n    try:\n"
        "        result = await agent.run(content)\n        return result.output.strip() or fallback\n"
        "    except Exception:\n        return fallback\n",
        [],
    ),
    (
        "app/build.py",
        "def build(nodes):\n    for node in nodes:\n        try:\n            make_class(node)\n"
        "            progress_made = True\n        except Exception:\n            continue\n",
        [(6, "medium")],
    ),
    (
        "app/build.py",
        "def build(nodes, progress, task):\n    for node in nodes:\n        try:\n"
        "            progress.update(task, advance=1)\n        except Exception:\n            pass\n",
        [],
    ),
    # Reaping a task whose failure was handled where it happened; awaiting work is not reaping.
    (
        "app/mcp.py",
        "async def connect(task, holder):\n    if 'error' in holder:\n        try:\n            await task\n"
        "        except BaseException:\n            pass\n        return None\n",
        [],
    ),
    (
        "app/mcp.py",
        "async def connect(client, holder):\n    if 'error' in holder:\n        try:\n"
        "            await client.reconnect()\n        except BaseException:\n            pass\n        return None\n",
        [(5, "medium")],
    ),
    # A local import and reads of what it provides; a call of our own code is work.
    (
        "app/llm.py",
        "def betas(config):\n    found = []\n    try:\n        from app.settings import model_settings\n\n"
        "        if model_settings.long_context and config.model.startswith('claude'):\n"
        "            found.append('context-1m')\n    except Exception:\n        pass\n    return found\n",
        [],
    ),
    (
        "app/llm.py",
        "def betas(config):\n    found = []\n    try:\n        from app.settings import model_settings\n\n"
        "        if model_settings.long_context:\n            found.append(enable_beta(config))\n"
        "    except Exception:\n        pass\n    return found\n",
        [(8, "medium")],
    ),
    (
        "app/llm.py",
        "def betas(config, model_settings):\n    found = []\n    try:\n"
        "        if model_settings.long_context and config.model.startswith('claude'):\n"
        "            found.append('context-1m')\n    except Exception:\n        pass\n    return found\n",
        [],
    ),
    (
        "app/llm.py",
        "def betas(config, model_settings):\n    found = []\n    try:\n"
        "        if model_settings.long_context and config.model.startswith('claude'):\n"
        "            found.append('context-1m')\n            model_settings.save()\n    except Exception:\n        pass\n    return found\n",
        [(7, "medium")],
    ),
    # A fallback of several local names; a side effect in the handler is more than a fallback.
    (
        "app/errors.py",
        "def from_response(cls, response):\n    try:\n        body = response.json()\n"
        "        message = body.get('error', response.reason_phrase)\n    except Exception:\n"
        "        body = response.text\n        message = response.reason_phrase\n    return cls(message, body)\n",
        [],
    ),
    (
        "app/errors.py",
        "def from_response(cls, response):\n    try:\n        body = response.json()\n"
        "        message = body.get('error', response.reason_phrase)\n    except Exception:\n"
        "        cls.failures = 1\n        message = response.reason_phrase\n    return cls(message, body)\n",
        [(5, "medium")],
    ),
    # Another distribution's lookup (babel raises on an unknown territory); our own lookup is data.
    (
        "app/kit/currency.py",
        "from babel.numbers import get_territory_currencies\n\ndef currency(country):\n    try:\n"
        "        found = get_territory_currencies(country)\n    except Exception:\n        return None\n    return found\n",
        [],
    ),
    (
        "app/kit/currency.py",
        "from app.kit.rates import get_rates\n\ndef currency(country):\n    try:\n"
        "        found = get_rates(country)\n    except Exception:\n        return None\n    return found\n",
        [(6, "medium")],
    ),
    # A choice among the members of the annotated return class, with one as the default
    # (letta's line chunker); a constant of another kind is lost data (letta's tool calls).
    (
        "app/chunker.py",
        "class Chunker:\n    def strategy(self, meta) -> Strategy:\n        if meta.mime:\n            try:\n"
        "                return self.registry.by_mime(meta.mime)\n            except Exception:\n                pass\n"
        "        if meta.name:\n            try:\n                return self.registry.by_extension(ext(meta.name))\n"
        "            except Exception:\n                pass\n        return Strategy.LINE_BASED\n",
        [],
    ),
    (
        "app/chunker.py",
        "def strategy(registry, meta) -> Strategy:\n    try:\n        return registry.by_mime(meta.mime)\n"
        "    except Exception:\n        return Strategy.LINE_BASED\n",
        [],
    ),
    (
        "app/chunker.py",
        "def strategy(registry, meta) -> Strategy:\n    try:\n        return registry.by_mime(meta.mime)\n"
        "    except Exception:\n        pass\n    return None\n",
        [(4, "medium")],
    ),
    (
        "app/adapter.py",
        "class Adapter:\n    def tool_calls(self) -> list:\n        try:\n"
        "            return self.interface.get_tool_call_objects()\n        except Exception:\n            return []\n",
        [(5, "medium")],
    ),
    (
        "app/plans.py",
        "async def plan(llm, text) -> Plan:\n    try:\n        return await llm.choose(text)\n"
        "    except Exception:\n        return Plan.DEFAULT\n",
        [(4, "medium")],
    ),
    # Another library's private internals, the broad handler being the version guard
    # (dispatch's `query._compile_state()`, python-pptx's `shape._element`); our own
    # private attributes are ordinary work.
    (
        "app/database/service.py",
        "def joined(query, models):\n    if hasattr(query, '_compile_state'):\n        try:\n"
        "            state = query._compile_state()\n            for mapper in state._join_entities:\n"
        "                models.append(mapper.class_)\n        except Exception:\n            pass\n",
        [],
    ),
    (
        "app/slides.py",
        "def remove(shapes):\n    for shape in shapes:\n        try:\n            sp = shape._element\n"
        "            sp.getparent().remove(sp)\n        except Exception:\n            continue\n",
        [],
    ),
    (
        "app/slides.py",
        "class Renderer:\n    def remove(self, shapes):\n        for shape in shapes:\n            try:\n"
        "                self._store.remove(shape)\n            except Exception:\n                continue\n",
        [(6, "medium")],
    ),
    (
        "app/slides.py",
        "async def send(client, payload):\n    try:\n        await client._transport.send(payload)\n"
        "    except Exception:\n        pass\n",
        [(4, "medium")],
    ),
    # A filter whose yes/no test failed leaves the item out; other work per item is not a test.
    (
        "app/slides.py",
        "class Renderer:\n    def overlapping(self, shapes, zone):\n        keep = []\n        for shape in shapes:\n"
        "            try:\n                if self._overlaps(shape, zone):\n                    keep.append(shape)\n"
        "            except Exception:\n                continue\n        return keep\n\n"
        "    def _overlaps(self, shape, zone) -> bool:\n        return shape.left < zone.right\n",
        [],
    ),
    (
        "app/slides.py",
        "class Renderer:\n    def overlapping(self, shapes, zone):\n        keep = []\n        for shape in shapes:\n"
        "            try:\n                if self._overlaps(shape, zone):\n                    keep.append(self._render(shape))\n"
        "            except Exception:\n                continue\n        return keep\n\n"
        "    def _overlaps(self, shape, zone) -> bool:\n        return shape.left < zone.right\n",
        [(8, "medium")],
    ),
    (
        "app/mail.py",
        "def notify(users):\n    sent = []\n    for user in users:\n        try:\n            if send_mail(user):\n"
        "                sent.append(user)\n        except Exception:\n            continue\n    return sent\n\n"
        "def send_mail(user):\n    return True\n",
        [(7, "medium")],
    ),
    # The caller's own fallback, handed over for failure (polar's thread subject); an input
    # of the work returned as is, or a default for a failed client read, hides the failure.
    (
        "app/threads.py",
        "async def make_subject(agent, content, fallback):\n    try:\n"
        "        result = await agent.run(content)\n        return result.output.strip() or fallback\n"
        "    except Exception:\n        return fallback\n",
        [],
    ),
    (
        "app/crypto.py",
        "def reveal(token, key):\n    try:\n        return decrypt(token, key)\n    except Exception:\n        return token\n",
        [(4, "medium")],
    ),
    (
        "app/cache.py",
        "class Cache:\n    async def get(self, key, default=None):\n        try:\n"
        "            client = await self.get_client()\n            return await client.get(key)\n"
        "        except Exception:\n            return default\n",
        [(6, "medium")],
    ),
    # Tests: `assert False` swallowed can never fail, whatever the comment says; checks made
    # optional on purpose are the author's choice.
    (
        "tests/test_tools.py",
        "def test_deleted(manager, tool):\n    try:\n        manager.get(tool.id)\n"
        "        assert False, 'should have been deleted'\n    except Exception:\n        pass  # Expected\n",
        [(5, "low")],
    ),
    (
        "tests/test_tools.py",
        "def test_reply(messages):\n    try:\n        assert messages[0].otid\n    except Exception:\n"
        "        # Reasoning is non-deterministic, so don't throw if missing\n        pass\n",
        [],
    ),
]


@pytest.mark.parametrize(("path", "source", "expected"), _JUDGED)
def test_classes_judged_on_real_back_ends(path: str, source: str, expected: list[tuple[int, str]]) -> None:
    module = path.removesuffix(".py").replace("/", ".")
    result = check_source(source.encode(), path, SL201, module=module)
    assert [(f.line, f.severity.label) for f in result.findings if f.code == "SL201"] == expected


def test_the_audit_case_stays_critical_in_every_folder() -> None:
    source = (
        "async def get_current_user_optional(credentials, db):\n    try:\n"
        "        payload = decode_access_token(credentials.credentials)\n        return await db.get_user(payload['sub'])\n"
        "    except Exception:\n        pass  # Ignore errors and return None for public access\n"
    )
    for path in ("app/api/deps.py", "app/monitoring/deps.py", "app/avatar_deps.py"):
        assert _graded_at(source, path) == [(5, "critical")], path


def _graded_at(source: str, path: str) -> list[tuple[int, str]]:
    result = check_source(source.encode(), path, SL201)
    return [(f.line, f.severity.label) for f in result.findings if f.code == "SL201"]
