"""scripts/render_diff.py, the render-diff safety net: pure refactors proven pure, the rest shown.

The script runs as a reviewer or CI runs it, on a temporary clone of this repository (its commits
are made there, never here): the same ref against itself renders identically (exit 0), a commit
that edits, adds and removes template files shows exactly those files with their diff (exit 1), a
commit that does not render shows copier's error and the row's answers (exit 2). Two matrix rows
keep it quick (four renders a run); the comparison itself is tested on hand-made trees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rendering import ROOT
from update_harness import hermetic_git_env

sys.path.insert(0, str(ROOT / "scripts"))
from render_diff import compare

SCRIPT = ROOT / "scripts" / "render_diff.py"
ROWS = ["defaults", "mit-py312-helm-mysql"]  # Proprietary and MIT licences: one file differs
ROWS_PATTERN = "^(" + "|".join(ROWS) + ")$"
ADDED_LINE = "A line the refactor was not meant to add."
PROPRIETARY_LICENSE = "template/{% if license == 'Proprietary' %}LICENSE{% endif %}.jinja"


class Clone:
    """A clone of this repository's HEAD with its own commits: `main`, then branches off it."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env

    def git(self, *argv: str) -> str:
        result = subprocess.run(
            ["git", *argv], cwd=self.path, env=self.env, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def commit_on_branch(self, branch: str, edit: dict[str, str | None]) -> str:
        """A commit on a new branch off main: each file written, or removed when None."""
        self.git("switch", "-q", "-c", branch, "main")
        for relative, text in edit.items():
            if text is None:
                self.git("rm", "-q", relative)
            else:
                (self.path / relative).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"{branch}: a deliberate template change")
        return self.git("rev-parse", "HEAD")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Clone:
    home = tmp_path_factory.mktemp("render-diff")
    env = {**os.environ, **hermetic_git_env(home)}
    subprocess.run(["git", "clone", "-q", str(ROOT), str(home / "repo")], env=env, check=True)
    repo = Clone(home / "repo", env)
    repo.git("switch", "-q", "-C", "main")
    return repo


def render_diff(clone: Clone, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(clone.path), "--rows", ROWS_PATTERN, *argv],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def row_section(output: str, row: str) -> str:
    """The row's status line and its indented lines (files, diffs, errors)."""
    match = re.search(rf"^{re.escape(row)} +\S.*\n(?:    .*\n)*", output, re.MULTILINE)
    assert match, f"no section for {row}:\n{output}"
    return match.group(0)


def test_the_same_ref_renders_identically(
    clone: Clone, record_property: Callable[[str, object], None]
) -> None:
    result = render_diff(clone, "--base", "main", "--head", "main")
    output = result.stdout + result.stderr
    record_property("render_diff", output)
    assert result.returncode == 0, output
    for row in ROWS:
        assert row_section(result.stdout, row).split()[1:] == ["unchanged"], output
    assert "0 of 2 rows differ, 0 do not render\n" in result.stdout, output


def test_a_template_change_is_shown_file_by_file(
    clone: Clone, record_property: Callable[[str, object], None]
) -> None:
    readme = (clone.path / "template" / "README.md.jinja").read_text()
    clone.commit_on_branch(
        "change",
        {
            "template/README.md.jinja": readme + ADDED_LINE + "\n",
            "template/NOTES.md": "notes\n",
            PROPRIETARY_LICENSE: None,
        },
    )
    result = render_diff(clone)  # the defaults: merge-base with main .. HEAD
    output = result.stdout + result.stderr
    record_property("render_diff", output)
    assert result.returncode == 1, output
    assert "(merge-base of HEAD and main)" in result.stdout, output
    defaults = row_section(result.stdout, "defaults")
    assert re.match(r"defaults +1 file changed \(\+1 -0 lines\), 1 added, 1 removed\n", defaults)
    assert "    M README.md  (+1 -0)" in defaults, output
    assert "    A NOTES.md  (+1 -0)" in defaults, output
    assert "    D LICENSE  (+0 -5)" in defaults, output
    assert f"    +{ADDED_LINE}" in defaults, output
    # The MIT row keeps its licence, and the diff it shares with the first row is named once.
    mit = row_section(result.stdout, "mit-py312-helm-mysql")
    assert "D LICENSE" not in mit, output
    assert "(NOTES.md: same diff as in defaults)" in mit, output
    # Both renders record a different _commit in the answers file: ignored.
    assert ".copier-answers.yml" not in result.stdout, output
    assert re.search(r"^defaults +differs +1 +1 +1 +1 +0$", result.stdout, re.MULTILINE), output


def test_a_ref_that_does_not_render_shows_copiers_error(
    clone: Clone, record_property: Callable[[str, object], None]
) -> None:
    readme = (clone.path / "template" / "README.md.jinja").read_text()
    head = clone.commit_on_branch(
        "broken", {"template/README.md.jinja": readme + "{{ no_such_answer }}\n"}
    )
    result = render_diff(clone, "--base", "main", "--head", head, "--rows", "^defaults$")
    output = result.stdout + result.stderr
    record_property("render_diff", output)
    assert result.returncode == 2, output
    section = row_section(result.stdout, "defaults")
    assert re.match(rf"defaults +error\n    {head} does not render: UndefinedError:", section)
    assert "'no_such_answer' is undefined" in section, output
    assert "in template template/README.md.jinja:" in section, output
    assert "answers: project_name='Orders Service'" in section, output
    assert f"reproduce: copier copy --vcs-ref {head} --defaults" in section, output


def test_a_missing_ref_is_an_error(clone: Clone) -> None:
    result = render_diff(clone, "--base", "no-such-ref")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "has no commit 'no-such-ref'" in result.stderr


def write(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


def test_compare_ignores_the_answers_commit_and_sees_modes_and_binaries(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    for side, commit in ((base, "abc"), (head, "def")):
        answers = f"_commit: {commit}\n_src_path: /x/{commit}\nproject_name: X\n"
        write(side / ".copier-answers.yml", answers.encode())
        write(side / "same.txt", b"same\n")
    write(base / "run.sh", b"echo\n")
    write(head / "run.sh", b"echo\n", 0o755)
    write(base / "logo.png", b"\x89PNG\xff\x00")
    write(head / "logo.png", b"\x89PNG\xfe\x00")
    write(base / "src" / "old.py", b"a\nb\n")
    write(head / "src" / "old.py", b"a\nc\n")
    changes = {change.path: change for change in compare(base, head)}
    assert sorted(changes) == ["logo.png", "run.sh", "src/old.py"]
    assert changes["run.sh"].note == "mode 644 -> 755"
    assert (changes["run.sh"].added, changes["run.sh"].removed) == (0, 0)
    assert changes["logo.png"].note == "binary, 6 -> 6 bytes"
    assert (changes["src/old.py"].added, changes["src/old.py"].removed) == (1, 1)
    assert changes["src/old.py"].diff[:2] == ["--- a/src/old.py", "+++ b/src/old.py"]
