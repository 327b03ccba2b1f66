from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from textwrap import dedent
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.rules.base import Bad, FixSafety, Good, Rule, RuleMeta, Severity

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

_SETTINGS_BASES = {
    "pydantic_settings.BaseSettings",
    "pydantic_settings.main.BaseSettings",
    "pydantic.BaseSettings",
    "pydantic.env_settings.BaseSettings",
    "pydantic.v1.BaseSettings",
    "pydantic.v1.env_settings.BaseSettings",
}
_ENV_READS = {"os.getenv", "os.environ.get", "os.environ.setdefault"}
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")
# Words that make a field a secret: `SECRET_KEY`, `NEO4J_PASSWORD`, `jwt_secret`, `api_key`.
_SECRET_WORDS = frozenset("password passwd pwd passphrase secret token apikey credential credentials".split())
# `KEY` alone is a secret after one of these (`API_KEY`, `PRIVATE_KEY`), not in `CACHE_KEY`.
_KEY_QUALIFIERS = frozenset("api private secret access signing encryption auth master jwt hmac session fernet".split())
# ...unless the name is about the secret rather than the secret itself.
_NOT_SECRET = frozenset(
    "max min num count limit expire expires expiry expiration ttl lifetime minutes seconds hours days url uri endpoint "
    "name type prefix header length size budget algorithm algo file path env field location cookie enabled "
    "required rotation usage tokenizer id".split()
)
# A placeholder, not a real secret: the value says so.
_PLACEHOLDER = re.compile(
    r"change|replace|your|example|placeholder|dummy|default|secret|passw|test|dev|local|insecure|unsafe|xxx|todo|"
    r"fixme|sample|demo|admin|root|1234|qwerty|letmein|fake|mock|not[-_ ]?set|^[<{$]|\.\.\.",
    re.IGNORECASE,
)
# Known formats of real keys: OpenAI, Google, GitHub, Slack, AWS, Stripe, Anthropic.
_REAL_KEY = re.compile(r"^(sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-|AKIA[0-9A-Z]{16}|(sk|rk)_live_)")
# Keys public by design, shipped in every browser bundle: PostHog project keys (`phc_`, capture
# only; the admin key is `phx_`) and Stripe publishable keys (`pk_live_`/`pk_test_`; the secret
# one is `sk_live_`). Committing one discloses nothing.
_PUBLIC_KEY = re.compile(r"^(phc_|pk_(live|test)_)[A-Za-z0-9]")
_DSN_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")
# Authentication switched off: (words in the name, the default that means "off").
_AUTH_ON_WORDS = frozenset("enabled enable require required use".split())
_AUTH_OFF_WORDS = frozenset("disable disabled skip no bypass".split())
_AUTH_WORDS = frozenset("auth authentication login".split())
_ENV_NAMES = frozenset("environment env app_env stage deployment_env".split())
# Providers whose key a default model needs: key word -> words a default names the provider by.
_PROVIDERS = {
    "google": ("gemini", "google"),
    "gemini": ("gemini", "google"),
    "openai": ("gpt-", "gpt4", "o1-", "o3-", "o4-", "text-embedding-", "openai"),
    "anthropic": ("claude", "anthropic"),
}
_VALIDATORS = frozenset("field_validator validator".split())
_ALL_VALIDATORS = frozenset("model_validator root_validator".split())
_VALIDATING_TYPES = frozenset(
    "SecretStr SecretBytes PostgresDsn AnyUrl HttpUrl AnyHttpUrl RedisDsn MongoDsn MySQLDsn AmqpDsn KafkaDsn "
    "CockroachDsn NatsDsn ClickHouseDsn SnowflakeDsn Literal conint constr".split()
)


class _Shape(NamedTuple):
    """What is wrong with one field, how bad it is, and the message."""

    severity: Severity
    message: str


@dataclass
class _Field:
    name: str
    node: ast.AST  # where to report: the field's target
    annotation: ast.expr | None
    default: ast.expr | None  # the default value (or the env read's fallback)
    env_read: bool  # a plain class's `os.getenv("X", fallback)`


