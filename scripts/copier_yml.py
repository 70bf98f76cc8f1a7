"""copier.yml, read in one place: its questions, their choices, and the answer model.

The template's tests (`tests/`, where pytest puts this directory on the import path) and its
scripts (`scripts/gen_docs.py`) read copier.yml only through this module.

Parsing follows copier's own loader: several YAML documents merge into one mapping, and
`!include PATTERN` reads the files matching the glob, relative to the template root. The answer
model evaluates defaults and `when` the way copier does (copier's filters, StrictUndefined), so a
test or a generated page can say which questions an answer set asks and what it defaults to
without rendering the template.

Everything returned is shared and cached: read it, never change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from jinja2.sandbox import SandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"
FOLDER_NAME = "_folder_name"  # copier's variable: the destination folder's name


# --- parsing ------------------------------------------------------------------------------------


def _loader(root: Path) -> type[yaml.SafeLoader]:
    """yaml's safe loader with copier's `!include PATTERN`, a glob relative to `root`."""

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
        if not isinstance(node, yaml.ScalarNode):
            raise TypeError(f"copier.yml: !include takes a path pattern, not {node!r}")
        documents: list[Any] = []
        for path in sorted(root.glob(str(loader.construct_scalar(node)))):
            documents += [doc for doc in yaml.load_all(path.read_text(), Loader=Loader) if doc]
        return documents

    Loader.add_constructor("!include", include)
    return Loader


def _documents(loaded: list[Any]) -> list[dict[str, Any]]:
    """Documents, with included lists of documents flattened in place."""
    flat: list[dict[str, Any]] = []
    for document in loaded:
        if isinstance(document, list):
            flat += _documents(document)
        elif isinstance(document, dict):
            flat.append(document)
    return flat


def load(path: Path) -> dict[str, Any]:
    """Every top-level key of a copier.yml, settings (`_` keys) included, in file order."""
    loader = _loader(path.parent)
    loaded = [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]
    merged: dict[str, Any] = {}
    for document in _documents(loaded):
        merged.update(document)
    return merged


@cache
def config() -> dict[str, Any]:
    """This template's copier.yml (`load`), read once."""
    return load(COPIER_YML)


def questions() -> dict[str, dict[str, Any]]:
    """The questions and computed values (`when: false`), in file order; settings left out."""
    return {name: spec for name, spec in config().items() if not name.startswith("_")}


def is_computed(spec: Mapping[str, Any]) -> bool:
    """A value derived in copier.yml and never asked (`when: false`)."""
    when = spec.get("when", True)
    return when is False or (isinstance(when, str) and when.strip().lower() == "false")


def asked_questions() -> dict[str, dict[str, Any]]:
    """The questions copier may ask (computed values left out), in the order it asks them."""
    return {name: spec for name, spec in questions().items() if not is_computed(spec)}


def choice_labels(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, label) of each choice (copier accepts a list or a label -> value map)."""
    choices = spec.get("choices")
    if choices is None:
        return []
    if isinstance(choices, Mapping):
        return [(str(value), str(label)) for label, value in choices.items()]
    return [(str(value), str(value)) for value in choices]


def choice_values(spec: Mapping[str, Any]) -> list[str]:
    """The answer values of a choice question."""
    return [value for value, _ in choice_labels(spec)]


def choice_questions() -> dict[str, list[str]]:
    """Every asked choice question with its values, in copier.yml order."""
    return {
        name: choice_values(spec)
        for name, spec in questions().items()
        if spec.get("choices") and spec.get("when") is not False
    }


# --- the answer model: defaults and `when`, evaluated the way copier does ----------------------


@cache
def jinja_env() -> SandboxedEnvironment:
    """Copier's Jinja setup: its filters, the template root as loader, StrictUndefined."""
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(ROOT)),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def render(text: str, context: Mapping[str, Any]) -> str:
    return jinja_env().from_string(text).render(**context)


def variables(template: Any) -> set[str]:
    """The names a templated value reads (none for a plain value)."""
    if not isinstance(template, str):
        return set()
    return set(jinja2.meta.find_undeclared_variables(jinja_env().parse(template)))


def to_bool(value: Any) -> bool:
    """Copier's `cast_to_bool`: numbers, YAML booleans and nulls, then Python truthiness."""
    if isinstance(value, bool):
        return value
    try:
        return bool(float(value))
    except (TypeError, ValueError):
        pass
    if isinstance(value, str):
        lower = value.strip().lower()
        if lower in {"", "n", "no", "f", "false", "off", "~", "null", "none"}:
            return False
        if lower in {"y", "yes", "t", "true", "on"}:
            return True
    return bool(value)


def cast(spec: Mapping[str, Any], raw: Any, context: Mapping[str, Any]) -> Any:
    """A default or answer as copier casts it (templated strings rendered first)."""
    if is_templated(raw):
        raw = render(raw, context)
    kind = spec.get("type", "str")
    if spec.get("multiselect"):
        if isinstance(raw, str):
            raw = yaml.safe_load(raw) or []
        return [str(option) for option in raw]
    if kind == "bool":
        return to_bool(raw)
    if kind in {"yaml", "json"} and isinstance(raw, str):
        return yaml.safe_load(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw if raw is None else str(raw)


def is_asked(spec: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    when = spec.get("when", True)
    if isinstance(when, str):
        when = render(when, context)
    return to_bool(when)


def effective_row(
    answers: Mapping[str, Any],
    folder_name: str = "svc",
    specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(asked, context): the questions copier asks for `answers` with their values, and the full
    render context (computed values and unasked questions' defaults included).

    Questions are walked in copier.yml order (`specs`: copier.yml's questions unless given). As
    in copier, a question that is not asked still takes a given answer (else its default) in the
    context, but is not asked or stored.
    """
    context: dict[str, Any] = {FOLDER_NAME: folder_name}
    asked: dict[str, Any] = {}
    for name, spec in (questions() if specs is None else specs).items():
        asked_here = spec.get("when") is not False and is_asked(spec, context)
        raw = answers[name] if name in answers else spec.get("default")
        context[name] = cast(spec, raw, context)
        if asked_here:
            asked[name] = context[name]
    return asked, context
