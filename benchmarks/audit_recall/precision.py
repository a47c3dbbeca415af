"""List every finding on a corpus for triage by hand, and score a triage file.

    python -m benchmarks.audit_recall.precision CORPUS                 # findings + context
    python -m benchmarks.audit_recall.precision CORPUS --triage T.json # precision tables

A triage file maps ``"<project>/<path>:<line>:<code>"`` to ``"TP"`` or ``"FP"``
(keep it next to the corpus, not in the repository: it names third-party code).
Findings missing from it are listed as untriaged and counted as neither.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks.audit_recall._corpus import projects
from sqlops.audit._engine import audit
from sqlops.audit._finding import Finding

_CONTEXT = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Print the findings (or, with ``--triage``, the precision tables)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_recall.precision")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--project", action="append", default=[])
    parser.add_argument("--triage", type=Path, help="JSON verdicts to score")
    args = parser.parse_args(argv)
    verdicts: dict[str, str] = json.loads(args.triage.read_text()) if args.triage else {}
    found: dict[str, list[Finding]] = {}
    here = Path.cwd()
    os.chdir(args.corpus)  # finding paths start with the project's name
    try:
        for root in projects(Path("."), args.project):
            found[root.name] = audit([root.name]).findings
    finally:
        os.chdir(here)
    if verdicts:
        print(score(found, verdicts))
    else:
        for project, findings in found.items():
            print(f"## {project} ({len(findings)} findings)\n")
            for finding in findings:
                print(listing(args.corpus, finding))
    return 0


def listing(corpus: Path, finding: Finding) -> str:
    """Render one finding with the lines around it, ready for a verdict."""
    lines = (corpus / finding.path).read_text(errors="replace").splitlines()
    start = max(finding.line - 1 - _CONTEXT, 0)
    shown = [
        f"{'>' if n == finding.line else ' '} {n:5} {lines[n - 1]}"
        for n in range(start + 1, min(finding.line + _CONTEXT, len(lines)) + 1)
    ]
    body = "\n".join(shown)
    return f"`{triage_key(finding)}` {finding.message}\n```text\n{body}\n```\n"


def triage_key(finding: Finding) -> str:
    """Return the key a triage file uses for a finding."""
    return f"{finding.path}:{finding.line}:{finding.code}"


def score(found: dict[str, list[Finding]], verdicts: dict[str, str]) -> str:
    """Render findings / true / false per project and precision per rule."""
    per_project: defaultdict[str, Counter[str]] = defaultdict(Counter)
    per_rule: defaultdict[str, Counter[str]] = defaultdict(Counter)
    untriaged = []
    for project, findings in found.items():
        per_project[project]["findings"] += 0
        for finding in findings:
            verdict = verdicts.get(triage_key(finding))
            if verdict not in ("TP", "FP"):
                untriaged.append(triage_key(finding))
                continue
            for counts in (per_project[project], per_rule[finding.code]):
                counts["findings"] += 1
                counts[verdict] += 1
    rows = ["| project | findings | true | false |", "|---|---:|---:|---:|"]
    rows += [f"| {p} | {c['findings']} | {c['TP']} | {c['FP']} |" for p, c in per_project.items()]
    rows += ["", "| rule | findings | true | false | precision |", "|---|---:|---:|---:|---:|"]
    total: Counter[str] = Counter()
    for code, counts in sorted(per_rule.items()):
        total.update(counts)
        rows.append(_rule_row(code, counts))
    rows.append(_rule_row("**all**", total))
    if untriaged:
        rows += ["", "Untriaged:", *(f"- {key}" for key in untriaged)]
    return "\n".join(rows)


def _rule_row(code: str, counts: Counter[str]) -> str:
    n = counts["findings"]
    precision = f"{counts['TP'] / n:.2f}" if n else "-"
    return f"| {code} | {n} | {counts['TP']} | {counts['FP']} | {precision} |"


if __name__ == "__main__":
    raise SystemExit(main())
