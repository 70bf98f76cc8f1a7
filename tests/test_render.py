"""Render every matrix case once and check each rendered artifact statically.

Every check is its own test, parametrized by matrix case (the `rendered` fixture, conftest.py),
and explains a failure with the answers, the tool output and the offending file
(`Rendered.explain`). Here: the matrix ratchet, what templating must not leave behind, the files a
service has, the settings .env.example documents, escaped free text. The linters and validators
are in test_render_linters.py, each question's variants in test_render_variants.py. Nothing here
installs the rendered project (mypy strict and the service's own tests run in test_service.py).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable
from typing import Any

import matrix
import pytest
import yaml
from copier_yml import choice_questions, questions
from matrix import MATRIX
from render_files import is_helm_template, text_files, yaml_files
from rendering import Rendered, render

# --- helpers --------------------------------------------------------------------------------


def first_failure(
    project: Rendered, files: list[str], check: Callable[[str], str | None]
) -> tuple[str | None, str]:
    """Run `check` on each file; the first file it complains about and every complaint."""
    complaints = [(name, problem) for name in files if (problem := check(name))]
    if not complaints:
        return None, ""
    return complaints[0][0], "\n".join(f"{name}: {problem}" for name, problem in complaints)


def assert_clean(project: Rendered, files: list[str], check: Callable[[str], str | None]) -> None:
    about, report = first_failure(project, files, check)
    assert about is None, project.explain(about, report)


# --- the matrix ratchet ---------------------------------------------------------------------


def test_matrix_covers_every_value_and_pair() -> None:
    """Every choice value, and every pair of values two questions can take together, renders."""
    required_items, required_pairs = matrix.feasible_items_and_pairs()
    items, pairs = matrix.covered(case.answers for case in MATRIX)
    missing_items = sorted(required_items - items)
    missing_pairs = sorted(required_pairs - pairs)
    if missing_items or missing_pairs:
        lines = ["MATRIX (tests/matrix.py) misses:"]
        lines += [f"  value {q}={v}" for q, v in missing_items]
        lines += [f"  pair  {q1}={v1} x {q2}={v2}" for q1, v1, q2, v2 in missing_pairs]
        lines.append("suggested rows (greedy pairwise) that cover them:")
        suggestions = matrix.suggest_rows(missing_pairs)
        lines += [
            f'    Case(id="suggested-{n}", answers={row!r}),'
            for n, row in enumerate(suggestions, 1)
        ]
        pytest.fail("\n".join(lines))


def test_matrix_rows_are_meaningful() -> None:
    """Unique ids, defaults first, and every answer a row gives is asked and allowed."""
    ids = [case.id for case in MATRIX]
    assert len(ids) == len(set(ids)), f"duplicate case ids: {ids}"
    assert MATRIX[0].id == "defaults"
    assert not set(MATRIX[0].answers) & set(choice_questions()), "defaults row sets a choice"
    known = questions()
    choices = choice_questions()
    for case in MATRIX:
        asked, context = matrix.effective_row(case.answers)
        unknown = set(case.answers) - set(known)
        assert not unknown, f"{case.id}: unknown questions {unknown}"
        dead = {name for name in case.answers if name not in asked}
        assert not dead, f"{case.id}: answers for questions that are not asked: {dead}"
        for name, value in case.answers.items():
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if name in choices and str(v) not in choices[name]]
            assert not bad, f"{case.id}: {name}={bad} is not one of {choices[name]}"
        assert not matrix.validation_errors(asked, context), f"{case.id}: refused by a validator"


def test_ratchet_model_respects_when(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair model drops pairs no answer set renders (a question not asked pairs nothing)."""
    fake = {
        "queue": {"type": "str", "choices": ["none", "celery", "arq"], "default": "none"},
        "has_broker": {"type": "bool", "when": False, "default": "{{ queue in ['celery'] }}"},
        "broker": {
            "type": "str",
            "choices": ["redis", "rabbitmq"],
            "default": "redis",
            "when": "{{ has_broker }}",
        },
        "license": {"type": "str", "choices": ["MIT", "Proprietary"], "default": "MIT"},
    }
    fake_choices = {"queue": ["none", "celery", "arq"], "broker": ["redis", "rabbitmq"]}
    fake_choices["license"] = ["MIT", "Proprietary"]
    monkeypatch.setattr(matrix, "questions", lambda: fake)
    monkeypatch.setattr(matrix, "choice_questions", lambda: fake_choices)

    assert matrix.controlling_questions() == ["queue"]
    items, pairs = matrix.feasible_items_and_pairs()
    assert ("broker", "rabbitmq") in items
    assert ("broker", "rabbitmq", "queue", "celery") in pairs
    assert ("broker", "rabbitmq", "queue", "arq") not in pairs
    assert ("broker", "redis", "license", "Proprietary") in pairs
    asked, _ = matrix.effective_row({"queue": "arq", "broker": "rabbitmq"})
    assert "broker" not in asked
    rows = matrix.suggest_rows(pairs)
    _, covered = matrix.covered(rows)
    assert covered == pairs, f"suggested rows {rows} leave {pairs - covered}"


