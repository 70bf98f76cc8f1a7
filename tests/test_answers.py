"""Answers: bad ones are refused with a message that says what is allowed, and nothing is written;
every default, derived from the folder or the project name, passes its own validator."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import copier
import jinja2
import pytest
import yaml
from copier_yml import questions
from rendering import ROOT


def copy(dst: Path, data: dict[str, Any]) -> copier.Worker:
    return copier.run_copy(
        str(ROOT), str(dst), data=data, defaults=True, vcs_ref="HEAD", quiet=True, unsafe=False
    )


def rule(question: str) -> str:
    """`pattern <regex>` as the question's validator states it: the message must quote its rule."""
    validator = questions()[question]["validator"]
    match = re.search(r"regex_search\('([^']+)'\)", validator)
    assert match, f"no regex_search in the validator of {question}"
    return f"pattern {match.group(1)}"


SLUG_RULE = rule("project_slug")
PACKAGE_RULE = rule("package_name")

BAD_ANSWERS = [
    pytest.param(
        {"project_slug": "My Service!"},
        "project_slug",
        ['"My Service!" is not a valid slug', "Allowed:", SLUG_RULE],
        id="slug-with-spaces-and-punctuation",
    ),
    pytest.param(
        {"project_slug": "orders--service"},
        "project_slug",
        ['"orders--service" is not a valid slug', SLUG_RULE],
        id="slug-double-hyphen",
    ),
    pytest.param(
        {"project_slug": "1-orders"},
        "project_slug",
        ['"1-orders" is not a valid slug', SLUG_RULE],
        id="slug-starts-with-a-digit",
    ),
    pytest.param(
        {"package_name": "Orders-Service"},
        "package_name",
        ['"Orders-Service" is not a valid package name', "Allowed:", PACKAGE_RULE],
        id="package-not-an-identifier",
    ),
    pytest.param(
        {"package_name": "class"},
        "package_name",
        ['"class" is a Python keyword', "Pick another name"],
        id="package-keyword",
    ),
    pytest.param(
        {"package_name": "match"},
        "package_name",
        ['"match" is a Python keyword', "Pick another name"],
        id="package-soft-keyword",
    ),
    pytest.param(
        {"package_name": "json"},
        "package_name",
        ['"json" is a standard-library module', "Pick another name"],
        id="package-stdlib-json",
    ),
    pytest.param(
        {"package_name": "asyncio"},
        "package_name",
        ['"asyncio" is a standard-library module', "Pick another name"],
        id="package-stdlib-asyncio",
    ),
    pytest.param(
        {"database": "sqlite", "deploy_target": "kubernetes"},
        "deploy_target",
        ["database=sqlite cannot be deployed to kubernetes", "deploy_target=compose"],
        id="sqlite-on-kubernetes",
    ),
    pytest.param(
        {"database": "sqlite", "deploy_target": "cloud_run"},
        "deploy_target",
        ["database=sqlite cannot be deployed to cloud_run", "lose it", "deploy_target=compose"],
        id="sqlite-on-cloud-run",
    ),
    pytest.param(
        {"package_name": "celery"},
        "package_name",
        ['"celery" is the import name of celery, a dependency of the service', "Pick another name"],
        id="package-dependency-celery",
    ),
    pytest.param(
        {"package_name": "yaml"},
        "package_name",
        ['"yaml" is the import name of pyyaml, a dependency', "Pick another name"],
        id="package-dependency-import-name-differs",
    ),
    pytest.param(
        {"package_name": "starlette"},
        "package_name",
        ['"starlette" is the import name of starlette, a dependency', "shadow"],
        id="package-transitive-dependency",
    ),
    pytest.param(
        {"deploy_target": "cloud_run", "metrics": True},
        "metrics",
        ["metrics cannot be served on cloud_run", "Answer no", "Cloud Monitoring"],
        id="metrics-on-cloud-run",
    ),
    pytest.param(
        {"database": "none", "queue": "none", "features": ["idempotency"]},
        "features",
        ["features=idempotency guards the service's writes", "Choose a database", "or a queue"],
        id="idempotency-without-a-database-or-a-queue",
    ),
    pytest.param(
        {"database": "none", "features": ["caching"]},
        "features",
        ["features=caching caches the reads of the `items` example", "needs a database"],
        id="caching-without-database",
    ),
    pytest.param(
        {"example_api": False, "features": ["rate_limiting", "caching"]},
        "features",
        ["features=caching", "example_api=true", "Leave caching out"],
        id="caching-without-items",
    ),
    pytest.param(
        {"author_email": "nope"},
        "author_email",
        ['"nope" is not an email address', "Allowed: name@domain.tld"],
        id="email",
    ),
    pytest.param(
        {"project_name": "   "},
        "project_name",
        ["The project name cannot be empty", '"Orders Service"'],
        id="blank-project-name",
    ),
]