class InsecureSettingsDefault(Rule):
    """
    ## What it flags
    Fields of a pydantic `BaseSettings` subclass (pydantic-settings, or pydantic v1's
    `BaseSettings`), and `os.getenv(...)` reads in a plain configuration class, whose
    default ships an insecure or unchecked value to production whenever the environment
    forgets to set it. One finding per field, at the field, graded by shape:

    - **critical** — a real-looking secret as the default (`sk-...`, `AIza...`, a long
      random string), a DSN or URL default that embeds a password
      (`postgresql://app:s3cret@db/app`), and authentication switched off by default
      (`AUTH_ENABLED: bool = False`, `DISABLE_AUTH: bool = True`);
    - **high** — a placeholder secret the app itself relies on (`SECRET_KEY: str = "change-me"`,
      `NEO4J_PASSWORD: str = "password"`), `DEBUG: bool = True`, a secret that falls back
      to a hard-coded module constant (`os.getenv("JWT_SECRET", DEFAULT_SECRET)`), and
      `CORS_ORIGINS = ["*"]` next to `CORS_ALLOW_CREDENTIALS = True`;
    - **medium** — a placeholder key for someone else's API (`OPENAI_API_KEY = "dummy"`,
      `AWS_SECRET_ACCESS_KEY`: it fails at the first call and grants nothing), a
      free-form `ENVIRONMENT: str` that the same file compares to a
      literal (`self.ENVIRONMENT == "production"`: suggest `Literal[...]`), a primary
      datastore URL (database, Neo4j, MongoDB) with a default and no validator, and the
      API key of the provider the settings' own default model needs
      (`GOOGLE_API_KEY: str | None = None` next to `MODEL: str = "gemini-2.5-flash"`).

    Clean: `SecretStr` or `str` without a default, required fields (`Field(...)`),
    fields a `field_validator`/`validator` names (or a `model_validator` reads), and
    fields whose type validates the value (`PostgresDsn`, `Literal[...]`), and keys that
    are public by design: a PostHog project key (`phc_...`) or a Stripe publishable key
    (`pk_live_...`) ships in every browser bundle and grants nothing secret.

    ## Why it matters
    A settings default is what production runs with when a variable is missing from the
    deployment: a forgotten `SECRET_KEY` signs every JWT with `"change-me"` (anyone can
    forge an admin token), a forgotten `DATABASE_URL` connects with the credentials
    committed to the repository, `DEBUG = True` serves tracebacks, and `ENVIRONMENT=prod`
    (instead of `"production"`) silently skips every production check. Starlette's
    `CORSMiddleware` with `allow_origins=["*"]` and `allow_credentials=True` answers each
    request with its own `Origin` (starlette 1.10.0, `starlette/middleware/cors.py`:
    `simple_response` calls `allow_explicit_origin` when all origins and credentials are
    allowed, and preflights name the origin too), so any
    site can read responses with the user's cookies. A missing API key only shows up at
    the first LLM call instead of at start-up.

    ## Fix
    No automatic fix: the right value lives in the deployment. Remove the default (make
    the field required, as `SecretStr`), or add a `field_validator` that rejects the
    placeholder outside development; type `ENVIRONMENT` as
    `Literal["development", "staging", "production"]`.

    Why not automatically: every remedy moves a failure to start-up in some environment,
    and which environments may keep the default is the project's decision. Removing the
    default breaks every place that starts the app without the variable (local runs,
    tests, CI, a worker container); a validator must know how this project names its
    environments and which of them may run with a placeholder; `SecretStr` changes the
    field's type for every reader (`settings.SECRET_KEY.get_secret_value()`); a
    `Literal` rejects values a deployment may set today (`prod`, `stage`). The message
    says which change fits each finding.

    ## See also
    ruff's `S105` (hardcoded-password-string) flags a string literal assigned to a name
    that looks like a password, secret or token, anywhere in the code. Checked with ruff
    0.17.6: on a settings class it reports `SECRET_KEY: str = "change-me"` and
    `NEO4J_PASSWORD: str = "password"`, and nothing for `Field(default="neo4j")`, an
    `os.getenv("SECRET", "changeme")` fallback, an `*_API_KEY` name, a DSN with a
    password, `DEBUG = True` or a module-constant fallback. SL702 covers only settings,
    reads the value as what production runs with when the variable is missing, stays
    silent where a validator or a constrained type checks it, and grades a placeholder
    (high) below a real-looking key (critical). Where both report the same placeholder
    secret, keep both or silence S105 for settings modules: SL702 says more.
    """

    meta = RuleMeta(
        code="SL702",
        name="insecure-settings-default",
        severity=Severity.CRITICAL,
        summary="Settings field with an insecure or unvalidated default.",
        audit="§8",
        fix=FixSafety.NONE,
        since="0.1.0",
        tags=("security", "settings"),
    )

    bad = (
        Bad(
            dedent(
                """\
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    DATABASE_URL: str = "postgresql+asyncpg://app:s3cret@localhost/app"
                    SECRET_KEY: str = "change-me"
                    DEBUG: bool = True
                """
            ),
            count=3,
            in_docs=True,
        ),
        Bad(
            "from pydantic import BaseSettings\n\nclass Config(BaseSettings):\n"
            "    openai_api_key: str = 'sk-proj-3f9aQ7LmZx81KdP0vWq2RtYb'\n"
        ),
        Bad(
            "from pydantic_settings import BaseSettings\nfrom pydantic import Field\n\n"
            "class Settings(BaseSettings):\n    neo4j_password: str = Field(default='password')\n"
        ),
        Bad("import pydantic_settings\n\nclass S(pydantic_settings.BaseSettings):\n    AUTH_ENABLED: bool = False\n"),
        Bad(
            dedent(
                """\
                import os

                _DEV_SECRET = "dev-only-secret"

                class Config:
                    JWT_SECRET = os.getenv("JWT_SECRET", _DEV_SECRET)
                    REDIS_URL = os.getenv("REDIS_URL", "redis://localhost:6379/0")
                """
            )
        ),
        # A free-form environment name that a production check compares to a literal.
        Bad(
            dedent(
                """\
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    ENVIRONMENT: str = "development"

                    @property
                    def is_production(self) -> bool:
                        return self.ENVIRONMENT == "production"
                """
            )
        ),
        # The default model is Gemini, so the app cannot work without the Google key.
        Bad(
            dedent(
                """\
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    GOOGLE_API_KEY: str | None = None
                    CHAT_MODEL: str = "gemini-2.5-flash"
                """
            )
        ),
        Bad(
            dedent(
                """\
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    cors_origins: list[str] = ["*"]
                    cors_allow_credentials: bool = True
                """
            )
        ),
        # A subclass of a settings class in the same file is a settings class too.
        Bad(
            "from pydantic_settings import BaseSettings\n\nclass Base(BaseSettings):\n    pass\n\n"
            "class Prod(Base):\n    DATABASE_URL: str = 'postgresql://localhost/app'\n"
        ),
    )

    good = (
        Good(
            dedent(
                """\
                from pydantic import SecretStr, field_validator
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    SECRET_KEY: SecretStr
                    NEO4J_URI: str = "bolt://localhost:7687"
                    DEBUG: bool = False

                    @field_validator("NEO4J_URI")
                    @classmethod
                    def _scheme(cls, value: str) -> str:
                        if not value.startswith(("bolt://", "neo4j+s://")):
                            raise ValueError("NEO4J_URI needs bolt:// or neo4j+s://")
                        return value
                """
            ),
            in_docs=True,
        ),
        # Required fields and a Literal environment.
        Good(
            "from typing import Literal\nfrom pydantic import Field\nfrom pydantic_settings import BaseSettings\n\n"
            "class Settings(BaseSettings):\n    api_key: str = Field(...)\n    password: str\n"
            "    ENVIRONMENT: Literal['development', 'production'] = 'development'\n"
        ),
        # Not a settings class: a request model may have defaults (S105's business at most).
        Good("from pydantic import BaseModel\n\nclass Login(BaseModel):\n    password: str = 'guest'\n"),
        # Names about a secret, not the secret.
        Good(
            "from pydantic_settings import BaseSettings\n\nclass Settings(BaseSettings):\n"
            "    ACCESS_TOKEN_EXPIRE_MINUTES: int = 30\n    MAX_TOKENS: int = 6000\n"
            "    PASSWORD_MIN_LENGTH: int = 8\n    JWT_ALGORITHM: str = 'HS256'\n    TOKEN_URL: str = '/auth/token'\n"
        ),
        # A DSN without a password, and a key without a default model that needs it.
        Good(
            "from pydantic_settings import BaseSettings\n\nclass Settings(BaseSettings):\n"
            "    REDIS_URL: str = 'redis://localhost:6379/0'\n    OPENAI_API_KEY: str | None = None\n"
            "    CHAT_MODEL: str = 'claude-sonnet-4'\n    ANTHROPIC_API_KEY: str\n"
        ),
        # A model_validator that reads the field validates it.
        Good(
            dedent(
                """\
                from pydantic import model_validator
                from pydantic_settings import BaseSettings

                class Settings(BaseSettings):
                    SECRET_KEY: str = "change-me"
                    ENVIRONMENT: str = "development"

                    @model_validator(mode="after")
                    def _production_secrets(self):
                        if self.ENVIRONMENT == "production" and self.SECRET_KEY == "change-me":
                            raise ValueError("set SECRET_KEY")
                        return self
                """
            )
        ),
        # Wildcard CORS without credentials, an environment nobody compares, DEBUG off.
        Good(
            "from pydantic_settings import BaseSettings\n\nclass Settings(BaseSettings):\n"
            "    CORS_ORIGINS: list[str] = ['*']\n    ENVIRONMENT: str = 'development'\n    DEBUG: bool = False\n"
        ),
        # Plain class: env reads without a fallback, and a fallback that is no secret.
        Good(
            "import os\n\nclass Config:\n    SECRET_KEY = os.environ['SECRET_KEY']\n"
            "    API_KEY = os.getenv('API_KEY')\n    LOG_LEVEL = os.getenv('LOG_LEVEL', 'INFO')\n"
        ),
        # Auth on by default; an empty key as "not configured".
        Good(
            "from pydantic_settings import BaseSettings\n\nclass Settings(BaseSettings):\n"
            "    AUTH_ENABLED: bool = True\n    SENTRY_DSN: str = ''\n    slack_token: str = ''\n"
        ),
        Good("from pydantic_settings import BaseSettings\nfrom pydantic import PostgresDsn\n\n"
             "class Settings(BaseSettings):\n    DATABASE_URL: PostgresDsn = 'postgresql://localhost/app'\n"),
    )

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a field of a class (`visit_ClassDef`, the `class` keyword) that is
        # a settings class or whose value reads the environment (`_fields`). A settings class
        # derives from `BaseSettings` (`_SETTINGS_BASES`, all ending in it) or from a
        # settings class of this module, itself derived from one: the name `BaseSettings` is
        # in the text (an import under another name still spells it). An environment read
        # is `os.getenv`, `os.environ.get`/`.setdefault` or `os.environ[...]` (`_ENV_READS`):
        # `getenv` or `environ` is an attribute or an imported name in the text.
        return "class" in text and ("BaseSettings" in text or "getenv" in text or "environ" in text)

    def __init__(self, context: Context, options: Any = None) -> None:
        super().__init__(context, options)
        self._settings_classes: set[str] = set()
        self._constants: dict[str, str] = {}
        # ENVIRONMENT-like fields waiting for the end of the file: (name, node).
        self._env_fields: list[tuple[str, ast.AST]] = []
        self._compared: set[str] = set()

    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = stmt.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    self._constants[stmt.targets[0].id] = value.value

    def visit_Compare(self, node: ast.Compare) -> None:
        """`settings.ENVIRONMENT == "production"`, `self.env in ("prod", "production")`."""
        sides = [node.left, *node.comparators]
        if not any(isinstance(s, (ast.Constant, ast.Tuple, ast.List, ast.Set)) for s in sides):
            return
        for side in sides:
            if isinstance(side, ast.Attribute):
                self._compared.add(side.attr)
            elif isinstance(side, ast.Call) and isinstance(side.func, ast.Attribute) and isinstance(side.func.value, ast.Attribute):
                self._compared.add(side.func.value.attr)  # `self.ENVIRONMENT.lower() == "production"`

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        settings = any(self._settings_base(base) for base in node.bases)
        if settings:
            self._settings_classes.add(node.name)
        fields = self._fields(node, settings)
        if not fields:
            return
        validated = _validated(node)
        credentials = any(
            _words(f.name) & {"credentials"} and _words(f.name) & {"allow", "cors"} and _true(f.default) for f in fields
        )
        defaults = [f.default.value.lower() for f in fields if isinstance(f.default, ast.Constant) and isinstance(f.default.value, str)]
        for f in fields:
            if f.name in validated or "*" in validated or _validating(f.annotation):
                continue
            if _environment(f) and not f.env_read:
                self._env_fields.append((f.name, f.node))
                continue
            shape = self._shape(f, credentials, defaults)
            if shape is not None:
                self.report(f.node, shape.message, severity=shape.severity, fixable=False)

    def end_module(self) -> None:
        for name, node in self._env_fields:
            if name in self._compared:
                self.report(
                    node,
                    f"`{name}` is a free-form string that production checks compare to a literal: a deployment "
                    f"that sets `{name}=prod` silently skips them; type it as `Literal[...]`.",
                    severity=Severity.MEDIUM,
                    fixable=False,
                )

    def _settings_base(self, base: ast.expr) -> bool:
        if isinstance(base, ast.Name) and base.id in self._settings_classes:
            return True
        return self.context.qualified_name(base) in _SETTINGS_BASES

    def _fields(self, node: ast.ClassDef, settings: bool) -> list[_Field]:
        fields: list[_Field] = []
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                target, annotation, value = stmt.target, stmt.annotation, stmt.value
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                target, annotation, value = stmt.targets[0], None, stmt.value
            else:
                continue
            if target.id.startswith("_") or target.id in ("model_config", "Config"):
                continue
            fallback = self._env_fallback(value)
            if fallback is not None:
                fields.append(_Field(target.id, target, annotation, fallback if isinstance(fallback, ast.expr) else None, True))
            elif settings:
                fields.append(_Field(target.id, target, annotation, _default(value), False))
        return fields

    def _env_fallback(self, value: ast.expr | None) -> ast.expr | None | bool:
        """The fallback of `os.getenv("X", fallback)` / `os.getenv("X") or fallback`; False
        when the env read has none; None when ``value`` reads no environment."""
        if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or) and len(value.values) == 2:
            if self._env_fallback(value.values[0]) is not None:
                return value.values[1]
        if isinstance(value, ast.Call) and self.context.qualified_name(value.func) in _ENV_READS:
            if len(value.args) > 1:
                return value.args[1]
            default = next((k.value for k in value.keywords if k.arg == "default"), None)
            return default if default is not None else False
        if isinstance(value, ast.Subscript) and self.context.qualified_name(value.value) == "os.environ":
            return False
        return None

    def _shape(self, f: _Field, credentials: bool, defaults: list[str]) -> _Shape | None:
        default = f.default
        if default is None:
            return None
        words = _words(f.name)
        text = self._string(default)
        constant = isinstance(default, ast.Name) and default.id in self._constants
        if text is not None:
            match = _DSN_CREDENTIALS.match(text)
            if match and not re.search(r"[{$<]", match["password"]):
                return _Shape(Severity.CRITICAL, f"`{f.name}` defaults to a URL with a password in it (`{match['user']}:***@`): "
                              "without the variable, production connects with credentials committed to the repository.")
        if _secret(words) and not (words & _NOT_SECRET) and _stringish(f.annotation, default):
            if constant and text:
                return _Shape(Severity.HIGH, f"Secret `{f.name}` falls back to the hard-coded constant `{ast.unparse(default)}` "
                              "when the environment does not set it; make it required.")
            if text:
                if _PUBLIC_KEY.match(text):
                    return None
                if _REAL_KEY.match(text) or (not _PLACEHOLDER.search(text) and _random_looking(text)):
                    return _Shape(Severity.CRITICAL, f"Secret `{f.name}` defaults to a real-looking value: it is in the "
                                  "repository, and production uses it whenever the variable is missing; rotate it and make the field required.")
                if "apikey" in words or {"access", "key"} <= words:
                    # A key for someone else's API: the placeholder fails at the first call, it grants nothing.
                    return _Shape(Severity.MEDIUM, f"API key `{f.name}` defaults to the placeholder `{text[:24]}`: a deployment "
                                  "that forgets the variable starts, then fails at the first call; make the field required.")
                return _Shape(Severity.HIGH, f"Secret `{f.name}` defaults to the placeholder `{text[:24]}`: production runs with "
                              "it whenever the variable is missing; make the field required (`SecretStr` without a default) or validate it.")
            if not f.env_read and _none_or_empty(default):
                provider = _needed_provider(words, defaults)
                if provider is not None:
                    return _Shape(Severity.MEDIUM, f"`{f.name}` defaults to `{ast.unparse(default)}` with no validator, but the "
                                  f"default model needs it ({provider}): the app starts without it and fails at the first call; "
                                  "make it required or validate it at start-up.")
            return None
        if f.env_read:
            return None
        if isinstance(default, ast.Constant) and isinstance(default.value, bool):
            if words == {"debug"} and default.value is True:
                return _Shape(Severity.HIGH, f"`{f.name}` defaults to `True`: a deployment that forgets the variable serves "
                              "debug output (tracebacks, reload) in production.")
            if words & _AUTH_WORDS and not words & {"url", "provider"}:
                off = (default.value is False and words & _AUTH_ON_WORDS) or (default.value is True and words & _AUTH_OFF_WORDS)
                if off:
                    return _Shape(Severity.CRITICAL, f"`{f.name} = {default.value}` switches authentication off by default: "
                                  "a deployment that forgets the variable is open to everyone.")
        if credentials and words & {"cors", "origins", "origin"} and _wildcard(default):
            return _Shape(Severity.HIGH, f"`{f.name}` defaults to `*` while credentials are allowed: Starlette's CORS middleware then "
                          "echoes any caller's origin, so every site can read responses made with the user's cookies.")
        if text is not None and words & {"url", "uri", "dsn"} and words & {"database", "db", "postgres", "postgresql", "mysql", "neo4j", "mongo", "mongodb", "sqlalchemy"}:
            return _Shape(Severity.MEDIUM, f"`{f.name}` has a default and no validator: a deployment that forgets it connects to "
                          f"`{text[:40]}` and fails at the first query instead of at start-up.")
        return None

    def _string(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self._constants.get(node.id)
        return None


def _words(identifier: str) -> set[str]:
    words = {w.lower() for w in _WORDS.findall(identifier)}
    if "api" in words and "key" in words or "apikey" in identifier.lower():
        words.add("apikey")
    return words


def _secret(words: set[str]) -> bool:
    return bool(words & _SECRET_WORDS) or ("key" in words and bool(words & _KEY_QUALIFIERS))


def _default(value: ast.expr | None) -> ast.expr | None:
    """The default of a field: the value, or `Field(default)`/`Field(default=...)`; None when required."""
    if isinstance(value, ast.Call) and _name(value.func) == "Field":
        if value.args:
            first = value.args[0]
            return None if isinstance(first, ast.Constant) and first.value is Ellipsis else first
        return next((k.value for k in value.keywords if k.arg == "default"), None)
    if isinstance(value, ast.Constant) and value.value is Ellipsis:
        return None
    return value


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _validated(node: ast.ClassDef) -> set[str]:
    """Fields a validator names (`field_validator("A", "B")`), or a model validator reads."""
    names: set[str] = set()
    for stmt in node.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in stmt.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else deco
            if _name(func) in _VALIDATORS and isinstance(deco, ast.Call):
                names.update(a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
            elif _name(func) in _ALL_VALIDATORS:
                names.update(n.attr for n in ast.walk(stmt) if isinstance(n, ast.Attribute))
                names.update(n.value for n in ast.walk(stmt) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return names


def _validating(annotation: ast.expr | None) -> bool:
    """A type that checks the value: `PostgresDsn`, `Literal[...]`, `Annotated[str, AfterValidator(...)]`."""
    if annotation is None:
        return False
    for sub in ast.walk(annotation):
        if isinstance(sub, (ast.Name, ast.Attribute)) and _name(sub) in _VALIDATING_TYPES:
            return True
        if isinstance(sub, ast.Call) and _name(sub.func).endswith("Validator"):
            return True
    return False


def _stringish(annotation: ast.expr | None, default: ast.expr) -> bool:
    if annotation is None:
        return not (isinstance(default, ast.Constant) and isinstance(default.value, (bool, int, float)))
    text = ast.unparse(annotation)
    return not any(t in text for t in ("int", "bool", "float", "list", "dict", "timedelta"))


def _environment(f: _Field) -> bool:
    return f.name.lower() in _ENV_NAMES and (f.annotation is None or ast.unparse(f.annotation) == "str")


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _none_or_empty(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (None, "")


def _wildcard(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value == "*"
    return isinstance(node, (ast.List, ast.Tuple, ast.Set)) and any(_wildcard(e) for e in node.elts)


def _random_looking(text: str) -> bool:
    """A long string mixing letters and digits with no spaces: a generated key, not a word."""
    return (
        len(text) >= 20
        and " " not in text
        and "://" not in text
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
        and len(set(text)) >= 10
    )


def _needed_provider(words: set[str], defaults: list[str]) -> str | None:
    """The default (a model or provider name) that needs this provider's key, if any."""
    for provider, marks in _PROVIDERS.items():
        if provider in words:
            for value in defaults:
                if value.startswith(marks) or value in marks:
                    return f"`{value}`"
    return None
