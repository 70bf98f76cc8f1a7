"""Render every matrix case once and check each rendered artifact statically.

Every check is its own test, parametrized by matrix case, and explains a failure with the answers,
the tool output and the offending file (`Rendered.explain`). Nothing here installs the rendered
project (mypy strict and the service's own tests run in test_service.py).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matrix
import pytest
import yaml
from matrix import MATRIX, Case, RenderCase
from rendering import BIN, ROOT, Rendered, choice_questions, questions, render

# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="session", params=MATRIX, ids=[case.id for case in MATRIX])
def rendered(request: pytest.FixtureRequest, render_case: RenderCase) -> Rendered:
    """The render of one matrix case, shared by every static test of that case."""
    case: Case = request.param
    return render_case(case)


def package_dir(project: Rendered) -> str:
    return f"src/{project.answers['package_name']}"


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


def compose_files(project: Rendered) -> list[str]:
    pattern = re.compile(r"(docker-)?compose([.-][\w.-]+)?\.ya?ml")
    return [name for name in project.files if pattern.fullmatch(Path(name).name)]


def workflow_files(project: Rendered) -> list[str]:
    return [
        name
        for name in project.files
        if name.startswith(".github/workflows/") and name.endswith((".yml", ".yaml"))
    ]


def expected_workflows(project: Rendered) -> list[str]:
    """The workflows the answers promise."""
    answers = project.answers
    if answers.get("ci_provider") != "github":
        return []
    expected = [".github/workflows/ci.yml", ".github/workflows/deploy.yml"]
    if matrix._to_bool(answers.get("template_updates", False)):
        expected.append(".github/workflows/template-update.yml")
    return expected


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
    package = package_dir(default_render)
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
        *(
            f"{package}/core/{name}.py"
            for name in ("settings", "logging", "middleware", "errors", "health")
        ),
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


# --- linters and offline validators ---------------------------------------------------------


def test_ruff_check(rendered: Rendered) -> None:
    rendered.run(BIN / "ruff", "check", "--no-cache", "--config", "pyproject.toml", ".")


# The environments that type-check the renders: each is one render, synced, plus the
# dependencies of the other renders listed with it (their union). ARQ pins redis-py below 6 and
# taskiq-redis needs 8 or later, so ARQ renders get an environment of their own.
TYPECHECK_ENVIRONMENTS: dict[str, list[dict[str, Any]]] = {
    "main": [
        {"server": "gunicorn", "queue": "celery", "sentry": True, "tracing": "cloud_trace"},
        {"queue": "taskiq", "broker": "redis"},
        {"queue": "taskiq", "broker": "rabbitmq"},
    ],
    "arq": [{"server": "gunicorn", "queue": "arq", "sentry": True, "tracing": "cloud_trace"}],
}


def typecheck_environment_of(project: Rendered) -> str:
    return "arq" if project.answers.get("queue") == "arq" else "main"


def _requirements(project: Rendered) -> list[str]:
    """Every dependency of a render: the project's and its dev group's."""
    pyproject = tomllib.loads(project.read("pyproject.toml"))
    groups = pyproject.get("dependency-groups", {})
    return [*pyproject["project"]["dependencies"], *groups.get("dev", [])]


@pytest.fixture(scope="session")
def typecheck_python(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Rendered], Path]:
    """The Python of an environment holding every dependency `project` can have.

    Installing each render would cost a minute per case; the dependencies are the same, so one
    environment (rendered with every optional dependency) serves, built on first use. Its own
    package has a name no matrix case uses, so each render's `src/` is what mypy reads.
    """
    built: dict[str, Path] = {}

    def python_for(project: Rendered) -> Path:
        name = typecheck_environment_of(project)
        if name not in built:
            tmp = tmp_path_factory.mktemp(f"typecheck-{name}")
            first, *others = TYPECHECK_ENVIRONMENTS[name]
            answers = {"project_name": "Typecheck Environment", **first}
            environment = render(tmp / "svc", answers)
            environment.uv("sync", "--quiet", about="pyproject.toml")
            python = environment.path / ".venv" / "bin" / "python"
            for n, more in enumerate(others):
                other = render(tmp / f"other-{n}", {"project_name": "Typecheck Other", **more})
                requirements = _requirements(other)
                environment.uv("pip", "install", "--quiet", "--python", python, *requirements)
            built[name] = python
        return built[name]

    return python_for


def test_mypy_strict(rendered: Rendered, typecheck_python: Callable[[Rendered], Path]) -> None:
    # The render's own [tool.mypy] configuration (strict, its files, its overrides).
    python = typecheck_python(rendered)
    rendered.run(python, "-m", "mypy", "--no-incremental", about="pyproject.toml")


def test_ruff_format(rendered: Rendered) -> None:
    rendered.run(
        BIN / "ruff", "format", "--check", "--diff", "--no-cache", "--config", "pyproject.toml", "."
    )


def test_hadolint(rendered: Rendered) -> None:
    assert "Dockerfile" in rendered.files, rendered.explain(None, "no Dockerfile")
    rendered.run(BIN / "hadolint", "--failure-threshold", "style", "Dockerfile", about="Dockerfile")


def test_workflows_schema(rendered: Rendered) -> None:
    workflows = workflow_files(rendered)
    promised = expected_workflows(rendered)
    missing = [name for name in promised if name not in rendered.files]
    assert not missing, rendered.explain(None, f"workflows the answers promise: {missing}")
    if not promised:
        assert not workflows, rendered.explain(None, f"workflows without GitHub CI: {workflows}")
    for name in workflows:
        rendered.run(
            BIN / "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            name,
            about=name,
        )


def test_dependabot_schema(rendered: Rendered) -> None:
    name = ".github/dependabot.yml"
    github = rendered.answers.get("ci_provider") == "github"
    assert (name in rendered.files) == github, rendered.explain(None, f"{name} vs ci_provider")
    if not github:
        return  # its absence is what was to check
    rendered.run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", name, about=name
    )


def test_gitlab_ci_schema(rendered: Rendered) -> None:
    name = ".gitlab-ci.yml"
    gitlab = rendered.answers.get("ci_provider") == "gitlab"
    assert (name in rendered.files) == gitlab, rendered.explain(None, f"{name} vs ci_provider")
    included = [f for f in rendered.files if f.startswith(".gitlab/ci/") and f.endswith(".yml")]
    if not gitlab:
        assert not included, rendered.explain(None, f"GitLab CI files without GitLab: {included}")
        return  # their absence is what was to check
    assert included, rendered.explain(name, "no .gitlab/ci/*.yml to include")
    # .gitlab-ci.yml includes .gitlab/ci/*.yml: each file is a valid (partial) configuration.
    for path in [name, *included]:
        rendered.run(
            BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", path, about=path
        )


def test_compose_schema(rendered: Rendered) -> None:
    files = compose_files(rendered)
    assert "compose.yaml" in files, rendered.explain(None, "no compose.yaml (the local stack)")
    for name in files:
        rendered.run(
            BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", name, about=name
        )


def test_zizmor(rendered: Rendered) -> None:
    if not (rendered.path / ".github").is_dir():
        assert not expected_workflows(rendered), rendered.explain(None, "no .github/")
        return
    result = rendered.run(
        BIN / "zizmor", "--offline", "--no-progress", "--color", "never", ".github/", check=False
    )
    output = result.stdout + result.stderr
    about = next(iter(workflow_files(rendered)), None)
    assert result.returncode == 0, rendered.explain(about, output)
    assert "No findings to report" in output, rendered.explain(about, output)


def test_actionlint(rendered: Rendered) -> None:
    workflows = workflow_files(rendered)
    if not workflows:
        assert not expected_workflows(rendered), rendered.explain(None, "no workflows")
        return
    for name in workflows:
        rendered.run(
            BIN / "actionlint",
            "-no-color",
            "-shellcheck",
            BIN / "shellcheck",
            "-pyflakes",
            "",
            name,
            about=name,
        )


def test_yamllint(rendered: Rendered) -> None:
    files = yaml_files(rendered)
    assert ".copier-answers.yml" in files
    result = rendered.run(
        BIN / "yamllint",
        "--strict",
        "-f",
        "parsable",
        "-c",
        ROOT / ".yamllint.yaml",
        *files,
        check=False,
    )
    output = result.stdout + result.stderr
    about = output.split(":", 1)[0] if output else None
    assert result.returncode == 0, rendered.explain(about, output)


def shell_scripts(project: Rendered) -> list[str]:
    shebang = re.compile(r"#!\s*/(usr/)?bin/(env\s+)?(ba|da|k)?sh\b")
    scripts = []
    for name, text in text_files(project).items():
        if name.endswith(".sh") or (not Path(name).suffix and shebang.match(text)):
            scripts.append(name)
    return sorted(scripts)


def test_shellcheck(rendered: Rendered) -> None:
    # Shell inside the Dockerfile is checked by hadolint (which embeds shellcheck); this covers
    # the scripts later deploy targets render.
    for name in shell_scripts(rendered):
        rendered.run(BIN / "shellcheck", "--norc", name, about=name)


# --- variants -------------------------------------------------------------------------------


def test_server_variant(rendered: Rendered) -> None:
    gunicorn = rendered.answers["server"] == "gunicorn"
    has_conf = "gunicorn.conf.py" in rendered.files
    assert has_conf == gunicorn, rendered.explain(None, f"gunicorn.conf.py rendered: {has_conf}")
    dependencies = tomllib.loads(rendered.read("pyproject.toml"))["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in dependencies}
    assert ("gunicorn" in names) == gunicorn, rendered.explain("pyproject.toml")
    dockerfile = rendered.read("Dockerfile")
    assert ("gunicorn" in dockerfile) == gunicorn, rendered.explain("Dockerfile")


QUEUE_LIBRARIES = {
    ("celery", "redis"): {"celery"},
    ("celery", "rabbitmq"): {"celery"},
    ("taskiq", "redis"): {"taskiq", "taskiq-redis"},
    ("taskiq", "rabbitmq"): {"taskiq", "taskiq-aio-pika"},
    ("arq", "redis"): {"arq"},
}


def test_queue_variant(rendered: Rendered) -> None:
    """The worker, its library, its broker and its compose service exist exactly with a queue."""
    queue = rendered.answers["queue"]
    broker = "redis" if queue == "arq" else rendered.answers.get("broker", "none")
    worker = f"{package_dir(rendered)}/worker/app.py"
    assert (worker in rendered.files) == (queue != "none"), rendered.explain(None, worker)
    dependencies = tomllib.loads(rendered.read("pyproject.toml"))["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in dependencies}
    every = set().union(*QUEUE_LIBRARIES.values())
    expected = QUEUE_LIBRARIES.get((queue, broker), set())
    assert names & every == expected, rendered.explain("pyproject.toml")
    services = yaml.safe_load(rendered.read("compose.yaml"))["services"]
    assert ("worker" in services) == (queue != "none"), rendered.explain("compose.yaml")
    if queue != "none":
        command = services["worker"]["command"]
        assert command[-1].endswith(".worker"), rendered.explain("compose.yaml")
        assert broker in services, rendered.explain("compose.yaml", f"no {broker} service")


API_VERSIONS_DOCSTRING = {
    "url_path": "URL path versioning",
    "header": "Header versioning",
    "mounted": "Mounted versioning",
}


def test_api_versioning_variant(rendered: Rendered) -> None:
    strategy = rendered.answers["api_versioning"]
    modules = [name for name in rendered.files if Path(name).name.startswith("api_versions")]
    expected = f"{package_dir(rendered)}/core/api_versions.py"
    assert modules == [expected], rendered.explain(None, f"api_versions modules: {modules}")
    docstring = ast.get_docstring(ast.parse(rendered.read(expected))) or ""
    assert docstring.startswith(API_VERSIONS_DOCSTRING[strategy]), rendered.explain(expected)
    assert len(API_VERSIONS_DOCSTRING) == len(choice_questions()["api_versioning"])


LICENSE_MARKERS = {
    "MIT": ["MIT License", "Permission is hereby granted, free of charge"],
    "Apache-2.0": [
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ],
    "Proprietary": ["All rights reserved"],
}
PYPROJECT_LICENSE = {"MIT": "MIT", "Apache-2.0": "Apache-2.0", "Proprietary": "LicenseRef-"}


def test_license_variant(rendered: Rendered) -> None:
    license_ = rendered.answers["license"]
    text = rendered.read("LICENSE")
    missing = [marker for marker in LICENSE_MARKERS[license_] if marker not in text]
    assert not missing, rendered.explain("LICENSE", f"missing from the {license_} text: {missing}")
    others = [
        marker
        for other, markers in LICENSE_MARKERS.items()
        if other != license_
        for marker in markers[:1]
        if marker in text
    ]
    assert not others, rendered.explain("LICENSE", f"another licence's text: {others}")
    if license_ == "Apache-2.0":
        assert len(text) > 10_000, rendered.explain(None, "the Apache-2.0 text is not complete")
    else:
        assert rendered.answers["author_name"] in text, rendered.explain("LICENSE")
    declared = tomllib.loads(rendered.read("pyproject.toml"))["project"].get("license")
    assert isinstance(declared, str), rendered.explain("pyproject.toml", "no SPDX `license`")
    expected = PYPROJECT_LICENSE[license_]
    matches = declared.startswith(expected) if expected.endswith("-") else declared == expected
    assert matches, rendered.explain("pyproject.toml", f"license = {declared!r}")


def test_python_version_variant(rendered: Rendered) -> None:
    version = rendered.answers["python_version"]
    assert rendered.read(".python-version").strip() == version, rendered.explain(".python-version")
    images = re.findall(r"python:(\d+\.\d+)", rendered.read("Dockerfile"))
    assert images, rendered.explain("Dockerfile", "no python base image")
    assert set(images) == {version}, rendered.explain("Dockerfile", f"python images: {images}")
    requires = tomllib.loads(rendered.read("pyproject.toml"))["project"]["requires-python"]
    assert requires == f">={version}", rendered.explain("pyproject.toml")


# --- settings documented in .env.example ----------------------------------------------------


def settings_env_names(source: str, prefix: str) -> dict[str, str]:
    """Field name -> environment variable, from the source of core/settings.py's `Settings`."""
    tree = ast.parse(source)
    settings = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    names = {}
    for node in settings.body:
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
    settings_file = f"{package_dir(rendered)}/core/settings.py"
    prefix = rendered.answers["package_name"].upper() + "_"
    names = settings_env_names(rendered.read(settings_file), prefix)
    assert "web_concurrency" in names, rendered.explain(settings_file)
    assert names["web_concurrency"] == "WEB_CONCURRENCY", rendered.explain(settings_file)
    assert ".env.example" in rendered.files, rendered.explain(None, "no .env.example rendered")
    example = rendered.read(".env.example")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = sorted(env for env in names.values() if env not in listed)
    assert not missing, rendered.explain(".env.example", f"settings not listed: {missing}")


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