@pytest.mark.parametrize(("data", "question", "explains"), BAD_ANSWERS)
def test_bad_answer_is_refused_and_nothing_is_written(
    tmp_path: Path, data: dict[str, Any], question: str, explains: list[str]
) -> None:
    dst = tmp_path / "svc"
    with pytest.raises(ValueError, match=f"Validation error for question '{question}'") as error:
        copy(dst, {"project_name": "Orders Service", **data})
    message = str(error.value)
    missing = [phrase for phrase in explains if phrase not in message]
    assert not missing, f"the message does not say {missing}:\n{message}"
    assert not dst.exists() or not any(dst.iterdir()), f"files written: {list(dst.rglob('*'))}"


def recorded(dst: Path) -> dict[str, Any]:
    answers: dict[str, Any] = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    return answers


@pytest.mark.parametrize(
    ("folder", "name", "slug", "package"),
    [
        ("my-service", "My Service", "my-service", "my_service"),
        ("orders_api", "Orders Api", "orders-api", "orders_api"),
        ("42-things", "42 Things", "things", "things"),
    ],
)
def test_defaults_from_the_folder_name_pass_validation(
    tmp_path: Path, folder: str, name: str, slug: str, package: str
) -> None:
    """`copier copy TEMPLATE my-service` with no data at all: every default is valid."""
    dst = tmp_path / folder
    copy(dst, {})
    answers = recorded(dst)
    derived = {k: answers[k] for k in ("project_name", "project_slug", "package_name")}
    assert derived == {"project_name": name, "project_slug": slug, "package_name": package}
    assert (dst / "src" / package / "main.py").is_file()


@pytest.mark.parametrize(
    ("name", "slug", "package"),
    [
        ("Orders Service", "orders-service", "orders_service"),
        ("42 Things", "things", "things"),
        ("  Billing -- API v2!  ", "billing-api-v2", "billing_api_v2"),
        ("ACME_Payments.Gateway", "acme-payments-gateway", "acme_payments_gateway"),
    ],
)
def test_slug_and_package_derive_from_the_project_name(
    tmp_path: Path, name: str, slug: str, package: str
) -> None:
    dst = tmp_path / "svc"
    copy(dst, {"project_name": name})
    answers = recorded(dst)
    assert (answers["project_slug"], answers["package_name"]) == (slug, package)
    assert answers["project_slug"][0].isalpha()
    assert (dst / "src" / package / "__init__.py").is_file()


def test_sqlite_defaults_to_compose(tmp_path: Path) -> None:
    """deploy_target's default passes its validator with sqlite (copier would crash otherwise)."""
    dst = tmp_path / "svc"
    copy(dst, {"project_name": "Orders Service", "database": "sqlite"})
    assert recorded(dst)["deploy_target"] == "compose"
    assert (dst / "deploy/compose/compose.prod.yaml").is_file()


def _reserved_names() -> Any:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT)), autoescape=True)
    return env.get_template("includes/reserved_names.jinja").module


def _reserved_names_script() -> Any:
    path = ROOT / "scripts" / "update_reserved_names.py"
    spec = importlib.util.spec_from_file_location("update_reserved_names", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reserved_dependency_names_are_current() -> None:
    """The generated include covers today's pyproject.toml.jinja: a dependency added there (any
    option's, the dev group's) fails this until scripts/update_reserved_names.py is run again."""
    script = _reserved_names_script()
    wanted = script.distribution_names((ROOT / "template" / "pyproject.toml.jinja").read_text())
    reserved = _reserved_names()
    stale = "includes/reserved_names.jinja is stale: run scripts/update_reserved_names.py"
    assert list(reserved.dependency_distributions) == wanted, stale
    modules = reserved.dependency_modules
    # Direct and transitive dependencies, by import name (not distribution name).
    for name in ("celery", "redis", "alembic", "fastapi", "sqlalchemy", "uvicorn", "pydantic"):
        assert modules[name], name
    assert modules["structlog"] == "structlog"
    assert modules["starlette"] == "starlette"
    assert modules["yaml"] == "pyyaml"
    assert set(modules).isdisjoint(reserved.stdlib_modules)


def test_cloud_run_defaults_to_no_metrics(tmp_path: Path) -> None:
    """On Cloud Run metrics defaults to no (its validator refuses yes): no /metrics rendered."""
    dst = tmp_path / "svc"
    copy(dst, {"project_name": "Orders Service", "deploy_target": "cloud_run"})
    assert recorded(dst)["metrics"] is False
    assert not (dst / "src/orders_service/integrations/metrics.py").exists()
    assert "prometheus" not in (dst / "pyproject.toml").read_text()
