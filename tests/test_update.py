"""`copier update` keeps a team's edits and brings the template's changes: proven on real history.

The harness (`update_harness.py`) builds a template repository with release 0.1.0 (extracted from
this repository's history) and the working tree as 0.2.0. Services are generated at 0.1.0 for a
few answer sets that together render every database, every queue and every deploy target,
committed, edited like a team would, and updated to 0.2.0:

1. no edits: the update gives exactly a fresh render of 0.2.0;
2. typical edits (a new module, a setting, a dependency, a deploy resource value, the README):
   the result is a fresh render of 0.2.0 with the same edits, no conflict; the default service's
   own tests pass after the update (slow);
3. an edit on the lines the template changed: the service's own wrapper and check exit non-zero,
   both sides are in the file (inline) or the `.rej` (rej);
4. the 0.2.0 migration (hooks/migrate.py): compose.prod.yaml moves to deploy/compose/ with the
   team's edits merged; without --trust the update stops before touching anything;
5. an answers file without the questions 0.2.0 adds: the rendered features do not change.

`copier update` exits 0 even when it leaves conflicts behind, so every test inspects the service
with `conflicts()`: inline markers, unmerged paths and `.rej` files.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import BIN, PYTHONS, ROOT
from update_harness import (
    NEW_RELEASE,
    OLD_RELEASE,
    TemplateHistory,
    answers_of,
    commit_all,
    conflicts,
    git,
    hermetic_git_env,
    tree_difference,
    update,
)

# Unique to these tests: the service's test databases derive from the package name. Given as the
# project name (package_name follows it), since the build backend finds the package by the
# distribution name.
PROJECT_NAME = "Update Svc"
PACKAGE = "update_svc"
SETTINGS = f"src/{PACKAGE}/core/settings.py"
MAX_REQUESTS = re.compile(r"(max_requests: int = Field\(\s*)([0-9_]+)")
COMPOSE_OLD, COMPOSE_NEW = "compose.prod.yaml", "deploy/compose/compose.prod.yaml"

# Every database, queue and deploy target in four renders.
ANSWER_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},  # postgresql, no queue, kubernetes + kustomize, github
    "mysql-celery-cloud_run": {
        "database": "mysql",
        "queue": "celery",
        "broker": "rabbitmq",
        "deploy_target": "cloud_run",
        "ci_provider": "gitlab",
    },
    # SQLite deploys with compose only (copier refuses it on kubernetes and cloud_run).
    "sqlite-taskiq-compose": {
        "database": "sqlite",
        "queue": "taskiq",
        "deploy_target": "compose",
    },
    "none-arq-helm": {
        "database": "none",
        "queue": "arq",
        "deploy_target": "kubernetes",
        "k8s_packaging": "helm",
        "server": "gunicorn",
    },
}
COMPOSE_SET = "sqlite-taskiq-compose"


def answers(name: str) -> dict[str, Any]:
    return {"project_name": PROJECT_NAME, **ANSWER_SETS[name]}


@dataclass(frozen=True)
class Edit:
    """A team's edit of one file: its path in the old and in the new release, and the change."""

    old_path: str
    new_path: str
    change: Callable[[str], str]

    def apply(self, root: Path, *, new: bool) -> None:
        path = root / (self.new_path if new else self.old_path)
        before = path.read_text() if path.exists() else ""
        after = self.change(before)
        assert after != before, f"the edit of {path} changed nothing"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(after)


def same(path: str, change: Callable[[str], str]) -> Edit:
    return Edit(path, path, change)


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, f"{old!r} not found"
        return text.replace(old, new, 1)

    return change


