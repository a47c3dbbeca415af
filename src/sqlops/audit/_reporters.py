"""Render findings as text for people, JSON for scripts and SARIF for code scanning."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

from sqlops.audit._finding import Finding, Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_NAMED = 10  # unparsable files named in the summary line


def render_text(
    findings: Sequence[Finding],
    rules: Sequence[Rule],
    files: int,
    unchecked: Sequence[str] = (),
) -> str:
    """Print ``path:line:col: CODE message``, the fix under it, and a summary line.

    ``files`` counts the files checked; ``unchecked`` names the files that could
    not be parsed. With any of those the summary never says "All clear".
    """
    lines = []
    for f in findings:
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}")
        lines.append(f"    fix: {f.fix}")
    checked = _plural(files, "file")
    if findings:
        paths = len({f.path for f in findings})
        lines.append(
            f"Found {_plural(len(findings), 'finding')} in {_plural(paths, 'file')} "
            f"({checked} checked)."
        )
    elif not unchecked:
        lines.append(f"All clear: no findings ({checked} checked).")
    else:
        lines.append(f"No findings in the {checked} checked.")
    if unchecked:
        shown = ", ".join(unchecked[:_NAMED])
        more = f" and {len(unchecked) - _NAMED} more" if len(unchecked) > _NAMED else ""
        lines.append(
            f"NOT checked: {_plural(len(unchecked), 'file')} that do not parse "
            f"(see stderr): {shown}{more}."
        )
    return "\n".join(lines)


def render_json(findings: Sequence[Finding], rules: Sequence[Rule], files: int) -> str:
    """Return a JSON list of finding objects (``code, message, path, line, column, fix``)."""
    return json.dumps([asdict(f) for f in findings], indent=2)


def render_sarif(findings: Sequence[Finding], rules: Sequence[Rule], files: int) -> str:
    """Return a SARIF 2.1.0 log with one run, the rules it ran and their results."""
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver = {
        "name": "sqlops-audit",
        "version": _version(),
        "rules": [_sarif_rule(rule) for rule in rules],
    }
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "columnKind": "unicodeCodePoints",
                "results": [_sarif_result(f, index) for f in findings],
            }
        ],
    }
    return json.dumps(log, indent=2)


def _sarif_rule(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.description},
        "help": {"text": f"Fix: {rule.fix}", "markdown": f"**Fix:** {rule.fix}"},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["sqlalchemy", "asyncio", "correctness"]},
    }


def _sarif_result(finding: Finding, index: dict[str, int]) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": finding.code,
        "level": "warning",
        "message": {"text": f"{finding.message}. Fix: {finding.fix}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(finding.path)},
                    "region": {"startLine": finding.line, "startColumn": finding.column},
                }
            }
        ],
        "properties": {"fix": finding.fix},
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    return result


def _uri(path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate.as_uri()
    return quote(candidate.as_posix())


def _version() -> str:
    try:
        return metadata.version("sqlops")
    except metadata.PackageNotFoundError:
        return "0"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


Renderer = Callable[[Sequence[Finding], Sequence[Rule], int], str]
RENDERERS: dict[str, Renderer] = {"text": render_text, "json": render_json, "sarif": render_sarif}
