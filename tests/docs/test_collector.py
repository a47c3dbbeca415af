"""The docs collector itself: markers, top-level await, console commands and wildcards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ._markdown import MarkerError, output_matches, parse
from ._runner import DocCommandError, run_page

FENCE = "```"


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text.replace("'''", FENCE))
    return path


def test_blocks_are_read_in_order_with_their_line_numbers(tmp_path: Path) -> None:
    found = parse(page(tmp_path, "# T\n\n'''python\nx = 1\n'''\n\n'''pycon\n>>> x\n'''\n"))
    assert [(b.language, b.line, b.text) for b in found.blocks] == [("python", 4, "x = 1\n")]


def test_the_skip_marker_skips_only_the_next_block(tmp_path: Path) -> None:
    text = "<!-- docs: skip -->\n\n'''python\nraise SystemExit\n'''\n'''python\ny = 2\n'''\n"
    assert [b.skip for b in parse(page(tmp_path, text)).blocks] == [True, False]


def test_a_paragraph_between_marker_and_block_cancels_the_skip(tmp_path: Path) -> None:
    text = "<!-- docs: skip -->\nSome prose.\n'''python\ny = 2\n'''\n"
    assert [b.skip for b in parse(page(tmp_path, text)).blocks] == [False]


def test_the_backends_marker_applies_to_the_page(tmp_path: Path) -> None:
    text = "'''python\nx = 1\n'''\n<!-- docs: backends=sqlite, postgresql -->\n"
    assert parse(page(tmp_path, text)).backends == ("sqlite", "postgresql")


@pytest.mark.parametrize("marker", ["backends=oracle", "skipp", "backends="])
def test_an_unknown_marker_is_an_error(tmp_path: Path, marker: str) -> None:
    with pytest.raises(MarkerError, match=r"page\.md:1: unknown marker"):
        parse(page(tmp_path, f"<!-- docs: {marker} -->\n"))


def test_blocks_share_a_namespace_and_may_await_at_top_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "'''python\nimport asyncio\nasync def two():\n    return 2\n'''\n"
        "'''python\nvalue = await two()\n'''\n'''python\n"
        "(tmp / 'out.txt').write_text(str(value + asyncio.run(two())))\n'''\n"
    )
    parsed = parse(page(tmp_path, text))
    monkeypatch.setitem(sys.modules["builtins"].__dict__, "tmp", tmp_path)
    run_page(parsed, tmp_path)
    assert (tmp_path / "out.txt").read_text() == "4"


def test_a_failing_block_points_at_the_page_line(tmp_path: Path) -> None:
    parsed = parse(page(tmp_path, "text\n'''python\nx = 1\n1 / 0\n'''\n"))
    with pytest.raises(ZeroDivisionError) as info:
        run_page(parsed, tmp_path)
    assert info.traceback[-1].path == tmp_path / "page.md"
    assert info.traceback[-1].lineno + 1 == 4


def test_console_commands_run_and_their_output_is_checked(tmp_path: Path) -> None:
    good = "'''console\n$ pip install nothing\n$ sqlops --version\nsqlops, version ...\n'''\n"
    run_page(parse(page(tmp_path, good)), tmp_path)
    bad = "'''console\n$ sqlops --version\nsqlops 99\n'''\n"
    with pytest.raises(DocCommandError, match="shown:\nsqlops 99"):
        run_page(parse(page(tmp_path, bad)), tmp_path)


def test_a_command_without_shown_output_must_succeed(tmp_path: Path) -> None:
    bad = "'''console\n$ sqlops no-such-command\n'''\n"
    with pytest.raises(DocCommandError, match="exit status 2"):
        run_page(parse(page(tmp_path, bad)), tmp_path)


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (["a", "b"], ["a", "b", ""], True),
        (["a", "..."], ["a", "b", "c"], True),
        (["...", "c"], ["a", "b", "c"], True),
        (["a", "...", "c"], ["a", "c"], True),
        (["took ... ms"], ["took 3.2 ms"], True),
        (["a"], ["a", "b"], False),
        (["took ... ms"], ["took 3.2 s"], False),
    ],
)
def test_output_wildcards(expected: list[str], actual: list[str], matches: bool) -> None:
    assert output_matches(expected, actual) is matches
