"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Keeps to what GitHub reads (``tool.driver.rules``, ``results`` with locations,
``partialFingerprints``, ``relatedLocations``, ``codeFlows``, ``invocations``): see
https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from collections import Counter
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, TextIO
from urllib.parse import quote

from sightlint import __version__
from sightlint.models import Finding, RelatedLocation, RunResult, Severity, Span
from sightlint.registry import CATALOG, CatalogEntry, lookup
from sightlint.reporting._common import SourceLines, all_errors

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# Placeholder until the project has a public home; rule pages are docs/rules/<CODE>.md there.
REPOSITORY_URL = "https://github.com/sightlint/sightlint"
DOCS_URL = f"{REPOSITORY_URL}/blob/main/docs/rules"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "sightlint/v1"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
_SECTION = re.compile(r"^##\s+What it flags\s*\n(?P<body>.*?)(?=^##\s|\Z)", re.MULTILINE | re.DOTALL)


def level(severity: Severity) -> str:
    return _LEVEL[severity]


def artifact_location(path: str) -> dict[str, str]:
    """A relative path under ``%SRCROOT%``; an absolute one as a ``file:`` URI."""
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


def _location(path: str, reg: dict[str, int], message: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact_location(path), "region": reg}}
    if message is not None:
        out["message"] = {"text": message}
    return out


def _related(rel: RelatedLocation) -> dict[str, Any]:
    return _location(rel.path, {"startLine": rel.line, "startColumn": rel.col + 1}, rel.message)


def fingerprint(code: str, path: str, line_text: str, occurrence: int) -> str:
    """Hash of what the finding is about, not where: it survives lines added above it."""
    key = "\0".join((code, path, line_text.strip(), str(occurrence)))
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def _docstring(entry: CatalogEntry) -> str:
    rule = entry.rule
    doc = inspect.cleandoc(rule.__doc__) if rule is not None and rule.__doc__ else ""
    return doc or entry.meta.summary


def rule_descriptor(entry: CatalogEntry) -> dict[str, Any]:
    meta = entry.meta
    doc = _docstring(entry)
    match = _SECTION.search(doc)
    full = " ".join(match.group("body").split()) if match else meta.summary
    properties: dict[str, Any] = {"tags": list(meta.tags), "severity": meta.severity.label}
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
    return out


def _result(f: Finding, index: int, fingerprint_hex: str) -> dict[str, Any]:
    text = f.message if not f.detail else f"{f.message}\n\n{f.detail}"
    out: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [_location(f.path, region(f.span))],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint_hex},
    }
    if f.related:
        related = [_related(r) for r in f.related]
        out["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(related, 1)]
        steps = [_location(f.path, region(f.span), f.message), *related]
        out["codeFlows"] = [{"threadFlows": [{"locations": [{"location": step} for step in steps]}]}]
    properties: dict[str, Any] = {"severity": f.severity.label}
    if f.fixable:
        properties["fix"] = {"safety": f.fix_safety.value, "title": f.fix_title}
    out["properties"] = properties
    return out


def report(run: RunResult, sources: SourceLines | None = None) -> dict[str, Any]:
    sources = sources or SourceLines()
    findings = run.findings
    rules = _descriptors(findings)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    seen: Counter[tuple[str, str, str]] = Counter()
    results = []
    for f in findings:
        line_text = (sources.line(f.path, f.span.line) or "").strip()
        key = (f.code, f.path, line_text)
        results.append(_result(f, index[f.code], fingerprint(f.code, f.path, line_text, seen[key])))
        seen[key] += 1
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


def render(run: RunResult, stream: TextIO) -> None:
    json.dump(report(run), stream, indent=2, ensure_ascii=True)
    stream.write("\n")
