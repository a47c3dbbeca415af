"""Find files, parse each once, learn project facts, run the rules, apply ignores."""

from __future__ import annotations

import ast
import gc
import io
import os
import re
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import partial
from pathlib import Path

from sqlops.audit._context import FileContext
from sqlops.audit._facts import Outline, outline
from sqlops.audit._finding import Finding, Rule
from sqlops.audit._learning import Streamed, learn, run
from sqlops.audit._project import Project
from sqlops.audit.rules import RULES

SKIPPED_DIRS = frozenset(
    {".venv", "venv", ".git", "node_modules", "__pycache__", "build", "dist", "site-packages"}
)
_IGNORE = re.compile(r"#\s*sqlops:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
Suppressions = dict[int, frozenset[str] | None]


class UnknownRuleError(ValueError):
    """Raised for a ``select``/``ignore`` code that matches no rule."""


@dataclass
class Report:
    """Collect what one run found: findings, files that failed to parse, files checked."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[SyntaxError] = field(default_factory=list)
    files: int = 0
    parses: int = 0  # how many times files were parsed (learning parses some again)


def select_rules(
    select: Iterable[str] | None = None, ignore: Iterable[str] | None = None
) -> list[Rule]:
    """Return the rules left after ``select`` and ``ignore`` (codes or code prefixes).

    ``ALL`` selects every rule. A code that matches no rule raises
    `UnknownRuleError`: a typo must not silently switch a check off.
    """
    chosen = _matching(select, RULES) if select is not None else list(RULES)
    dropped = {rule.code for rule in _matching(ignore or (), RULES)}
    return [rule for rule in chosen if rule.code not in dropped]


def _matching(codes: Iterable[str], rules: Sequence[Rule]) -> list[Rule]:
    found: dict[str, Rule] = {}
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        hits = [r for r in rules if code == "ALL" or r.code.startswith(code)]
        if not hits:
            raise UnknownRuleError(f"unknown rule code {raw.strip()!r}")
        found.update((r.code, r) for r in hits)
    return [r for r in rules if r.code in found]


def check_source(
    text: str,
    path: str = "<string>",
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> list[Finding]:
    """Check one module's source text and return its findings, sorted.

    A source that does not parse raises `SyntaxError` (syntax newer than this
    Python — ``type`` statements, generics, ``except A, B:`` — is read anyway).
    """
    rules = select_rules(select, ignore)
    project = Project()
    ctx = FileContext(path, text, parse(text, path), project)
    learn([ctx], project)
    return sorted(_check(ctx, rules), key=Finding.sort_key)


def check_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> list[Finding]:
    """Check files and directories (walked for ``*.py``) as one project.

    Facts are shared across the files (a ``get_db`` defined in one module is known
    where it is injected in another). A missing path raises `FileNotFoundError`;
    the first file that fails to parse raises its `SyntaxError`. Options come from
    the arguments only — the command line is what reads ``pyproject.toml``.
    """
    report = audit(paths, select=select, ignore=ignore, exclude=exclude)
    if report.errors:
        raise report.errors[0]
    return report.findings


def audit(
    paths: Iterable[str | os.PathLike[str]],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    root: str | os.PathLike[str] | None = None,
) -> Report:
    """Run the audit and keep going past unparsable files, recording them."""
    rules = select_rules(select, ignore)
    with _gc_paused():
        return _audit(paths, rules, exclude, root)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: trees and indexes hold no cycles, so its passes find nothing.

    Reference counting frees each tree when its file is done. On a 50,000-line tree
    this saves a quarter of the run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _audit(
    paths: Iterable[str | os.PathLike[str]],
    rules: Sequence[Rule],
    exclude: Iterable[str],
    root: str | os.PathLike[str] | None,
) -> Report:
    """Learn from every file, then check every file: no tree outlives its use.

    Pass 1 parses each file once: a file that can define a fact leaves the record
    of its learning steps (`Streamed`), any other file an `Outline`. Learning then
    replays those records (parsing again only a file whose record went stale), and
    pass 2 parses each file again to check it.
    """
    report = Report()
    project = Project()
    sources: list[Streamed] = []
    outlines: list[Outline] = []
    checked: list[Path] = []
    for file in iter_files(paths, exclude=exclude, root=root):
        report.files += 1
        try:
            ctx = _parse(file, project)
        except SyntaxError as error:
            report.errors.append(error)
            continue
        checked.append(file)
        if bears_facts(ctx.source):
            sources.append(Streamed(ctx, partial(_parse, file, project), project))
        else:
            outlines.append(outline(ctx))
        del ctx
    run(sources, project, outlines)
    for file in checked:
        report.findings.extend(_check(_parse(file, project), rules))
    report.parses = len(checked) + sum(source.parses for source in sources)
    report.findings.sort(key=Finding.sort_key)
    return report


_FACT_WORDS = re.compile(
    r"Session|sessionmaker|_engine|Engine|Connection|[Rr]elationship|sqlops"
    r"|\.(?:execute|scalars|stream)\("  # may be a helper that runs a statement it is given
)


def bears_facts(source: str) -> bool:
    """Tell whether a file can define a session, engine, factory, model or helper fact.

    Every kind the audit knows starts at a SQLAlchemy or sqlops name, and a helper
    that runs a statement calls ``execute()``; a file that spells none of them can
    only pass other files' facts on, which `Outline` keeps.
    """
    return _FACT_WORDS.search(source) is not None


def _parse(file: Path, project: Project) -> FileContext:
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SyntaxError(f"not UTF-8: {error}", (str(file), 1, 1, "")) from error
    try:
        tree = parse(text, str(file))
    except (ValueError, RecursionError) as error:  # null bytes, absurd nesting
        raise SyntaxError(str(error), (str(file), 1, 1, "")) from error
    return FileContext(str(file), text, tree, project)


def parse(text: str, filename: str) -> ast.Module:
    """Parse with this Python; on failure, retry with newer syntax rewritten line for line.

    Python 3.12 ``type X = ...`` statements and ``class C[T]:``/``def f[T]()``
    generics, and 3.14 ``except A, B:``, are rewritten into forms this Python
    reads (``X = ...``, ``class C:``, ``except (A, B):``) without moving any line,
    so the file is still checked and findings keep their line numbers. The
    original `SyntaxError` is raised if the rewrite does not parse either.
    """
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError as error:
        rewritten = downlevel(text)
        if rewritten == text:
            raise
        try:
            return ast.parse(rewritten, filename=filename)
        except SyntaxError as later:
            # the rewrite got past the first error: the later one is the one to fix
            raise (later if (later.lineno or 0) > (error.lineno or 0) else error) from None


_TYPE_STATEMENT = re.compile(r"^(\s*)type\s+([A-Za-z_]\w*)\s*(?:\[[^=]*\])?\s*=", re.MULTILINE)
_GENERIC_DEF = re.compile(
    r"^(\s*(?:async\s+)?(?:def|class)\s+[A-Za-z_]\w*)\[(?:[^\[\]]|\[[^\[\]]*\])*\]",
    re.MULTILINE,
)
_EXCEPT_TUPLE = re.compile(r"^(\s*except\*?\s+)(?!\()([^:\n#]+,[^:\n#]+?)(\s*):", re.MULTILINE)


def downlevel(text: str) -> str:
    """Rewrite 3.12/3.14-only syntax into older syntax, keeping every line where it is."""
    text = _TYPE_STATEMENT.sub(r"\1\2 =", text)
    text = _GENERIC_DEF.sub(r"\1", text)
    return _EXCEPT_TUPLE.sub(r"\1(\2)\3:", text)


def _check(ctx: FileContext, rules: Sequence[Rule]) -> Iterator[Finding]:
    quiet = suppressions(ctx.source)
    for rule in rules:
        for finding in rule.findings(ctx):
            codes = quiet.get(finding.line, frozenset())
            if codes is None or finding.code in codes:
                continue
            yield finding


def suppressions(source: str) -> Suppressions:
    """Map line numbers to the codes silenced there (``None`` = every code)."""
    if "sqlops:" not in source.lower():
        return {}
    found: Suppressions = {}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    try:
        for token in tokens:
            if token.type == tokenize.COMMENT:
                match = _IGNORE.search(token.string)
                if match:
                    found[token.start[0]] = _codes(match.group("codes"))
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def _codes(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    return frozenset(c.strip().upper() for c in text.split(",") if c.strip())


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    exclude: Iterable[str] = (),
    root: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """Yield the Python files under ``paths``, sorted, skipping excluded ones.

    Missing paths raise `FileNotFoundError` before any file is yielded.
    """
    given = [Path(p) for p in paths]
    for path in given:
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
    patterns = tuple(exclude)
    base = Path(root) if root is not None else Path.cwd()
    for path in given:
        files = [path] if path.is_file() else _walk(path)
        for file in files:
            if not _excluded(file, patterns, base):
                yield file


def _walk(directory: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(current, name)


def _excluded(file: Path, patterns: tuple[str, ...], base: Path) -> bool:
    if not patterns:
        return False
    try:
        relative = file.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        relative = file.as_posix()
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch(relative, pattern) or fnmatch(relative, f"{pattern}/*"):
            return True
        if "/" not in pattern and any(fnmatch(part, pattern) for part in parts):
            return True
    return False
