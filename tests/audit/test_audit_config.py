"""``[tool.sqlops.audit]`` in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlops.audit._config import Config, ConfigError, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_section(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert load_config(tmp_path) == Config()


def test_reads_the_nearest_section(tmp_path: Path) -> None:
    root = write(
        tmp_path / "pyproject.toml",
        "[tool.sqlops.audit]\nselect = ['SQA001']\nignore = ['SQA005']\nexclude = ['migrations']\n",
    )
    write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'pkg'\n")
    target = write(tmp_path / "pkg" / "src" / "mod.py", "")
    config = load_config(target)
    assert config.select == ("SQA001",)
    assert config.ignore == ("SQA005",)
    assert config.exclude == ("migrations",)
    assert config.source == root
    assert config.root == tmp_path


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.sqlops.audit]\nselct = ['SQA001']\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(tmp_path)


def test_wrong_type_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.sqlops.audit]\nselect = 'SQA001'\n")
    with pytest.raises(ConfigError, match="list of strings"):
        load_config(tmp_path)


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.sqlops.audit\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
