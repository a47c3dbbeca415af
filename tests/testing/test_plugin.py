"""The pytest plugin, end to end: a sample user project run by pytest in a subprocess.

The sample (tests/testing/sample/) runs under pytest-asyncio with per-test loops, under
pytest-asyncio with one session loop, and under anyio's plugin, on SQLite (the default)
and on real servers (``--sqlops-url``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

pytest_plugins = ["pytester"]

SAMPLE = Path(__file__).parent / "sample"
TEST_FILE = "test_sample.py"

# One ini per way of running async tests.
VARIANTS = {
    # pytest-asyncio's defaults: a new event loop for every test and every fixture.
    "asyncio-function-loop": (
        "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
        [],
    ),
    # One loop for the whole run; fixture loops left at "function" on purpose: the kit
    # must still run its fixtures in the test's loop.
    "asyncio-session-loop": (
        "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "asyncio_default_test_loop_scope = session\n",
        [],
    ),
    # anyio's plugin alone (pytest-asyncio disabled), every async test picked up by anyio.
    "anyio": ("anyio_mode = auto\n", ["-p", "no:asyncio"]),
}
CASES = [
    pytest.param(variant, backend, marks=getattr(pytest.mark, backend))
    for variant in VARIANTS
    for backend in ("sqlite", "postgresql", "mysql")
    if backend != "mysql" or variant == "asyncio-function-loop"
]


def make_project(pytester: pytest.Pytester, ini: str) -> None:
    """Copy the sample project in, with ``ini`` as its pytest configuration."""
    for source, target in (
        ("sample_models.py", "models.py"),
        ("sample_conftest.py", "conftest.py"),
        ("sample_tests.py", TEST_FILE),
    ):
        shutil.copyfile(SAMPLE / source, pytester.path / target)
    pytester.makeini(f"[pytest]\nfilterwarnings = error\n{ini}")


@pytest.fixture
def url_args(db_backend: str, request: pytest.FixtureRequest) -> list[str]:
    """``--sqlops-url`` for a server backend (skipped when unreachable); SQLite: default.

    Requested before ``pytester``, whose teardown unloads modules imported after it was
    set up: the drivers must be imported (by the first connection) before that.
    """
    if db_backend == "sqlite":
        return []
    server: URL | str = request.getfixturevalue("servers").url(db_backend)
    rendered = server.render_as_string(hide_password=False) if isinstance(server, URL) else server
    return [f"--sqlops-url={rendered}"]


@pytest.mark.parametrize(("variant", "db_backend"), CASES)
def test_sample_project(
    url_args: list[str],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
) -> None:
    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    ini, args = VARIANTS[variant]
    make_project(pytester, ini)
    result = pytester.runpytest_subprocess(*args, *url_args, "-p", "no:cacheprovider")
    assert_sample_outcome(result)


def assert_sample_outcome(result: pytest.RunResult) -> None:
    """The sample's 9 passing tests passed; its 3 broken ones failed, saying the right things."""
    outcomes = result.parseoutcomes()
    failed = {
        line.split("::")[1].split(" ")[0]
        for line in result.outlines
        if line.startswith(("FAILED", "ERROR")) and "::" in line
    }
    expected = {"test_over_the_query_budget", "test_n_plus_one_loop", "test_leaked_session"}
    assert failed == expected, result.stdout.str()
    assert (outcomes.get("failed"), outcomes.get("errors")) == (2, 1), result.stdout.str()
    assert outcomes.get("passed") == 9, result.stdout.str()
    output = result.stdout.str()
    # assert_max_queries lists both statements it saw.
    assert "expected at most 1 queries, 2 were sent:" in output
    assert "WHERE authors.name = " in output and "WHERE books.title = " in output
    # The N+1 detector names the relationship, the line and the fix.
    assert "N+1 queries: Author.books was lazy-loaded separately for 2 Author rows" in output
    assert "at test_sample.py:" in output and "load=['books']" in output
    # The leak report says where the session was opened.
    assert "1 session(s) of Database(" in output and "never closed" in output
    assert "in test_leaked_session" in output


@pytest.mark.parametrize(
    ("db_backend", "setting"),
    [
        pytest.param("sqlite", "migrations", marks=pytest.mark.sqlite),
        pytest.param("postgresql", "pyproject.toml", marks=pytest.mark.postgresql),
    ],
)
def test_schema_from_alembic_migrations(
    url_args: list[str], pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """``sqlops_alembic`` builds the schema by migrations (a directory, or [tool.sqlops])."""
    from sqlops import migrations

    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    ini, args = VARIANTS["asyncio-function-loop"]
    make_project(pytester, f"{ini}sqlops_alembic = {setting}\n")
    (pytester.path / "conftest.py").write_text("")  # no sqlops_metadata: only migrations
    pytester.makepyprojecttoml('[tool.sqlops]\nmigrations = "migrations"\n')
    directory = migrations.init(pytester.path)
    shutil.copyfile(SAMPLE / "sample_revision.py", directory / "versions" / "0001_books.py")
    assert_sample_outcome(pytester.runpytest_subprocess(*args, *url_args, "-p", "no:cacheprovider"))


def test_inert_until_used_and_clear_when_the_server_is_down(pytester: pytest.Pytester) -> None:
    """No connection unless a test asks for a fixture; then one error naming the server."""
    pytester.makepyfile(
        test_two="""
        def test_without_sqlops():
            pass

        def test_with_sqlops(sqlops_db):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--sqlops-url=postgresql://nobody@127.0.0.1:9/nowhere", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*DatabaseUnavailableError: cannot create database sqlops_test_* on "
            "postgresql+asyncpg://nobody@127.0.0.1:9/postgres: ConnectionRefusedError*"
        ]
    )
