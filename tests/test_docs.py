"""The documentation: the site builds without warnings, every question is documented, and the
question text generated from copier.yml (scripts/gen_docs.py) is up to date."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gen_docs
from copier_yml import asked_questions

ROOT = Path(__file__).resolve().parent.parent
GEN_DOCS = ROOT / "scripts" / "gen_docs.py"
QUESTION_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def readme_table_questions() -> set[str]:
    """Question names in the first column of the README's question table."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "## The questions")
    names: set[str] = set()
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            continue
        first_cell = line.strip("|").split("|", 1)[0]
        names.update(QUESTION_NAME.findall(first_cell))
    return names


def test_docs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    print(output)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_question_is_documented() -> None:
    questions = list(asked_questions())
    assert questions, "no question found in copier.yml"

    without_page = [q for q in questions if not (ROOT / "docs" / "questions" / f"{q}.md").is_file()]
    in_readme = readme_table_questions()
    not_in_readme = [q for q in questions if q not in in_readme]

    assert not without_page, f"questions without docs/questions/<name>.md: {without_page}"
    assert not not_in_readme, f"questions missing from the README's question table: {not_in_readme}"


def run_gen_docs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GEN_DOCS), *args], capture_output=True, text=True, check=False
    )


def test_generated_question_text_is_current() -> None:
    """README's table, docs/questions/index.md's and every page's header match copier.yml."""
    result = run_gen_docs("--check")
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"


def test_check_shows_a_stale_table(tmp_path: Path) -> None:
    """--check fails on a hand-edited generated part, and its diff shows the line to restore."""
    for name in ("README.md", "docs"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    readme = tmp_path / "README.md"
    help_line = gen_docs.help_line(asked_questions()["license"])
    readme.write_text(readme.read_text().replace(help_line, "A licence."))

    result = run_gen_docs("--check", "--root", str(tmp_path))

    output = f"{result.stdout}{result.stderr}"
    assert result.returncode == 1, output
    removed = [line for line in output.splitlines() if line.startswith("-| [`license`]")]
    added = [line for line in output.splitlines() if line.startswith("+| [`license`]")]
    (row,) = [row for row in gen_docs.table("docs/questions/") if row.startswith("| [`license`]")]
    assert removed == ["-" + row.replace(help_line, "A licence.")], output
    assert added == ["+" + row], output
    assert "stale: README.md" in output, output
    assert readme.read_text().count("A licence.") == 1, "--check must not write"


def test_help_fits_a_prompt_line() -> None:
    """Each help is one line of at most HELP_MAX characters; the long text is the docs page's."""
    too_long = {
        name: gen_docs.help_line(spec)
        for name, spec in asked_questions().items()
        if not 0 < len(gen_docs.help_line(spec)) <= gen_docs.HELP_MAX
    }
    assert not too_long, f"help missing or over {gen_docs.HELP_MAX} characters: {too_long}"
    folded = [name for name, spec in asked_questions().items() if "\n" in spec["help"].strip()]
    assert not folded, f"help over several lines in copier.yml: {folded}"


def test_every_page_explains_its_question() -> None:
    """Below the generated header, each page explains the question by hand; a question with a
    validator says what it accepts in a **Validation:** paragraph."""
    missing = []
    for name, spec in asked_questions().items():
        page = (ROOT / "docs" / "questions" / f"{name}.md").read_text()
        body = page.split(gen_docs.END, 1)[-1]
        if len(body.split()) < 20:
            missing.append(f"{name}: nothing written below the generated header")
        if spec.get("validator") and "**Validation:**" not in body:
            missing.append(f"{name}: a validator in copier.yml, no **Validation:** paragraph")
    assert not missing, "\n".join(missing)
