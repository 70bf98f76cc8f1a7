"""Render the template the way users do, and explain failures with the answers and the file.

Every test renders through `render()`: copier's own `run_copy` on this repository's absolute path
with `vcs_ref="HEAD"` (a local git template otherwise renders its newest tag; with HEAD, copier
also includes uncommitted changes, so the tests see the working tree).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import yaml

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"
PYTHONS = {
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python3",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python3",
}
BIN = Path(sys.executable).parent  # the validators and uv installed in the template's .venv
PROJECT_NAME = "Orders Service"  # what render() answers when a test gives no project_name


def questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml (settings, the `_` keys, left out)."""
    data = yaml.safe_load(COPIER_YML.read_text())
    return {name: spec for name, spec in data.items() if not name.startswith("_")}


def choice_values(spec: Mapping[str, Any]) -> list[str]:
    """The answer values of a choice question (copier accepts a list or a label -> value map)."""
    choices = spec.get("choices")
    if choices is None:
        return []
    if isinstance(choices, Mapping):
        return [str(value) for value in choices.values()]
    return [str(value) for value in choices]


def choice_questions() -> dict[str, list[str]]:
    """Every asked choice question with its values, in copier.yml order."""
    return {
        name: choice_values(spec)
        for name, spec in questions().items()
        if spec.get("choices") and spec.get("when") is not False
    }


@dataclass
class Rendered:
    """A rendered project and the answers that produced it."""

    path: Path
    answers: dict[str, Any]
    files: list[str] = field(default_factory=list)

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text()

    def explain(self, relative: str | None = None, output: str = "") -> str:
        """A failure message: the answers, the tool output and the offending rendered file."""
        lines = ["answers: " + ", ".join(f"{k}={v!r}" for k, v in sorted(self.answers.items()))]
        if output:
            lines += ["--- output ---", output.rstrip()]
        if relative is not None and (self.path / relative).is_file():
            lines.append(f"--- {relative} ---")
            lines += [
                f"{n:4} | {line}" for n, line in enumerate(self.read(relative).splitlines(), 1)
            ]
        return "\n".join(lines)

    def run(
        self,
        *argv: str | Path,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
        about: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project; on failure, raise with the answers and the output."""
        result = subprocess.run(
            [str(arg) for arg in argv],
            cwd=self.path,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(map(str, argv))}` exited {result.returncode}\n"
                + self.explain(about, result.stdout + result.stderr)
            )
        return result

    def uv_env(self) -> dict[str, str]:
        """Environment for `uv` in this project: its own Python, never the template's, and
        none of our pytest's settings (xdist sets PYTEST_* for its workers) in the project's."""
        python = PYTHONS[str(self.answers.get("python_version", "3.13"))]
        return {
            "UV_PYTHON": python,
            "VIRTUAL_ENV": "",
            "UV_NO_PROGRESS": "1",
            "PYTEST_ADDOPTS": "",
            "PYTEST_PLUGINS": "",
        }

    def uv(self, *argv: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run `uv` (the template's own, not a pyenv shim) with this project's Python."""
        env = {**self.uv_env(), **kwargs.pop("env", {})}
        return self.run(BIN / "uv", *argv, env=env, **kwargs)

    def install(self) -> None:
        """Lock and install the project as its README says (`uv lock`, `uv sync --locked`)."""
        self.uv("lock", about="pyproject.toml")
        self.uv("sync", "--locked", about="pyproject.toml")

    def own_suite(
        self, *, env: Mapping[str, str], about: str, junit: Path | None = None, workers: int = 2
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's own test suite against the real services `env` points at, with
        pytest-xdist; with `junit`, also write a JUnit report there (to see what ran)."""
        report = [f"--junitxml={junit}", "-o", "junit_family=legacy"] if junit else []
        argv = ["run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers)]
        return self.uv(*argv, *report, env=dict(env), about=about)


def render(dst: Path, answers: Mapping[str, Any] | None = None, **kwargs: Any) -> Rendered:
    """Render the template into `dst` with `answers` (defaults for the rest), as a user would."""
    data = {"project_name": PROJECT_NAME, **(answers or {})}
    worker = copier.run_copy(
        str(ROOT),
        str(dst),
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
        **kwargs,
    )
    rendered_answers = dict(worker.answers.combined)
    files = sorted(str(path.relative_to(dst)) for path in dst.rglob("*") if path.is_file())
    # Only what copier asked (and stores): computed flags and questions whose `when` was false
    # are hidden.
    hidden = set(worker.answers.hidden)
    keep = {
        name: rendered_answers[name]
        for name, spec in questions().items()
        if name in rendered_answers and name not in hidden and spec.get("when") is not False
    }
    return Rendered(path=dst, answers=keep, files=files)


def pairs_of(rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    """Every (question, value, question, value) pair the rows render."""
    covered = set()
    for row in rows:
        items = sorted((k, str(v)) for k, v in row.items())
        for i, (q1, v1) in enumerate(items):
            for q2, v2 in items[i + 1 :]:
                covered.add((q1, v1, q2, v2))
    return covered
