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
   both sides are in the file (inline) or the `.rej` (rej) (test_update_workflows.py, with
   recopy, check-update and a dirty work tree);
4. the 0.2.0 migration (hooks/migrate.py): compose.prod.yaml moves to deploy/compose/ and
   core/settings.py to kernel/settings/base.py (core/ splits into rooms), with the team's edits
   merged; without --trust the update stops before touching anything;
5. an answers file without the questions 0.2.0 adds: the rendered features do not change.

`copier update` exits 0 even when it leaves conflicts behind, so every test inspects the service
with `conflicts()`: inline markers, unmerged paths and `.rej` files.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from provision import dispose, provision
from rendering import BIN, Rendered
from update_edits import (
    ANSWER_SETS,
    COMPOSE_NEW,
    COMPOSE_OLD,
    COMPOSE_SET,
    answers,
    typical_edits,
)
from update_harness import (
    NEW_RELEASE,
    OLD_RELEASE,
    Target,
    TemplateHistory,
    adopt_wrapper,
    answers_of,
    commit_all,
    conflicts,
    git,
    run_script,
    tree_difference,
    update,
)

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
    updated = provision(Rendered(path=project, answers=answers_of(project)))
    try:
        updated.install()
        for argv in (["ruff", "check"], ["mypy"]):
            updated.uv("run", "--locked", *argv, about="pyproject.toml", timeout=900)
        updated.own_suite(workers=None, about="pyproject.toml")
    finally:
        dispose(updated)
    assert "orjson" in updated.read("uv.lock")


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
