"""The peer benchmark harness runs, and every implementation produces the same rows.

Correctness only, at tiny sizes: nothing here is timed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

import benchmarks.report as report
import benchmarks.workload as workload
from benchmarks.cli import main
from benchmarks.impl_core import CoreImpl
from benchmarks.impl_sqlops import SqlopsImpl, SqlopsInjectedImpl
from benchmarks.implementation import available
from benchmarks.results import Measurement, Run
from benchmarks.runner import Config, run
from benchmarks.target import provision

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
RAW = {"postgresql": "asyncpg", "sqlite": "aiosqlite", "mysql": "asyncmy"}
PEERS = {"core", "orm", "advanced-alchemy", "fastcrud", "sqlops", "sqlops-injected"}


@pytest.fixture(params=BACKENDS)
def bench_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_url(bench_backend: str, servers: Any) -> URL | str:
    """The backend's server (skips when unreachable); the harness makes its own database."""
    return "" if bench_backend == "sqlite" else servers.url(bench_backend)


def tiny(backend: str, server_url: URL | str, **options: Any) -> Config:
    config = Config(backends=(backend,), rounds=1, sizes=workload.TINY, warmup=False, **options)
    if backend == "mysql":
        config.mysql_url = server_url
    else:
        config.server_url = server_url
    return config


async def test_every_implementation_produces_the_same_rows(
    bench_backend: str, server_url: URL | str
) -> None:
    result = await run(tiny(bench_backend, server_url))

    classes = available(bench_backend)
    assert {cls.name for cls in classes} == PEERS | {RAW[bench_backend]}
    assert result.impls(bench_backend) == [cls.name for cls in classes]
    problems = [f"{m.impl}/{m.op}: {m.error or m.wrong}" for m in result.failures()]
    assert not problems
    assert all(m.ok and len(m.us_per_item) == 1 for m in result.measurements)
    for cls in classes:
        ran = {m.op for m in result.measurements if m.impl == cls.name}
        assert ran == set(workload.OPERATIONS) - cls.skips, cls.name
        assert all(op in result.notes[cls.name] for op in cls.skips)
    assert result.raw[bench_backend] == RAW[bench_backend]
    assert result.ratio(bench_backend, "sqlops", "get") is not None
    assert result.ratio(bench_backend, "sqlops-injected", "tx-update") is not None
    assert result.find(bench_backend, "sqlops", "tx-get") is None  # injected mode only
    stream = result.find(bench_backend, "sqlops", "stream")
    assert stream is not None and stream.items == workload.TINY.rows > workload.TINY.batch


@pytest.mark.mysql
async def test_a_mariadb_run_creates_and_drops_its_own_database(servers: Any) -> None:
    server = servers.url("mysql")
    async with provision("mysql", server) as target:
        name = target.url.database
        assert name and name != server.database
        assert name in await _databases(server)
    assert name not in await _databases(server)


async def _databases(server: URL) -> set[str]:
    engine = create_async_engine(server)
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.exec_driver_sql("SHOW DATABASES")}
    finally:
        await engine.dispose()


async def test_a_server_of_the_wrong_kind_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="mysql needs a mysql server URL, not a postgresql one"):
        async with provision("mysql", "postgresql://nobody@127.0.0.1:1/x"):
            pass  # pragma: no cover


class _WrongRows(CoreImpl):
    """Reads the right rows in the wrong order: the harness must notice."""

    name = "wrong-rows"

    async def get(self, ids: list[int]) -> list[Any]:
        return list(reversed(await super().get(ids)))

    async def tx_update(self, changes: list[tuple[int, str]]) -> None:
        await super().tx_update(changes[:-1])

    async def stream(self, batch: int) -> list[Any]:
        return (await super().stream(batch))[1:]


class _Raises(CoreImpl):
    name = "raises"

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("cannot upsert")


@pytest.mark.sqlite
async def test_a_wrong_or_failing_implementation_is_reported() -> None:
    result = await run(tiny("sqlite", "", classes=(CoreImpl, _WrongRows, _Raises)))

    wrong = result.find("sqlite", "wrong-rows", "get")
    assert wrong is not None and wrong.wrong and "result 0" in wrong.wrong
    unchanged = result.find("sqlite", "wrong-rows", "tx-update")
    assert unchanged is not None and unchanged.wrong and "updated-" in unchanged.wrong
    short = result.find("sqlite", "wrong-rows", "stream")
    assert short is not None and short.wrong == f"{workload.TINY.rows - 1} results, expected 300"
    failed = result.find("sqlite", "raises", "upsert")
    assert failed is not None and failed.error == "RuntimeError: cannot upsert"
    core = result.find("sqlite", "core", "get")
    assert core is not None and core.ok
    assert len(result.failures()) == 4


