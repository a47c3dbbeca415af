"""Read the runnable parts of a Markdown page: ```python and ```console blocks, and markers.

The convention: every ```python block runs, in page order, sharing one namespace, except
one whose first line is ``# name.py``: that is written to ``name.py`` in the page's
directory for later blocks to import. ``<!-- docs: skip -->`` on the line before a block
(blank lines allowed) keeps it from running; ``<!-- docs: backends=sqlite,postgresql -->``
anywhere runs the whole page once per backend listed. In ```console blocks the lines
starting ``$ sqlops `` are run, and the lines under one (up to the next ``$ ``) are its
expected output, where a line ``...`` matches any number of lines and ``...`` inside a
line matches any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS = ("sqlite", "postgresql", "mysql")
RUNNABLE = ("python", "console")
_MARKER = re.compile(r"<!--\s*docs:\s*(.*?)\s*-->")
_FILE_NAME = re.compile(r"^#\s*([\w./-]+\.py)\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


class MarkerError(ValueError):
    """A ``<!-- docs: ... -->`` marker this collector does not know."""


@dataclass(frozen=True)
class Command:
    """One ``$ sqlops ...`` line of a console block and the output shown under it."""

    line: int
    argv: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    """A fenced block: its language, its first code line's number (1-based), its text."""

    language: str
    line: int
    text: str
    skip: bool = False

    @property
    def filename(self) -> str | None:
        """``app.py`` for a python block whose first line is ``# app.py``: a file, not a script."""
        match = _FILE_NAME.match(self.text.split("\n", 1)[0])
        return match.group(1) if self.language == "python" and match else None

    def commands(self) -> list[Command]:
        """The ``$ sqlops`` commands of a console block, with their expected output."""
        found: list[Command] = []
        current: tuple[int, str, list[str]] | None = None
        for number, raw in enumerate(self.text.splitlines(), start=self.line):
            if raw.startswith("$ "):
                if current is not None:
                    found.append(Command(current[0], current[1], tuple(current[2])))
                is_sqlops = raw.startswith("$ sqlops ") or raw.rstrip() == "$ sqlops"
                current = (number, raw[2:], []) if is_sqlops else None
            elif current is not None:
                current[2].append(raw)
        if current is not None:
            found.append(Command(current[0], current[1], tuple(current[2])))
        return found


@dataclass
class Page:
    """The runnable blocks of one page and the backends it runs on."""

    path: Path
    blocks: list[Block] = field(default_factory=list)
    backends: tuple[str, ...] = ("sqlite",)

    @property
    def runnable(self) -> bool:
        return any(not b.skip and (b.language == "python" or b.commands()) for b in self.blocks)


def parse(path: Path) -> Page:
    """Read ``path``: its blocks in order, which are skipped, and its backends."""
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    pending_skip = False
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            index = _read_block(page, lines, index, fence, pending_skip)
            pending_skip = False
            continue
        for marker in _MARKER.findall(line):
            pending_skip = _apply_marker(page, marker, index + 1) or pending_skip
        if line.strip() and not _MARKER.search(line):
            pending_skip = False
        index += 1
    return page


def _read_block(page: Page, lines: list[str], start: int, fence: re.Match[str], skip: bool) -> int:
    """Append the block opening at ``lines[start]``; return the index after its closing fence."""
    indent, ticks, language = fence.group(1), fence.group(2), fence.group(3).lower()
    body: list[str] = []
    index = start + 1
    while index < len(lines) and not lines[index].strip().startswith(ticks):
        line = lines[index]
        body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
        index += 1
    if language in RUNNABLE:
        page.blocks.append(Block(language, start + 2, "\n".join(body) + "\n", skip))
    return index + 1


def _apply_marker(page: Page, marker: str, line: int) -> bool:
    """Record a page-level marker; return True for a block skip marker."""
    if marker == "skip":
        return True
    key, _, value = marker.partition("=")
    if key.strip() == "backends" and value:
        names = tuple(name.strip() for name in value.split(",") if name.strip())
        unknown = [name for name in names if name not in BACKENDS]
        if not unknown and names:
            page.backends = names
            return False
    raise MarkerError(f"{page.path.name}:{line}: unknown marker <!-- docs: {marker} -->")


def output_matches(expected: list[str] | tuple[str, ...], actual: list[str]) -> bool:
    """Whether ``actual`` fits ``expected``: ``...`` lines and ``...`` in a line are wildcards."""
    want = [line.rstrip() for line in expected]
    while want and not want[-1]:
        want.pop()
    got = [line.rstrip() for line in actual]
    while got and not got[-1]:
        got.pop()
    return _match(want, got)


def _match(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    head, rest = want[0], want[1:]
    if head.strip() == "...":
        return any(_match(rest, got[skip:]) for skip in range(len(got) + 1))
    return bool(got) and _line_matches(head, got[0]) and _match(rest, got[1:])


def _line_matches(want: str, got: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got) is not None
