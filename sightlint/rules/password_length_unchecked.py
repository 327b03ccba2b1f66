from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from textwrap import dedent
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.project.graph import Graph, ModelNeeds
    from sightlint.semantics.fastapi import ErrorHandler
    from sightlint.settings import Settings

# bcrypt's own functions, and passlib's bcrypt handler: what they are called with is hashed.
_BCRYPT = {"bcrypt.hashpw": "hash", "bcrypt.checkpw": "check"}
_PASSLIB_BCRYPT = ("passlib.hash.bcrypt.", "passlib.hash.bcrypt_sha256.")
_CONTEXT_METHODS = {"hash": "hash", "encrypt": "hash", "verify": "check", "verify_and_update": "check"}
# Exceptions whose handler turns bcrypt 5's ValueError into a failed check instead of a 500.
_HANDLES_VALUE_ERROR = frozenset(("ValueError", "Exception", "BaseException"))
# `max_length` counts characters: up to 4 UTF-8 bytes each, so only 18 always fit 72 bytes.
_SAFE_MAX_LENGTH = 18


class _Sink(NamedTuple):
    """A value path of a function that reaches bcrypt unchecked, and how."""

    kind: str  # "hash" or "check"
    call: str  # the bcrypt call as written, e.g. ``bcrypt.hashpw``
    chain: tuple[RelatedLocation, ...]  # from this function down to the bcrypt call
    handled: bool = False  # a hash whose ValueError (bcrypt 5) a `try` on the way, or the app, answers
    catcher: str = ""  # the function whose `try` catches it, nearest the call (before any app handler)


class _Function(NamedTuple):
    """What the flows facts say about one function (see ``sightlint.project.flows``)."""

    args: dict[tuple[int, int], list[tuple[int | str, str]]]
    caught: dict[tuple[int, int], frozenset[str]]
    bounded: frozenset[str]
    annotations: dict[str, str]