def test_rendered_answers_match_the_model(rendered: Rendered) -> None:
    """The matrix model (defaults, `when`) agrees with what copier actually rendered."""
    asked, _ = matrix.effective_row(rendered.answers)
    for name in choice_questions():
        if name in asked:
            assert str(rendered.answers[name]) == str(asked[name]), rendered.explain()


# --- leftovers of the templating ------------------------------------------------------------

JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|(?<!\$)\{#")
GO_TEMPLATE_OK = re.compile(r"\{%|(?<!\$)\{#")  # Helm templates may keep `{{`, never Jinja tags


def test_no_leftover_jinja(rendered: Rendered) -> None:
    texts = text_files(rendered)

    def check(name: str) -> str | None:
        pattern = GO_TEMPLATE_OK if is_helm_template(name) else JINJA_LEFTOVER
        hits = [
            f"line {n}: {line.strip()}"
            for n, line in enumerate(texts[name].splitlines(), 1)
            if pattern.search(line)
        ]
        return "; ".join(hits) or None

    assert_clean(rendered, sorted(texts), check)


def test_no_template_scars_in_paths(rendered: Rendered) -> None:
    """No file or directory name is empty, templated, or still ends in .jinja."""
    bad = []
    for path in sorted(rendered.path.rglob("*")):
        relative = path.relative_to(rendered.path)
        for part in relative.parts:
            if not part.strip() or "{{" in part or "{%" in part or "}}" in part:
                bad.append(f"{relative}: component {part!r}")
        if path.name.endswith(".jinja"):
            bad.append(f"{relative}: .jinja suffix left")
    assert not bad, rendered.explain(None, "\n".join(bad))


def test_text_files_have_clean_whitespace(rendered: Rendered) -> None:
    """No trailing whitespace, no leading or 3+ blank lines, exactly one final newline."""
    texts = text_files(rendered)

    def check(name: str) -> str | None:
        text = texts[name]
        if not text:
            return None  # py.typed and empty __init__.py are empty on purpose
        problems = [
            f"line {n}: trailing whitespace"
            for n, line in enumerate(text.split("\n"), 1)
            if line != line.rstrip()
        ]
        if not text.endswith("\n"):
            problems.append("no final newline")
        elif text.endswith("\n\n"):
            problems.append("blank lines at the end")
        if text.startswith("\n"):
            problems.append("starts with a blank line")
        for match in re.finditer(r"\n\n\n\n+", text):
            line = text.count("\n", 0, match.start()) + 2
            problems.append(f"line {line}: {match.group().count(chr(10)) - 1} blank lines in a row")
        return "; ".join(problems) or None

    assert_clean(rendered, sorted(texts), check)


# --- the files a service has ----------------------------------------------------------------


def test_default_render_has_the_standard_files(default_render: Rendered) -> None:
    package = default_render.package_dir
    expected = [
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "pyproject.toml",
        "README.md",
        "AGENTS.md",
        ".env.example",
        ".gitignore",
        ".pre-commit-config.yaml",
        "LICENSE",
        ".python-version",
        ".copier-answers.yml",
        ".github/workflows/ci.yml",
        ".github/dependabot.yml",
        "scripts/update-from-template.sh",  # copier update + the conflict check
        "scripts/check-conflicts.sh",
        f"{package}/__init__.py",
        f"{package}/main.py",
        f"{package}/components.py",
        f"{package}/kernel/settings/__init__.py",
        f"{package}/kernel/settings/base.py",
        *(f"{package}/kernel/{name}.py" for name in ("logging", "errors")),
        *(f"{package}/web/{name}.py" for name in ("component", "middleware", "health")),
    ]
    missing = [name for name in expected if name not in default_render.files]
    tests = [name for name in default_render.files if re.fullmatch(r"tests/test_\w+\.py", name)]
    assert not missing, default_render.explain(None, f"missing: {missing}")
    for script in ("scripts/update-from-template.sh", "scripts/check-conflicts.sh"):
        mode = (default_render.path / script).stat().st_mode
        assert mode & 0o111, default_render.explain(script, "not executable")
    assert tests, default_render.explain(None, "no tests/test_*.py rendered")


def test_python_files_parse(rendered: Rendered) -> None:
    """Every .py file compiles with the oldest supported grammar (the code stays 3.12-ready)."""
    python = [name for name in rendered.files if name.endswith(".py")]

    def check(name: str) -> str | None:
        source = rendered.read(name)
        try:
            tree = ast.parse(source, filename=name, feature_version=(3, 12))
            compile(tree, name, "exec", dont_inherit=True)
        except SyntaxError as error:
            return f"line {error.lineno}: {error.msg}"
        return None

    assert python
    assert_clean(rendered, python, check)


def test_answers_file_records_every_asked_question_and_no_secret(rendered: Rendered) -> None:
    recorded = yaml.safe_load(rendered.read(".copier-answers.yml"))
    asked, _ = matrix.effective_row(rendered.answers)
    metadata = {"_src_path", "_commit"}
    explain = rendered.explain(".copier-answers.yml")
    assert set(recorded) - metadata == set(asked), explain
    assert "_src_path" in recorded, explain
    for name, value in asked.items():
        assert recorded[name] == value, explain
    secret = {name for name, spec in questions().items() if spec.get("secret")}
    secret_like = re.compile(r"secret|password|passwd|token|private|credential|api_?key", re.I)
    leaked = [name for name in recorded if name in secret or secret_like.search(name)]
    assert not leaked, rendered.explain(".copier-answers.yml", f"secret-like answers: {leaked}")


# --- settings documented in .env.example ----------------------------------------------------


def settings_env_names(sources: list[str], prefix: str) -> dict[str, str]:
    """Field name -> environment variable, from the sources of kernel/settings/: every field of
    every settings class (`Settings` combines them)."""
    names = {}
    for source in sources:
        for cls in ast.parse(source).body:
            if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("Settings")):
                continue
            for node in cls.body:
                if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                    continue
                field = node.target.id
                if field.startswith("_") or field == "model_config":
                    continue
                names[field] = _alias(node.value) or f"{prefix}{field.upper()}"
    return names