@pytest.mark.sqlite
async def test_a_skipped_operation_keeps_the_table_order() -> None:
    ops = ("stream", "tx-get")
    result = await run(tiny("sqlite", "", ops=ops, classes=(SqlopsImpl, SqlopsInjectedImpl)))

    assert result.impls("sqlite") == ["sqlops", "sqlops-injected"]
    assert result.ops() == ["tx-get", "stream"]
    assert result.find("sqlite", "sqlops", "tx-get") is None
    assert not result.failures()
    header, body = report.rows(result, "sqlite")
    assert header == ["implementation", "tx-get", "stream"]
    assert body[0][:2] == ["sqlops", "—"]


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
    changed = [row for row in workload.tx_update_expected(sizes) if row[2].startswith("updated-")]
    assert sorted(i for i, _, _ in changed) == sorted(workload.tx_update_ids(sizes))
    assert {op: sizes.items(op) for op in ("tx-get", "tx-update", "stream")} == {
        "tx-get": sizes.tx_gets,
        "tx-update": sizes.tx_updates,
        "stream": sizes.rows,
    }


def _fake_run(*backends: str) -> Run:
    measurements = []
    cells = [("asyncpg", 1.0), ("sqlops", 1.2), ("fastcrud", 3.0)]
    for backend, raw in (("postgresql", "asyncpg"), ("mysql", "asyncmy")):
        if backends and backend not in backends:
            continue
        for impl, base in [(raw, 1.0), *cells[1:]]:
            for op in workload.OPERATIONS:
                factor = 1.5 if (impl, op) == ("sqlops", "page") else base
                measurements.append(_measured(backend, impl, op, factor))
        measurements.append(_measured(backend, "core", "stream", 1.1))
    machine = {"nproc": 2, "cpu": "test", "python": "3", "load_before": [0.0]}
    raws = {"postgresql": "asyncpg", "mysql": "asyncmy"}
    return Run(machine, {"rounds": 3}, measurements, raws, {})


def _measured(backend: str, impl: str, op: str, factor: float) -> Measurement:
    m = Measurement(backend, impl, op, 10)
    m.us_per_item = [10.0 * factor, 12.0 * factor, 11.0 * factor]
    m.cpu_us_per_item = [5.0 * factor] * 3
    return m


def test_report_ratios_targets_and_markdown(tmp_path: Any) -> None:
    fake = _fake_run()
    assert fake.ratio("postgresql", "sqlops", "get") == pytest.approx(1.2)
    assert fake.ratio("mysql", "fastcrud", "tx-get") == pytest.approx(3.0)
    targets = {t["target"]: t["met"] for t in fake.targets("mysql")}
    assert targets["insert ≤ 1.3x raw"] and not targets["page ≤ 1.3x raw"]
    assert targets["tx-update ≤ 1.5x raw"] and targets["stream ≤ 2x raw"]
    assert targets["get faster than every peer (fastcrud)"]
    assert not targets["stream faster than every peer (core)"]
    assert fake.targets("mysql", "sqlops-injected") == []  # not measured

    out = io.StringIO()
    report.print_run(fake, out)
    assert "1.20x" in out.getvalue()
    markdown = report.markdown(fake)
    assert "| sqlops | 13.2 µs  1.20x  ±9%" in markdown
    header = "| implementation | insert | get | page+count | upsert | tx-get | tx-update | stream |"
    assert header in markdown
    assert "**sqlops targets on mysql (÷ asyncmy, same run)**" in markdown

    fake.save(tmp_path / "run.json")
    again = Run.load(tmp_path / "run.json")
    assert again.ratio("postgresql", "fastcrud", "upsert") == pytest.approx(3.0)
    assert again.ratio("mysql", "sqlops", "stream") == pytest.approx(1.2)


def test_cli_reports_a_saved_run_and_draws_the_chart(tmp_path: Any) -> None:
    _fake_run("postgresql").save(tmp_path / "run.json")  # 7 panels: drawing is slow
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
    for step in ("1 raw asyncpg", "3 the same fetch", "4 the same fetch on", "6 sqlops"):
        assert step in out
    assert main(["breakdown", "--help"]) == 0


@pytest.mark.postgresql
def test_lane_compares_both_modes(servers: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = servers.url("postgresql")
    url = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    args = ["lane", "--url", url, "--seconds", "0.2", "--runs", "1", "--tasks", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "    2 lane " in out and "    2 checkout (lane off) " in out
    assert main(["lane", "--help"]) == 0
