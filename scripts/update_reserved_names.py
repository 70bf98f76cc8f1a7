"""Regenerate includes/reserved_names.jinja: the names a generated package may not take.

The list is the union, over every Python the template supports, of the keywords (hard and soft)
and the standard library's top-level modules. Run it with each supported interpreter on PATH
(the pyenv ones by default) whenever `python_version` gains a choice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "includes" / "reserved_names.jinja"
INTERPRETERS = (
    "/root/.pyenv/versions/3.12.1/bin/python3",
    "/root/.pyenv/versions/3.13.0/bin/python3",
)
PROBE = (
    "import json, keyword, sys;"
    "print(json.dumps([sorted(set(keyword.kwlist) | set(keyword.softkwlist)),"
    " sorted(n for n in sys.stdlib_module_names if not n.startswith('_'))]))"
)


def _wrap(names: list[str]) -> str:
    lines, current = [], "   "
    for name in names:
        token = f' "{name}",'
        if len(current) + len(token) > 100:
            lines.append(current)
            current = "   "
        current += token
    lines.append(current)
    return "\n".join(lines)


def render(keywords: list[str], modules: list[str]) -> str:
    return (
        "{#- Names a generated package must not take: Python keywords (hard and soft) and the\n"
        "    standard library modules of every supported Python. Regenerate with\n"
        "    `uv run python scripts/update_reserved_names.py`. -#}\n"
        f"{{%- set python_keywords = [\n{_wrap(keywords)}\n] -%}}\n"
        f"{{%- set stdlib_modules = [\n{_wrap(modules)}\n] -%}}\n"
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
    TARGET.write_text(render(*collect(tuple(sys.argv[1:]) or INTERPRETERS)))
    print(f"wrote {TARGET.relative_to(ROOT)}")
