"""Findings and the rule record every audit rule is built from."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sqlops.audit._context import FileContext


@dataclass(frozen=True)
class Finding:
    """Report one mistake at one place in one file.

    ``line`` and ``column`` are 1-based, as editors and SARIF count them.
    """

    code: str
    message: str
    path: str
    line: int
    column: int
    fix: str

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order findings by position, then by code, so output is stable."""
        return (self.path, self.line, self.column, self.code)


class Hit(NamedTuple):
    """Point a rule at a node; the engine turns it into a `Finding`."""

    node: ast.AST
    message: str
    fix: str | None = None


Check = Callable[["FileContext"], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    """Describe one audit rule: its code, its reason and the function that finds it.

    ``summary`` is the short description (``--list-rules``, SARIF); ``fix`` is the
    default one-line suggestion a hit may override with a more specific one;
    ``doc`` is the rule module's docstring, the long explanation. Rules whose harm
    is performance, security or a latent setting have ``in_tests=False``: test
    code has no users, no attacker and no load, so they skip it.
    """

    code: str
    name: str
    summary: str
    fix: str
    check: Check
    doc: str = ""
    in_tests: bool = True

    @property
    def description(self) -> str:
        """Return the rule's explanation: its module docstring without the title line."""
        body = self.doc.strip().split("\n", 1)
        return " ".join(body[-1].split()) if body else self.summary

    def findings(self, ctx: FileContext) -> Iterator[Finding]:
        """Run the rule over one file and place each hit."""
        for hit in self.check(ctx):
            if not self.in_tests and ctx.is_test_code(hit.node):
                continue
            yield Finding(
                code=self.code,
                message=hit.message,
                path=ctx.path,
                line=getattr(hit.node, "lineno", 1),
                column=getattr(hit.node, "col_offset", 0) + 1,
                fix=hit.fix or self.fix,
            )
