"""The peer benchmark harness runs, and every implementation produces the same rows.

Correctness only, at tiny sizes: nothing here is timed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy.engine import URL

import benchmarks.report as report
import benchmarks.workload as workload
from benchmarks.cli import main
from benchmarks.impl_core import CoreImpl
from benchmarks.implementation import available
from benchmarks.results import Measurement, Run
from benchmarks.runner import Config, run

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(params=BACKENDS)
def bench_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_url(bench_backend: str, servers: Any) -> URL | str:
    """The PostgreSQL server (skips when unreachable); the harness makes its own database."""
    return servers.url("postgresql") if bench_backend == "postgresql" else ""


def tiny(backend: str, server_url: URL | str, **options: Any) -> Config:
    return Config(
        backends=(backend,),
        rounds=1,
        sizes=workload.TINY,
        server_url=server_url,
        warmup=False,
        **options,
    )


async def test_every_implementation_produces_the_same_rows(
    bench_backend: str, server_url: URL | str
) -> None:
    result = await run(tiny(bench_backend, server_url))

    expected = {cls.name for cls in available(bench_backend)}
    assert {"core", "orm", "sqlops", "sqlops-injected"} <= expected
    assert set(result.impls(bench_backend)) == expected
    problems = [f"{m.impl}/{m.op}: {m.error or m.wrong}" for m in result.failures()]
    assert not problems
    assert all(m.ok and len(m.us_per_item) == 1 for m in result.measurements)
    assert result.raw[bench_backend] in {"asyncpg", "aiosqlite"}
    assert result.ratio(bench_backend, "sqlops", "get") is not None


class _WrongRows(CoreImpl):
    """Reads the right rows in the wrong order: the harness must notice."""

    name = "wrong-rows"

    async def get(self, ids: list[int]) -> list[Any]:
        return list(reversed(await super().get(ids)))


class _Raises(CoreImpl):
    name = "raises"

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("cannot upsert")


@pytest.mark.sqlite
async def test_a_wrong_or_failing_implementation_is_reported() -> None:
    result = await run(tiny("sqlite", "", classes=(CoreImpl, _WrongRows, _Raises)))

    wrong = result.find("sqlite", "wrong-rows", "get")
    assert wrong is not None and wrong.wrong and "result 0" in wrong.wrong
    failed = result.find("sqlite", "raises", "upsert")
    assert failed is not None and failed.error == "RuntimeError: cannot upsert"
    core = result.find("sqlite", "core", "get")
    assert core is not None and core.ok
    assert len(result.failures()) == 2


def test_workload_pages_cycle_through_the_matches() -> None:
    sizes = workload.TINY
    matches = workload.matching_ids(sizes)
    assert len(matches) == sizes.rows // 10
    expected = workload.page_expected(sizes)
    assert len(expected) == sizes.pages
    assert expected[0][0][0] == workload.seed_row(matches[0])
    assert all(total == len(matches) for _, total in expected)
    assert len(set(workload.get_ids(sizes))) == sizes.gets
    upserted = workload.upsert_expected(sizes)
    assert len(workload.upsert_seed(sizes)) == len(upserted) // 2


def _fake_run() -> Run:
    measurements = []
    for impl, base in (("asyncpg", 1.0), ("sqlops", 1.2), ("fastcrud", 3.0)):
        for op in workload.OPERATIONS:
            factor = 1.5 if (impl, op) == ("sqlops", "page") else base
            m = Measurement("postgresql", impl, op, 10)
            m.us_per_item = [10.0 * factor, 12.0 * factor, 11.0 * factor]
            m.cpu_us_per_item = [5.0 * factor] * 3
            measurements.append(m)
    machine = {"nproc": 2, "cpu": "test", "python": "3", "load_before": [0.0]}
    return Run(machine, {"rounds": 3}, measurements, {"postgresql": "asyncpg"}, {})


def test_report_ratios_targets_and_markdown(tmp_path: Any) -> None:
    fake = _fake_run()
    assert fake.ratio("postgresql", "sqlops", "get") == pytest.approx(1.2)
    targets = {t["target"]: t["met"] for t in fake.targets()}
    assert targets["insert ≤ 1.5x raw"] and not targets["page ≤ 1.3x raw"]
    assert targets["get faster than fastcrud"]

    out = io.StringIO()
    report.print_run(fake, out)
    assert "1.20x" in out.getvalue()
    assert "| sqlops | 13.2 µs  1.20x  ±9%" in report.markdown(fake)

    fake.save(tmp_path / "run.json")
    again = Run.load(tmp_path / "run.json")
    assert again.ratio("postgresql", "fastcrud", "upsert") == pytest.approx(3.0)


def test_cli_reports_a_saved_run_and_draws_the_chart(tmp_path: Any) -> None:
    _fake_run().save(tmp_path / "run.json")
    chart = tmp_path / "chart.png"
    status = main(["--from-json", str(tmp_path / "run.json"), "--chart", str(chart), "-q"])
    assert status == 0
    assert chart.stat().st_size > 10_000
    assert main(["--rounds", "0"]) == 2
    assert main(["--backend", "oracle"]) == 2
    assert main(["scale", "--help"]) == 0


@pytest.mark.postgresql
def test_breakdown_runs_every_step(servers: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = servers.url("postgresql")
    url = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    assert main(["breakdown", "--url", url, "--calls", "20", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for step in ("1 raw asyncpg", "3 the same fetch", "4 greenlet_spawn", "5 sqlops"):
        assert step in out
    assert main(["breakdown", "--help"]) == 0
