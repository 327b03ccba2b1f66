from __future__ import annotations

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.blocking import CATEGORY_LABEL, CatalogOptions, analyse, first_blocking
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.rules.base import Bad, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings


class IneffectiveTimeout(Rule):
    """
    ## What it flags
    `asyncio.wait_for(coro(), timeout)`, `async with asyncio.timeout(...)`,
    `anyio.fail_after(...)` (and `move_on_after`, `async_timeout.timeout`) around work
    that never gives control back to the event loop: a coroutine whose body has no
    `await` but runs a blocking call (directly or through sync helpers, across modules),
    or a blocking call written inside the timeout block. The blocking calls are the
    ones `blocking-call-in-async` (SL101) knows, by category.

    ## Why it matters
    Asyncio timeouts are cancellations delivered at the next `await`. Code that never
    awaits cannot be cancelled: `wait_for(probe(), 2)` around a probe that blocks in a
    sync driver for 30 s returns after 30 s, and the whole event loop is frozen for
    those 30 s. The timeout reads like protection and gives none.

    ## Fix
    No automatic fix. Make the wrapped work really asynchronous (an async driver or
    client, `await asyncio.sleep`), or run the blocking part in a thread:
    `await asyncio.wait_for(asyncio.to_thread(probe_sync), 2)`; the caller then gets its
    timeout, although the thread itself keeps running until the call returns.

    Why not automatically: each remedy changes more than the timeout. Moving the blocking
    call to a thread runs it outside the event loop's thread: a client or session that is
    not thread-safe (a SQLAlchemy `Session`, a Neo4j session, most LangChain objects
    holding one) is then used from two threads, context variables set in the task are
    not seen by a plain `run_in_executor`, and on timeout the thread keeps the connection
    busy until the call returns. The blocking call often sits several calls below the
    `wait_for` (the message names the chain), so the code that must move is not the
    code the timeout wraps. Swapping in an async driver is a dependency and API change.
    The finding names the blocking call; the SL101 fix handles a plain `time.sleep`.

    ## Options
    The same catalog settings as `blocking-call-in-async`, set for this rule under its
    own name: `categories` to check and `extra-calls` to add.

    ## See also
    - https://docs.python.org/3/library/asyncio-task.html#timeouts
    """

    meta = RuleMeta(
        code="SL102",
        name="ineffective-timeout",
        severity=Severity.HIGH,
        summary="Timeout around work that never awaits, so it cannot fire.",
        fix=FixSafety.NONE,
        tags=("async",),
    )
    cross_file = True
    # Component-local: a timeout's targets are resolved in its own module, and the blocking
    # chains behind them follow call edges (which stay in one component).
    project_scope = "component"
    Options = CatalogOptions

    bad = (
        Bad(
            "# file: app/probe.py\n"
            "import requests\n"
            "\n"
            "async def probe(url):\n"
            "    return requests.get(url).status_code\n"
            "# file: app/health.py\n"
            "import asyncio\n"
            "from app.probe import probe\n"
            "\n"
            "async def health(url):\n"
            "    return await asyncio.wait_for(probe(url), timeout=2)\n"
        ),
        Bad(
            "import asyncio\n"
            "import requests\n"
            "\n"
            "async def probe(url):\n"
            "    return requests.get(url).status_code\n"
            "\n"
            "async def health(url):\n"
            "    return await asyncio.wait_for(probe(url), timeout=2)\n",
            in_docs=True,
        ),
        Bad(
            "import asyncio, time\n"
            "\n"
            "def backoff():\n"
            "    time.sleep(5)\n"
            "\n"
            "async def connect():\n"
            "    backoff()\n"
            "\n"
            "async def main():\n"
            "    async with asyncio.timeout(1):\n"
            "        await connect()\n"
        ),
        Bad(
            "import asyncio, subprocess\n"
            "\n"
            "async def main():\n"
            "    async with asyncio.timeout(10):\n"
            "        subprocess.run(['sleep', '60'])\n"
        ),
        Bad(
            "import anyio, time\n"
            "\n"
            "async def work():\n"
            "    time.sleep(3)\n"
            "\n"
            "async def main():\n"
            "    with anyio.fail_after(1):\n"
            "        await work()\n"
        ),
        Bad(
            "import asyncio as aio\n"
            "from neo4j import GraphDatabase\n"
            "\n"
            "class Probe:\n"
            "    def check(self):\n"
            "        GraphDatabase.driver('bolt://db').verify_connectivity()\n"
            "\n"
            "    async def run(self):\n"
            "        self.check()\n"
            "\n"
            "async def ready():\n"
            "    await aio.wait_for(Probe().run(), 5)\n"
        ),
        Bad(
            "import asyncio, bcrypt\n"
            "\n"
            "async def hash_pw(pw):\n"
            "    return bcrypt.hashpw(pw, bcrypt.gensalt())\n"
            "\n"
            "async def register(pw):\n"
            "    return await asyncio.wait_for(hash_pw(pw), 1)\n"
        ),
        Bad(
            "import asyncio, time\n"
            "\n"
            "async def slow():\n"
            "    time.sleep(2)\n"
            "\n"
            "async def main():\n"
            "    async with asyncio.timeout(1):\n"
            "        await asyncio.sleep(0)\n"
            "        await slow()\n"
        ),
        Bad(
            "import asyncio, time\n"
            "\n"
            "def wait():\n"
            "    time.sleep(1)\n"
            "\n"
            "async def main():\n"
            "    async with asyncio.timeout_at(10):\n"
            "        wait()\n"
        ),
    )

    good = (
        Good(
            "# file: app/probe.py\n"
            "import httpx\n"
            "\n"
            "async def probe(url):\n"
            "    async with httpx.AsyncClient() as client:\n"
            "        return (await client.get(url)).status_code\n"
            "# file: app/health.py\n"
            "import asyncio\n"
            "from app.probe import probe\n"
            "\n"
            "async def health(url):\n"
            "    return await asyncio.wait_for(probe(url), timeout=2)\n"
        ),
        Good(
            "import asyncio\n"
            "import httpx\n"
            "\n"
            "async def probe(url):\n"
            "    async with httpx.AsyncClient() as client:\n"
            "        return (await client.get(url)).status_code\n"
            "\n"
            "async def health(url):\n"
            "    return await asyncio.wait_for(probe(url), timeout=2)\n",
            in_docs=True,
        ),
        Good(
            "import asyncio, requests\n"
            "\n"
            "def probe(url):\n"
            "    return requests.get(url).status_code\n"
            "\n"
            "async def health(url):\n"
            "    return await asyncio.wait_for(asyncio.to_thread(probe, url), 2)\n"
        ),
        Good(
            "import asyncio\n"
            "\n"
            "async def main():\n"
            "    async with asyncio.timeout(1):\n"
            "        await asyncio.sleep(5)\n"
        ),
        Good(
            "import asyncio\n"
            "\n"
            "async def compute():\n"
            "    return sum(range(10))\n"
            "\n"
            "async def main():\n"
            "    await asyncio.wait_for(compute(), 1)\n"
        ),
        Good("import asyncio\n\nasync def main(coro):\n    await asyncio.wait_for(coro, 1)\n"),
        Good(
            "import asyncio, time\n"
            "\n"
            "async def main():\n"
            "    time.sleep(1)\n"
            "    async with asyncio.timeout(1):\n"
            "        await asyncio.sleep(1)\n"
        ),
        Good(
            "import asyncio, time\n"
            "\n"
            "async def main():\n"
            "    with open('x') as f:\n"
            "        pass\n"
            "    await asyncio.wait_for(asyncio.sleep(1), 1)\n"
        ),
        Good(
            "import time\n"
            "\n"
            "def timeout(s):\n"
            "    return s\n"
            "\n"
            "async def main():\n"
            "    async with timeout(1):\n"
            "        time.sleep(2)\n"
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        catalog = cls.options_for(settings).catalog()
        return ModelNeeds(externals=catalog.worth_keeping, facts=frozenset({"awaits"}), timeouts=True)

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        catalog = cls.options_for(settings).catalog()
        blocking = analyse(model, catalog)
        findings: list[Finding] = []
        for path, kind, function, t_line, t_col, t_end_line, t_end_col, targets in model.timeouts:
            if not model.functions[function].is_async:
                continue  # asyncio timeouts only exist in coroutines
            name = kind.rsplit(".", 1)[-1]
            for target_kind, target, text in targets:
                reason: str | None = None
                related: list[RelatedLocation] = []
                if target_kind == "ext":
                    category = catalog.category(target)
                    if category is not None:
                        reason = f"`{text}` ({CATEGORY_LABEL[category]}) blocks inside it"
                else:
                    fid = target
                    fn = model.functions[fid]
                    if fn.is_async and fn.facts["awaits"]:
                        continue  # it yields: the timeout can fire at its awaits
                    found = first_blocking(model, blocking, fid)
                    if found is None:
                        continue
                    chain, site = found
                    what = f"coroutine `{model.display(fid)}` never awaits and" if fn.is_async else f"`{model.display(fid)}()`"
                    reason = f"{what} runs `{site.call.site.text}` ({CATEGORY_LABEL[site.category]})"
                    related = [
                        RelatedLocation(model.path_of(f), model.functions[f].line, model.functions[f].col, f"`{model.display(f)}`")
                        for f in chain
                    ]
                    related.append(
                        RelatedLocation(
                            model.path_of(site.function), site.call.site.line, site.call.site.col, f"`{site.call.site.text}` blocks"
                        )
                    )
                if reason is None:
                    continue
                message = (
                    f"`{name}` cannot fire: {reason}; the event loop is blocked until it returns. "
                    "Use an async client, or run the blocking call in a thread (`asyncio.to_thread`) inside the timeout."
                )
                findings.append(
                    cls.project_finding(
                        path,
                        Span(t_line, t_col, t_end_line, t_end_col),
                        message,
                        related=tuple(related),
                    )
                )
                break  # one finding per timeout
        return findings
