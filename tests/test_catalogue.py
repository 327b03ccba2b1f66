"""The blocking-call catalogue (``sightlint/data/blocking_calls.toml``): well formed, and
every name resolves in the library it names, as the project model spells it.

Resolution imports the library (never project code): the longest importable module
prefix, then attributes up to the first ``()`` (a class, whose instance the rest is
called on), then the next name must be an attribute of that class (a method, property or
annotated attribute, also inherited). What follows is not checked: the model spells
sub-clients as attributes (``OpenAI().chat.completions.create``) that only exist on
instances. Libraries not installed where the tests run are skipped by name;
``python tests/test_catalogue.py`` prints the check for whatever environment runs it
(the session that extended the catalogue ran it with every catalogued library
installed, see the notes).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).resolve().parent.parent / "sightlint" / "data" / "blocking_calls.toml"
CATEGORIES = {"sleep", "network", "subprocess", "database", "llm", "cpu", "file"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\(\))*(\.[A-Za-z_][A-Za-z0-9_]*(\(\))*)*$")


def entries() -> list[tuple[str, dict[str, Any]]]:
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    found = []
    for api in data["api"]:
        names = list(api.get("names", ()))
        names += [f"{r}.{m}" for r in api.get("receivers", ()) for m in api.get("methods", "").split()]
        found += [(name, api) for name in names]
    return found


def resolve(name: str) -> str | None:
    """None when ``name`` resolves, else why not; "not installed" when its package is not."""
    parts = name.split(".")
    top = parts[0].removesuffix("()")
    module: Any = None
    index = 0
    for i in range(len(parts), 0, -1):
        dotted = ".".join(parts[:i])
        if "(" in dotted:
            continue
        try:
            module = importlib.import_module(dotted)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing and not (dotted == missing or dotted.startswith(missing + ".")):
                return "not installed"  # a dependency of the library is missing: cannot check here
            continue
        except ImportError:
            continue
        index = i
        break
    if module is None:
        return "not installed" if importlib.util.find_spec(top) is None else f"no module of {name} imports"
    if getattr(module, "__file__", None) is None and index < len(parts) and not hasattr(module, parts[index].replace("()", "")):
        return "not installed"  # only a namespace package (``google.cloud``) without the library
    value: Any = module
    for part in parts[index:]:
        called = part.endswith("()")
        attr = part.replace("()", "")
        if not _has(value, attr):
            return f"{attr!r} is not an attribute of {getattr(value, '__name__', value)!r}"
        if inspect.isclass(value) and attr not in vars(value) and not _in_mro(value, attr):
            return None  # an annotated attribute: its type is not followed
        value = getattr(value, attr, None)
        if value is None:
            return None
        if called:
            if part.count("()") > 1:
                return None if callable(value) else f"{attr} is not callable"
            if inspect.isclass(value):
                continue  # an instance: the next name is looked up on the class
            if callable(value):
                return None  # a factory: what it returns is not followed
            return f"{attr} is not callable"
        if inspect.isclass(value) or inspect.ismodule(value):
            continue
        return None  # a function, method or property: the name resolves
    return None


def _in_mro(cls: type, attr: str) -> bool:
    return any(attr in vars(base) for base in cls.__mro__)


def _has(value: Any, attr: str) -> bool:
    if hasattr(value, attr):
        return True
    if inspect.isclass(value):
        for base in value.__mro__:
            if attr in getattr(base, "__annotations__", {}):
                return True
    return False


def test_the_catalogue_is_well_formed() -> None:
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    assert len(data["api"]) >= 40
    for api in data["api"]:
        assert set(api) <= {"category", "severity", "names", "receivers", "methods", "alternative", "source", "primitive"}, api
        assert isinstance(api.get("primitive", True), bool), api
        assert api["category"] in CATEGORIES
        assert api.get("severity", "context") in ("context", "lower")
        assert api.get("alternative") and api.get("source"), api
        assert api.get("names") or (api.get("receivers") and api.get("methods")), api
    for name, _ in entries():
        assert _NAME.match(name), name
    # File I/O is reported one level lower, the rest at the context's severity.
    for _name, api in entries():
        assert (api.get("severity") == "lower") == (api["category"] == "file")


def test_the_loaded_catalogue_is_the_data_file() -> None:
    from sightlint.project.blocking import CATALOG, ENTRIES

    names = {name for name, _ in entries()}
    assert set(CATALOG) == names
    assert ENTRIES["time.sleep"].alternative.startswith("await asyncio.sleep")
    assert ENTRIES["open"].severity == "lower"


def test_every_installed_entry_resolves() -> None:
    failures = []
    checked = 0
    for name, _ in entries():
        why = resolve(name)
        if why == "not installed":
            continue
        checked += 1
        if why is not None:
            failures.append(f"{name}: {why}")
    assert checked >= 20  # the standard library entries at least
    assert not failures, "\n".join(failures)


def test_the_resolver_rejects_misspellings() -> None:
    assert resolve("time.sleeep") is not None
    assert resolve("subprocess.Popen().wiat") is not None
    assert resolve("subprocess.Popen().wait") is None
    assert resolve("sightlint_no_such_package.call") == "not installed"


if __name__ == "__main__":
    seen = missing = 0
    for entry_name, _ in entries():
        problem = resolve(entry_name)
        if problem == "not installed":
            missing += 1
            continue
        seen += 1
        if problem is not None:
            print(f"FAIL {entry_name}: {problem}")
    print(f"{seen} resolved or failed above, {missing} not installed")
