"""Load a corpus directory (one sub-directory per project) the way the audit does."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlops.audit._context import FileContext
from sqlops.audit._engine import _check, _parse, iter_files, parse
from sqlops.audit._finding import Finding, Rule
from sqlops.audit._learning import learn
from sqlops.audit._project import Project


@dataclass
class Corpus:
    """Hold one project's parsed files and the facts learnt from all of them."""

    name: str
    root: Path
    project: Project
    files: dict[str, FileContext] = field(default_factory=dict)
    unparsable: list[str] = field(default_factory=list)
    lines: int = 0
    _functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] | None = None

    def functions(self) -> dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]:
        """Map every function and method name of the project to its definitions."""
        if self._functions is None:
            self._functions = {}
            for ctx in self.files.values():
                for func in ctx.index.functions():
                    self._functions.setdefault(func.name, []).append(func)
        return self._functions

    def findings(self, path: str, rules: Sequence[Rule]) -> list[Finding]:
        """Return the findings of one (unmutated) file."""
        return sorted(_check(self.files[path], rules), key=Finding.sort_key)

    def check_text(self, path: str, text: str, rules: Sequence[Rule]) -> list[Finding] | None:
        """Check a mutated version of one file with the project's facts (``None``: no parse)."""
        try:
            tree = parse(text, path)
        except (SyntaxError, ValueError):
            return None
        ctx = FileContext(path, text, tree, self.project)
        return sorted(_check(ctx, rules), key=Finding.sort_key)


def projects(corpus: Path, names: Sequence[str] = ()) -> Iterator[Path]:
    """Yield the project directories of a corpus, sorted (or only the ``names`` given)."""
    for child in sorted(corpus.iterdir()):
        if child.is_dir() and (not names or child.name in names):
            yield child


def load(root: Path) -> Corpus:
    """Parse every Python file of one project and learn its facts."""
    corpus = Corpus(root.name, root, Project())
    for file in iter_files([root], root=root):
        try:
            ctx = _parse(file, corpus.project)
        except SyntaxError:
            corpus.unparsable.append(str(file))
            continue
        corpus.files[ctx.path] = ctx
        corpus.lines += ctx.source.count("\n")
    learn(corpus.files.values(), corpus.project)
    return corpus


def segment(source: str, node: ast.AST) -> tuple[int, int]:
    """Return the character offsets of a node (an ``expr`` or ``stmt``) in its source."""
    assert isinstance(node, (ast.expr, ast.stmt))
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    begin = starts[node.lineno - 1] + _chars(source, starts, node.lineno, node.col_offset)
    end_line, end_col = node.end_lineno or node.lineno, node.end_col_offset or node.col_offset
    return begin, starts[end_line - 1] + _chars(source, starts, end_line, end_col)


def _chars(source: str, starts: list[int], line: int, byte_offset: int) -> int:
    """Turn ``ast``'s UTF-8 byte column into a character column."""
    text = source[starts[line - 1] : starts[line] if line < len(starts) else None]
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))
