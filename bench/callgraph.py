"""Score sightlint's call graph on PyCG's micro-benchmark, next to PyCG and JARVIS.

    python bench/callgraph.py BENCH_DIR            # a table per category, then overall
    python bench/callgraph.py BENCH_DIR --json     # one JSON object (see below)
    python bench/callgraph.py BENCH_DIR --misses   # also list each snippet's missed/extra edges (both modes)

BENCH_DIR is the ``micro-benchmark`` folder of a PyCG clone (``vitsalis/PyCG``): its
``snippets/<category>/<name>/`` folders each hold a small program (``main.py`` and the
modules it imports) and the expected ``callgraph.json``.

For each snippet the script builds sightlint's project model from every ``.py`` file of
the snippet (module names relative to the snippet folder, as PyCG names them) and turns
its edges into PyCG's naming (``main.A.f``; a module's own code is the module's name;
lambdas ``<lambdaN>`` numbered in order of appearance in their scope). Edges are scored
against the expected ones in two ways:

``function``  edges whose caller and callee are both functions of the snippet
``module``    the same, plus edges whose caller is a module's top-level code

An edge to a builtin or to code outside the snippet (``<builtin>.map``, ``os.path.join``)
and an edge to a module (an import) count in neither. A callee counts when it is a
function of the snippet by sightlint's reading or by the expected graph's keys, so an
edge a tool draws to a class (not a function) is dropped, not held against it.

Precision, recall and ``exact`` (snippets whose scored edges equal the expected ones) are
given per category and overall, edges summed over snippets. PyCG and JARVIS are run the
way PyCG's own tests run them (``main.py`` as the entry point, the snippet folder as the
package), from ``--peers-python`` (default: the ``python`` next to this interpreter's
``pycg``/``jarviscg``, else ``/work/venv-reach-peers/bin/python``); a tool that cannot be
run is left out of the output.

With ``--json``: ``{"tools": {"sightlint": {"function": {"precision": P, "recall": R,
"exact": N}, "module": {...}}, "pycg": {...}, "jarvis": {...}}, "snippets": N}``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sightlint import engine  # noqa: E402
from sightlint.project.model import ProjectModel  # noqa: E402
from sightlint.settings import Settings  # noqa: E402

Edge = tuple[str, str]
MODES = ("function", "module")
_LAMBDA = re.compile(r"<lambda@(\d+):(\d+)>")
_DUP = re.compile(r"@\d+$")
_BUILTIN_VIA = tuple(f"passed to {api}" for api in ("map", "filter", "sorted", "min", "max", "functools.reduce", "itertools.starmap"))


@dataclass
class Snippet:
    category: str
    name: str
    path: Path
    modules: set[str]
    expected: dict[str, list[str]]


@dataclass
class Score:
    found: int = 0  # edges the tool drew (scored ones)
    right: int = 0  # of those, expected
    expected: int = 0
    exact: int = 0
    snippets: int = 0

    def add(self, other: Score) -> None:
        self.found += other.found
        self.right += other.right
        self.expected += other.expected
        self.exact += other.exact
        self.snippets += other.snippets

    @property
    def precision(self) -> float:
        return self.right / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 1.0

    def as_json(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "exact": self.exact}


@dataclass
class ToolResult:
    edges: dict[str, set[Edge]] = field(default_factory=dict)  # snippet key -> edges
    functions: dict[str, set[str]] = field(default_factory=dict)  # snippet key -> function names it read


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_snippets(bench: Path) -> list[Snippet]:
    root = bench / "snippets"
    if not root.is_dir():
        raise SystemExit(f"{bench}: no snippets/ folder (give the micro-benchmark folder of a PyCG clone)")
    found = []
    for cg in sorted(root.glob("*/*/callgraph.json")):
        folder = cg.parent
        modules = {_module_name(p.relative_to(folder)) for p in folder.rglob("*.py")}
        found.append(Snippet(folder.parent.name, folder.name, folder, modules, json.loads(cg.read_text())))
    return found


def key(snippet: Snippet) -> str:
    return f"{snippet.category}/{snippet.name}"


# -- sightlint -----------------------------------------------------------------------------


def sightlint_graph(snippet: Snippet) -> tuple[set[Edge], set[str]]:
    """Sightlint's edges for one snippet, in PyCG's naming, and the functions it read."""
    summaries = []
    for path in sorted(snippet.path.rglob("*.py")):
        rel = path.relative_to(snippet.path)
        result = engine.check_source(
            path.read_bytes(), str(rel), Settings(), rules=[], module=_module_name(rel), summarize=True
        )
        if result.summary is not None:
            summaries.append(result.summary)
    model = ProjectModel(summaries)
    names = _pycg_names(model)
    edges = set()
    for source, out in model.edges.items():
        drawn = {(edge.line, edge.col, edge.target) for edge in out}
        for edge in out:
            if edge.via.startswith("passed to ") and edge.kind == "call" and not edge.via.startswith(_BUILTIN_VIA):
                # ``helper(fn)``: the graph's edge runs from the caller (context-sensitive);
                # PyCG's from ``helper``, which is ``model.param_edges``.
                continue
            if any((edge.line, edge.col, wrapper) in drawn for wrapper, _ in model.wrappers(edge.target)):
                # A call of a decorated function: the graph runs from the caller to the
                # wrapper and to the function (context-sensitive); PyCG's runs from the
                # wrapper to the function, which is ``model.param_edges``.
                continue
            edges.add((names.get(source, source), names.get(edge.target, edge.target)))
    for source, out in model.param_edges.items():
        for edge in out:
            edges.add((names.get(source, source), names.get(edge.target, edge.target)))
    functions = {name for fid, name in names.items() if not fid.endswith(".<module>")}
    return edges, functions


def _pycg_names(model: ProjectModel) -> dict[str, str]:
    """Function id -> PyCG's name for it."""
    lambdas: dict[str, list[tuple[int, int, str]]] = {}
    for fid in model.functions:
        match = _LAMBDA.search(fid)
        if match and match.end() == len(fid):
            owner = fid[: match.start() - 1]
            lambdas.setdefault(owner, []).append((int(match[1]), int(match[2]), fid))
    renamed: dict[str, str] = {}
    for owner, found in lambdas.items():
        for n, (_, _, fid) in enumerate(sorted(found), 1):
            renamed[fid] = f"{owner}.<lambda{n}>"

    def name(fid: str) -> str:
        if fid in renamed:
            owner = fid.rpartition(".<lambda@")[0]
            return f"{name(owner)}.{renamed[fid].rpartition('.')[2]}" if owner in model.functions else renamed[fid]
        if fid.endswith(".<module>"):
            return fid[: -len(".<module>")]
        fid = _DUP.sub("", fid)
        return fid

    return {fid: name(fid) for fid in model.functions}


