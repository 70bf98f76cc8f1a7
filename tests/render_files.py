"""Which files of a render are text, YAML: what the static tests of test_render*.py walk."""

from __future__ import annotations

from pathlib import Path

from rendering import Rendered


def text_files(project: Rendered) -> dict[str, str]:
    """Every rendered file that is UTF-8 text, by relative path."""
    texts = {}
    for relative in project.files:
        data = (project.path / relative).read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[relative] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def is_helm_template(relative: str) -> bool:
    """Helm chart templates are Go templates: `{{ }}` is their syntax, not leftover Jinja."""
    parts = Path(relative).parts
    return "templates" in parts and "helm" in parts


def yaml_files(project: Rendered) -> list[str]:
    return [
        name
        for name in project.files
        if name.endswith((".yml", ".yaml")) and not is_helm_template(name)
    ]
