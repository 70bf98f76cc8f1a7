"""The services the update tests generate and the edits a team makes to them.

Four answer sets render every database, queue and deploy target; `typical_edits` is a team's
first weeks (its own module, a setting, a dependency, a deploy resource value, the README). An
`Edit` names its file in the old and in the new release: a file the new release moves (a
`MOVES` row of hooks/migrate.py) is edited at its old path and expected at its new one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Unique to these tests: the service's test databases derive from the package name. Given as the
# project name (package_name follows it), since the build backend finds the package by the
# distribution name.
PROJECT_NAME = "Update Svc"
PACKAGE = "update_svc"
SETTINGS = f"src/{PACKAGE}/kernel/settings/base.py"
# 0.2.0 splits core/ into rooms (hooks/migrate.py MOVES): the team's edit follows the file, to
# the service-wide settings (the components' settings moved to modules of their own).
SETTINGS_OLD = f"src/{PACKAGE}/core/settings.py"
MAX_REQUESTS = re.compile(r"(max_requests: int = Field\(\s*)([0-9_]+)")
COMPOSE_OLD, COMPOSE_NEW = "compose.prod.yaml", "deploy/compose/compose.prod.yaml"

# Every database, queue and deploy target in four renders.
ANSWER_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},  # postgresql, no queue, kubernetes + kustomize, github
    "mysql-celery-cloud_run": {
        "database": "mysql",
        "queue": "celery",
        "broker": "rabbitmq",
        "deploy_target": "cloud_run",
        "ci_provider": "gitlab",
    },
    # SQLite deploys with compose only (copier refuses it on kubernetes and cloud_run).
    "sqlite-taskiq-compose": {
        "database": "sqlite",
        "queue": "taskiq",
        "deploy_target": "compose",
    },
    "none-arq-helm": {
        "database": "none",
        "queue": "arq",
        "deploy_target": "kubernetes",
        "k8s_packaging": "helm",
        "server": "gunicorn",
    },
}
COMPOSE_SET = "sqlite-taskiq-compose"


def answers(name: str) -> dict[str, Any]:
    return {"project_name": PROJECT_NAME, **ANSWER_SETS[name]}


@dataclass(frozen=True)
class Edit:
    """A team's edit of one file: its path in the old and in the new release, and the change."""

    old_path: str
    new_path: str
    change: Callable[[str], str]

    def apply(self, root: Path, *, new: bool) -> None:
        path = root / (self.new_path if new else self.old_path)
        before = path.read_text() if path.exists() else ""
        after = self.change(before)
        assert after != before, f"the edit of {path} changed nothing"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(after)


def same(path: str, change: Callable[[str], str]) -> Edit:
    return Edit(path, path, change)


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, f"{old!r} not found"
        return text.replace(old, new, 1)

    return change


def set_max_requests(value: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert MAX_REQUESTS.search(text), "no `max_requests: int = Field(<default>` found"
        return MAX_REQUESTS.sub(lambda m: m[1] + value, text, count=1)

    return change


USER_MODULE_TEXT = '''"""The team's own orders endpoints."""

from fastapi import APIRouter

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("")
async def list_orders() -> list[str]:
    """Every order (none yet)."""
    return []
'''
README_NOTE = "\n## Team notes\n\nOn call for this service: the #orders-oncall channel.\n"
DEPLOY_EDITS = {
    "kubernetes-kustomize": same(
        "deploy/k8s/base/deployment.yaml", replace_once("memory: 512Mi", "memory: 768Mi")
    ),
    "kubernetes-helm": same(
        "deploy/helm/values.yaml", replace_once("memory: 512Mi", "memory: 768Mi")
    ),
    # Not the memory limit: 0.2.0 rewrites the startup probe's comment just below it (that edit
    # conflicts once, as the upgrade notes say).
    "cloud_run": same("deploy/cloudrun/service.yaml", replace_once('cpu: "1"', 'cpu: "2"')),
    "compose": Edit(
        COMPOSE_OLD, COMPOSE_NEW, replace_once("stop_grace_period: 25s", "stop_grace_period: 40s")
    ),
}


def typical_edits(answer_set: dict[str, Any]) -> list[Edit]:
    """A team's first weeks: its own module, a setting, a dependency, a deploy value, notes."""
    target = answer_set.get("deploy_target", "kubernetes")
    if target == "kubernetes":
        target += "-" + answer_set.get("k8s_packaging", "kustomize")
    return [
        same(f"src/{PACKAGE}/orders.py", lambda _: USER_MODULE_TEXT),
        Edit(SETTINGS_OLD, SETTINGS, set_max_requests("5_000")),
        same(
            "pyproject.toml",
            replace_once("dependencies = [\n", 'dependencies = [\n    "orjson>=3.10",\n'),
        ),
        DEPLOY_EDITS[target],
        same("README.md", lambda text: text + README_NOTE),
    ]


def max_requests(project: Path) -> str:
    match = MAX_REQUESTS.search((project / SETTINGS).read_text())
    assert match
    return match[2]
