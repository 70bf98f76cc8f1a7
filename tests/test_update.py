"""`copier update` keeps the team's edits and brings in the template's changes.

Each test builds a throwaway template repository from this one (its committed history plus the
working tree's `template/`, `copier.yml`, `includes/` and `hooks/`), tags it v0.1.0, renders a
project from that tag, commits it as a team would, edits it, changes the template, tags v0.2.0 and
runs `copier update` to v0.2.0.

`copier update` exits 0 even when it leaves conflicts behind, so every test inspects the project
with `conflicts()`: inline markers, unmerged paths and `.rej` files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest
import yaml
from rendering import BIN, ROOT

# What a template repository is made of; everything else (tests, docs) does not render.
TEMPLATE_PARTS = ("template", "copier.yml", "includes", "hooks")
PACKAGE = "orders_service"
SETTINGS = f"src/{PACKAGE}/core/settings.py"
HEALTH = f"src/{PACKAGE}/core/health.py"
TEMPLATE_SETTINGS = "template/src/{{ package_name }}/core/settings.py.jinja"
TEMPLATE_HEALTH = "template/src/{{ package_name }}/core/health.py"

CONFLICT_MARKER = re.compile(r"^(<<<<<<<|=======|>>>>>>>)( |$)")
UNMERGED_STATUSES = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})
SKIPPED_DIRS = frozenset({".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache"})
MAX_REQUESTS_DEFAULT = re.compile(r"(max_requests: int = Field\(\s*)([0-9_]+)")

USER_README_NOTE = "On call for this service: the #orders-oncall channel."
USER_MODULE = f"src/{PACKAGE}/orders.py"
USER_MODULE_TEXT = '''"""The team's own orders endpoints."""

from fastapi import APIRouter

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("")
async def list_orders() -> list[str]:
    """Every order (none yet)."""
    return []