def _alias(value: ast.expr | None) -> str | None:
    """The first string of a Field's `validation_alias`/`alias` (an AliasChoices or a str)."""
    if not isinstance(value, ast.Call):
        return None
    for keyword in value.keywords:
        if keyword.arg not in {"validation_alias", "alias"}:
            continue
        alias: Any = keyword.value
        if isinstance(alias, ast.Call) and alias.args:
            alias = alias.args[0]
        if isinstance(alias, ast.Constant) and isinstance(alias.value, str):
            return alias.value
    return None


def test_env_example_lists_every_setting(rendered: Rendered) -> None:
    settings_dir = f"{rendered.package_dir}/kernel/settings/"
    modules = sorted(name for name in rendered.files if name.startswith(settings_dir))
    prefix = rendered.env_prefix
    names = settings_env_names([rendered.read(name) for name in modules], prefix)
    base = f"{settings_dir}base.py"
    assert names.get("web_concurrency") == "WEB_CONCURRENCY", rendered.explain(base)
    assert ".env.example" in rendered.files, rendered.explain(None, "no .env.example rendered")
    example = rendered.read(".env.example")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = sorted(env for env in names.values() if env not in listed)
    assert not missing, rendered.explain(".env.example", f"settings not listed: {missing}")


def test_settings_combines_every_settings_module(rendered: Rendered) -> None:
    """Each module of kernel/settings/ defines one settings class, and `Settings` inherits them
    all: a component's settings cannot be rendered and left out of the service's."""
    settings_dir = f"{rendered.package_dir}/kernel/settings/"
    init = f"{settings_dir}__init__.py"
    defined = {
        cls.name
        for name in rendered.files
        if name.startswith(settings_dir) and name != init
        for cls in ast.parse(rendered.read(name)).body
        if isinstance(cls, ast.ClassDef) and cls.name.endswith("Settings")
    }
    combined = next(
        node
        for node in ast.parse(rendered.read(init)).body
        if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    bases = {base.id for base in combined.bases if isinstance(base, ast.Name)}
    assert bases == defined, rendered.explain(init, f"defined {sorted(defined)}")


# --- free text is escaped wherever it lands -------------------------------------------------

TRICKY_TEXT = {
    "project_name": "Orders Service",
    "description": 'Takes "orders" \\ refunds: it\'s <fast> & {safe} # not a comment',
    "author_name": 'O\'Brien "Ops" Team',
}


def test_free_text_answers_are_escaped(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Quotes, backslashes and YAML/TOML metacharacters in free text keep every file valid."""
    project = render(tmp_path_factory.mktemp("tricky") / "svc", TRICKY_TEXT)
    pyproject = tomllib.loads(project.read("pyproject.toml"))["project"]
    assert pyproject["description"] == TRICKY_TEXT["description"], project.explain("pyproject.toml")
    assert pyproject["authors"][0]["name"] == TRICKY_TEXT["author_name"], project.explain(
        "pyproject.toml"
    )
    for name in yaml_files(project):
        try:
            list(yaml.safe_load_all(project.read(name)))
        except yaml.YAMLError as error:
            pytest.fail(project.explain(name, str(error)))
    for name in (name for name in project.files if name.endswith(".py")):
        try:
            compile(project.read(name), name, "exec")
        except SyntaxError as error:
            pytest.fail(project.explain(name, f"line {error.lineno}: {error.msg}"))
    recorded = yaml.safe_load(project.read(".copier-answers.yml"))
    for key, value in TRICKY_TEXT.items():
        assert recorded[key] == value, project.explain(".copier-answers.yml")
