"""The HTTP harness (``python -m benchmarks.http``) runs end to end in its quickest mode.

Needs PostgreSQL, uvicorn and wrk; each missing one is a visible skip. The figures are
not checked, only that every implementation and endpoint was measured without an error.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import benchmarks.http as harness
from benchmarks.http_load import parse

IMPLS = ("sqlops", "sqlalchemy", "asyncpg")
CELLS = {(impl, endpoint) for impl in IMPLS for endpoint in ("get", "patch")}


@pytest.mark.postgresql
@pytest.mark.slow
def test_quick_run_measures_every_implementation_and_endpoint(
    servers: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("uvicorn") is None:
        pytest.skip("uvicorn is not installed (pip install uvicorn)")
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not on PATH (apt-get install wrk)")
    server = servers.url("postgresql").render_as_string(hide_password=False)
    out = tmp_path / "http.json"

    status = harness.main(["--quick", "--url", server, "--json", str(out)])

    captured = capsys.readouterr()
    assert status == 0, captured.err
    run = json.loads(out.read_text())
    assert {(row["impl"], row["endpoint"]) for row in run["summary"]} == CELLS
    assert all(s["errors"] == 0 and s["requests"] > 0 for s in run["samples"])
    assert all(row["server_cpu_us"] > 0 for row in run["summary"])
    for impl, endpoint in CELLS:
        assert f"| {impl} | {endpoint.upper()} |" in captured.out


def test_a_missing_load_generator_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)

    assert harness.main(["--quick"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "benchmarks.http needs wrk on PATH: apt-get install wrk (or brew install wrk)"
    ]


def test_wrk_results_are_read_from_the_done_line() -> None:
    line = (
        'WRK_JSON {"requests": 500, "duration_us": 2000000, "connect": 0, "read": 0, '
        '"write": 0, "status": 3, "timeout": 0, "p50_us": 1500, "p90_us": 2500, '
        '"p99_us": 9000, "max_us": 12000}'
    )

    result = parse(f"Running 2s test\n{line}\n", loadgen_cpu_s=0.5)

    assert (result.rps, result.p50_ms, result.p99_ms, result.error_count) == (250, 1.5, 9, 3)
