"""CI/CD: database and broker service containers in the test jobs, the deploy pipeline's order
and permissions, actions pinned by SHA, the template-update job's wrapper and --trust input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from matrix import ALL_CASES, Case, RenderCase, cases, context_of
from rendering import Rendered

PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


DB_SERVICE_IMAGES = {"postgresql": "postgres:17", "mysql": "mariadb:11"}
REDIS_IMAGE, RABBITMQ_IMAGE = "redis:7", "rabbitmq:4"


def service_images(ctx: dict[str, Any]) -> list[str]:
    """The services the rendered service's tests need, in the workflow's order: its database,
    Redis (a Redis broker's, the HTTP protections', or one server for both), RabbitMQ."""
    images = [DB_SERVICE_IMAGES[ctx["database"]]] if ctx["database"] in DB_SERVICE_IMAGES else []
    images += [REDIS_IMAGE] if ctx["needs_redis"] or ctx["has_redis_client"] else []
    return images + ([RABBITMQ_IMAGE] if ctx["needs_rabbitmq"] else [])


@pytest.mark.parametrize("case", ALL_CASES)
def test_ci_tests_run_against_the_database_and_broker(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    image = DB_SERVICE_IMAGES.get(ctx["database"])
    url_name = f"{ctx['env_prefix']}DATABASE_URL"
    if ctx["ci_provider"] == "github":
        job = yaml.safe_load(project.read(".github/workflows/ci.yml"))["jobs"]["test"]
        images = [service["image"] for service in job.get("services", {}).values()]
        env = job.get("env", {})
        about = ".github/workflows/ci.yml"
    else:
        job = yaml.safe_load(project.read(".gitlab/ci/test.yml"))["test"]
        images = [service["name"] for service in job.get("services", [])]
        env = job.get("variables", {})
        about = ".gitlab/ci/test.yml"
        # GitLab services answer on their alias, not localhost: the URLs say where.
        if ctx["has_queue"]:
            assert env[f"{ctx['env_prefix']}BROKER_URL"].split("://")[1], project.explain(about)
        if ctx["has_redis_client"]:
            redis_url = env[f"{ctx['env_prefix']}REDIS_URL"]
            assert redis_url.startswith("redis://redis:"), project.explain(about)
    explain = project.explain(about)
    assert images == service_images(ctx), explain
    if image:
        scheme = {"postgresql": "postgresql+asyncpg://", "mysql": "mysql+asyncmy://"}
        assert env[url_name].startswith(scheme[ctx["database"]]), explain
    else:
        assert url_name not in env, explain


def github_jobs(project: Rendered, name: str) -> dict[str, Any]:
    workflow = yaml.safe_load(project.read(name))
    assert workflow["permissions"] == {}, project.explain(name, "top-level permissions: {}")
    assert "concurrency" in workflow, project.explain(name, "no concurrency group")
    jobs: dict[str, Any] = workflow["jobs"]
    for job_name, job in jobs.items():
        assert "permissions" in job, project.explain(name, f"{job_name}: no permissions")
        assert job.get("timeout-minutes"), project.explain(name, f"{job_name}: no timeout")
    return jobs


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def iter_uses(project: Rendered) -> Iterator[tuple[str, str, str]]:
    for name in project.files:
        if name.startswith(".github/workflows/"):
            for line in project.read(name).splitlines():
                if match := re.match(r"^\s*-?\s*uses:\s*(\S+)\s*(#.*)?$", line):
                    yield name, match.group(1), match.group(2) or ""


@pytest.mark.parametrize("case", cases(ci_provider="github"))
def test_github_actions_pinned_by_sha(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    for name, action, comment in iter_uses(project):
        if action.startswith("$/.github/workflows/"):
            assert (project.path / action[2:]).is_file(), project.explain(name, action)
            continue
        assert PINNED_ACTION.match(action), project.explain(name, f"not pinned: {action}")
        assert re.match(r"#\s*v\d+\.\d+\.\d+", comment), project.explain(name, action)


@pytest.mark.parametrize("case", cases(ci_provider="github"))
def test_github_deploy_workflow(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    name = ".github/workflows/deploy.yml"
    jobs = github_jobs(project, name)
    explain = project.explain(name)
    assert list(jobs) == ["build", "staging", "production"], explain
    build = steps_text(jobs["build"])
    for command in ("docker build", "docker push", "GITHUB_SHA"):
        assert command in build, explain
    assert jobs["staging"]["needs"] == "build", explain
    assert set(jobs["production"]["needs"]) == {"build", "staging"}, explain
    for environment in ("staging", "production"):
        job = jobs[environment]
        assert job["environment"] == environment, explain
        assert f"deploy/deploy.sh {environment}" in steps_text(job), explain
        assert "write" not in {v for k, v in job["permissions"].items() if k != "id-token"}, explain
    uses_auth = {
        job_name
        for job_name, job in jobs.items()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("google-github-actions/auth@")
    }
    with_id_token = {
        job_name for job_name, job in jobs.items() if job["permissions"].get("id-token") == "write"
    }
    assert uses_auth == with_id_token, explain
    if ctx["deploy_target"] == "cloud_run":
        assert uses_auth == set(jobs), "Workload Identity Federation in every job"
    else:
        assert jobs["build"]["permissions"]["packages"] == "write", explain
    # Only a commit whose CI passed is deployed: deploy.yml is called by ci.yml's deploy job, which
    # needs lint and tests and runs only on main (a pull request never deploys).
    assert workflow_on(project, name) == {"workflow_call"}, explain
    ci_name = ".github/workflows/ci.yml"
    ci = yaml.safe_load(project.read(ci_name))
    explain = project.explain(ci_name)
    assert workflow_on(project, ci_name) == {"push", "pull_request", "workflow_dispatch"}, explain
    caller = ci["jobs"]["deploy"]
    assert caller["uses"] == "$/.github/workflows/deploy.yml", explain
    assert set(caller["needs"]) == set(ci["jobs"]) - {"deploy"} == {"lint", "test"}, explain
    condition = "github.event_name != 'pull_request' && github.ref == 'refs/heads/main'"
    assert caller["if"] == condition, explain
    # A called workflow's jobs get at most the caller's permissions: the caller grants each
    # scope at the strongest level a deploy job asks for, and nothing more.
    levels = ["read", "write"]
    needed: dict[str, str] = {}
    for job in jobs.values():
        for scope, level in job["permissions"].items():
            needed[scope] = max(needed.get(scope, "read"), level, key=levels.index)
    assert caller["permissions"] == needed, explain
    assert "github.sha" in ci["concurrency"]["group"], "a deploy awaiting review blocks no CI"


def workflow_on(project: Rendered, name: str) -> set[str]:
    # PyYAML reads the `on:` key as the boolean True.
    workflow = yaml.safe_load(project.read(name))
    triggers = workflow.get("on", workflow.get(True))
    return set(triggers)


@pytest.mark.parametrize("case", cases(ci_provider="github", template_updates=True))
def test_github_template_update_workflow(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    name = ".github/workflows/template-update.yml"
    jobs = github_jobs(project, name)
    explain = project.explain(name)
    assert "schedule" in workflow_on(project, name), explain
    (job,) = jobs.values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}, explain
    script = steps_text(job)
    # The wrapper runs copier update and fails on conflicts (tests/test_update.py proves it);
    # --trust only when a human ticks it for an update that crosses a migration.
    assert 'scripts/update-from-template.sh --conflict rej "$@"' in script, explain
    assert 'if [ "$TRUST" = "true" ]; then set -- --trust; fi' in script, explain
    workflow = yaml.safe_load(project.read(name))
    trust = workflow.get("on", workflow.get(True))["workflow_dispatch"]["inputs"]["trust"]
    assert trust["type"] == "boolean", explain
    assert trust["default"] is False, explain
    assert "gh pr create" in script, explain
    assert script.index("update-from-template.sh") < script.index("gh pr create"), explain


@pytest.mark.parametrize("case", cases(ci_provider="gitlab"))
def test_gitlab_pipeline(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    root = yaml.safe_load(project.read(".gitlab-ci.yml"))
    explain = project.explain(".gitlab-ci.yml")
    assert root["stages"] == ["test", "build", "deploy", "maintenance"], explain
    assert root["include"] == [{"local": ".gitlab/ci/*.yml"}], explain
    assert root["variables"]["IMAGE"].endswith(":$CI_COMMIT_SHA"), explain
    deploy = yaml.safe_load(project.read(".gitlab/ci/deploy.yml"))
    explain = project.explain(".gitlab/ci/deploy.yml")
    assert deploy["build"]["stage"] == "build", explain
    call = 'deploy/deploy.sh "$CI_ENVIRONMENT_NAME" "$IMAGE"'
    assert [line for line in deploy[".deploy"]["script"] if line.endswith(call)], explain
    assert deploy["deploy-staging"]["environment"]["name"] == "staging", explain
    assert deploy["deploy-production"]["environment"]["name"] == "production", explain
    assert "deploy-staging" in deploy["deploy-production"]["needs"], explain
    assert deploy["deploy-production"]["rules"][-1]["when"] == "manual", explain
    assert deploy[".deploy"]["interruptible"] is False, explain
    if ctx["deploy_target"] == "cloud_run":
        assert "id_tokens" in deploy[".gcloud"], "Workload Identity Federation, no key file"
    if ctx["template_updates"]:
        job = yaml.safe_load(project.read(".gitlab/ci/template-update.yml"))["template-update"]
        script = "\n".join(job["script"])
        explain = project.explain(".gitlab/ci/template-update.yml")
        assert 'scripts/update-from-template.sh --conflict rej "$@"' in script, explain
        assert '"${TEMPLATE_UPDATE_TRUST:-}" = "true"' in script, explain
        assert "merge_request.create" in script, explain
        assert job["rules"] == [
            {"if": '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "true"'}
        ], explain
