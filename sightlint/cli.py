"""Command line: parse options, build settings, call the modules that do the work."""

from __future__ import annotations

import dataclasses
import gc
import difflib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from sightlint import __version__
from sightlint.config import ConfigError, _selectors, effective, load
from sightlint.models import Finding, RunResult, Severity
from sightlint.settings import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "concise", "json", "sarif", "github", "markdown", "html")
F = TypeVar("F", bound=Callable[..., Any])


def _csv(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _selection_options(func: F) -> F:
    options = [
        click.option("--select", multiple=True, help="Rules to enable (codes, prefixes like SL2, names, ALL); replaces the config."),
        click.option("--extend-select", multiple=True, help="Rules to enable on top of the selection."),
        click.option("--ignore", multiple=True, help="Rules to disable."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Use this pyproject.toml (or sightlint.toml) instead of the nearest one."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(config_path: Path | None, paths: Sequence[Path], **cli: Any) -> Settings:
    """Settings from the config file, then command-line overrides (each recorded as such)."""
    settings = load(config_path, paths)
    changes: dict[str, Any] = {}
    origins = dict(settings.origins)
    if cli.get("select"):
        changes["select"] = _selectors("--select", list(_csv(cli["select"])))
        origins["select"] = "command line"
    if cli.get("extend_select"):
        changes["extend_select"] = settings.extend_select + _selectors("--extend-select", list(_csv(cli["extend_select"])))
        origins["extend-select"] = "command line"
    if cli.get("ignore"):
        changes["ignore"] = settings.ignore + _selectors("--ignore", list(_csv(cli["ignore"])))
        origins["ignore"] = "command line"
    if cli.get("fail_on"):
        changes["fail_on"] = Severity.parse(cli["fail_on"])
        origins["fail-on"] = "command line"
    if cli.get("report_unused_suppressions"):
        changes["report_unused_suppressions"] = True
        origins["report-unused-suppressions"] = "command line"
    changes["origins"] = origins
    return dataclasses.replace(settings, **changes)


def _cache_dir(option: Path | None, settings: Settings, use_cache: bool) -> Path | None:
    """``--cache-dir``, else ``SIGHTLINT_CACHE_DIR`` (both may point anywhere), else the
    project's own folder, which must be in the project (:class:`ConfigError` if not)."""
    if option is not None or not use_cache:
        return option
    env = os.environ.get("SIGHTLINT_CACHE_DIR")
    if env:
        return Path(env)
    from sightlint.cache import default_directory

    return default_directory(settings)


_CACHE_DIR_HELP = (
    "Keep the result cache in DIR, which may be anywhere (also: SIGHTLINT_CACHE_DIR). "
    "The config's cache-dir may only name a folder inside the project."
)


def _safe(text: str) -> str:
    """A path or message on one line, control characters (terminal escapes) made visible."""
    from sightlint.reporting._common import one_line

    return one_line(text)


def _fail(message: str) -> None:
    click.echo(f"sightlint: error: {_safe(message)}", err=True)
    sys.exit(EXIT_ERROR)


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        stdout = click.get_text_stream("stdout")
        yield stdout
        try:  # it may wrap sys.stdout's buffer apart (a misconfigured encoding): see run()
            stdout.flush()
        except OSError:  # sightlint: ignore[SL201] reported as Python reports it at exit (a closed pipe)
            pass
        return
    try:
        stream: TextIO = path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")
        raise  # unreachable; keeps type checkers calm
    with stream:
        yield stream


class _Group(click.Group):
    """Suggest the closest command for a typo, as git does."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sightlint")
def main() -> None:
    """Find what would hang, leak, race or hide errors in async Python services."""
    from sightlint.source import quiet_source_warnings

    quiet_source_warnings()


def run() -> None:
    """The command line in a process of its own (``python -m sightlint``).

    Once a command has finished and everything it wrote is flushed, the process ends at
    once (``os._exit``) instead of tearing down the interpreter: freeing every object a
    large run built took longer than some whole warm runs' reports. Only when nothing else
    runs: no other thread, no child process, no kept pool (anything else ends as usual).
    """
    try:
        main()
    except SystemExit as stop:
        code = 0 if stop.code is None else stop.code
        if not _FINISHED or type(code) is not int or not 0 <= code <= 255 or not _quiet_now():
            raise
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        except BaseException:  # sightlint: ignore[SL201] a stream that cannot be flushed: as Python reports it at exit
            raise stop from None
        os._exit(code)


# Set by a command whose output is all written and flushed, with nothing left to clean up
# (``check``, as it exits): :func:`run` may then end the process at once.
_FINISHED = False


def _quiet_now() -> bool:
    """Whether nothing but this thread is left running (see :func:`run`)."""
    import threading

    if threading.active_count() != 1:
        return False
    if "sightlint.runner" in sys.modules and sys.modules["sightlint.runner"].kept_workers() is not None:
        return False
    if "multiprocessing" in sys.modules:
        import multiprocessing

        if multiprocessing.active_children():
            return False
    return True


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--fail-on", type=click.Choice([s.label for s in Severity], case_sensitive=False), help="Lowest severity that fails the run (default: medium: every finding but low ones).")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; the exit code tells.")
@click.option("--show-chains", is_flag=True, help="Show the call chain behind cross-file findings.")
@click.option("--no-source", is_flag=True, help="Do not print source frames in the text format.")
@click.option("--report-unused-suppressions", is_flag=True, help="Also report suppression comments that suppress nothing.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache (also: SIGHTLINT_NO_CACHE=1).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help=_CACHE_DIR_HELP)
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Processes to check files with (default, or 0: all cores; 1 checks in this process).")
@click.option("--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True, help="Colour the text output: auto is on a terminal only, off with NO_COLOR, on with FORCE_COLOR.")
@click.option("--no-baseline", is_flag=True, help="Report every finding, also those the baseline file lists.")
@click.option("--prune-baseline", is_flag=True, help="Remove the baseline's stale entries (findings fixed since); never adds one.")
@click.option("--add-noqa", is_flag=True, help="Write a `# sightlint: ignore[CODE] TODO: ...` comment on the line of each finding reported, instead of reporting it.")
@click.option("--verbose", "-v", is_flag=True, help="Say where the time went (per phase) on stderr.")
@click.option("--show-files", is_flag=True, help="List the files that would be checked, and what exclude patterns leave out; check nothing.")
@click.option("--fix", "fix_habit", is_flag=True, hidden=True)
def check(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_path: Path | None,
    fmt: str,
    output_file: Path | None,
    exit_zero: bool,
    fail_on: str | None,
    statistics: bool,
    quiet: bool,
    show_chains: bool,
    no_source: bool,
    report_unused_suppressions: bool,
    no_cache: bool,
    cache_dir: Path | None,
    jobs: int | None,
    color: str,
    no_baseline: bool,
    prune_baseline: bool,
    add_noqa: bool,
    verbose: bool,
    show_files: bool,
    fix_habit: bool,
) -> None:
    """Check PATHS (default: the current folder) and report findings.

    The cross-file rules see the whole project around PATHS; what is reported are the
    findings in PATHS and those whose call chain passes through them.
    """
    from sightlint import api, reporting
    from sightlint.registry import enabled_index

    if fix_habit:
        _fail("`check --fix` is a separate command here: `sightlint fix [PATHS]` (add --diff to preview, --unsafe-fixes for the rest)")
    targets = list(paths) or [Path(".")]
    use_cache = not (no_cache or _env_flag("SIGHTLINT_NO_CACHE"))
    try:
        settings = _settings(
            config_path,
            targets,
            select=select,
            extend_select=extend_select,
            ignore=ignore,
            fail_on=fail_on,
            report_unused_suppressions=report_unused_suppressions,
        )
        cache_dir = _cache_dir(cache_dir, settings, use_cache)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    if show_files:
        _show_files(targets, settings)
        return
    if not enabled_index(settings):
        # Nothing would run: say so rather than "All checks passed" (a report file is
        # still written, empty, so that a CI upload finds it).
        if not quiet:
            click.echo(f"No rules ran: {_nothing_enabled(settings)}", err=True)
        if fmt != "text" and (output_file is not None or not quiet):
            with _output(output_file) as stream:
                reporting.render(RunResult(), fmt, stream)
        sys.exit(EXIT_CLEAN)
    # The run's objects are small and acyclic: pausing the cyclic collector saves seconds
    # on large projects (api.check_paths pauses it too, for library callers).
    gc.disable()
    from sightlint.reporting.progress import Timed, for_stream

    progress = Timed(for_stream(sys.stderr, quiet))
    try:
        run = api.check_paths(
            targets,
            settings,
            jobs=jobs or None,
            cache_dir=cache_dir,
            use_cache=use_cache,
            progress=progress,
        )
        progress.phase("baseline")
        run = _with_baseline(run, settings, no_baseline=no_baseline, prune=prune_baseline)
        progress.phase("writing the report")
    finally:
        progress.close()
    if add_noqa:
        _add_noqa(run, quiet)
        return
    _report(
        run, settings, fmt, output_file, quiet=quiet, color=color, no_source=no_source, show_chains=show_chains,
        statistics=statistics, reuse=True,
    )  # fmt: skip
    if not quiet and not (fmt == "text" and output_file is None) and run.baseline is not None:
        from sightlint.reporting.baseline import summary as baseline_summary

        for line in baseline_summary(run.baseline):
            click.echo(_safe(line), err=True)
    if verbose:
        jobs_used = jobs or "all cores"
        click.echo(f"Where the time went ({run.files_checked} files, --jobs {jobs_used}, cache {'on' if use_cache else 'off'}):", err=True)
        for line in progress.breakdown():
            click.echo(line, err=True)
    # What the run built lives until exit: freeze it so neither a late collection nor
    # the one at interpreter shutdown walks it, and give the collector back (in-process
    # callers such as tests keep a working collector).
    gc.freeze()
    gc.enable()
    global _FINISHED
    _FINISHED = True
    sys.exit(exit_code(run, settings, exit_zero))


def _with_baseline(run: RunResult, settings: Settings, *, no_baseline: bool, prune: bool) -> RunResult:
    """``run`` without the findings the baseline lists (when there is one and it is wanted)."""
    from sightlint.reporting._common import baseline_location

    path = baseline_location(settings, run.root)
    if no_baseline:
        if prune:
            _fail("--prune-baseline and --no-baseline contradict each other")
        return run
    if not path.is_file():
        if prune or settings.baseline:
            _fail(f"no baseline at {path}: write one with `sightlint baseline`")
        return run
    from sightlint.reporting import baseline

    try:
        return baseline.apply(run, path, prune=prune)
    except baseline.BaselineError as exc:
        _fail(str(exc))
        raise  # unreachable


def _add_noqa(run: RunResult, quiet: bool) -> None:
    from sightlint.reporting import baseline

    added, changed, notes = baseline.add_noqa([f for f in run.findings if f.code != "SL000"])
    for note in notes:
        click.echo(f"sightlint: {_safe(note)}", err=True)
    if not quiet:
        click.echo(f"Added {added} suppression comment(s) in {changed} file(s); replace each TODO with the reason.")
    sys.exit(EXIT_ERROR if run.errors or run.internal_errors else EXIT_CLEAN)


def _nothing_enabled(settings: Settings) -> str:
    """Why no rule is enabled: the selected ones are not available yet, or all are ignored."""
    from sightlint.registry import CATALOG

    pending = [
        e.meta.code
        for e in CATALOG
        if not e.available and settings.is_enabled(e.meta.code, e.meta.name, e.meta.default_enabled)
    ]
    if pending:
        return f"the selected rules are not available yet ({', '.join(pending)}); `sightlint rules` lists the available ones."
    return "the selection enables no rule (check --select, --ignore and the config); `sightlint rules` lists them."


def _show_files(targets: Sequence[Path], settings: Settings) -> None:
    """``--show-files``: what a check of ``targets`` reads, then what it leaves out."""
    from sightlint.api import discover_project

    found = discover_project(targets, settings)
    shown = sorted(found.named) if found.named is not None else [f.display for f in found.files]
    for display in shown:
        click.echo(_safe(display))
    if found.named is not None:
        others = len(found.files) - len(shown)
        click.echo(f"# and {others} other file(s) of the project, analysed for cross-file chains", err=True)
    for path in found.excluded:
        click.echo(f"# excluded: {_safe(str(path))}", err=True)
    for path in found.not_python:
        click.echo(f"# not Python, skipped: {_safe(str(path))}", err=True)
    for message in found.errors:
        click.echo(f"sightlint: {_safe(message)}", err=True)
    sys.exit(EXIT_ERROR if found.errors else EXIT_CLEAN)


def _width() -> int:
    """Columns to fit tables in: the terminal's, at most 100 (100 when not on a terminal)."""
    import shutil

    return min(100, shutil.get_terminal_size((100, 24)).columns)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _report(
    run: RunResult,
    settings: Settings,
    fmt: str,
    output_file: Path | None,
    *,
    quiet: bool,
    color: str,
    no_source: bool,
    show_chains: bool,
    statistics: bool = False,
    reuse: bool = False,
) -> None:
    """The findings of ``run`` as ``check`` reports them (``fix`` reports what remains the
    same way), and the run's errors the text reporter did not already list."""
    from sightlint import reporting

    if not quiet or output_file is not None:  # -q silences the terminal, not the report file (as ruff)
        with _output(output_file) as stream:
            if statistics:
                reporting.render_statistics(run, stream, color=reporting.color_choice(color))
            else:
                reporting.render(
                    run,
                    fmt,
                    stream,
                    color=reporting.color_choice(color),
                    show_source=not no_source,
                    show_chains=show_chains,
                    unused_suppressions=settings.report_unused_suppressions,
                    settings=settings,
                    reuse=reuse,
                )
    for message in run.errors:
        if quiet or fmt == "text" and output_file is None:
            continue  # the text reporter already listed it
        click.echo(f"sightlint: {_safe(message)}", err=True)


def exit_code(run: RunResult, settings: Settings, exit_zero: bool = False) -> int:
    if run.internal_errors or run.errors:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    failing = run.worst() >= settings.fail_on  # known without decoding results kept encoded
    unused = settings.report_unused_suppressions and any(r.unused_suppressions for r in run.files)
    return EXIT_FINDINGS if failing or unused else EXIT_CLEAN


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
@click.option("--diff", is_flag=True, help="Print the changes as a unified diff (for `patch -p1`) and write nothing; exit 1 if anything would change.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; list what would be fixed and exit 1 if anything would change.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes that can change behaviour.")
@click.option("--show-fixes", is_flag=True, help="List each fix applied (or that would be), and why others were not.")
@click.option("--cross-file", is_flag=True, help="With FILES: also apply fixes that edit files not named (an `await` added at callers elsewhere).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Format of the findings that remain.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the remaining findings to this file.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--fail-on", type=click.Choice([s.label for s in Severity], case_sensitive=False), help="Lowest severity of a remaining finding that fails the run (default: medium).")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors (and the diff with --diff).")
@click.option("--show-chains", is_flag=True, help="Show the call chain behind cross-file findings.")
@click.option("--no-source", is_flag=True, help="Do not print source frames in the text format.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache (also: SIGHTLINT_NO_CACHE=1).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help=_CACHE_DIR_HELP)
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Processes to check and fix files with (default: all cores; 1 works in this process).")
@click.option("--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True, help="Colour the diff and the text output: auto is on a terminal only, off with NO_COLOR, on with FORCE_COLOR.")
def fix(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_path: Path | None,
    diff: bool,
    check_only: bool,
    unsafe_fixes: bool,
    show_fixes: bool,
    cross_file: bool,
    fmt: str,
    output_file: Path | None,
    exit_zero: bool,
    fail_on: str | None,
    quiet: bool,
    show_chains: bool,
    no_source: bool,
    no_cache: bool,
    cache_dir: Path | None,
    jobs: int | None,
    color: str,
) -> None:
    """Apply the available fixes to PATHS (default: the current folder), then report what remains.

    The fixes are planned on the same whole-project check as `sightlint check`; every
    fixed file is parsed before any is written, each is written atomically, and a file
    edited since it was read is left alone (and reported). The findings that remain are
    reported exactly as `sightlint check` reports them, with the same exit codes.
    With --diff or --check nothing is written: exit 1 if anything would change, else 0.
    Given some files of a project, a fix that would also edit files not named is not
    applied (it is listed with those files) unless --cross-file.
    """
    from sightlint import fixer, reporting

    targets = list(paths) or [Path(".")]
    use_cache = not (no_cache or _env_flag("SIGHTLINT_NO_CACHE"))
    dry = diff or check_only
    try:
        settings = _settings(
            config_path, targets, select=select, extend_select=extend_select, ignore=ignore, fail_on=fail_on
        )
        cache_dir = _cache_dir(cache_dir, settings, use_cache)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    gc.disable()
    err = click.get_text_stream("stderr")
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet or not err.isatty() or total < 8:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Fixing", file=err)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done == total:
            bar.__exit__(None, None, None)

    report = fixer.fix_paths(
        targets,
        settings,
        unsafe=unsafe_fixes,
        write=not dry,
        jobs=jobs or None,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=progress,
        cross_file=cross_file,
    )
    out = click.get_binary_stream("stdout")
    changed = sorted(report.changed, key=lambda o: o.path)
    for outcome in sorted(report.failed, key=lambda o: o.path):
        click.echo(f"sightlint: {_safe(outcome.path)}: fix failed: {_safe(outcome.reason or '')}", err=True)
    for display, why in report.not_written:
        click.echo(f"sightlint: {_safe(display)}: {_safe(why)}", err=True)
    if diff and changed:  # nothing to show: the colour question (and `rich`) is not even asked
        text_out = click.get_text_stream("stdout")
        coloured = reporting.use_color(text_out, reporting.color_choice(color))
        for outcome in changed:
            assert outcome.new is not None
            patch = fixer.unified_patch(outcome.path, outcome.original, outcome.new)
            if coloured:  # for a reader on a terminal; a pipe gets the exact bytes `patch -p1` applies
                lines = patch.decode("utf-8", errors="replace").splitlines(keepends=True)
                reporting.render_diff(lines, text_out, color=True)
            else:
                out.write(patch)
        text_out.flush()
        out.flush()
    if show_fixes and not quiet:
        _show_fixes(report, dry, unsafe_fixes)
    fixed = sum(len(o.applied) for o in changed)
    files = len(changed) if dry else len(report.written)
    if not quiet:
        verb = "Would fix" if dry else "Fixed"
        count = fixed if dry else sum(len(report.outcomes[d].applied) for d in report.written)
        click.echo(f"{verb} {count} finding(s) in {files} file(s).", err=True)
        held = len(_held_back(report)) if not unsafe_fixes else 0
        if held:
            click.echo(f"{held} more fix(es) available with --unsafe-fixes.", err=True)
        needing = [r for r in report.refused if r.files]
        if needing:
            others = sorted({p for r in needing for p in r.files})
            click.echo(
                f"{len(needing)} fix(es) not applied: they also edit {', '.join(_safe(p) for p in others)}"
                " (name those files too, or use --cross-file).",
                err=True,
            )
    run = report.after or report.before
    if dry:
        errors = bool(run.internal_errors or run.errors or report.failed)
        for message in run.errors:
            click.echo(f"sightlint: {_safe(message)}", err=True)
        unparsable = _not_fixed_notes(run, quiet)
        if check_only and not quiet:
            for outcome in changed:
                click.echo(f"Would fix {len(outcome.applied)} finding(s) in {_safe(outcome.path)}", err=True)
        gc.enable()
        # A file that cannot be read or parsed fails the run as it fails `check` (exit 1).
        failing = any(f.severity >= settings.fail_on for f in unparsable) and not exit_zero
        sys.exit(EXIT_ERROR if errors else EXIT_FINDINGS if changed or failing else EXIT_CLEAN)
    # What remains, as `check` reports it (its baseline applied too).
    run = _with_baseline(run, settings, no_baseline=False, prune=False)
    _report(run, settings, fmt, output_file, quiet=quiet, color=color, no_source=no_source, show_chains=show_chains)
    gc.freeze()
    gc.enable()
    code = exit_code(run, settings, exit_zero)
    sys.exit(EXIT_ERROR if report.failed else code)


def _not_fixed_notes(run: RunResult, quiet: bool) -> list[Finding]:
    """With --diff or --check nothing reports what remains: a file that could not be read
    or parsed (too large, a syntax error) gets a note saying it was not fixed, and why.
    Returns those files' parse findings."""
    from sightlint.engine import PARSE_ERROR_CODE

    found = []
    for result in sorted(run.files, key=lambda r: r.path):
        for finding in result.findings:
            if finding.code == PARSE_ERROR_CODE:
                found.append(finding)
                if not quiet:
                    click.echo(f"sightlint: {_safe(result.path)}: not fixed: {_safe(finding.message)}", err=True)
                break
    return found


def _held_back(report: Any) -> list[tuple[str, Any]]:
    """Findings only an unsafe fix would fix, in files that had no other fix to apply."""
    from sightlint.models import FixSafety

    return [
        (result.path, f)
        for result in report.before.files
        if result.path not in report.outcomes
        for f in result.findings
        if f.fix_safety is FixSafety.UNSAFE
    ] + [(o.path, f) for o in report.outcomes.values() for f, why in o.skipped if why.startswith("unsafe fix")]


def _show_fixes(report: Any, dry: bool, unsafe: bool) -> None:
    """Each fix per file and rule, and why the others were not applied."""
    if not unsafe:
        for display, finding in _held_back(report):
            if display not in report.outcomes:
                click.echo(f"  {_safe(display)}:{finding.line}:{finding.col + 1}: {finding.code} not fixed: unsafe fix: use --unsafe-fixes", err=True)
    for display in sorted(report.outcomes):
        outcome = report.outcomes[display]
        shown = _safe(display)
        if outcome.applied and (dry or display in report.written):
            counts: dict[str, int] = {}
            for finding in outcome.applied:
                counts[finding.code] = counts.get(finding.code, 0) + 1
            click.echo(f"{shown}: " + ", ".join(f"{n} × {code}" for code, n in sorted(counts.items())), err=True)
            for finding in outcome.applied:
                if finding.path == display:  # a project fix's finding elsewhere: listed below
                    click.echo(f"  {finding.line}:{finding.col + 1}: {finding.code} {_safe(finding.fix_title or 'fixed')}", err=True)
        for finding, why in outcome.skipped:
            click.echo(f"  {shown}:{finding.line}:{finding.col + 1}: {finding.code} not fixed: {_safe(why)}", err=True)
    for plan in report.project_applied:
        f = plan.finding
        files = ", ".join(_safe(p) for p in plan.files)
        click.echo(f"  {_safe(f.path)}:{f.line}:{f.col + 1}: {f.code} {_safe(plan.summary)} (edits {files})", err=True)
    for refused in report.refused:
        f = refused.finding
        why = f"needs {', '.join(_safe(p) for p in refused.files)} (not named; use --cross-file)" if refused.files else _safe(refused.reason)
        click.echo(f"  {_safe(f.path)}:{f.line}:{f.col + 1}: {f.code} not fixed: {why}", err=True)


@main.command(name="baseline")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
@click.option("--output-file", "-o", "output_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the baseline here (default: the config's `baseline`, else .sightlint-baseline.json next to the config or at the project root).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Processes to check files with (default, or 0: all cores).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
def baseline_command(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_path: Path | None,
    output_file: Path | None,
    jobs: int | None,
    no_cache: bool,
) -> None:
    """Record every current finding of PATHS in the baseline file; `check` then reports only new ones.

    Run on some files of a project, the entries of the other files are kept. Review the
    file and commit it; `check --prune-baseline` removes entries once they are fixed.
    """
    from sightlint import api
    from sightlint.reporting import baseline

    targets = list(paths) or [Path(".")]
    use_cache = not (no_cache or _env_flag("SIGHTLINT_NO_CACHE"))
    try:
        settings = _settings(config_path, targets, select=select, extend_select=extend_select, ignore=ignore)
        cache_dir = _cache_dir(None, settings, use_cache)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    gc.disable()
    run = api.check_paths(targets, settings, jobs=jobs or None, cache_dir=cache_dir, use_cache=use_cache)
    for message in run.errors:
        click.echo(f"sightlint: {_safe(message)}", err=True)
    if run.errors or run.internal_errors:
        _fail("baseline not written: the check did not complete (see above)")
    path = output_file or baseline.location(settings, run.root)
    try:
        written, kept = baseline.write(path, run)
    except baseline.BaselineError as exc:
        _fail(str(exc))
        return
    more = f" (and kept {kept} of files not checked now)" if kept else ""
    click.echo(f"Wrote {written} finding(s) to {_safe(str(path))}{more}.")
    gc.enable()


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Show the documentation of rule CODE (a code like SL201 or a name like swallowed-exception)."""
    from sightlint.registry import CATALOG, lookup

    entry = lookup(code)
    if entry is None:
        keys = [e.meta.code for e in CATALOG] + [e.meta.name for e in CATALOG]
        close = difflib.get_close_matches(code, keys, n=1)
        _fail(f"unknown rule {code!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return
    from sightlint import docs

    text = docs.render_rule(entry)
    stream = click.get_text_stream("stdout")
    from sightlint.reporting.text import use_color

    if use_color(stream, None):
        from sightlint.reporting import render_markdown

        render_markdown(text, stream)
    else:
        click.echo(text)


def _table(rows: Sequence[Sequence[str]], max_width: int | None = None) -> str:
    """Rows in aligned columns, the first one a header; with ``max_width``, the widest
    columns are narrowed and their cells wrapped so that no line is longer."""
    import textwrap

    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if max_width is not None:
        # A column is not narrowed below its longest word (a path), up to 40 characters.
        floor = [max(8, min(40, max(len(word) for row in rows for word in (row[i].split() or [""])))) for i in range(len(widths))]
        while sum(widths) + 2 * (len(widths) - 1) > max_width:
            i = max(range(len(widths)), key=lambda k: widths[k] - floor[k])
            if widths[i] <= floor[i]:
                break
            widths[i] -= 1
    lines = []
    for n, row in enumerate(rows):
        cells = [textwrap.wrap(cell, widths[i], break_on_hyphens=False) or [""] for i, cell in enumerate(row)]
        for k in range(max(len(c) for c in cells)):
            parts = [(c[k] if k < len(c) else "").ljust(widths[i]) for i, c in enumerate(cells)]
            lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@main.command(name="rules")
def rules_command() -> None:
    """List every rule: code, name, severity, fix, audit section, availability."""
    from sightlint.registry import CATALOG, fix_label

    rows = [("CODE", "NAME", "SEVERITY", "FIX", "AUDIT", "STATUS")]
    for entry in CATALOG:
        meta = entry.meta
        status = "available" if entry.available else "not yet available"
        rows.append((meta.code, meta.name, meta.severity.label, fix_label(meta), meta.audit or "-", status))
    click.echo(_table(rows))


@main.command(name="config")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
def config_command(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_path: Path | None,
) -> None:
    """Print the settings in effect for PATHS and where each came from."""
    from sightlint.registry import enabled_rules

    try:
        settings = _settings(config_path, list(paths) or [Path(".")], select=select, extend_select=extend_select, ignore=ignore)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    from sightlint.files import project_root

    click.echo(f"config file: {_safe(str(settings.config_path)) if settings.config_path else '(none found; defaults)'}")
    root = project_root(list(paths) or [Path(".")], settings)
    click.echo(f"project root: {_safe(str(root)) if root is not None else '(none found; only the given paths are analysed)'}")
    here = str(Path.cwd()) + os.sep
    rows = [(key, _safe(value), _safe(origin.replace(here, ""))) for key, value, origin in effective(settings)]
    click.echo(_table([("KEY", "VALUE", "FROM"), *rows], max_width=_width()))
    import textwrap

    enabled = ", ".join(r.meta.code for r in enabled_rules(settings))
    click.echo("\n" + textwrap.fill(f"enabled rules: {enabled or '(none)'}", _width(), subsequent_indent="  "))


if __name__ == "__main__":  # pragma: no cover
    main()