'''
USER_MAX_REQUESTS = "5_000"
TEMPLATE_MAX_REQUESTS = "20_000"
TEMPLATE_HEALTH_LINE = "Template v0.2.0: probes answer from memory; none of them caches a result."
TEMPLATE_SETTINGS_LINE = "Template v0.2.0: every field is also listed in the README."
TEMPLATE_RUNBOOK = "docs/RUNBOOK.md"
TEMPLATE_RUNBOOK_TEXT = "# Runbook\n\nWhat to do when a probe fails.\n"


# --- helpers ------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; fail with its output."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`git {' '.join(args)}` in {cwd} exited {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--allow-empty", "--message", message)


def conflicts(project: Path) -> list[str]:
    """Every sign of an unfinished merge: unmerged paths, `.rej` files and conflict markers."""
    problems = []
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    for line in status.splitlines():
        if line[:2] in UNMERGED_STATUSES:
            problems.append(f"unmerged ({line[:2]}): {line[3:]}")
    for directory, dirs, files in os.walk(project):
        dirs[:] = sorted(name for name in dirs if name not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(directory) / name
            relative = path.relative_to(project)
            if name.endswith(".rej"):
                problems.append(f"rejected hunks: {relative}")
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if CONFLICT_MARKER.match(line):
                    problems.append(f"conflict marker: {relative}:{number}: {line}")
    return problems


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite `path` with `change`; fail when the change does nothing."""
    before = path.read_text()
    after = change(before)
    assert after != before, f"the edit of {path} changed nothing:\n{before}"
    path.write_text(after)


def set_max_requests(value: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert MAX_REQUESTS_DEFAULT.search(text), "no `max_requests: int = Field(<default>` found"
        return MAX_REQUESTS_DEFAULT.sub(lambda m: m[1] + value, text, count=1)

    return change


def add_docstring_line(line: str) -> Callable[[str], str]:
    """Add a paragraph at the end of the module docstring (the first `\"\"\"` line closing it)."""

    def change(text: str) -> str:
        lines = text.splitlines(keepends=True)
        assert lines, "an empty file"
        assert lines[0].startswith('"""'), "no module docstring"
        end = next(i for i, text_line in enumerate(lines) if i > 0 and text_line == '"""\n')
        lines[end:end] = ["\n", line + "\n"]
        return "".join(lines)

    return change


def max_requests_of(project: Path) -> str:
    match = MAX_REQUESTS_DEFAULT.search((project / SETTINGS).read_text())
    assert match, (project / SETTINGS).read_text()
    return match[2]


@dataclass
class TemplateRepo:
    """A throwaway copy of this template repository that the test can change and tag."""

    path: Path

    def release(self, tag: str, message: str) -> None:
        commit_all(self.path, message)
        git(self.path, "tag", tag)

    def copy(self, dst: Path, vcs_ref: str) -> Path:
        copier.run_copy(
            str(self.path),
            str(dst),
            data={"project_name": "Orders Service"},
            defaults=True,
            vcs_ref=vcs_ref,
            quiet=True,
            unsafe=False,
        )
        return dst


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same git for every run: a known identity, no user or system configuration."""
    global_config = tmp_path / "gitconfig"
    global_config.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Template Tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "template-tests@example.com")


@pytest.fixture
def template_repo(tmp_path: Path, hermetic_git: None) -> TemplateRepo:
    """This repository's history plus its working tree's template, released as v0.1.0."""
    path = tmp_path / "template-repo"
    git(tmp_path, "clone", "--quiet", str(ROOT), str(path))
    for tag in git(path, "tag", "--list").split():
        git(path, "tag", "--delete", tag)  # the test owns the versions
    for part in TEMPLATE_PARTS:
        target, source = path / part, ROOT / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)
    repo = TemplateRepo(path)
    repo.release("v0.1.0", "The template as in the working tree")
    return repo


@pytest.fixture
def project(tmp_path: Path, template_repo: TemplateRepo) -> Path:
    """A project rendered from v0.1.0 and committed, as a team starts."""
    dst = template_repo.copy(tmp_path / "orders-service", vcs_ref="v0.1.0")
    git(dst, "init", "--quiet")
    commit_all(dst, "Generate from copier-fastapi-service v0.1.0")
    assert conflicts(dst) == []
    return dst


def make_user_edits(project: Path) -> None:
    """A team's first week: a README note, its own module and a tuned setting."""
    readme = project / "README.md"
    existing = readme.read_text() if readme.exists() else ""
    readme.write_text(existing.rstrip("\n") + f"\n\n## Team notes\n\n{USER_README_NOTE}\n")
    (project / USER_MODULE).write_text(USER_MODULE_TEXT)
    edit(project / SETTINGS, set_max_requests(USER_MAX_REQUESTS))
    commit_all(project, "Team edits")


def update(project: Path, vcs_ref: str) -> None:
    copier.run_update(
        str(project),
        defaults=True,
        overwrite=True,
        unsafe=False,
        vcs_ref=vcs_ref,
        quiet=True,
    )


def answers_commit(project: Path) -> str:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return str(answers["_commit"])


# --- tests --------------------------------------------------------------------------------------


def test_update_keeps_user_edits_and_brings_template_changes(
    project: Path, template_repo: TemplateRepo
) -> None:
    make_user_edits(project)

    # The template changes the files the team edited, far from their edits, and adds a file.
    edit(template_repo.path / TEMPLATE_HEALTH, add_docstring_line(TEMPLATE_HEALTH_LINE))
    edit(template_repo.path / TEMPLATE_SETTINGS, add_docstring_line(TEMPLATE_SETTINGS_LINE))
    runbook = template_repo.path / "template" / TEMPLATE_RUNBOOK
    runbook.parent.mkdir(parents=True, exist_ok=True)
    runbook.write_text(TEMPLATE_RUNBOOK_TEXT)
    template_repo.release("v0.2.0", "Runbook; health and settings docs")

    update(project, vcs_ref="v0.2.0")

    assert conflicts(project) == []
    assert answers_commit(project) == "v0.2.0"
    # The team's edits survive ...
    assert USER_README_NOTE in (project / "README.md").read_text()
    assert (project / USER_MODULE).read_text() == USER_MODULE_TEXT
    assert max_requests_of(project) == USER_MAX_REQUESTS
    # ... and the template's changes arrive, in the same files.
    assert TEMPLATE_HEALTH_LINE in (project / HEALTH).read_text()
    assert TEMPLATE_SETTINGS_LINE in (project / SETTINGS).read_text()
    assert (project / TEMPLATE_RUNBOOK).read_text() == TEMPLATE_RUNBOOK_TEXT


def test_update_reports_a_conflict_on_the_line_both_changed(
    project: Path, template_repo: TemplateRepo
) -> None:
    make_user_edits(project)
    edit(template_repo.path / TEMPLATE_SETTINGS, set_max_requests(TEMPLATE_MAX_REQUESTS))
    template_repo.release("v0.2.0", "Recycle workers less often")

    update(project, vcs_ref="v0.2.0")  # exits normally: the conflict is only in the files

    problems = conflicts(project)
    assert f"unmerged (UU): {SETTINGS}" in problems, problems
    assert any(p.startswith(f"conflict marker: {SETTINGS}:") for p in problems), problems
    assert all(SETTINGS in problem for problem in problems), problems
    settings = (project / SETTINGS).read_text()
    # Neither side is lost: both values sit in the conflict for the team to choose.
    assert USER_MAX_REQUESTS in settings, settings
    assert TEMPLATE_MAX_REQUESTS in settings, settings
    # The edits that did not conflict are untouched.
    assert USER_README_NOTE in (project / "README.md").read_text()
    assert (project / USER_MODULE).read_text() == USER_MODULE_TEXT


def test_update_refuses_a_dirty_work_tree(project: Path, template_repo: TemplateRepo) -> None:
    runbook = template_repo.path / "template" / TEMPLATE_RUNBOOK
    runbook.parent.mkdir(parents=True, exist_ok=True)
    runbook.write_text(TEMPLATE_RUNBOOK_TEXT)
    template_repo.release("v0.2.0", "Runbook")
    readme = project / "README.md"
    uncommitted = readme.read_text() + f"\n{USER_README_NOTE}\n"
    readme.write_text(uncommitted)

    result = subprocess.run(
        [str(BIN / "copier"), "update", "--defaults", "--vcs-ref", "v0.2.0"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Destination repository is dirty" in output, output
    assert "commit or stash" in output, output
    # Nothing was touched: the uncommitted edit is intact and the update did not start.
    assert readme.read_text() == uncommitted
    assert not (project / TEMPLATE_RUNBOOK).exists()
    assert answers_commit(project) == "v0.1.0"
