"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Keeps to what GitHub reads (``tool.driver.rules``, ``results`` with locations,
``partialFingerprints``, ``relatedLocations``, ``codeFlows``, ``invocations``): see
https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, TextIO
from urllib.parse import quote

from sightlint import __version__
from sightlint.models import Finding, RelatedLocation, RunResult, Severity, Span
from sightlint.registry import CATALOG, CatalogEntry, lookup
from sightlint.reporting._common import SourceLines, all_errors, collect_unused
from sightlint.reporting.fingerprint import fingerprints, relative, tables_of

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# Placeholder until the project has a public home; rule pages are docs/rules/<CODE>.md there.
REPOSITORY_URL = "https://github.com/sightlint/sightlint"
DOCS_URL = f"{REPOSITORY_URL}/blob/main/docs/rules"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "sightlint/v2"  # see sightlint.reporting.fingerprint

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
# GitHub code scanning shows a rule tagged "security" as Critical (>= 9.0), High (7.0-8.9),
# Medium (4.0-6.9) or Low (0.1-3.9) from this score.
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "2.0"}
_SECTION = re.compile(r"^##\s+What it flags\s*\n(?P<body>.*?)(?=^##\s|\Z)", re.MULTILINE | re.DOTALL)


def level(severity: Severity) -> str:
    return _LEVEL[severity]


def artifact_location(path: str, root: str | None = None) -> dict[str, str]:
    """A path under the project ``root`` relative to ``%SRCROOT%`` (whatever the working
    folder was); another absolute one as a ``file:`` URI."""
    return dict(_artifact_location(path, root, os.getcwd()))


@functools.lru_cache(maxsize=4096)
def _artifact_location(path: str, root: str | None, cwd: str) -> dict[str, str]:
    """:func:`artifact_location`, once per path (a report names the same files many times:
    the pure paths were a quarter of a large SARIF report); ``cwd`` keys it, as a
    relative ``path`` means another file from another working folder."""
    if root is not None:
        path = relative(path, root)
    posix = path.replace("\\", "/") if os.sep == "\\" else path  # on POSIX a backslash is part of a name
    if PureWindowsPath(path).drive and PureWindowsPath(path).is_absolute():
        return {"uri": "file:///" + quote(posix, safe="/:")}
    if PurePosixPath(posix).is_absolute():
        return {"uri": "file://" + quote(posix, safe="/")}
    while posix.startswith("./"):
        posix = posix[2:]
    return {"uri": quote(posix, safe="/"), "uriBaseId": SRCROOT}


def region(span: Span) -> dict[str, int]:
    # SARIF columns are 1-based and endColumn is the column after the last character.
    return {
        "startLine": span.line,
        "startColumn": span.col + 1,
        "endLine": span.end_line,
        "endColumn": span.end_col + 1,
    }


def _location(path: str, reg: dict[str, int], message: str | None = None, root: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact_location(path, root), "region": reg}}
    if message is not None:
        out["message"] = {"text": message}
    return out


def _related(rel: RelatedLocation, root: str | None = None) -> dict[str, Any]:
    return _location(rel.path, {"startLine": rel.line, "startColumn": rel.col + 1}, rel.message, root)


def _docstring(entry: CatalogEntry) -> str:
    rule = entry.rule
    doc = inspect.cleandoc(rule.__doc__) if rule is not None and rule.__doc__ else ""
    return doc or entry.meta.summary


def rule_descriptor(entry: CatalogEntry) -> dict[str, Any]:
    meta = entry.meta
    doc = _docstring(entry)
    match = _SECTION.search(doc)
    full = " ".join(match.group("body").split()) if match else meta.summary
    tags = list(meta.tags) + ([] if "security" in meta.tags else ["security"])
    properties: dict[str, Any] = {
        "tags": tags,
        "severity": meta.severity.label,
        "security-severity": SECURITY_SEVERITY[meta.severity],
    }
    if meta.audit:
        properties["audit"] = meta.audit
    return {
        "id": meta.code,
        "name": meta.name,
        "shortDescription": {"text": meta.summary},
        "fullDescription": {"text": full},
        "help": {"text": doc, "markdown": doc},
        "helpUri": f"{DOCS_URL}/{meta.code}.md",
        "defaultConfiguration": {"level": level(meta.severity)},
        "properties": properties,
    }


def _descriptors(findings: list[Finding]) -> list[dict[str, Any]]:
    entries = [e for e in CATALOG if e.available]
    known = {e.meta.code for e in entries}
    for code in sorted({f.code for f in findings} - known):
        entry = lookup(code)
        if entry is not None:
            entries.append(entry)
            known.add(code)
    out = [rule_descriptor(e) for e in entries]
    # A code nothing in the catalog knows (a plugin, a stale cache) still gets a descriptor.
    for f in findings:
        if f.code not in known:
            known.add(f.code)
            out.append({"id": f.code, "name": f.name, "shortDescription": {"text": f.name}})
    # GitHub reads security-severity from the rule only: a finding graded away from its
    # rule's default severity (SL501's latent races are low) gets a descriptor of its own,
    # "SL501/low", so that a low finding is not shown as Critical.
    by_id = {d["id"]: d for d in out}
    for f in findings:
        rid = rule_id(f)
        if rid not in by_id:
            base = by_id[f.code]
            extra = {
                **base,
                "id": rid,
                "defaultConfiguration": {"level": level(f.severity)},
                "properties": {**base.get("properties", {}), "severity": f.severity.label, "security-severity": SECURITY_SEVERITY[f.severity]},
            }
            by_id[rid] = extra
            out.append(extra)
    return out


