"""Regenerate includes/reserved_names.jinja: the names a generated package may not take.

The list is the union, over every Python the template supports, of the keywords (hard and soft),
the standard library's top-level modules, and the top-level import names of the service's own
dependencies: every requirement of template/pyproject.toml.jinja (each option's, the dev group's)
installed with its own dependencies by `uv pip install --target`, its import names read from the
installed distributions' RECORD files. A package named like one of them would shadow it.

Run it whenever `python_version` gains a choice or pyproject.toml.jinja gains a dependency
(tests/test_answers.py fails until then): `uv run python scripts/update_reserved_names.py`, with
each supported interpreter as an argument or, by default, tests/rendering.py's `python_for` of
each version (`$CFS_PYTHON_3_12`..., else the newest pyenv build).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "includes" / "reserved_names.jinja"
PYPROJECT = ROOT / "template" / "pyproject.toml.jinja"
PROBE = (
    "import json, keyword, sys;"
    "print(json.dumps([sorted(set(keyword.kwlist) | set(keyword.softkwlist)),"
    " sorted(n for n in sys.stdlib_module_names if not n.startswith('_'))]))"
)
# A name a package could take (copier.yml's package_name pattern).
PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BLOCKS = re.compile(r"^(?:dependencies|dev) = \[\n(.*?)^\]", re.M | re.S)
JINJA_TAG = re.compile(r"\{%.*?%\}")
QUOTED = re.compile(r'"([^"]*)"')
EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
LITERAL = re.compile(r"'([^']*)'")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
MODULE_FILE = (".py", ".pyi", ".so", ".pyd")


def requirements(text: str) -> list[str]:
    """Every requirement string pyproject.toml.jinja can render, for every answer: Jinja tags
    dropped, each `{{ 'a' if x else 'b' }}` expanded to each of its literals."""
    found: set[str] = set()
    for block in BLOCKS.findall(text):
        for line in JINJA_TAG.sub("", block).splitlines():
            for quoted in QUOTED.findall(line.split("#", 1)[0]):
                found.update(_expand(quoted))
    return sorted(requirement for requirement in found if NAME.match(requirement))


def _expand(text: str) -> list[str]:
    match = EXPRESSION.search(text)
    if not match:
        return [text]
    head, tail = text[: match.start()], text[match.end() :]
    return [
        variant
        for literal in LITERAL.findall(match[1])
        for variant in _expand(head + literal + tail)
    ]


def distribution_names(text: str) -> list[str]:
    """The normalized distribution names of `requirements(text)`."""
    return sorted({normalize(NAME.match(r)[0]) for r in requirements(text)})  # type: ignore[index]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def import_names(record: Path) -> set[str]:
    """The top-level modules and packages a distribution installs, from its RECORD."""
    names = set()
    for line in record.read_text().splitlines():
        path = line.split(",", 1)[0]
        parts = path.split("/")
        first = parts[0]
        if first in {"..", "bin"} or first.endswith((".dist-info", ".data")):
            continue
        if not path.endswith(MODULE_FILE):
            continue
        names.add(first.split(".", 1)[0] if len(parts) == 1 else first)
    return names


def installed_modules(requirement: str, python: str) -> dict[str, str]:
    """Import name -> distribution, for `requirement` and everything it depends on."""
    modules: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as target:
        command = ["uv", "pip", "install", "--quiet", "--python", python, "--target", target]
        subprocess.run([*command, requirement], check=True)
        for record in sorted(Path(target).glob("*.dist-info/RECORD")):
            distribution = normalize(record.parent.name.split("-", 1)[0])
            for name in import_names(record):
                modules.setdefault(name, distribution)
    return modules


def dependency_modules(interpreters: tuple[str, ...]) -> dict[str, str]:
    modules: dict[str, str] = {}
    for python in interpreters:
        for requirement in requirements(PYPROJECT.read_text()):
            for name, distribution in installed_modules(requirement, python).items():
                modules.setdefault(name, distribution)
    return {name: modules[name] for name in sorted(modules) if PACKAGE_NAME.match(name)}


def _wrap(tokens: list[str]) -> str:
    lines, current = [], "   "
    for token in (f" {token}," for token in tokens):
        if len(current) + len(token) > 100:
            lines.append(current)
            current = "   "
        current += token
    lines.append(current)
    return "\n".join(lines)


def render(
    keywords: list[str], modules: list[str], dependencies: dict[str, str], distributions: list[str]
) -> str:
    reserved = set(keywords) | set(modules)
    own = {name: dist for name, dist in dependencies.items() if name not in reserved}
    return (
        "{#- Names a generated package must not take: Python keywords (hard and soft), the\n"
        "    standard library modules of every supported Python, and the import names of the\n"
        "    service's dependencies (template/pyproject.toml.jinja, every option, with what they\n"
        "    depend on; import name -> distribution). Generated: regenerate with\n"
        "    `uv run python scripts/update_reserved_names.py`. -#}\n"
        f"{{%- set python_keywords = [\n{_wrap([json.dumps(k) for k in keywords])}\n] -%}}\n"
        f"{{%- set stdlib_modules = [\n{_wrap([json.dumps(m) for m in modules])}\n] -%}}\n"
        "{%- set dependency_modules = {\n"
        f"{_wrap([f'{json.dumps(n)}: {json.dumps(d)}' for n, d in own.items()])}\n"
        "} -%}\n"
        "{#- The distributions the names above come from (tests/test_answers.py compares them\n"
        "    with pyproject.toml.jinja's). -#}\n"
        f"{{%- set dependency_distributions = [\n{_wrap([json.dumps(d) for d in distributions])}\n"
        "] -%}\n"
    )


def collect(interpreters: tuple[str, ...]) -> tuple[list[str], list[str]]:
    keywords: set[str] = set()
    modules: set[str] = set()
    for python in interpreters:
        out = subprocess.run([python, "-c", PROBE], check=True, capture_output=True, text=True)
        kws, mods = json.loads(out.stdout)
        keywords.update(kws)
        modules.update(mods)
    return sorted(keywords), sorted(modules)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]
    from copier_yml import choice_values, questions
    from rendering import python_for

    versions = choice_values(questions()["python_version"])  # copier.yml's, its one parser
    pythons = tuple(sys.argv[1:]) or tuple(python_for(version) for version in versions)
    TARGET.write_text(
        render(
            *collect(pythons),
            dependency_modules(pythons),
            distribution_names(PYPROJECT.read_text()),
        )
    )
    print(f"wrote {TARGET.relative_to(ROOT)}")
