"""Render the template the way users do, and explain failures with the answers and the file.

Every test renders through `render()`: copier's own `run_copy` on this repository's absolute path
with `vcs_ref="HEAD"` (a local git template otherwise renders its newest tag; with HEAD, copier
also includes uncommitted changes, so the tests see the working tree).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import copier
from copier_yml import asked_questions

if TYPE_CHECKING:
    from copier._main import Worker  # run_copy's result; copier exports no public name for it

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the validators and uv installed in the template's .venv
PROJECT_NAME = "Orders Service"  # what render() answers when a test gives no project_name


def python_for(version: str) -> str:
    """The interpreter for a `python_version` answer (uv cannot download one here).

    `$CFS_PYTHON_3_13` names the one for 3.13 (and so on); else the newest pyenv build of that
    version (`3.13.<n>` under `pyenv root`). None found: the test that needs it fails, saying so.
    """
    variable = "CFS_PYTHON_" + version.replace(".", "_")
    if configured := os.environ.get(variable):
        return configured
    builds = {
        int(match[1]): path
        for path in (_pyenv_root() / "versions").glob(f"{version}.*/bin/python3")
        if (match := re.fullmatch(re.escape(version) + r"\.(\d+)", path.parent.parent.name))
    }
    if not builds:
        raise LookupError(f"no Python {version} under {_pyenv_root()}/versions: set {variable}")
    return str(builds[max(builds)])


@functools.cache
def _pyenv_root() -> Path:
    """`$PYENV_ROOT`, else what `pyenv root` says, else ~/.pyenv."""
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        said = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if said.returncode == 0 and said.stdout.strip():
            return Path(said.stdout.strip())
    return Path.home() / ".pyenv"


@dataclass
class Rendered:
    """A rendered project and the answers that produced it.

    A service the `rendered_service` fixture hands out also has its database (created on the
    machine's server, `database_name`) and its broker: their URLs are in every `uv` command's
    environment (`uv_env`). `timings` holds what preparing it took (render, uv lock, uv sync).
    """

    path: Path
    answers: dict[str, Any]
    files: list[str] = field(default_factory=list)
    database_url: str | None = None
    database_name: str | None = None
    broker_url: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The service's import package (the `package_name` answer)."""
        return str(self.answers["package_name"])

    @property
    def env_prefix(self) -> str:
        """The prefix of the service's settings variables: `ORDERS_SERVICE_`."""
        return self.package.upper() + "_"

    @property
    def package_dir(self) -> str:
        """Where the package's source is, relative to the project: `src/orders_service`."""
        return f"src/{self.package}"

    def settings(self, **values: str) -> dict[str, str]:
        """The service's settings as environment variables: its database and broker URLs (when it
        has them), then `values`, named without the prefix (`PORT="8001"` sets
        `ORDERS_SERVICE_PORT`; WEB_CONCURRENCY has no prefix: give it apart)."""
        urls = {"DATABASE_URL": self.database_url, "BROKER_URL": self.broker_url}
        named = {name: url for name, url in urls.items() if url} | values
        return {self.env_prefix + name: value for name, value in named.items()}

    def venv_bin(self, program: str = "python") -> Path:
        """A program of the project's virtual environment (its image's PATH puts it first)."""
        return self.path / ".venv" / "bin" / program

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
        """Environment for `uv` in this project: its own Python, never the template's, none of
        our pytest's settings (xdist sets PYTEST_* for its workers) in the project's, and its
        database and broker (`settings()`)."""
        return {
            "UV_PYTHON": python_for(str(self.answers.get("python_version", "3.13"))),
            "VIRTUAL_ENV": "",
            "UV_NO_PROGRESS": "1",
            "PYTEST_ADDOPTS": "",
            "PYTEST_PLUGINS": "",
            **self.settings(),
        }

    def uv(self, *argv: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run `uv` (the template's own, not a pyenv shim) with this project's Python."""
        env = {**self.uv_env(), **kwargs.pop("env", {})}
        return self.run(BIN / "uv", *argv, env=env, **kwargs)

    def install(self) -> None:
        """Lock and install the project as its README says (`uv lock`, `uv sync --locked`);
        `timings` gets how long each took."""
        for step in (("lock",), ("sync", "--locked")):
            started = time.monotonic()
            self.uv(*step, about="pyproject.toml")
            self.timings[f"uv {step[0]}"] = time.monotonic() - started

    def own_suite(
        self,
        *,
        about: str,
        env: Mapping[str, str] | None = None,
        junit: Path | None = None,
        workers: int | None = 2,
        paths: Sequence[str] = (),
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's own test suite (or only `paths` of it) against its database and
        broker, with `env` on top, in `workers` pytest-xdist processes (None: in one, without
        xdist); with `junit`, also write a JUnit report there (to see what ran)."""
        report = [f"--junitxml={junit}", "-o", "junit_family=legacy"] if junit else []
        xdist = ["-n", str(workers)] if workers is not None else []
        argv = ["run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", *xdist]
        return self.uv(*argv, *report, *paths, env=dict(env or {}), about=about, timeout=timeout)


def copy_template(
    dst: Path,
    answers: Mapping[str, Any] | None = None,
    *,
    vcs_ref: str = "HEAD",
    src: Path = ROOT,
    **kwargs: Any,
) -> Worker:
    """`copier copy --defaults --vcs-ref REF --data ...` of `src` into `dst`, without --trust:
    the answers every render of the tests and of scripts/render_diff.py gives (`PROJECT_NAME`
    unless `answers` names the project, defaults for the rest)."""
    return copier.run_copy(
        str(src),
        str(dst),
        data={"project_name": PROJECT_NAME, **(answers or {})},
        defaults=True,
        vcs_ref=vcs_ref,
        quiet=True,
        unsafe=False,
        **kwargs,
    )


def render(
    dst: Path, answers: Mapping[str, Any] | None = None, *, vcs_ref: str = "HEAD", **kwargs: Any
) -> Rendered:
    """Render the template into `dst` with `answers` (defaults for the rest), as a user would;
    `vcs_ref` renders another commit of this repository (the benchmark's before/after)."""
    worker = copy_template(dst, answers, vcs_ref=vcs_ref, **kwargs)
    rendered_answers = dict(worker.answers.combined)
    files = sorted(str(path.relative_to(dst)) for path in dst.rglob("*") if path.is_file())
    # Only what copier asked (and stores): computed flags and questions whose `when` was false
    # are hidden.
    hidden = set(worker.answers.hidden)
    keep = {
        name: rendered_answers[name]
        for name in asked_questions()
        if name in rendered_answers and name not in hidden
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