def set_max_requests(value: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert MAX_REQUESTS.search(text), "no `max_requests: int = Field(<default>` found"
        return MAX_REQUESTS.sub(lambda m: m[1] + value, text, count=1)

    return change


USER_MODULE_TEXT = '''"""The team's own orders endpoints."""

from fastapi import APIRouter

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("")
async def list_orders() -> list[str]:
    """Every order (none yet)."""
    return []
'''
README_NOTE = "\n## Team notes\n\nOn call for this service: the #orders-oncall channel.\n"
DEPLOY_EDITS = {
    "kubernetes-kustomize": same(
        "deploy/k8s/base/deployment.yaml", replace_once("memory: 512Mi", "memory: 768Mi")
    ),
    "kubernetes-helm": same(
        "deploy/helm/values.yaml", replace_once("memory: 512Mi", "memory: 768Mi")
    ),
    # Not the memory limit: 0.2.0 rewrites the startup probe's comment just below it (that edit
    # conflicts once, as the upgrade notes say).
    "cloud_run": same("deploy/cloudrun/service.yaml", replace_once('cpu: "1"', 'cpu: "2"')),
    "compose": Edit(
        COMPOSE_OLD, COMPOSE_NEW, replace_once("stop_grace_period: 25s", "stop_grace_period: 40s")
    ),
}


def typical_edits(answer_set: dict[str, Any]) -> list[Edit]:
    """A team's first weeks: its own module, a setting, a dependency, a deploy value, notes."""
    target = answer_set.get("deploy_target", "kubernetes")
    if target == "kubernetes":
        target += "-" + answer_set.get("k8s_packaging", "kustomize")
    return [
        same(f"src/{PACKAGE}/orders.py", lambda _: USER_MODULE_TEXT),
        same(SETTINGS, set_max_requests("5_000")),
        same(
            "pyproject.toml",
            replace_once("dependencies = [\n", 'dependencies = [\n    "orjson>=3.10",\n'),
        ),
        DEPLOY_EDITS[target],
        same("README.md", lambda text: text + README_NOTE),
    ]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same git for every run: a known identity, no user or system configuration."""
    saved = dict(os.environ)
    os.environ.update(hermetic_git_env(tmp_path_factory.mktemp("git-home")))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, git_env: None) -> TemplateHistory:
    """Release 0.1.0 from this repository's history, the working tree as 0.2.0."""
    return TemplateHistory.build(tmp_path_factory.mktemp("history") / "template")


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


@pytest.fixture(scope="module")
def target(history: TemplateHistory, tmp_path_factory: pytest.TempPathFactory) -> Target:
    hook = runpy.run_path(str(history.path / "hooks" / "migrate.py"))
    pins = {key: yaml.safe_load(value) for key, value in hook["PINS"][NEW_RELEASE].items()}
    copier_yml = (history.path / "copier.yml").read_text()
    missing = [name for name in pins if not re.search(rf"^{name}:", copier_yml, re.MULTILINE)]
    if not missing:
        return Target(history, NEW_RELEASE, pins)
    synthesized = history.clone(tmp_path_factory.mktemp("synthesized") / "template")
    config = synthesized.path / "copier.yml"
    config.write_text(config.read_text() + "".join(SYNTHESIZED_QUESTIONS[n][0] for n in missing))
    for name in missing:
        _, path, text = SYNTHESIZED_QUESTIONS[name]
        (synthesized.path / "template" / path).write_text(text)
    synthesized.release("0.2.1", "New questions whose defaults turn features on")
    return Target(synthesized, "0.2.1", pins)


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


def max_requests(project: Path) -> str:
    match = MAX_REQUESTS.search((project / SETTINGS).read_text())
    assert match
    return match[2]


# --- 1. no edits (and 5. new questions keep what old services had) -------------------------------


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_update_without_edits_is_a_fresh_render(name: str, target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers(name), OLD_RELEASE)

    update(project, target.release)

    assert conflicts(project) == []
    # A new service of the release, with the answers that keep what the old one had.
    assert tree_difference(project, target.fresh(tmp_path / "fresh", answers(name))) == []
    recorded = answers_of(project)
    assert {key: recorded.get(key) for key in target.pins} == target.pins


@pytest.mark.parametrize("skip_answered", [False, True], ids=["defaults", "skip-answered"])
def test_new_questions_keep_the_features_old_services_had(
    skip_answered: bool, target: Target, tmp_path: Path
) -> None:
    project = target.history.generate(tmp_path / "service", answers("defaults"), OLD_RELEASE)

    # --defaults (CI's command) and --skip-answered (the docs') must both keep the pins: copier
    # reloads the answers file after the before-migrations either way.
    update(project, target.release, skip_answered=skip_answered)

    kept = target.fresh(tmp_path / "kept", answers("defaults"))
    assert tree_difference(project, kept) == []
    # The pins matter: the new questions' defaults would turn features on.
    new_defaults = target.history.render(tmp_path / "new", answers("defaults"), target.release)
    assert tree_difference(new_defaults, kept) != []


# --- 2. typical edits ---------------------------------------------------------------------------


def edited_update(target: Target, tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Generate at 0.1.0, edit, commit, update; and the expectation: the release with the edits."""
    edits = typical_edits(ANSWER_SETS[name])
    project = target.history.generate(tmp_path / "service", answers(name), OLD_RELEASE)
    for one_edit in edits:
        one_edit.apply(project, new=False)
    commit_all(project, "Team edits")

    update(project, target.release)

    expected = target.fresh(tmp_path / "fresh", answers(name))
    for one_edit in edits:
        one_edit.apply(expected, new=True)
    return project, expected


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_update_keeps_every_edit_and_brings_every_template_change(
    name: str, target: Target, tmp_path: Path
) -> None:
    project, expected = edited_update(target, tmp_path, name)

    assert conflicts(project) == []
    # Byte for byte the new release with the team's edits: nothing lost, nothing missing.
    assert tree_difference(project, expected) == []
    assert run_script(project, "check-conflicts.sh").returncode == 0


@pytest.mark.slow
def test_updated_default_service_passes_its_own_tests(target: Target, tmp_path: Path) -> None:
    project, _ = edited_update(target, tmp_path, "defaults")
    env = {
        **os.environ,
        "UV_PYTHON": PYTHONS["3.13"],
        "VIRTUAL_ENV": "",
        "UV_NO_PROGRESS": "1",
        "PYTEST_ADDOPTS": "",
        "PYTEST_PLUGINS": "",
    }
    for argv in (
        ["lock"],
        ["sync", "--locked"],
        ["run", "--locked", "ruff", "check"],
        ["run", "--locked", "mypy"],
        ["run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
    ):
        result = subprocess.run(
            [str(BIN / "uv"), *argv],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=900,
        )
        assert result.returncode == 0, f"uv {' '.join(argv)}:\n{result.stdout}{result.stderr}"
    assert "orjson" in (project / "uv.lock").read_text()


# --- 3. conflicts -------------------------------------------------------------------------------


@pytest.fixture
def changed_history(history: TemplateHistory, tmp_path: Path) -> TemplateHistory:
    """0.2.1 on top of 0.2.0: the template recycles workers less often (the line teams tune)."""
    changed = history.clone(tmp_path / "template")
    settings = changed.path / "template/src/{{ package_name }}/core/settings.py.jinja"
    settings.write_text(set_max_requests("20_000")(settings.read_text()))
    changed.release("0.2.1", "Recycle workers less often")
    return changed


@pytest.mark.parametrize(("name", "conflict"), [("defaults", "inline"), (COMPOSE_SET, "rej")])
def test_conflicting_edit_fails_the_wrapper_and_loses_nothing(
    name: str, conflict: str, changed_history: TemplateHistory, tmp_path: Path
) -> None:
    project = changed_history.generate(tmp_path / "service", answers(name), NEW_RELEASE)
    set_edit = same(SETTINGS, set_max_requests("5_000"))
    set_edit.apply(project, new=True)
    readme = same("README.md", lambda text: text + README_NOTE)
    readme.apply(project, new=True)
    commit_all(project, "Team edits")

    # No migration between 0.2.0 and 0.2.1: no --trust.
    result = run_script(
        project, "update-from-template.sh", "--vcs-ref", "0.2.1", "--conflict", conflict
    )

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    problems = conflicts(project)
    settings = (project / SETTINGS).read_text()
    if conflict == "inline":
        assert f"unmerged (UU): {SETTINGS}" in problems, problems
        assert "Unmerged files" in output, output
        assert "Conflict markers" in output, output
        assert "5_000" in settings, settings
        assert "20_000" in settings, settings
    else:
        assert problems == [f"rejected hunks: {SETTINGS}.rej"], problems
        assert f"{SETTINGS}.rej" in output, output
        # The file has the template's new line; the team's hunk waits in the .rej.
        assert "20_000" in settings, settings
        assert "5_000" in (project / f"{SETTINGS}.rej").read_text()
    assert README_NOTE in (project / "README.md").read_text()  # the edit that did not conflict
    assert answers_of(project)["_commit"] == "0.2.1"

    # Resolved as the README says (the team keeps its value), the check passes.
    if conflict == "inline":
        markers = r"<<<<<<< before updating\n(.*?)=======\n.*?>>>>>>> after updating\n"
        (project / SETTINGS).write_text(re.sub(markers, r"\1", settings, flags=re.DOTALL))
        git(project, "add", SETTINGS)
    else:
        (project / f"{SETTINGS}.rej").unlink()
        same(SETTINGS, set_max_requests("5_000")).apply(project, new=True)
    resolved = run_script(project, "check-conflicts.sh")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert max_requests(project) == "5_000"


# --- 4. the 0.2.0 migration: compose.prod.yaml moves under deploy/ -------------------------------


def test_update_across_a_migration_needs_trust_and_says_so(target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers(COMPOSE_SET), OLD_RELEASE)
    adopt_wrapper(project)
    head = git(project, "rev-parse", "HEAD")

    refused = run_script(project, "update-from-template.sh", "--vcs-ref", target.release)

    output = refused.stdout + refused.stderr
    assert refused.returncode == 3, output
    assert "crosses a template migration" in output, output
    assert f"scripts/update-from-template.sh --trust --vcs-ref {target.release}" in output, output
    # Nothing was touched.
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head

    trusted = run_script(project, "update-from-template.sh", "--trust", "--vcs-ref", target.release)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert (project / COMPOSE_NEW).is_file()
    assert not (project / COMPOSE_OLD).exists()


def test_moved_file_keeps_the_teams_edits_and_answers(target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers(COMPOSE_SET), OLD_RELEASE)
    before = answers_of(project)
    compose = project / COMPOSE_OLD
    compose.write_text(compose.read_text() + "    labels:\n      team: orders\n")
    commit_all(project, "Label the app")

    update(project, target.release)

    assert conflicts(project) == []
    moved = (project / COMPOSE_NEW).read_text()
    assert moved.endswith("    labels:\n      team: orders\n"), moved  # the team's edit
    assert "${ENV_FILE:-../../.env.production}" in moved, moved  # the release's path change
    after = answers_of(project)
    assert {k: v for k, v in after.items() if k != "_commit"} == {
        **{k: v for k, v in before.items() if k != "_commit"},
        **target.pins,
    }
    # Committed, git sees the move as a rename: the file's history follows it.
    commit_all(project, "Update from the template")
    renames = git(project, "diff", "--find-renames", "--name-status", "HEAD~1", "HEAD")
    rename = rf"^R\d+\t{re.escape(COMPOSE_OLD)}\t{re.escape(COMPOSE_NEW)}$"
    assert re.search(rename, renames, re.MULTILINE), renames
    # Run again on the migrated service, both stages find nothing to do.
    hook = target.history.path / "hooks" / "migrate.py"
    for stage in ("before", "after"):
        result = subprocess.run(
            [BIN / "python", hook, stage, NEW_RELEASE, target.history.path, ".copier-answers.yml"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "VERSION_FROM": OLD_RELEASE},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "nothing to" in result.stdout, result.stdout
    assert git(project, "status", "--porcelain") == ""


def test_moved_file_conflict_is_reported_and_loses_nothing(target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers(COMPOSE_SET), OLD_RELEASE)
    compose = project / COMPOSE_OLD
    # The same line 0.2.0 changes (the env file's path).
    compose.write_text(compose.read_text().replace(".env.production}", ".env.prod}"))
    commit_all(project, "Our own env file name")

    update(project, target.release)

    problems = conflicts(project)
    assert f"unmerged (UU): {COMPOSE_NEW}" in problems, problems
    assert all(COMPOSE_NEW in problem for problem in problems), problems
    moved = (project / COMPOSE_NEW).read_text()
    assert "${ENV_FILE:-.env.prod}" in moved, moved  # the team's side
    assert "${ENV_FILE:-../../.env.production}" in moved, moved  # the release's side
    assert run_script(project, "check-conflicts.sh").returncode == 1


# --- recopy, check-update, a dirty tree -------------------------------------------------------


def copier_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "copier"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_check_update_and_recopy(target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers("defaults"), OLD_RELEASE)

    check = copier_cli(project, "check-update", "--output-format", "json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = yaml.safe_load(check.stdout)
    assert report["update_available"] is True, report
    assert report["latest_version"] == target.release, report

    # recopy: the new release over the service with its answers, no merge (the team's edits go,
    # git keeps them); the answers survive.
    same("README.md", lambda text: text + README_NOTE).apply(project, new=True)
    commit_all(project, "Team notes")
    recopy = copier_cli(project, "recopy", "--defaults", "--overwrite", "--vcs-ref", target.release)
    assert recopy.returncode == 0, recopy.stdout + recopy.stderr
    # recopy runs no migration: the new questions take their defaults (and --data keeps features).
    expected = target.history.render(tmp_path / "fresh", answers("defaults"), target.release)
    assert tree_difference(project, expected) == []
    assert README_NOTE in git(project, "show", "HEAD:README.md")
    commit_all(project, "Recopy")

    latest = copier_cli(project, "check-update", "--output-format", "json")
    assert yaml.safe_load(latest.stdout)["update_available"] is False, latest.stdout


def test_update_refuses_a_dirty_work_tree(target: Target, tmp_path: Path) -> None:
    project = target.history.generate(tmp_path / "service", answers("defaults"), OLD_RELEASE)
    adopt_wrapper(project)
    readme = project / "README.md"
    uncommitted = readme.read_text() + README_NOTE
    readme.write_text(uncommitted)

    direct = copier_cli(project, "update", "--defaults", "--trust", "--vcs-ref", target.release)
    wrapped = run_script(project, "update-from-template.sh", "--vcs-ref", target.release)

    output = direct.stdout + direct.stderr
    assert direct.returncode != 0, output
    assert "Destination repository is dirty" in output, output
    assert "commit or stash" in output, output
    assert wrapped.returncode == 2, wrapped.stdout + wrapped.stderr
    assert "commit or stash" in wrapped.stderr, wrapped.stderr
    # Nothing was touched: the uncommitted edit is intact and the update did not start.
    assert readme.read_text() == uncommitted
    assert answers_of(project)["_commit"] == OLD_RELEASE
    assert git(project, "status", "--porcelain") == " M README.md\n"


# --- why the move needs hooks/migrate.py: what Copier does alone -------------------------------

NAIVE_MIGRATIONS = {
    # No migration: Copier deletes the old path (not in the new render) and renders the new one.
    "none": "",
    # A bare `git mv` before the update: Copier merges against an empty base.
    "git-mv": (
        "_migrations:\n"
        '  - version: "0.2.0"\n'
        "    when: \"{{ _stage == 'before' }}\"\n"
        f'    command: "mkdir -p deploy/compose && git mv {COMPOSE_OLD} {COMPOSE_NEW}"\n'
    ),
}


@pytest.mark.parametrize("migration", NAIVE_MIGRATIONS)
def test_copier_alone_loses_or_conflicts_a_moved_files_edits(
    migration: str, history: TemplateHistory, tmp_path: Path
) -> None:
    """The behaviour the migration guards against (if Copier ever fixes it, this test says so)."""
    naive = history.clone(tmp_path / "template")
    config = naive.path / "copier.yml"
    text = config.read_text()
    start = text.index("_migrations:\n")
    end = text.index("\n_message_before_copy:", start) + 1
    config.write_text(text[:start] + NAIVE_MIGRATIONS[migration] + text[end:])
    naive.release("0.3.0", f"The move with migration: {migration}")
    project = naive.generate(tmp_path / "service", answers(COMPOSE_SET), OLD_RELEASE)
    compose = project / COMPOSE_OLD
    compose.write_text(compose.read_text() + "    labels:\n      team: orders\n")
    commit_all(project, "Label the app")

    update(project, "0.3.0")

    problems = conflicts(project)
    moved = (project / COMPOSE_NEW).read_text()
    if migration == "none":
        assert problems == [], problems  # exit 0, nothing reported ...
        assert "team: orders" not in moved, moved  # ... and the edit is gone
        assert not (project / COMPOSE_OLD).exists()
    else:
        # The edit survives only inside a conflict that also holds the release's own changes.
        assert f"unmerged (UU): {COMPOSE_NEW}" in problems, problems
        markers = [problem for problem in problems if "<<<<<<<" in problem]
        assert len(markers) >= 2, problems


# --- a renamed question keeps its answer (RENAMES in hooks/migrate.py) --------------------------

RENAME_MIGRATION = """_migrations:
  - version: "0.3.0"
    when: "{{ _stage == 'before' }}"
    command:
      - "{{ _copier_python }}"
      - "{{ _copier_conf.src_path }}/hooks/migrate.py"
      - before
      - "0.3.0"
      - "{{ _copier_conf.src_path }}"
      - "{{ _copier_conf.answers_file }}"
"""


@pytest.mark.parametrize("with_row", [True, False], ids=["renames-row", "copier-alone"])
def test_renamed_question_keeps_its_answer(
    with_row: bool, history: TemplateHistory, tmp_path: Path
) -> None:
    """A synthesized 0.3.0 renames author_name to owner_name, with or without a RENAMES row."""
    renamed = history.clone(tmp_path / "template")
    for path in [renamed.path / "copier.yml", *(renamed.path / "template").rglob("*")]:
        if path.is_file() and "author_name" in path.read_text():
            path.write_text(path.read_text().replace("author_name", "owner_name"))
    if with_row:
        hook = renamed.path / "hooks" / "migrate.py"
        hook.write_text(
            hook.read_text().replace(
                "RENAMES: dict[str, dict[str, str]] = {}",
                'RENAMES: dict[str, dict[str, str]] = {"0.3.0": {"author_name": "owner_name"}}',
            )
        )
        config = renamed.path / "copier.yml"
        config.write_text(config.read_text().replace("_migrations:\n", RENAME_MIGRATION, 1))
    renamed.release("0.3.0", "author_name is now owner_name")
    team = {**answers("defaults"), "author_name": "Orders Team"}
    project = renamed.generate(tmp_path / "service", team, NEW_RELEASE)

    update(project, "0.3.0", trust=with_row)

    assert conflicts(project) == []
    recorded = answers_of(project)
    assert "author_name" not in recorded, recorded
    licence = (project / "LICENSE").read_text()
    if with_row:
        assert recorded["owner_name"] == "Orders Team", recorded
        assert "Orders Team" in licence, licence
        kept = renamed.render(
            tmp_path / "fresh", {**answers("defaults"), "owner_name": "Orders Team"}, "0.3.0"
        )
        assert tree_difference(project, kept) == []
    else:
        # Copier alone: the answer is silently replaced by the new question's default.
        assert recorded["owner_name"] == "Platform Team", recorded
        assert "Orders Team" not in licence, licence
