"""Apply one mutation at a time to each project of a corpus and report recall per rule."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks.audit_recall._corpus import Corpus, load, projects
from benchmarks.audit_recall._mutations import Mutation, mutations
from sqlops.audit._engine import select_rules

Tally = dict[tuple[str, str], Counter[str]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness and print one markdown table (and, optionally, the misses)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_recall")
    parser.add_argument("corpus", type=Path, help="a directory with one sub-directory per project")
    parser.add_argument("--project", action="append", default=[], help="only these projects")
    parser.add_argument(
        "--misses", action="store_true", help="list required mutations missed and others found"
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="try only every N-th 'remove await' mutation (large corpora)",
    )
    args = parser.parse_args(argv)
    tally: Tally = defaultdict(Counter)
    misses: list[Mutation] = []
    started = time.perf_counter()
    for root in projects(args.corpus, args.project):
        corpus = load(root)
        run(corpus, tally, misses, args.every)
        print(f"{corpus.name}: {len(corpus.files)} files, {corpus.lines} lines", file=sys.stderr)
    print(table(tally))
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.misses:
        for miss in misses:
            what = "missed" if miss.qualified else "found (not required)"
            print(f"{what} {miss.kind} ({miss.code}) at {miss.path}:{miss.line}")
    return 0


def run(corpus: Corpus, tally: Tally, misses: list[Mutation], every: int = 1) -> None:
    """Try every mutation of one project and count what its rule reports."""
    baseline: dict[tuple[str, str], int] = {}
    awaits = 0
    for mutation in mutations(corpus):
        if mutation.kind == "remove await":
            awaits += 1
            if awaits % every:
                continue
        rules = select_rules([mutation.code])
        slot = (mutation.path, mutation.code)
        if slot not in baseline:
            baseline[slot] = len(corpus.findings(mutation.path, rules))
        found = corpus.check_text(mutation.path, mutation.text, rules)
        if found is None:
            continue
        detected = len(found) > baseline[slot]
        counts = tally[(corpus.name, mutation.kind)]
        group = "qualified" if mutation.qualified else "other"
        counts[group] += 1
        counts[f"{group} found"] += detected
        if mutation.qualified != detected:
            misses.append(mutation)


def table(tally: Tally) -> str:
    """Render recall per project and mutation, with a total row per mutation."""
    rows = ["| project | mutation | rule | must be found | found | recall | others found |"]
    rows.append("|---|---|---|---:|---:|---:|---|")
    totals: Tally = defaultdict(Counter)
    for (project, kind), counts in sorted(tally.items()):
        rows.append(_row(project, kind, counts))
        totals[("**all**", kind)].update(counts)
    rows.extend(_row(p, k, c) for (p, k), c in sorted(totals.items()))
    return "\n".join(rows)


_CODES = {
    "remove await": "SQA001",
    "remove .unique()": "SQA010",
    "selectinload → joinedload": "SQA010",
    "remove eager load": "SQA014",
    "drop rollback": "SQA009",
}


def _row(project: str, kind: str, counts: Counter[str]) -> str:
    must, found = counts["qualified"], counts["qualified found"]
    recall = f"{100 * found / must:.1f} %" if must else "-"
    others = f"{counts['other found']} of {counts['other']}"
    return f"| {project} | {kind} | {_CODES[kind]} | {must} | {found} | {recall} | {others} |"


if __name__ == "__main__":
    raise SystemExit(main())