def rule_id(f: Finding) -> str:
    """``CODE``, or ``CODE/severity`` for a finding whose severity is not its rule's default."""
    entry = lookup(f.code)
    if entry is None or entry.meta.severity is f.severity:
        return f.code
    return f"{f.code}/{f.severity.label}"


def _result(f: Finding, index: int, fingerprint_hex: str, root: str | None = None) -> dict[str, Any]:
    text = f.message if not f.detail else f"{f.message}\n\n{f.detail}"
    out: dict[str, Any] = {
        "ruleId": rule_id(f),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [_location(f.path, region(f.span), root=root)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint_hex},
    }
    if f.related:
        related = [_related(r, root) for r in f.related]
        out["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(related, 1)]
        steps = [_location(f.path, region(f.span), f.message, root), *related]
        out["codeFlows"] = [{"threadFlows": [{"locations": [{"location": step} for step in steps]}]}]
    properties: dict[str, Any] = {"severity": f.severity.label}
    if f.fixable:
        properties["fix"] = {"safety": f.fix_safety.value, "title": f.fix_title}
    out["properties"] = properties
    return out


UNUSED_SUPPRESSION_ID = "unused-suppression"


def _unused_results(run: RunResult, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Suppression comments that suppress nothing (they fail a run that asks for them)."""
    unused = collect_unused(run)
    if not unused:
        return []
    rules.append(
        {
            "id": UNUSED_SUPPRESSION_ID,
            "name": UNUSED_SUPPRESSION_ID,
            "shortDescription": {"text": "A suppression comment that suppresses nothing, or names an unknown code"},
            "defaultConfiguration": {"level": "warning"},
        }
    )
    index = len(rules) - 1
    return [
        {
            "ruleId": UNUSED_SUPPRESSION_ID,
            "ruleIndex": index,
            "level": "warning",
            "message": {"text": u.message},
            "locations": [_location(u.path, {"startLine": u.line, "startColumn": 1}, root=run.root)],
            "partialFingerprints": {FINGERPRINT_KEY: hashlib.sha256(f"{u.path}\0{u.line}\0{u.codes}".encode("utf-8", "surrogatepass")).hexdigest()},
        }
        for u in unused
    ]


def source_root(root: str | None) -> str | None:
    """What ``%SRCROOT%`` stands for: the repository around the project root (GitHub resolves
    URIs against the checkout, and a project may be a folder of a monorepo), else the
    project root itself."""
    if root is None:
        return None
    folder = root
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return root
        folder = parent


def report(run: RunResult, sources: SourceLines | None = None, *, unused_suppressions: bool = False) -> dict[str, Any]:
    sources = sources or SourceLines()
    prints = fingerprints(run.findings, run.root, sources, run.memo, tables_of(run))  # relative to the project root, as in JSON
    if run.memo is not None:
        run.memo.save()
    run = dataclasses.replace(run, root=source_root(run.root))
    findings = run.findings
    rules = _descriptors(findings)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [_result(f, index[rule_id(f)], p.fingerprint, run.root) for f, p in zip(findings, prints)]
    if unused_suppressions:
        results += _unused_results(run, rules)
    invocation: dict[str, Any] = {"executionSuccessful": not run.internal_errors}
    notes = [{"level": "error", "message": {"text": e}} for e in all_errors(run)]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sightlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": REPOSITORY_URL,
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                # Span columns count characters (code points), not UTF-16 units.
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render(run: RunResult, stream: TextIO, *, unused_suppressions: bool = False) -> None:
    document = report(run, unused_suppressions=unused_suppressions)
    try:
        pieces = indented(document)
    except (TypeError, ValueError, RecursionError):  # a value of another type: the library's encoder
        json.dump(document, stream, indent=2, ensure_ascii=True)
    else:
        stream.write("".join(pieces))
    stream.write("\n")


_ESCAPE = json.encoder.encode_basestring_ascii


def indented(document: Any) -> list[str]:
    """``json.dump(document, indent=2, ensure_ascii=True)``'s text, in pieces, for a
    document of dicts with str keys, lists, str, int, bool and None (anything else raises
    TypeError): ``json`` uses its pure-Python encoder whenever ``indent`` is set, most of
    a SARIF report's time (1 s of 1.4 s at 200k lines). The same layout, written by one
    function without the encoder's generators; ``tests/test_prints.py`` compares the two."""
    out: list[str] = []
    append, escape = out.append, _ESCAPE

    def value(node: Any, pad: str) -> None:
        kind = type(node)
        if kind is str:
            append(escape(node))
        elif kind is dict:
            if not node:
                append("{}")
                return
            inner = pad + "  "
            lead = "{" + inner
            for key, item in node.items():
                if type(key) is not str:
                    raise TypeError("a key that is not a str")
                append(lead + escape(key) + ": ")
                lead = "," + inner
                value(item, inner)
            append(pad + "}")
        elif kind is list:
            if not node:
                append("[]")
                return
            inner = pad + "  "
            lead = "[" + inner
            for item in node:
                append(lead)
                lead = "," + inner
                value(item, inner)
            append(pad + "]")
        elif node is None:
            append("null")
        elif node is True:
            append("true")
        elif node is False:
            append("false")
        elif kind is int:
            append(int.__repr__(node))
        else:
            raise TypeError(f"not written by hand: {kind.__name__}")

    value(document, "\n")
    return out
