"""Real template history for `copier update` tests: release 0.1.0 and the working tree as 0.2.0.

`TemplateHistory.build()` makes a git repository in a temporary directory with two tagged commits:

- `0.1.0`: the template files (`TEMPLATE_PARTS`) of the release commit, extracted from this
  repository's history with `git archive` (by its commit, which every full clone of main holds,
  tags or not; a shallow clone fails with a message saying how to fetch it, never a skip);
- `0.2.0`: the same parts from the working tree (what the next release ships).

Tests clone it when they need a further, synthesized release on top. Services are rendered,
committed, edited and updated with the same Copier API the CLI uses. `release_target()` is the
release they update to; `run_script()` and `copier_cli()` run a service's own wrapper scripts and
Copier's command line. The answer sets and a team's edits are update_edits.py's.
"""

from __future__ import annotations

import io
import os
import re
import runpy
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import copier_yml
import yaml
from rendering import BIN, ROOT

TEMPLATE_PARTS = ("template", "copier.yml", "includes", "hooks")
OLD_RELEASE = "0.1.0"
# The commit the release tag points at. A clone of the default branch may come without the
# repository's tags, but it always holds this commit (an ancestor of main): the tests read it.
OLD_RELEASE_COMMIT = "8180435bdeaabd1e3e18f2c2335c2928997de48d"
NEW_RELEASE = "0.2.0"
IGNORED_DIRS = frozenset({".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache"})
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|=======|>>>>>>>)( |$)")
UNMERGED_STATUSES = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in `cwd`; fail with its output."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"`git {' '.join(args)}` in {cwd} exited {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--allow-empty", "--no-verify", "--message", message)


def hermetic_git_env(home: Path) -> dict[str, str]:
    """The same git for every run: a known identity, no user or system configuration."""
    config = home / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n")
    env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "Template Tests"
        env[f"GIT_{role}_EMAIL"] = "template-tests@example.com"
    return env


def release_files(ref: str) -> bytes:
    """The template parts of `ref` in this repository's history, as a tar archive."""
    present = [
        part
        for part in TEMPLATE_PARTS
        if subprocess.run(
            ["git", "cat-file", "-e", f"{ref}:{part}"], cwd=ROOT, capture_output=True, check=False
        ).returncode
        == 0
    ]
    result = subprocess.run(
        ["git", "archive", "--format=tar", ref, *present],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0 or not present:
        raise AssertionError(
            f"Release commit {ref} is not in this clone's history ({ROOT}), and the update tests "
            f"render services from it. A shallow checkout lacks it: `git fetch --unshallow` (CI: "
            f"`fetch-depth: 0`).\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def copy_working_tree(destination: Path) -> None:
    for part in TEMPLATE_PARTS:
        target, source = destination / part, ROOT / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)


@dataclass
class TemplateHistory:
    """A template repository with releases as tags."""

    path: Path

    @classmethod
    def build(cls, path: Path) -> TemplateHistory:
        path.mkdir(parents=True)
        git(path, "init", "--quiet")
        with tarfile.open(fileobj=io.BytesIO(release_files(OLD_RELEASE_COMMIT))) as archive:
            archive.extractall(path, filter="tar")
        history = cls(path)
        history.release(OLD_RELEASE, "The template as released")
        copy_working_tree(path)
        history.release(NEW_RELEASE, "The template of the working tree")
        return history

    def clone(self, path: Path) -> TemplateHistory:
        git(path.parent, "clone", "--quiet", str(self.path), str(path))
        return TemplateHistory(path)

    def release(self, tag: str, message: str) -> None:
        commit_all(self.path, message)
        git(self.path, "tag", tag)

    def render(self, dst: Path, answers: Mapping[str, Any], vcs_ref: str, **kwargs: Any) -> Path:
        copier.run_copy(
            str(self.path),
            str(dst),
            data={"project_name": "Orders Service", **answers},
            defaults=True,
            vcs_ref=vcs_ref,
            quiet=True,
            unsafe=False,
            **kwargs,
        )
        return dst

    def generate(self, dst: Path, answers: Mapping[str, Any], vcs_ref: str) -> Path:
        """A service rendered at `vcs_ref` and committed, as a team starts."""
        self.render(dst, answers, vcs_ref)
        git(dst, "init", "--quiet")
        commit_all(dst, f"Generate from copier-fastapi-service {vcs_ref}")
        return dst


def update(project: Path, vcs_ref: str, *, trust: bool = True, **kwargs: Any) -> None:
    """`copier update --defaults --vcs-ref REF [--trust]`, as the docs and the CI job run it."""
    copier.run_update(
        str(project),
        defaults=True,
        overwrite=True,
        unsafe=trust,
        vcs_ref=vcs_ref,
        quiet=True,
        **kwargs,
    )


def answers_of(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert isinstance(data, dict)
    return data


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (but git's and tools' directories) with its content."""
    files = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(name for name in dirs if name not in IGNORED_DIRS)
        for name in names:
            path = Path(directory) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def tree_difference(actual: Path, expected: Path, ignore: Iterable[str] = ()) -> list[str]:
    """What differs between two trees: missing, unexpected and changed files (with a diff)."""
    skip = set(ignore)
    got, want = tree(actual), tree(expected)
    problems = [f"missing: {name}" for name in sorted(want.keys() - got.keys() - skip)]
    problems += [f"unexpected: {name}" for name in sorted(got.keys() - want.keys() - skip)]
    for name in sorted((got.keys() & want.keys()) - skip):
        if got[name] != want[name]:
            diff = subprocess.run(
                ["git", "diff", "--no-index", "--", str(expected / name), str(actual / name)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            problems.append(f"changed: {name}\n{diff}")
    return problems


def conflicts(project: Path) -> list[str]:
    """Every sign of an unfinished merge: unmerged paths, `.rej` files and conflict markers."""
    problems = []
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    for line in status.splitlines():
        if line[:2] in UNMERGED_STATUSES:
            problems.append(f"unmerged ({line[:2]}): {line[3:]}")
    for name, content in sorted(tree(project).items()):
        if name.endswith(".rej"):
            problems.append(f"rejected hunks: {name}")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if CONFLICT_MARKER.match(line):
                problems.append(f"conflict marker: {name}:{number}: {line}")
    return problems


# --- the release services update to ---------------------------------------------------------------


# 0.2.0's new questions (tracing, metrics, sentry) come from other branches. Until they are
# merged, the tests synthesize them (a file each that exists when the feature is on) in a 0.2.1
# on top of 0.2.0, so that the pins of hooks/migrate.py are exercised now; once merged, the
# real questions are used and nothing is synthesized.
SYNTHESIZED_QUESTIONS = {
    "tracing": (
        "tracing:\n  type: str\n  choices: [none, jaeger, tempo, cloud_trace, datadog]\n"
        "  default: \"{{ 'cloud_trace' if deploy_target == 'cloud_run' else 'jaeger' }}\"\n",
        "{% if tracing != 'none' %}TRACING.md{% endif %}.jinja",
        "Traces go to {{ tracing }}.\n",
    ),
    "metrics": (
        "metrics:\n  type: bool\n  default: true\n",
        "{% if metrics %}METRICS.md{% endif %}",
        "Prometheus metrics at /metrics.\n",
    ),
    "sentry": (
        "sentry:\n  type: bool\n  default: false\n",
        "{% if sentry %}SENTRY.md{% endif %}",
        "Errors go to Sentry.\n",
    ),
}


@dataclass(frozen=True)
class Target:
    """The release services update to, and the answers its migration pins for old services."""

    history: TemplateHistory
    release: str
    pins: dict[str, Any]

    def fresh(self, dst: Path, answer_set: dict[str, Any], **extra: Any) -> Path:
        """What a new service of this release looks like with the answers old services keep."""
        return self.history.render(dst, {**answer_set, **self.pins, **extra}, self.release)


def release_target(history: TemplateHistory, workdir: Path) -> Target:
    """The release of `history` services update to, with the pins of its migration (0.2.0, or a
    0.2.1 with the questions the pins name synthesized, cloned into `workdir`)."""
    hook = runpy.run_path(str(history.path / "hooks" / "migrate.py"))
    pins = {key: yaml.safe_load(value) for key, value in hook["PINS"][NEW_RELEASE].items()}
    entries = copier_yml.load(history.path / "copier.yml")
    missing = [name for name in pins if name not in entries]
    if not missing:
        return Target(history, NEW_RELEASE, pins)
    synthesized = history.clone(workdir / "template")
    config = synthesized.path / "copier.yml"
    config.write_text(config.read_text() + "".join(SYNTHESIZED_QUESTIONS[n][0] for n in missing))
    for name in missing:
        _, path, text = SYNTHESIZED_QUESTIONS[name]
        (synthesized.path / "template" / path).write_text(text)
    synthesized.release("0.2.1", "New questions whose defaults turn features on")
    return Target(synthesized, "0.2.1", pins)


# --- a service's own scripts and Copier's command line --------------------------------------------


def adopt_wrapper(project: Path) -> None:
    """A service generated before 0.2.0 has no wrapper scripts: the team copies 0.2.0's."""
    shutil.copytree(ROOT / "template" / "scripts", project / "scripts")
    commit_all(project, "Add the template-update wrapper")


def run_script(project: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / "scripts" / script), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "COPIER": str(BIN / "copier")},
    )


def copier_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "copier"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
