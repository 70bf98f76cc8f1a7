"""The documentation: the site builds without warnings, and every question is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTION_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


class _CopierYamlLoader(yaml.SafeLoader):
    """A safe loader that tolerates Copier's custom tags (such as `!include`)."""


def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
    return None


_CopierYamlLoader.add_multi_constructor("!", _ignore_tag)


def copier_questions() -> list[str]:
    """Top-level keys of copier.yml that Copier asks: no `_` settings, no `when: false` values."""
    config: dict[str, Any] = {}
    text = (ROOT / "copier.yml").read_text(encoding="utf-8")
    for document in yaml.load_all(text, Loader=_CopierYamlLoader):
        config.update(document or {})
    questions = []
    for name, spec in config.items():
        if not isinstance(name, str) or name.startswith("_"):
            continue
        when = spec.get("when", True) if isinstance(spec, dict) else True
        if when is False or (isinstance(when, str) and when.strip().lower() == "false"):
            continue
        questions.append(name)
    return questions


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
    questions = copier_questions()
    assert questions, "no question found in copier.yml"

    without_page = [q for q in questions if not (ROOT / "docs" / "questions" / f"{q}.md").is_file()]
    in_readme = readme_table_questions()
    not_in_readme = [q for q in questions if q not in in_readme]

    assert not without_page, f"questions without docs/questions/<name>.md: {without_page}"
    assert not not_in_readme, f"questions missing from the README's question table: {not_in_readme}"
