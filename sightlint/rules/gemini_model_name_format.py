from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from textwrap import dedent
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.project.pins import Pin, project_pin
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

_PACKAGE = "langchain-google-genai"
_FIXED_IN = (2, 1, 8)
_EMBEDDINGS = frozenset(
    {
        "langchain_google_genai.GoogleGenerativeAIEmbeddings",
        "langchain_google_genai.embeddings.GoogleGenerativeAIEmbeddings",
        "GoogleGenerativeAIEmbeddings",
    }
)


@dataclass(frozen=True)
class ModelNameOptions:
    """SL404's settings."""

    only_affected_versions: bool = True
    """Report nothing when the project's requirement of langchain-google-genai admits only
    2.1.8 or newer (which adds the prefix itself); false reports those names as low."""


class GeminiModelNameFormat(Rule):
    """
    ## What it flags
    A Gemini embeddings model name without the `models/` prefix (`"gemini-embedding-001"`,
    `"text-embedding-004"`) that reaches `GoogleGenerativeAIEmbeddings(model=...)`: written
    in the call, or the default of a settings field, a module constant or a parameter that
    flows there (`model=settings.EMBEDDING_MODEL`, `model=name or DEFAULT_MODEL`, through
    local variables), across modules (a field or constant is matched by name among the
    modules imports join to the call: one component of the project's import graph). The
    finding sits at the string literal, where the fix goes (audit §5: the settings default
    in `app/core/config.py`). Names built at run time (f-strings, concatenations) and
    names that already carry a prefix are not reported.

    The severity depends on the langchain-google-genai versions the project allows, read
    from its own files (never from the environment sightlint runs in): a lock file's
    version (`poetry.lock`, `uv.lock`, `pdm.lock`, `Pipfile.lock`,
    `requirements*.lock`), else the requirement in `pyproject.toml` or
    `requirements*.txt`, in the folder of the code or any folder above it up to the
    project root.

    | The project allows | Severity |
    |---|---|
    | a version below 2.1.8 (`>=2.0,<3`, `==2.1.7`, no lower bound) | critical |
    | nothing below 2.1.8 (`>=2.1.8`) | not reported (low with `only-affected-versions = false`) |
    | no requirement found | high |

    Library facts, read in the installed sources: `GoogleGenerativeAIEmbeddings` adds
    `models/` to a bare name from langchain-google-genai 2.1.8 (`embeddings.py`
    validator; 2.1.7 sends the name as given); the chat model has added it since 1.0.4
    (`chat_models.py`; 1.0.3 does not); the `google.genai` SDK adds it itself.

    ## Why it matters
    The Gemini embeddings API rejects a bare name: `400 BatchEmbedContentsRequest.model:
    unexpected model name format`. Every embedding call fails, so retrieval (RAG) fails at
    start-up or on the first query, and whatever depends on it degrades or crashes —
    usually only in the deployed environment, where the real API is called.

    ## Fix
    Writes the prefix into the literal: `"gemini-embedding-001"` becomes
    `"models/gemini-embedding-001"`, keeping its quotes and string prefix (`r`, `u`); in an
    f-string or an implicit concatenation only when a plain text part starts it (`"models/"`
    goes in front of that text). The API accepts the prefixed name from every version of
    the library, and versions from 2.1.8 send it unchanged, so the embeddings calls
    behave as with a fixed library.

    - **Safe** where the literal is written in the `GoogleGenerativeAIEmbeddings(model=...)`
      call itself: the call is its only reader.
    - **Unsafe** (`--unsafe-fixes`) where it is a settings default, a module constant or a
      parameter default: other code may read the same value (stored as metadata beside
      the vectors, compared, logged, sent to another API), and would see the new name.
      Review those readers; an environment variable that overrides a settings default
      keeps its bare name — requiring `langchain-google-genai>=2.1.8` covers that too.

    ## Options
    `only-affected-versions = false` also reports bare names when the project allows only
    fixed versions (as low), for code that must run with older ones too.

    ## See also
    - https://ai.google.dev/gemini-api/docs/embeddings
    """

    meta = RuleMeta(
        code="SL404",
        name="gemini-model-name-format",
        severity=Severity.CRITICAL,
        summary="Gemini embeddings model name without the `models/` prefix.",
        audit="§5",
        fix=FixSafety.SAFE,
        fix_title="Add the `models/` prefix",
        unsafe_fix_title="Add the `models/` prefix (other readers of the value see it too)",
        since="0.1.0",
        tags=(),
    )
    cross_file = True
    # Component-local: a use's model name is matched to defaults and constants of its own
    # component of the module-dependency graph (``Graph.component``).
    project_scope = "component"
    Options = ModelNameOptions
    fix_node = ("SimpleString", "FormattedString", "ConcatenatedString")

    bad = (
        Bad(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embeddings = GoogleGenerativeAIEmbeddings(model="gemini-embedding-001")
            """),
            unsafe_fixed=dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embeddings = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001")
            """),
            fixed=dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embeddings = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001")
            """),
            in_docs=True,
        ),
        # A settings default that flows to the client, across modules (the audit's case).
        Bad(
            dedent("""\
            # file: app/core/config.py
            from pydantic_settings import BaseSettings

            class Settings(BaseSettings):
                EMBEDDING_MODEL: str = "gemini-embedding-001"

            settings = Settings()
            # file: app/clients.py
            from langchain_google_genai import GoogleGenerativeAIEmbeddings
            from app.core.config import settings

            def get_embeddings(model=None):
                name = model or settings.EMBEDDING_MODEL
                return GoogleGenerativeAIEmbeddings(model=name)
            """)
        ),
        # A module constant.
        Bad(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            EMBEDDING_MODEL = "text-embedding-004"

            def embedder():
                return GoogleGenerativeAIEmbeddings(model=EMBEDDING_MODEL, task_type="retrieval_query")
            """),
            unsafe_fixed=dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            EMBEDDING_MODEL = "models/text-embedding-004"

            def embedder():
                return GoogleGenerativeAIEmbeddings(model=EMBEDDING_MODEL, task_type="retrieval_query")
            """),
        ),
        # A parameter's default.
        Bad(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def embedder(model: str = "embedding-001"):
                return GoogleGenerativeAIEmbeddings(model=model)
            """),
            unsafe_fixed=dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def embedder(model: str = "models/embedding-001"):
                return GoogleGenerativeAIEmbeddings(model=model)
            """),
        ),
        # pydantic Field(default=...).
        Bad(
            dedent("""\
            from pydantic import BaseModel, Field
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            class RagConfig(BaseModel):
                embedding_model: str = Field(default="gemini-embedding-exp-03-07")

            def build(config: RagConfig):
                return GoogleGenerativeAIEmbeddings(model=config.embedding_model)
            """),
            unsafe_fixed=dedent("""\
            from pydantic import BaseModel, Field
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            class RagConfig(BaseModel):
                embedding_model: str = Field(default="models/gemini-embedding-exp-03-07")

            def build(config: RagConfig):
                return GoogleGenerativeAIEmbeddings(model=config.embedding_model)
            """),
        ),
        # Either branch of a conditional.
        Bad(
            dedent("""\
            import os
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def build(fast: bool):
                return GoogleGenerativeAIEmbeddings(model="text-embedding-004" if fast else "models/gemini-embedding-001")
            """),
            unsafe_fixed=dedent("""\
            import os
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def build(fast: bool):
                return GoogleGenerativeAIEmbeddings(model="models/text-embedding-004" if fast else "models/gemini-embedding-001")
            """),
            fixed=dedent("""\
            import os
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def build(fast: bool):
                return GoogleGenerativeAIEmbeddings(model="models/text-embedding-004" if fast else "models/gemini-embedding-001")
            """),
        ),
        # Submodule import path.
        Bad(
            dedent("""\
            from langchain_google_genai.embeddings import GoogleGenerativeAIEmbeddings

            class Index:
                def __init__(self):
                    self.embeddings = GoogleGenerativeAIEmbeddings(model="gemini-embedding-001", google_api_key="k")
            """),
            unsafe_fixed=dedent("""\
            from langchain_google_genai.embeddings import GoogleGenerativeAIEmbeddings

            class Index:
                def __init__(self):
                    self.embeddings = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001", google_api_key="k")
            """),
            fixed=dedent("""\
            from langchain_google_genai.embeddings import GoogleGenerativeAIEmbeddings

            class Index:
                def __init__(self):
                    self.embeddings = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001", google_api_key="k")
            """),
        ),
        # A module-level constant read through a local.
        Bad(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            DEFAULT = "gemini-embedding-001"

            def build(overrides):
                chosen = overrides.get("model") or DEFAULT
                return GoogleGenerativeAIEmbeddings(model=chosen)
            """),
            unsafe_fixed=dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            DEFAULT = "models/gemini-embedding-001"

            def build(overrides):
                chosen = overrides.get("model") or DEFAULT
                return GoogleGenerativeAIEmbeddings(model=chosen)
            """),
        ),
    )

    good = (
        Good(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embeddings = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001")
            """),
            in_docs=True,
        ),
        # Built at run time: not known here.
        Good(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def build(name):
                return GoogleGenerativeAIEmbeddings(model=f"models/{name}")
            """)
        ),
        Good(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            def build(version):
                return GoogleGenerativeAIEmbeddings(model=f"text-embedding-{version}")
            """)
        ),
        # A chat model adds the prefix itself (langchain-google-genai 1.0.4+).
        Good(
            dedent("""\
            from langchain_google_genai import ChatGoogleGenerativeAI

            llm = ChatGoogleGenerativeAI(model="gemini-2.5-flash")
            """)
        ),
        # The google.genai SDK adds it too.
        Good(
            dedent("""\
            from google import genai

            client = genai.Client()

            async def embed(text):
                return await client.aio.models.embed_content(model="gemini-embedding-001", contents=text)
            """)
        ),
        # Another provider's embeddings.
        Good(
            dedent("""\
            from langchain_openai import OpenAIEmbeddings

            embeddings = OpenAIEmbeddings(model="text-embedding-3-small")
            """)
        ),
        # A settings field that never reaches the Gemini client.
        Good(
            dedent("""\
            from pydantic_settings import BaseSettings
            from langchain_openai import OpenAIEmbeddings

            class Settings(BaseSettings):
                OPENAI_EMBEDDING_MODEL: str = "text-embedding-3-small"

            settings = Settings()
            embeddings = OpenAIEmbeddings(model=settings.OPENAI_EMBEDDING_MODEL)
            """)
        ),
        # Tuned models use their own prefix.
        Good(
            dedent("""\
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embeddings = GoogleGenerativeAIEmbeddings(model="tunedModels/my-embedding-001")
            """)
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        return ModelNeeds(facts=frozenset({"work"}), module_facts=frozenset({"links"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        options: ModelNameOptions = cls.options_for(settings)
        # (component, kind, name) -> (path, literal). A settings field or constant is matched
        # by name, within the use's component of the module-dependency graph (the module
        # reading ``settings.X`` imports the settings, or is wired to what does).
        defaults: dict[tuple[int, str, str], list[tuple[str, tuple[Any, ...]]]] = {}
        uses: list[tuple[str, tuple[Any, ...]]] = []
        for fid in sorted(model.functions):
            rows = model.functions[fid].facts.get("work")
            if not rows:
                continue
            path = model.path_of(fid)
            for row in rows:
                if row[0] == "sd":
                    owner, name = row[1], row[2]
                    kind = "p" if owner in model.functions else ("n" if not owner else "a")
                    key = (model.component(path), kind, f"{owner}.{name}" if kind == "p" else name)
                    defaults.setdefault(key, []).append((path, row[3:]))
                elif row[0] == "m" and row[3] in _EMBEDDINGS:
                    uses.append((fid, row))
        reported: dict[tuple[str, int, int], Finding] = {}
        pins: dict[str, Pin | None] = {}
        for fid, row in uses:
            _, line, col, _callee, alternatives = row
            use_path = model.path_of(fid)
            component = model.component(use_path)
            for alternative in alternatives:
                if alternative[0] == "s":
                    value = alternative[1]
                    if "/" in value or not value:
                        continue
                    literals = [(use_path, alternative[1:])]
                elif alternative[0] == "p":
                    literals = defaults.get((component, "p", f"{alternative[1]}.{alternative[2]}"), [])
                else:
                    literals = defaults.get((component, alternative[0], alternative[1]), [])
                for path, literal in literals:
                    value, l_line, l_col, l_end_line, l_end_col = literal
                    if (path, l_line, l_col) in reported:
                        continue
                    if path not in pins:
                        pins[path] = _pin_for(path, settings, model.cache)
                    finding = cls._finding(path, value, Span(l_line, l_col, l_end_line, l_end_col), pins[path], options)
                    if finding is None:
                        continue
                    # Written in the call: its only reader, a safe fix; a default or constant may have others.
                    safety = FixSafety.SAFE if alternative[0] == "s" else FixSafety.UNSAFE
                    title = cls.meta.fix_title if safety is FixSafety.SAFE else cls.meta.unsafe_fix_title
                    finding = dataclasses.replace(finding, fix_safety=safety, fix_title=title)
                    if (path, l_line) != (use_path, line):
                        finding = _with_related(finding, RelatedLocation(use_path, line, col, "`GoogleGenerativeAIEmbeddings(model=...)` uses it"))
                    reported[(path, l_line, l_col)] = finding
        return list(reported.values())

    @classmethod
    def _finding(cls, path: str, value: str, span: Span, pin: Pin | None, options: ModelNameOptions) -> Finding | None:
        name = f"`{value!r}`".replace("'", '"')
        fixed = f'`"models/{value}"`'
        if pin is None:
            message = (
                f"Gemini embeddings model name {name} has no `models/` prefix: the embeddings API rejects it "
                f"(`400 ... unexpected model name format`) with {_PACKAGE} before 2.1.8, and no requirement of "
                f"{_PACKAGE} was found to tell which version runs; write {fixed}."
            )
            return cls.project_finding(path, span, message, severity=Severity.HIGH)
        if pin.admits_below(_FIXED_IN):
            message = (
                f"Gemini embeddings model name {name} has no `models/` prefix: the embeddings API rejects it "
                f"(`400 ... unexpected model name format`), and the project's `{pin.text.strip()}` ({pin.source}) allows "
                f"{_PACKAGE} before 2.1.8, which sends the name as given; write {fixed}."
            )
            return cls.project_finding(path, span, message, severity=Severity.CRITICAL)
        if options.only_affected_versions:
            return None
        message = (
            f"Gemini embeddings model name {name} has no `models/` prefix; harmless with the project's "
            f"`{pin.text.strip()}` ({pin.source}): {_PACKAGE} 2.1.8 and later add it, older versions send it as given."
        )
        return cls.project_finding(path, span, message, severity=Severity.LOW)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """``"name"`` -> ``"models/name"`` (see the Fix section)."""
        new = _prefixed(node)
        return None if new is None else Fix(replacement=new)


def _prefixed(node: cst.CSTNode) -> cst.BaseExpression | None:
    """``node`` with ``models/`` at the start of its text, or None when its value does not
    start with plain text (an f-string's expression, bytes) or already holds a ``/``."""
    import libcst as cst

    if isinstance(node, cst.ConcatenatedString):
        left = _prefixed(node.left)
        return None if left is None else node.with_changes(left=left)
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix.lower()
        if "b" in prefix or not isinstance(node.evaluated_value, str) or "/" in node.evaluated_value or not node.evaluated_value:
            return None
        head = len(node.prefix) + len(node.quote)
        return node.with_changes(value=node.value[:head] + "models/" + node.value[head:])
    if isinstance(node, cst.FormattedString):
        if "b" in node.prefix.lower() or not node.parts or not isinstance(node.parts[0], cst.FormattedStringText):
            return None
        first = node.parts[0]
        if "/" in first.value or "{" in first.value:
            return None
        return node.with_changes(parts=[first.with_changes(value="models/" + first.value), *node.parts[1:]])
    return None


def _pin_for(path: str, settings: Settings, memo: dict[Any, Any]) -> Pin | None:
    return project_pin(_PACKAGE, path, settings, memo)


def _with_related(finding: Finding, related: RelatedLocation) -> Finding:
    import dataclasses

    return dataclasses.replace(finding, related=(*finding.related, related), chain_paths=tuple(sorted({*finding.chain_paths, related.path})))
