"""AGENTS.md stays true to the code: each of its Python examples imports, type-checks with the
service's own mypy settings (strict) and passes ruff, against the code as it is now."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api as mypy

ROOT = Path(__file__).resolve().parent.parent
FENCED = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def examples() -> list[str]:
    return FENCED.findall((ROOT / "AGENTS.md").read_text())


@pytest.fixture
def written(tmp_path: Path) -> list[Path]:
    """Every example as a module of its own."""
    paths = []
    for number, code in enumerate(examples(), start=1):
        path = tmp_path / f"agents_example_{number}.py"
        path.write_text(code)
        paths.append(path)
    return paths


def test_agents_md_shows_code(written: list[Path]) -> None:
    assert len(written) >= 2, "AGENTS.md lost its examples"


def test_the_examples_type_check(written: list[Path]) -> None:
    config = str(ROOT / "pyproject.toml")
    out, err, status = mypy.run(["--config-file", config, *map(str, written)])
    assert status == 0, out + err


def test_the_examples_pass_ruff(written: list[Path]) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff), "check", "--config", str(ROOT / "pyproject.toml"), *map(str, written)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_examples_import(written: list[Path]) -> None:
    for path in written:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
