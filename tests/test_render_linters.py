"""The linters and offline validators every matrix case's render passes (test_render.py's
static checks, by tool): ruff, mypy strict, hadolint, the CI and compose schemas, zizmor,
actionlint, yamllint and shellcheck.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier_yml
import pytest
from render_files import text_files, yaml_files
from rendering import BIN, ROOT, Rendered, render

# --- which files each tool reads ------------------------------------------------------------


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
    if copier_yml.to_bool(answers.get("template_updates", False)):
        expected.append(".github/workflows/template-update.yml")
    return expected


# --- linters and offline validators ---------------------------------------------------------


def test_ruff_check(rendered: Rendered) -> None:
    rendered.run(BIN / "ruff", "check", "--no-cache", "--config", "pyproject.toml", ".")


def test_import_contracts(rendered: Rendered) -> None:
    """The rooms hold on every row: `lint-imports` reads the source (it imports nothing), so the
    render's own contracts run without installing it."""
    result = rendered.run(
        BIN / "lint-imports",
        "--config",
        "pyproject.toml",
        "--no-cache",
        env={"PYTHONPATH": str(rendered.path / "src")},
        about="pyproject.toml",
    )
    assert "0 broken" in result.stdout, rendered.explain("pyproject.toml", result.stdout)


# The environments that type-check the renders: each is one render, synced, plus the
# dependencies of the other renders listed with it (their union). ARQ pins redis-py below 6 and
# taskiq-redis needs 8 or later, so ARQ renders get an environment of their own.
TYPECHECK_ENVIRONMENTS: dict[str, list[dict[str, Any]]] = {
    "main": [
        {
            "server": "gunicorn",
            "queue": "celery",
            "sentry": True,
            "tracing": "cloud_trace",
            "auth": "oidc_and_api_key",
        },
        {"queue": "taskiq", "broker": "redis"},
        {"queue": "taskiq", "broker": "rabbitmq"},
    ],
    "arq": [
        {
            "server": "gunicorn",
            "queue": "arq",
            "sentry": True,
            "tracing": "cloud_trace",
            "auth": "oidc_and_api_key",
        }
    ],
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
            python = environment.venv_bin()
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
