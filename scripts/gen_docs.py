"""Write the question text of the docs from copier.yml, its one source.

    uv run python scripts/gen_docs.py            # rewrite the generated parts
    uv run python scripts/gen_docs.py --check    # exit 1 and print the diff when they are stale

copier.yml's `help` is the one-line prompt (at most HELP_MAX characters: what the question
decides); the long explanation is written by hand in docs/questions/<name>.md. Generated, between
the markers `<!-- questions:start -->` and `<!-- questions:end -->`:

- the question table of README.md and of docs/questions/index.md (name and page, choices, default,
  help);
- the header of every docs/questions/<name>.md (title, help, type, choices with their prompt
  labels, default, when it is asked, the validation when it is only "one of the choices").

A default that copier.yml computes is described by evaluating it with copier's answer model: an
example for a name derived from another (`orders-service` -> `orders_service`), and the values
that differ for a choice it depends on (`compose` when `database` is `sqlite`).
`tests/test_docs.py` runs `--check`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import copier_yml
from copier_yml import FOLDER_NAME, asked_questions, choice_labels, choice_values, questions

START = "<!-- questions:start -->"
END = "<!-- questions:end -->"
NOTICE = "<!-- generated from copier.yml by scripts/gen_docs.py: edit copier.yml, then run it -->"
HELP_MAX = 90  # a prompt line: copier prints the help, then the default, on one line
EXAMPLE_FOLDER = "orders-service"  # the destination folder the examples of derived names use
README = "README.md"
INDEX = "docs/questions/index.md"
PAGES = "docs/questions"

Spec = Mapping[str, Any]


# --- what copier.yml says about a question, as text ----------------------------------------------


def help_line(spec: Spec) -> str:
    """The help as the prompt prints it: one line."""
    text = str(spec.get("help", ""))
    if copier_yml.is_templated(text):
        text = copier_yml.render(text, copier_yml.effective_row({})[1])
    return " ".join(text.split())


def kind(spec: Spec) -> str:
    if spec.get("choices") and spec.get("multiselect"):
        return "several choices (a list; none, one or more)"
    if spec.get("choices"):
        return "choice"
    return "yes / no" if spec.get("type") == "bool" else "text"


def shown(value: Any) -> str:
    """An answer as the docs write it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(f"`{item}`" for item in value) if value else "none"
    return f"`{value}`"


def _values_of(spec: Spec) -> list[Any]:
    return [True, False] if spec.get("type") == "bool" else list(choice_values(spec))


def _derived_from_choice(name: str, source: str) -> str:
    """The default of `name`, computed from the choice question `source`: the usual value, and
    the values that differ with the source's answer."""
    usual = copier_yml.effective_row({})[1][name]
    others: dict[str, list[str]] = {}
    for value in _values_of(questions()[source]):
        got = copier_yml.effective_row({source: value})[1][name]
        if got != usual:
            others.setdefault(shown(got), []).append(shown(value))
    exceptions = [f"{got} when `{source}` is {' or '.join(when)}" for got, when in others.items()]
    return shown(usual) + (f" ({'; '.join(exceptions)})" if exceptions else "")


def default_text(name: str, spec: Spec) -> str:
    """The default: the value, or how copier.yml computes it."""
    raw = spec.get("default")
    if not copier_yml.is_templated(raw):
        return shown(copier_yml.cast(spec, raw, {}))
    sources = copier_yml.variables(raw)
    specs = questions()
    if len(sources) == 1:
        (source,) = sources
        if source in specs and _values_of(specs[source]):
            return _derived_from_choice(name, source)
        if source == FOLDER_NAME or source in specs:
            context = copier_yml.effective_row({}, folder_name=EXAMPLE_FOLDER)[1]
            origin = "the destination folder's name" if source == FOLDER_NAME else f"`{source}`"
            return f"from {origin} (`{context[source]}` → `{context[name]}`)"
    return f"`{' '.join(str(raw).split())}`"  # no rule to describe it: the expression itself


