"""Deployment targets: the files each answer set promises, and no secret values in any.

Each target has its own module (test_deploy_kubernetes, test_deploy_cloud_run,
test_deploy_compose, and test_ci_pipelines for CI/CD); tests/deploy_checks.py holds the
contracts they share.
"""

from __future__ import annotations

import re
from pathlib import Path

import k8s_tools
import pytest
from deploy_checks import (
    KNATIVE_SCHEMA,
    SECRET_NAME,
)
from matrix import ALL_CASES, Case, RenderCase, context_of

# --- files the answers promise --------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_deploy_files_follow_the_answers(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    files = set(project.files)
    target = ctx["deploy_target"]
    expected = {
        "deploy/README.md": True,
        "deploy/deploy.sh": True,
        "deploy/k8s/base/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/overlays/staging/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/overlays/production/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/base/migration-job.yaml": ctx["uses_kustomize"] and ctx["has_database"],
        "deploy/helm/Chart.yaml": ctx["uses_helm"],
        "deploy/helm/values-production.yaml": ctx["uses_helm"],
        "deploy/helm/values-staging.yaml": ctx["uses_helm"],
        "deploy/cloudrun/service.yaml": target == "cloud_run",
        "deploy/cloudrun/migrate-job.yaml": target == "cloud_run" and ctx["has_database"],
        "deploy/cloudrun/cloudbuild.yaml": target == "cloud_run" and ctx["ci_provider"] == "gitlab",
        "deploy/compose/compose.prod.yaml": target == "compose",
        "compose.prod.yaml": False,  # moved to deploy/compose/ in 0.2.0 (hooks/migrate.py)
        ".github/workflows/deploy.yml": ctx["ci_provider"] == "github",
        ".github/workflows/template-update.yml": ctx["ci_provider"] == "github"
        and ctx["template_updates"],
        ".gitlab-ci.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/test.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/deploy.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/template-update.yml": ctx["ci_provider"] == "gitlab"
        and ctx["template_updates"],
    }
    wrong = {name: want for name, want in expected.items() if (name in files) != want}
    assert not wrong, project.explain(None, f"file present != expected: {wrong}")
    deploy_sh = project.path / "deploy/deploy.sh"
    assert deploy_sh.stat().st_mode & 0o111, project.explain(None, "deploy.sh is not executable")


DEPLOY_ARTIFACT = re.compile(
    r"^(deploy/.*|compose\.prod\.yaml|\.github/workflows/deploy\.yml|\.gitlab/ci/deploy\.yml)$"
)


@pytest.mark.parametrize("case", ALL_CASES)
def test_no_secret_values_in_deploy_artifacts(case: Case, render_case: RenderCase) -> None:
    """Secret settings are references (Secret, Secret Manager, CI secrets), never values.

    (The CI test jobs' database containers are throwaway: their literal passwords are allowed
    there and only there, and test_ci_tests_run_against_the_database checks them.)
    """
    project = render_case(case)
    files = [name for name in project.files if DEPLOY_ARTIFACT.match(name)]
    assignment = re.compile(r"^\s*-?\s*([A-Z][A-Z0-9_]*)\s*[:=]\s*(\S.*)$")
    leaks = []
    for name in files:
        text = project.read(name)
        for number, line in enumerate(text.splitlines(), 1):
            match = assignment.match(line)
            if match and SECRET_NAME.search(match.group(1)) and not match.group(2).startswith("$"):
                leaks.append(f"{name}:{number}: {line.strip()}")
        leaks += [
            f"{name}: a URL with a password" for _ in re.findall(r"://[\w.-]+:[^@/\s]+@", text)
        ]
    assert files, project.explain(None, "no deploy artifacts")
    assert not leaks, project.explain(None, "\n".join(leaks))


def test_knative_schema_is_available() -> None:
    """The Knative schema the Cloud Run tests validate against (a copy in tests/schemas)."""
    assert KNATIVE_SCHEMA.is_file(), f"missing {KNATIVE_SCHEMA}"
    assert Path(k8s_tools.helm()).is_file()
    assert Path(k8s_tools.kubectl()).is_file()