class PasswordLengthUnchecked(Rule):
    """
    ## What it flags
    A password field of a request model (`password: str`, `new_password: SecretStr`,
    `password: constr(...)` on a class deriving from pydantic's `BaseModel`, a project base
    of it or `SQLModel`; dataclasses, enums and typed dicts are not request models) that a
    function takes as an annotated parameter, and whose value reaches `bcrypt.hashpw`/`bcrypt.checkpw` or
    passlib's bcrypt (`CryptContext(schemes=["bcrypt"]).hash/verify`, `passlib.hash.bcrypt`)
    with no check of its UTF-8 length against bcrypt's 72 bytes on the way: no
    validator on the field that compares `len(value.encode())` with 72, and no such check
    (or truncation) in the functions the value passes through. The finding sits on the
    field and names the way to bcrypt. `Field(max_length=...)` counts characters, not
    bytes: up to 4 bytes each in UTF-8, so it only counts as a check up to 18.

    A check in the helper that raises a plain `ValueError` does not count (the user gets
    a 500, not a form error), except around `checkpw`/`verify`: a `try` that catches
    `ValueError` (or `Exception`) there turns the long password into a failed login,
    which is right. So does an application-level answer to `ValueError` that is not a
    500 (`semantics.fastapi`'s error handlers): `@app.exception_handler(ValueError)`,
    `app.add_exception_handler(ValueError, ...)`, or a middleware class the app installs
    (`app.add_middleware(X)`) whose `dispatch` catches `ValueError` around `call_next`
    and answers without re-raising or a 5xx status. The value is followed through
    parameters, attributes of annotated parameters and the whole model handed on
    (`crud.create_user(user_create=user_in)`, then `user_create.password`), across
    modules. An application's handlers count for the routes of the modules its imports
    join it to (one component of the project's import graph), and a model field is
    matched among those modules: a second application in the repository is read on its own.

    Severity high; medium when bcrypt 5's `ValueError` is caught on the way or answered
    by the application (no 500): what is left is bcrypt 4.x's silent truncation at the
    fields whose value is *hashed* (two passwords that share their first 72 bytes are
    one), still worth fixing but no crash, and the message names the handler that
    answers: the function whose `try` catches it on the way, which answers first, else
    the application's handler. A login field (`checkpw`/`verify`) under such a handler is not reported: a
    long password there gets the handler's answer, and the truncation is reported where
    the password is hashed.

    ## Why it matters
    bcrypt hashes at most 72 bytes. bcrypt 4.x ignores the rest silently (bcrypt 4.3.0
    sdist, `src/_bcrypt/src/lib.rs`, `hashpw`: `let password =
    &password[..password.len().min(72)];`), so two passwords that share their first 72
    bytes are the same password: with 4.3.0 installed, `checkpw` accepts `"a" * 72 +
    "DIFFERENT"` against the hash of `"a" * 72 + "X"`. bcrypt 5.0 raises instead (bcrypt
    5.0.0 sdist, same file: `if password.len() > 72` → `ValueError("password cannot be
    longer than 72 bytes, truncate manually if necessary (e.g. my_password[:72])")`, and
    `checkpw` calls `hashpw`): a sign-up or a login with a long passphrase becomes a 500
    unless something catches it. passlib 1.7.4 does not survive bcrypt 5 even for short
    passwords: its backend self-test (`passlib/handlers/bcrypt.py`,
    `_finalize_backend_mixin` → `detect_wrap_bug`, which hashes a 255-byte secret) makes
    the first `CryptContext(schemes=["bcrypt"]).hash("short")` raise that `ValueError`
    (checked with 5.0.0 installed), and with any bcrypt since 4.x it logs "(trapped)
    error reading bcrypt version" (it reads `bcrypt.__about__.__version__`, which neither
    4.3.0 nor 5.0.0 has). `max_length` counts characters: 19 emoji are 76 bytes, so
    `max_length=72` lets 288 bytes through.

    ## Fix
    Unsafe (`--unsafe-fixes`): a validator on the model that checks the bytes where the
    request arrives, so the user gets a 422 that says why, added at the end of the class:

    ```python
    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value
    ```

    (`value.get_secret_value()` for a `SecretStr`, `value is not None and ...` for an
    optional field; `field_validator` is imported from pydantic). Pydantic 1 projects (a
    module of the project imports `validator`/`root_validator` and none imports
    `field_validator`/`model_validator`) get `@validator("password")` instead. Unsafe
    because requests that were accepted before (a password of more than 72 bytes, which
    bcrypt 4 truncated) are now rejected with a 422, also at login for users who signed up
    with one (their stored hash was made of the first 72 bytes). Not offered for SQLModel
    table models (`table=True`: pydantic does not validate them on construction), models
    of `pydantic.v1`, or when the name the validator needs is taken. Keep `checkpw` in a
    `try` that answers `False` to `ValueError`, and pin `bcrypt<5` while passlib is in
    use, or move to `bcrypt` directly (or `pwdlib`): by hand.
    """

    meta = RuleMeta(
        code="SL703",
        name="password-length-unchecked",
        severity=Severity.HIGH,
        summary="Password reaches bcrypt without a 72-byte check at the schema.",
        audit="§12",
        fix=FixSafety.UNSAFE,
        fix_title="Add a 72-byte validator to the model",
        since="0.1.0",
        tags=("security",),
    )
    cross_file = True
    # Component-local: error handlers and request models are read per component of the
    # module-dependency graph (``Graph.component``); values flow along call edges.
    project_scope = "component"

    bad = (
        Bad(
            dedent(
                """\
                # file: app/schemas.py
                from pydantic import BaseModel, Field

                class UserCreate(BaseModel):
                    email: str
                    password: str = Field(min_length=8, max_length=72)

                # file: app/security.py
                import bcrypt

                def hash_password(password: str) -> str:
                    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()

                # file: app/routes.py
                from fastapi import APIRouter
                from app.schemas import UserCreate
                from app.security import hash_password

                router = APIRouter()

                @router.post("/users")
                async def register(body: UserCreate):
                    return {"hash": hash_password(body.password)}
                """
            ),
            in_docs=True,
        ),
        # passlib's CryptContext, the model handed on whole to a CRUD helper.
        Bad(
            dedent(
                """\
                # file: app/models.py
                from pydantic import BaseModel

                class UserIn(BaseModel):
                    username: str
                    password: str

                # file: app/security.py
                from passlib.context import CryptContext

                pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")

                def get_password_hash(password):
                    return pwd_context.hash(password)

                # file: app/crud.py
                from app.models import UserIn
                from app.security import get_password_hash

                def create_user(db, user_create: UserIn):
                    db.add(User(name=user_create.username, hashed=get_password_hash(user_create.password)))

                # file: app/routes.py
                from fastapi import FastAPI
                from app import crud
                from app.models import UserIn

                app = FastAPI()

                @app.post("/signup")
                def signup(user_in: UserIn, db=None):
                    crud.create_user(db, user_create=user_in)
                """
            )
        ),
        # A check in the helper that raises ValueError still makes a 500.
        Bad(
            dedent(
                """\
                # file: app/api.py
                import bcrypt
                from fastapi import APIRouter
                from pydantic import BaseModel, SecretStr

                router = APIRouter()

                class Signup(BaseModel):
                    new_password: SecretStr

                def digest(secret: str) -> bytes:
                    raw = secret.encode("utf-8")
                    return bcrypt.hashpw(raw, bcrypt.gensalt())

                @router.post("/signup")
                def signup(form: Signup):
                    return digest(form.new_password.get_secret_value())
                """
            ),
            fixed="""\
# file: app/api.py
import bcrypt
from fastapi import APIRouter
from pydantic import BaseModel, SecretStr, field_validator

router = APIRouter()

class Signup(BaseModel):
    new_password: SecretStr

    @field_validator("new_password")
    @classmethod
    def _new_password_fits_bcrypt(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

def digest(secret: str) -> bytes:
    raw = secret.encode("utf-8")
    return bcrypt.hashpw(raw, bcrypt.gensalt())

@router.post("/signup")
def signup(form: Signup):
    return digest(form.new_password.get_secret_value())
""",
        ),
        # Login: checkpw outside any try, so bcrypt 5's ValueError is a 500.
        Bad(
            dedent(
                """\
                # file: app/auth.py
                import bcrypt
                from fastapi import APIRouter
                from pydantic import BaseModel

                router = APIRouter()

                class Login(BaseModel):
                    email: str
                    password: str

                def verify(plain: str, hashed: str) -> bool:
                    return bcrypt.checkpw(plain.encode(), hashed.encode())

                @router.post("/login")
                async def login(body: Login):
                    return {"ok": verify(body.password, load_hash(body.email))}
                """
            ),
            fixed="""\
# file: app/auth.py
import bcrypt
from fastapi import APIRouter
from pydantic import BaseModel, field_validator

router = APIRouter()

class Login(BaseModel):
    email: str
    password: str

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

def verify(plain: str, hashed: str) -> bool:
    return bcrypt.checkpw(plain.encode(), hashed.encode())

@router.post("/login")
async def login(body: Login):
    return {"ok": verify(body.password, load_hash(body.email))}
""",
        ),
        # passlib's bcrypt handler, `constr(max_length=64)`: 64 characters can be 256 bytes.
        Bad(
            "from passlib.hash import bcrypt\nfrom pydantic import BaseModel, constr\n\nclass Invite(BaseModel):\n"
            "    password: constr(min_length=8, max_length=64)\n\ndef accept(invite: Invite):\n"
            "    return bcrypt.hash(invite.password)\n",
            fixed="""\
from passlib.hash import bcrypt
from pydantic import BaseModel, constr, field_validator

class Invite(BaseModel):
    password: constr(min_length=8, max_length=64)

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value):
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

def accept(invite: Invite):
    return bcrypt.hash(invite.password)
""",
        ),
        # A static method, and an optional field of an update model.
        Bad(
            dedent(
                """\
                import bcrypt
                from pydantic import BaseModel

                class UserUpdate(BaseModel):
                    password: str | None = None

                class Users:
                    @staticmethod
                    def hash_password(plain: str) -> bytes:
                        return bcrypt.hashpw(plain.encode(), bcrypt.gensalt())

                async def update(body: UserUpdate):
                    if body.password:
                        return Users.hash_password(body.password)
                """
            ),
            fixed="""\
import bcrypt
from pydantic import BaseModel, field_validator

class UserUpdate(BaseModel):
    password: str | None = None

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

class Users:
    @staticmethod
    def hash_password(plain: str) -> bytes:
        return bcrypt.hashpw(plain.encode(), bcrypt.gensalt())

async def update(body: UserUpdate):
    if body.password:
        return Users.hash_password(body.password)
""",
        ),
        # The route checks the bytes, but answers with a ValueError: still a 500.
        Bad(
            "import bcrypt\nfrom pydantic import BaseModel\n\nclass Reset(BaseModel):\n    password: str\n\n"
            "async def reset(body: Reset):\n    if len(body.password.encode()) > 72:\n        raise ValueError('too long')\n"
            "    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())\n",
            fixed="""\
import bcrypt
from pydantic import BaseModel, field_validator

class Reset(BaseModel):
    password: str

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

async def reset(body: Reset):
    if len(body.password.encode()) > 72:
        raise ValueError('too long')
    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
""",
        ),
        # The app answers ValueError itself (a 422, no 500), but bcrypt 4.x still hashes
        # only the first 72 bytes of a sign-up password: reported, graded medium.
        Bad(
            dedent(
                """\
                # file: app/main.py
                import bcrypt
                from fastapi import FastAPI
                from fastapi.responses import JSONResponse
                from pydantic import BaseModel

                app = FastAPI()

                @app.exception_handler(ValueError)
                async def bad_value(request, exc):
                    return JSONResponse(status_code=422, content={"detail": str(exc)})

                class Signup(BaseModel):
                    password: str

                @app.post("/signup")
                async def signup(body: Signup):
                    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
                """
            ),
            fixed="""\
# file: app/main.py
import bcrypt
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, field_validator

app = FastAPI()

@app.exception_handler(ValueError)
async def bad_value(request, exc):
    return JSONResponse(status_code=422, content={"detail": str(exc)})

class Signup(BaseModel):
    password: str

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

@app.post("/signup")
async def signup(body: Signup):
    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
""",
        ),
        # A middleware that catches ValueError only to answer 500: still a 500.
        Bad(
            dedent(
                """\
                # file: app/main.py
                import bcrypt
                from fastapi import FastAPI
                from fastapi.responses import JSONResponse
                from pydantic import BaseModel
                from starlette.middleware.base import BaseHTTPMiddleware

                class Errors(BaseHTTPMiddleware):
                    async def dispatch(self, request, call_next):
                        try:
                            return await call_next(request)
                        except ValueError:
                            return JSONResponse(status_code=500, content={"detail": "error"})

                app = FastAPI()
                app.add_middleware(Errors)

                class Login(BaseModel):
                    password: str

                @app.post("/login")
                async def login(body: Login):
                    return bcrypt.checkpw(body.password.encode(), b"...")
                """
            ),
            fixed="""\
# file: app/main.py
import bcrypt
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, field_validator
from starlette.middleware.base import BaseHTTPMiddleware

class Errors(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            return await call_next(request)
        except ValueError:
            return JSONResponse(status_code=500, content={"detail": "error"})

app = FastAPI()
app.add_middleware(Errors)

class Login(BaseModel):
    password: str

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

@app.post("/login")
async def login(body: Login):
    return bcrypt.checkpw(body.password.encode(), b"...")
""",
        ),
        # checkpw in a try that catches something else.
        Bad(
            "import bcrypt\nfrom pydantic import BaseModel\n\nclass Login(BaseModel):\n    password: str\n\n"
            "def login(body: Login, stored: dict):\n    try:\n        return bcrypt.checkpw(body.password.encode(), stored['hash'])\n"
            "    except KeyError:\n        return False\n",
            fixed="""\
import bcrypt
from pydantic import BaseModel, field_validator

class Login(BaseModel):
    password: str

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 72:
            raise ValueError("Password is too long (at most 72 bytes)")
        return value

def login(body: Login, stored: dict):
    try:
        return bcrypt.checkpw(body.password.encode(), stored['hash'])
    except KeyError:
        return False
""",
        ),
    )

    good = (
        Good(
            dedent(
                """\
                # file: app/schemas.py
                from pydantic import BaseModel, field_validator

                class UserCreate(BaseModel):
                    password: str

                    @field_validator("password")
                    @classmethod
                    def _fits_bcrypt(cls, value: str) -> str:
                        if len(value.encode("utf-8")) > 72:
                            raise ValueError("Password is too long (at most 72 bytes)")
                        return value

                # file: app/routes.py
                import bcrypt
                from fastapi import APIRouter
                from app.schemas import UserCreate

                router = APIRouter()

                @router.post("/users")
                async def register(body: UserCreate):
                    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
                """
            ),
            in_docs=True,
        ),
        # Login: checkpw's ValueError becomes a failed login.
        Good(
            dedent(
                """\
                import bcrypt
                from pydantic import BaseModel

                class Login(BaseModel):
                    password: str

                def verify(plain: str, hashed: str) -> bool:
                    try:
                        return bcrypt.checkpw(plain.encode(), hashed.encode())
                    except ValueError:
                        return False

                async def login(body: Login):
                    return verify(body.password, "...")
                """
            )
        ),
        # The route checks the bytes itself.
        Good(
            dedent(
                """\
                import bcrypt
                from fastapi import HTTPException
                from pydantic import BaseModel

                class Reset(BaseModel):
                    password: str

                async def reset(body: Reset):
                    if len(body.password.encode("utf-8")) > 72:
                        raise HTTPException(422, "too long")
                    return bcrypt.hashpw(body.password.encode(), bcrypt.gensalt())
                """
            )
        ),
        # `max_length=18`: 18 characters are at most 72 bytes.
        Good(
            "import bcrypt\nfrom pydantic import BaseModel, Field\n\nclass Pin(BaseModel):\n"
            "    pin_password: str = Field(max_length=18)\n\ndef set_pin(body: Pin):\n"
            "    return bcrypt.hashpw(body.pin_password.encode(), bcrypt.gensalt())\n"
        ),
        # Truncated to 72 bytes on the way.
        Good(
            "import bcrypt\nfrom pydantic import BaseModel\n\nclass Form(BaseModel):\n    password: str\n\n"
            "def store(form: Form):\n    return bcrypt.hashpw(form.password.encode()[:72], bcrypt.gensalt())\n"
        ),
        # An argon2 context has no 72-byte limit.
        Good(
            "from passlib.context import CryptContext\nfrom pydantic import BaseModel\n\n"
            "ctx = CryptContext(schemes=['argon2'])\n\nclass Form(BaseModel):\n    password: str\n\n"
            "def store(form: Form):\n    return ctx.hash(form.password)\n"
        ),
        # Not a request model: a dataclass, and a model whose password never reaches bcrypt.
        Good(
            "import bcrypt\nfrom dataclasses import dataclass\nfrom pydantic import BaseModel\n\n@dataclass\nclass Row:\n"
            "    password: str\n\nclass Settings(BaseModel):\n    db_password: str\n\n"
            "def store(row: Row, s: Settings):\n    connect(s.db_password)\n    return bcrypt.hashpw(row.password.encode(), bcrypt.gensalt())\n"
        ),
        # Login under a middleware that turns ValueError into a 422 (dispatch's shape):
        # bcrypt 5's error is a rejected request, not a 500.
        Good(
            dedent(
                """\
                # file: app/middleware.py
                from fastapi import status
                from fastapi.responses import JSONResponse
                from starlette.middleware.base import BaseHTTPMiddleware

                class ExceptionMiddleware(BaseHTTPMiddleware):
                    async def dispatch(self, request, call_next):
                        try:
                            response = await call_next(request)
                        except ValueError:
                            response = JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, content={})
                        return response

                # file: app/main.py
                import bcrypt
                from fastapi import FastAPI
                from pydantic import BaseModel
                from app.middleware import ExceptionMiddleware

                app = FastAPI()
                app.add_middleware(ExceptionMiddleware)

                class Login(BaseModel):
                    password: str

                @app.post("/login")
                async def login(body: Login):
                    return bcrypt.checkpw(body.password.encode(), b"...")
                """
            )
        ),
        # A model validator that bounds the bytes.
        Good(
            dedent(
                """\
                import bcrypt
                from pydantic import BaseModel, model_validator

                class Change(BaseModel):
                    new_password: str

                    @model_validator(mode="after")
                    def _fits(self):
                        if len(self.new_password.encode()) > 72:
                            raise ValueError("too long")
                        return self

                def change(body: Change):
                    return bcrypt.hashpw(body.new_password.encode(), bcrypt.gensalt())
                """
            )
        ),
    )

    @classmethod
    def may_report(cls, text: str) -> bool:
        return False  # cross-file: nothing per file

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        from sightlint.project.graph import ModelNeeds

        return ModelNeeds(externals=_bcrypt_name, facts=frozenset(("flows", "params", "method_kind", "cls")), module_facts=frozenset(("secrets", "error_handlers", "links")))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        functions = {fid: _read(info.facts.get("flows", ())) for fid, info in model.functions.items() if info.facts.get("flows")}
        contexts = {
            path: {fact[1] for fact in facts.get("secrets", ()) if fact[0] == "bcrypt"} for path, facts in model.module_facts.items()
        }
        # The application's error handlers and the request models are read per component of
        # the module-dependency graph (``Graph.component``): an app, its handlers and the
        # models its routes take are wired through imports; another application of the same
        # repository has its own.
        answered = _app_answers_value_error(model)
        sinks = _sinks(model, functions, contexts, answered)
        fields: dict[tuple[int, str], list[tuple[str, tuple[Any, ...]]]] = {}
        for path, facts in model.module_facts.items():
            for fact in facts.get("secrets", ()):
                if fact[0] == "field":
                    fields.setdefault((model.component(path), fact[1]), []).append((path, fact))
        findings: dict[tuple[str, int, int], Finding] = {}
        for fid, paths in sinks.items():
            flows = functions.get(fid)
            if flows is None:
                continue
            component = model.component(model.path_of(fid))
            for value, sink in paths.items():
                root, _, attr = value.partition(".")
                annotation = flows.annotations.get(root)
                if not attr or annotation is None:
                    continue
                for path, fact in fields.get((component, annotation), ()):
                    _, cls_name, name, line, col, end_col, max_length, checked = fact
                    if name != attr or checked or 0 < max_length <= _SAFE_MAX_LENGTH:
                        continue
                    key = (path, line, col)
                    if key in findings:
                        continue
                    findings[key] = cls.project_finding(
                        path,
                        Span(line, col, line, end_col),
                        _message(cls_name, name, max_length, sink, model.display(fid), answered.get(component)),
                        related=sink.chain,
                        # Only the silent truncation of bcrypt 4.x is left when bcrypt 5's error is caught.
                        severity=Severity.MEDIUM if sink.handled else None,
                        fix_safety=FixSafety.UNSAFE,
                    )
        return list(findings.values())


    # -- fixing ------------------------------------------------------------------------

    fix_node = ("Name",)
    fix_region = "function"

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        """Whether the project writes pydantic 1 validators only (``validator``, no ``field_validator``)."""
        v1 = v2 = False
        for _, _, text in sources:
            if "pydantic" not in text:
                continue
            v2 = v2 or bool(_V2.search(text))
            v1 = v1 or bool(_V1.search(text))
        return {"pydantic_v1": v1 and not v2}

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """A ``field_validator`` (pydantic 1: ``validator``) rejecting more than 72 UTF-8 bytes."""
        import libcst as cst

        ancestors = self.fix_ancestors
        owner = next((a for a in reversed(ancestors) if isinstance(a, (cst.ClassDef, cst.FunctionDef))), None)
        if not isinstance(node, cst.Name) or not isinstance(owner, cst.ClassDef) or not isinstance(owner.body, cst.IndentedBlock):
            return None
        statement = ancestors[-2] if len(ancestors) >= 2 else None
        if not any(s is statement for s in owner.body.body) or not isinstance(ancestors[-1], cst.AnnAssign):
            return None  # not a field of this class's own body
        if any(k.keyword is not None and k.keyword.value == "table" for k in owner.keywords):
            return None  # a SQLModel table model: pydantic does not validate it on construction
        if any(b.kind is BindingKind.IMPORT and (b.qualified or "").startswith("pydantic.v1") for b in self._imports()):
            return None
        field = node.value
        method = f"_{field.strip('_')}_fits_bcrypt"
        taken = {s.name.value for s in owner.body.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
        taken |= {t.target.value for s in owner.body.body if isinstance(s, cst.SimpleStatementLine) for t in _targets(s)}
        if method in taken:
            return None
        v1 = bool(self.fix_facts.get("pydantic_v1"))
        decorator = "validator" if v1 else "field_validator"
        bound = self.context.module_binding(decorator)
        if bound is not None and bound.qualified != f"pydantic.{decorator}":
            return None
        annotation = cst.Module([]).code_for_node(ancestors[-1].annotation.annotation)
        secret = "SecretStr" in annotation
        optional = "None" in annotation or "Optional" in annotation
        raw = "value.get_secret_value()" if secret else "value"
        test = f'len({raw}.encode("utf-8")) > 72'
        if optional:
            test = f"value is not None and {test}"
        typed = annotation if _SIMPLE_ANNOTATION.fullmatch(annotation) else ""
        signature = f"cls, value: {typed}) -> {typed}:" if typed else "cls, value):"
        header = f'@validator("{field}")\n' if v1 else f'@field_validator("{field}")\n@classmethod\n'
        source = (
            f"{header}def {method}({signature}\n"
            f"    if {test}:\n"
            f'        raise ValueError("Password is too long (at most 72 bytes)")\n'
            f"    return value\n"
        )
        new = cst.parse_statement(source).with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        body = owner.body.with_changes(body=[*owner.body.body, new])
        return Fix(replacement=owner.with_changes(body=body), target=owner, imports=(("pydantic", decorator),))

    def _imports(self) -> list[Any]:
        return [b for name in ("BaseModel",) if (b := self.context.module_binding(name)) is not None]


# Markers of pydantic 2 and of pydantic 1 validators in a module's text.
_V2 = re.compile(r"\b(field_validator|model_validator|ConfigDict|model_config)\b")
_V1 = re.compile(r"\bfrom pydantic import[^\n]*\b(validator|root_validator)\b")
# Annotations the validator can repeat in its signature (``str``, ``SecretStr | None``).
_SIMPLE_ANNOTATION = re.compile(r"[A-Za-z_][\w.]*(\s*\|\s*None)?|Optional\[[A-Za-z_][\w.]*\]")


def _targets(stmt: cst.SimpleStatementLine) -> list[Any]:
    """The ``Name`` targets of a class-body assignment line (as objects with ``.target``)."""
    import libcst as cst

    out: list[Any] = []
    for small in stmt.body:
        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
            out.append(small)
        elif isinstance(small, cst.Assign):
            out.extend(t for t in small.targets if isinstance(t.target, cst.Name))
    return out


def _bcrypt_name(name: str) -> bool:
    """Externals to keep: bcrypt's functions and passlib's hash/verify methods."""
    return name in _BCRYPT or name.startswith(_PASSLIB_BCRYPT) or ("CryptContext" in name and name.rsplit(".", 1)[-1] in _CONTEXT_METHODS)


def _read(rows: Iterable[tuple[Any, ...]]) -> _Function:
    args: dict[tuple[int, int], list[tuple[int | str, str]]] = {}
    caught: dict[tuple[int, int], frozenset[str]] = {}
    bounded: set[str] = set()
    annotations: dict[str, str] = {}
    for row in rows:
        kind = row[0]
        if kind == "arg":
            args.setdefault((row[1], row[2]), []).append((row[3], row[4]))
        elif kind == "caught":
            caught[(row[1], row[2])] = frozenset(row[3].split(","))
        elif kind == "bytes" and row[2] != "raise":
            bounded.add(row[1])  # a `ValueError` raised on the way is a 500, no check
        elif kind == "param":
            annotations[row[1]] = row[2]
    return _Function(args, caught, frozenset(bounded), annotations)


def _app_answers_value_error(model: Graph) -> dict[int, ErrorHandler]:
    """Per component of the module-dependency graph, the application-level handler that
    answers bcrypt 5's ``ValueError`` with something other than a 500
    (``semantics.fastapi.value_error_answered``); components without one are left out."""
    from sightlint.semantics.fastapi import ErrorHandler, FastAPIModule, Middleware, value_error_answered

    modules: dict[int, list[FastAPIModule]] = {}
    for path, facts in model.module_facts.items():
        rows = facts.get("error_handlers", ())
        if rows:
            handlers = tuple(ErrorHandler(*row[1:]) for row in rows if row[0] == "handler")
            middleware = tuple(Middleware("", row[1], 0, 0, "") for row in rows if row[0] == "middleware")
            modules.setdefault(model.component(path), []).append(FastAPIModule(path, middleware=middleware, error_handlers=handlers))
    answered = {component: value_error_answered(found) for component, found in modules.items()}
    return {component: handler for component, handler in answered.items() if handler is not None}


def _sinks(
    model: Graph, functions: Mapping[str, _Function], contexts: Mapping[str, set[str]], answered: Mapping[int, Any] | None = None
) -> dict[str, dict[str, _Sink]]:
    """Function id -> the value paths in it that reach bcrypt with no 72-byte check.
    ``answered``: the components (``Graph.component``) whose application answers a
    ``ValueError`` itself (not with a 500)."""
    sinks: dict[str, dict[str, _Sink]] = {}
    todo: list[tuple[str, str]] = []
    for fid, calls in model.externals.items():
        flows = functions.get(fid)
        if flows is None:
            continue
        for call in calls:
            kind = _kind(call.name, call.site.text, contexts.get(model.path_of(fid), set()))
            if kind is None:
                continue
            where = (call.site.line, call.site.col)
            app_handles = answered is not None and model.component(model.path_of(fid)) in answered
            catcher = model.display(fid) if flows.caught.get(where, frozenset()) & _HANDLES_VALUE_ERROR else ""
            handled = app_handles or bool(catcher)
            if kind == "check" and handled:
                continue
            for key, value in flows.args.get(where, ()):
                if key not in (0, "password", "secret") or value in flows.bounded:
                    continue
                here = RelatedLocation(model.path_of(fid), call.site.line, call.site.col, f"`{call.site.text}(...)` gets `{value}`")
                if value not in sinks.setdefault(fid, {}):
                    sinks[fid][value] = _Sink(kind, call.site.text, (here,), handled, catcher)
                    todo.append((fid, value))
    while todo:
        fid, value = todo.pop()
        sink = sinks[fid][value]
        params = _params(model, fid)
        root, _, attr = value.partition(".")
        for edge in model.callers.get(fid, ()):
            caller = functions.get(edge.source)
            if caller is None:
                continue
            where = (edge.line, edge.col)
            catches = bool(caller.caught.get(where, frozenset()) & _HANDLES_VALUE_ERROR)
            catcher = sink.catcher or (model.display(edge.source) if catches else "")
            handled = sink.handled or catches
            if sink.kind == "check" and handled:
                continue
            for key, source in caller.args.get(where, ()):
                name = params[key] if isinstance(key, int) and key < len(params) else key
                if name != root:
                    continue
                reached = f"{source}.{attr}" if attr and "." not in source else source if not attr else None
                if reached is None or reached in caller.bounded or reached in sinks.get(edge.source, {}):
                    continue
                sinks.setdefault(edge.source, {})[reached] = _Sink(
                    sink.kind, sink.call, (model.hop(edge), *sink.chain), handled, catcher
                )
                todo.append((edge.source, reached))
    return sinks


def _kind(name: str, text: str, contexts: set[str]) -> str | None:
    """"hash" or "check" for a bcrypt call, None for anything else (an argon2 CryptContext)."""
    if name in _BCRYPT:
        return _BCRYPT[name]
    method = name.rsplit(".", 1)[-1]
    if name.startswith(_PASSLIB_BCRYPT):
        return _CONTEXT_METHODS.get(method)
    receiver = text.rsplit(".", 1)[0]
    if "CryptContext" in name and receiver in contexts:
        return _CONTEXT_METHODS.get(method)
    return None


def _params(model: Graph, fid: str) -> list[str]:
    """The parameters a call's positional arguments land in (without `self`/`cls`)."""
    info = model.functions[fid]
    params = list(info.facts.get("params", ()))
    if info.facts.get("cls") and info.facts.get("method_kind") != "static" and params:
        params = params[1:]
    return params


def _message(cls_name: str, name: str, max_length: int, sink: _Sink, where: str, answered: ErrorHandler | None = None) -> str:
    call = "bcrypt's hash" if sink.kind == "hash" else "bcrypt's check"
    limit = (
        f" (`max_length={max_length}` counts characters: {max_length} can be {4 * max_length} bytes)"
        if max_length > 0
        else ""
    )
    if sink.kind == "check":
        consequence = "bcrypt 5 raises `ValueError` for a longer one, and nothing on the way catches it (a 500)"
    elif sink.catcher:
        # The nearest handler answers: an application-level one never sees the error.
        consequence = (
            "bcrypt 4.x silently ignores everything past 72 bytes, so two passwords that share their first 72 bytes "
            f"are the same password (bcrypt 5's `ValueError` is caught on the way, in `{sink.catcher}`)"
        )
    elif answered is not None:
        parts = answered.handler.split(".")
        how = f"the middleware `{parts[-2]}`" if answered.how == "middleware" and len(parts) > 1 else f"the exception handler `{parts[-1]}`"
        consequence = (
            "bcrypt 4.x silently ignores everything past 72 bytes, so two passwords that share their first 72 bytes "
            f"are the same password (bcrypt 5's `ValueError` is no 500 here: {how} answers `{answered.exception}`)"
        )
    elif sink.handled:
        consequence = "bcrypt 4.x silently ignores everything past 72 bytes (bcrypt 5's `ValueError` is caught on the way)"
    else:
        consequence = "bcrypt 4.x silently ignores everything past 72 bytes and bcrypt 5 raises `ValueError` (a 500)"
    return (
        f"`{cls_name}.{name}` reaches {call} (`{sink.call}`, from `{where}`) with no check that it fits bcrypt's "
        f"72 bytes{limit}: {consequence}; validate `len(value.encode()) <= 72` on the field."
    )