# -- peers ---------------------------------------------------------------------------------


def peer_graph(python: str, tool: str, snippet: Snippet) -> set[Edge] | None:
    """PyCG's or JARVIS's edges for one snippet, or None when the tool failed."""
    with tempfile.TemporaryDirectory(prefix="sightlint-cg-") as tmp:
        out = Path(tmp) / "cg.json"
        if tool == "pycg":
            command = [python, "-m", "pycg", "--package", ".", "main.py", "-o", str(out)]
        else:
            command = [python, "-c", "import sys; from jarviscg.cli import main; sys.argv[0] = 'jarviscg'; main()", "--package", ".", "main.py", "-o", str(out)]
        try:
            subprocess.run(command, cwd=snippet.path, capture_output=True, timeout=120, check=True)
            graph = json.loads(out.read_text())
        except (subprocess.SubprocessError, OSError, ValueError):
            return None
    return {(source, target) for source, targets in graph.items() for target in targets}


def peer_available(python: str | None, tool: str) -> bool:
    if python is None:
        return False
    module = "pycg" if tool == "pycg" else "jarviscg.cli"
    try:
        subprocess.run([python, "-c", f"import {module}"], capture_output=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def default_peers_python() -> str | None:
    for candidate in (shutil.which("pycg") and sys.executable, "/work/venv-reach-peers/bin/python"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


# -- scoring -------------------------------------------------------------------------------


def is_project(name: str, modules: set[str]) -> bool:
    head = name
    while head:
        if head in modules:
            return True
        head = head.rpartition(".")[0]
    return False


def scored(edges: Iterable[Edge], snippet: Snippet, functions: set[str], mode: str) -> set[Edge]:
    """The edges that count in ``mode`` (see the module docstring)."""
    keep = set()
    for source, target in edges:
        if target in snippet.modules or not is_project(target, snippet.modules) or target not in functions:
            continue
        if source in snippet.modules:
            if mode == "module":
                keep.add((source, target))
        elif is_project(source, snippet.modules):
            keep.add((source, target))
    return keep


def score(result: ToolResult, snippets: list[Snippet], mode: str) -> tuple[dict[str, Score], list[tuple[str, set[Edge], set[Edge]]]]:
    per_category: dict[str, Score] = {}
    misses = []
    for snippet in snippets:
        k = key(snippet)
        expected_functions = {n for n in snippet.expected if n not in snippet.modules and is_project(n, snippet.modules)}
        functions = expected_functions | result.functions.get(k, set())
        want = scored(((s, t) for s, ts in snippet.expected.items() for t in ts), snippet, functions, mode)
        got = scored(result.edges.get(k, set()), snippet, functions, mode)
        s = Score(len(got), len(got & want), len(want), int(got == want), 1)
        per_category.setdefault(snippet.category, Score()).add(s)
        if got != want:
            misses.append((k, want - got, got - want))
    return per_category, misses


def total(per_category: dict[str, Score]) -> Score:
    out = Score()
    for s in per_category.values():
        out.add(s)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", type=Path, help="the micro-benchmark folder of a PyCG clone")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--misses", action="store_true", help="list sightlint's missed and extra edges per snippet")
    parser.add_argument("--no-peers", action="store_true", help="do not run PyCG and JARVIS")
    parser.add_argument("--peers-python", default=None, help="a python that can import pycg and jarviscg")
    args = parser.parse_args(argv)

    snippets = load_snippets(args.bench)
    results: dict[str, ToolResult] = {}
    ours = ToolResult()
    for snippet in snippets:
        edges, functions = sightlint_graph(snippet)
        ours.edges[key(snippet)] = edges
        ours.functions[key(snippet)] = functions
    results["sightlint"] = ours
    if not args.no_peers:
        python = args.peers_python or default_peers_python()
        for tool in ("pycg", "jarvis"):
            if not peer_available(python, tool):
                continue
            assert python is not None
            result = ToolResult()
            for snippet in snippets:
                edges = peer_graph(python, tool, snippet)
                result.edges[key(snippet)] = edges if edges is not None else set()
            results[tool] = result

    scores = {tool: {mode: score(result, snippets, mode) for mode in MODES} for tool, result in results.items()}
    if args.json:
        out = {
            "tools": {tool: {mode: total(by_mode[mode][0]).as_json() for mode in MODES} for tool, by_mode in scores.items()},
            "snippets": len(snippets),
        }
        print(json.dumps(out, indent=2))
        return 0
    categories = sorted({s.category for s in snippets})
    tools = list(scores)
    for mode in MODES:
        print(f"\n{mode} edges (precision / recall / exact of snippets)")
        print(f"{'category':<14}{'n':>4}  " + "".join(f"{tool:>22}" for tool in tools))
        for category in [*categories, "overall"]:
            cells = []
            n = 0
            for tool in tools:
                per = scores[tool][mode][0]
                s = total(per) if category == "overall" else per[category]
                n = s.snippets
                cells.append(f"{s.precision:>8.2f} {s.recall:>5.2f} {s.exact:>5}")
            print(f"{category:<14}{n:>4}  " + "".join(f"{c:>22}" for c in cells))
    if args.misses:
        for mode in MODES:
            s = total(scores["sightlint"][mode][0])
            print(f"\nsightlint, {mode} mode ({s.right} right of {s.found} drawn, {s.expected} expected):"
                  " snippets not exactly right (- missed, + extra)")
            for k, missed, extra in scores["sightlint"][mode][1]:
                print(f"  {k}")
                for source, target in sorted(missed):
                    print(f"    - {source} -> {target}")
                for source, target in sorted(extra):
                    print(f"    + {source} -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
