"""`copier update` when a team's edit conflicts, and the other Copier workflows a team meets.

3. an edit on the lines the template changed: the service's own wrapper and check exit non-zero,
   both sides are in the file (inline) or the `.rej` (rej); resolved as the README says, the
   check passes;
- `copier check-update` and `copier recopy` on an old service, and an update refused on a dirty
  work tree (test_update.py has the harness's story and the other cases).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from update_edits import (
    COMPOSE_SET,
    README_NOTE,
    SETTINGS,
    answers,
    max_requests,
    same,
    set_max_requests,
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
    copier_cli,
    git,
    run_script,
    tree_difference,
)

# --- 3. conflicts -------------------------------------------------------------------------------


@pytest.fixture
def changed_history(history: TemplateHistory, tmp_path: Path) -> TemplateHistory:
    """0.2.1 on top of 0.2.0: the template recycles workers less often (the line teams tune)."""
    changed = history.clone(tmp_path / "template")
    settings = changed.path / "template/src/{{ package_name }}/kernel/settings/base.py.jinja"
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


# --- recopy, check-update, a dirty tree -------------------------------------------------------


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
    # Nor does it delete what the new release no longer renders (Copier's own behaviour): the
    # old release's files stay where they were, everything the new release renders is fresh.
    old = target.history.render(tmp_path / "old", answers("defaults"), OLD_RELEASE)
    gone = [
        path.relative_to(old).as_posix()
        for path in old.rglob("*")
        if path.is_file() and not (expected / path.relative_to(old)).exists()
    ]
    assert tree_difference(project, expected, ignore=gone) == []
    assert all((project / name).exists() for name in gone), gone
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