def asked_when(spec: Spec) -> str:
    """When copier asks the question ('' when always)."""
    when = spec.get("when", True)
    if when is True:
        return ""
    expression = str(when).strip().removeprefix("{{").removesuffix("}}").strip()
    return f"asked when `{expression}`"


def label_text(value: str, label: str) -> str:
    """What the prompt's label adds to the value ('' when nothing)."""
    if label.lower() == value.lower():
        return ""
    return label.removeprefix(f"{value}:").strip()


def cell(text: str) -> str:
    return text.replace("|", "\\|")


# --- the generated parts -------------------------------------------------------------------------


def table(link_prefix: str) -> list[str]:
    """The question table: one row per question, linked to its page."""
    rows = ["| question | choices | default | help |", "|---|---|---|---|"]
    for name, spec in asked_questions().items():
        values = ", ".join(f"`{value}`" for value in choice_values(spec)) or kind(spec)
        if when := asked_when(spec):
            values += f" ({when})"
        link = f"[`{name}`]({link_prefix}{name}.md)"
        cells = [link, values, default_text(name, spec), help_line(spec)]
        rows.append("| " + " | ".join(cell(text) for text in cells) + " |")
    return rows


def page_header(name: str, spec: Spec) -> list[str]:
    """The top of docs/questions/<name>.md: title, help and the facts table."""
    rows = [f"# {name}", "", help_line(spec), "", "| | |", "|---|---|", f"| type | {kind(spec)} |"]
    if labels := choice_labels(spec):
        texts = [label_text(value, label) for value, label in labels]
        choices = [
            f"`{value}`" + (f": {text}" if text else "")
            for (value, _), text in zip(labels, texts, strict=True)
        ]
        rows.append(f"| choices | {cell(('<br>' if any(texts) else ', ').join(choices))} |")
    rows.append(f"| default | {cell(default_text(name, spec))} |")
    if when := asked_when(spec):
        rows.append(f"| asked | {cell(when.removeprefix('asked '))} |")
    if not spec.get("validator") and kind(spec) != "yes / no":
        allowed = "each one of the choices" if spec.get("multiselect") else "one of the choices"
        rows.append(f"| validation | {allowed if labels else 'none'} |")
    return rows


def replace_block(text: str, block: list[str], where: str) -> str:
    """`text` with its generated part replaced by `block` (markers and notice included)."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise SystemExit(f"{where}: needs exactly one {START} and one {END}")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return "\n".join([before + START, NOTICE, *block, "", END]) + after


def expected(root: Path) -> dict[Path, str]:
    """Every generated file as it should read, from the files under `root`."""
    wanted = {
        root / README: table("docs/questions/"),
        root / INDEX: table(""),
    }
    wanted |= {root / PAGES / f"{n}.md": page_header(n, s) for n, s in asked_questions().items()}
    files = {}
    for path, block in wanted.items():
        current = path.read_text() if path.is_file() else f"{START}\n{END}\n"
        files[path] = replace_block(current, block, str(path.relative_to(root)))
    return files


def help_problems() -> list[str]:
    """Questions whose help does not fit a prompt line."""
    problems = []
    for name, spec in asked_questions().items():
        line = help_line(spec)
        if not line:
            problems.append(f"{name}: no help in copier.yml")
        elif len(line) > HELP_MAX:
            problems.append(f"{name}: help has {len(line)} characters, {HELP_MAX} at most: {line}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the diff; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=copier_yml.ROOT, help="where the docs are")
    args = parser.parse_args(argv)
    problems = help_problems()
    stale = []
    for path, text in expected(args.root).items():
        current = path.read_text() if path.is_file() else ""
        if current == text:
            continue
        stale.append(path)
        if args.check:
            name = str(path.relative_to(args.root))
            diff = difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True), name, name
            )
            sys.stdout.writelines(diff)
        else:
            path.write_text(text)
    for problem in problems:
        print(f"copier.yml: {problem}")
    if args.check and stale:
        print(f"stale: {', '.join(str(p.relative_to(args.root)) for p in stale)}")
        print("run `uv run python scripts/gen_docs.py` and commit the result")
    elif stale:
        print(f"wrote {len(stale)} files")
    return 1 if problems or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
