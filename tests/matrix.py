"""The render matrix: named answer sets that render every choice value and every pair of values.

`MATRIX` is written by hand so a reader sees what is rendered; `test_render.py`'s ratchet checks
it against copier.yml and prints suggested rows (`suggest_rows`) when a new value or pair is never
rendered. Rows only name the answers that differ from the defaults.

Conditional questions: a question whose `when` renders false for a row is absent from that row
(copier neither asks nor stores it), so its values pair with nothing there. A pair is only required
when some answer set can render it (`feasible_items_and_pairs`). A multiselect question contributes
one value per selected option.

Current lower bound: 13 rows. k8s_packaging is asked only for deploy_target=kubernetes, so its
2 values x database's 3 there (copier refuses sqlite on kubernetes and cloud_run) need 6
Kubernetes rows, cloud_run 3 rows and compose 4 rows for database; the other questions' pairs
fit in those rows (found by a small random search, then written out by hand; the first nine rows
kept their earlier answers). The job queues add 12:
celery, taskiq and arq each with database's 4 values (queue=none pairs with the rows above);
broker, asked for celery and taskiq only, pairs with everything within those 8 rows.
Tracing's 5 values pair with each queue's 4 values, so each queue needs a fifth row (3 rows);
the other tracing pairs fit in the existing rows (a random search assigned them).
The HTTP protections (features, a multiselect) ride on existing rows, chosen greedily to cover
every pair of each feature with the other questions' values: rows named -protections (one,
short of room, -protect) carry all three, -cache caching alone (it needs the items example, so
its rows have a database, one of them no metrics); idempotency also has a row of its own with the
long names and a database, and one without a database (its records in Redis).
Authentication (auth) rides on existing rows too, assigned greedily over every pair of its four
values with the others': rows ending -oidc, -apikey (API keys) and -oidc-apikey (both); a row
without a database keeps its keys' hashes in the settings.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import copier_yml
import pytest
from copier_yml import choice_questions, questions, render, variables
from rendering import PROJECT_NAME, Rendered

Item = tuple[str, str]  # (question, value)
Pair = tuple[str, str, str, str]  # (question, value, question, value), questions in name order


@dataclass(frozen=True)
class Case:
    """One named answer set of the matrix (answers not given take their defaults)."""

    id: str
    answers: dict[str, Any] = field(default_factory=dict)


RenderCase = Callable[[Case], Rendered]  # the `render_case` fixture (conftest.py)

# fmt: off
MATRIX: list[Case] = [
    Case(id="defaults", answers={}),
    Case(id="mit-py312-helm-mysql", answers={
        "tracing": "none",
        "license": "MIT", "python_version": "3.12",
        "database": "mysql", "deploy_target": "kubernetes", "k8s_packaging": "helm",
    }),
    Case(id="apache-gunicorn-compose-gitlab", answers={
        "tracing": "tempo",
        "project_name": "Billing API", "license": "Apache-2.0", "server": "gunicorn",
        "database": "none", "deploy_target": "compose", "ci_provider": "gitlab",
    }),
    Case(id="header-gunicorn-py312-cloudrun-gitlab", answers={
        "tracing": "datadog",
        "api_versioning": "header", "python_version": "3.12", "server": "gunicorn",
        "database": "none", "deploy_target": "cloud_run", "ci_provider": "gitlab",
    }),
    Case(id="header-mit-helm-nodb-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "tempo",
        "api_versioning": "header", "license": "MIT",
        "database": "none", "deploy_target": "kubernetes", "k8s_packaging": "helm",
    }),
    Case(id="header-apache-kustomize-gitlab-cache-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "cloud_trace", "features": ["caching"],
        "project_name": "Inventory 2", "api_versioning": "header", "license": "Apache-2.0",
        "server": "gunicorn", "database": "mysql", "ci_provider": "gitlab",
    }),
    Case(id="mounted-py312-compose-gitlab-oidc", answers={
        "auth": "oidc",
        "tracing": "cloud_trace",
        "api_versioning": "mounted", "python_version": "3.12",
        "deploy_target": "compose", "ci_provider": "gitlab",
    }),
    Case(id="mounted-mit-gunicorn-cloudrun", answers={
        "tracing": "none",
        "project_name": "Payments Gateway", "api_versioning": "mounted", "license": "MIT",
        "server": "gunicorn", "database": "mysql", "deploy_target": "cloud_run",
    }),
    # The longest names the validators allow: rendered code must stay canonical (ruff format,
    # line length) whatever the names' length, and Kubernetes names stay within their limits.
    Case(id="mounted-apache-py312-long-names-ratelimit-apikey", answers={
        "auth": "api_key",
        "tracing": "none", "features": ["rate_limiting"],
        "project_name": "Customer Order Management Platform Svcs",
        "api_versioning": "mounted", "license": "Apache-2.0", "python_version": "3.12",
        "database": "none",
    }),
    # The long names with a database: idempotency's records, migration and tests stay canonical.
    Case(id="apache-long-names-idempotency-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "none", "features": ["idempotency"],
        "project_name": "Customer Order Management Platform Svcs", "license": "Apache-2.0",
    }),
    Case(id="compose-mysql-header-gunicorn-py312", answers={
        "tracing": "tempo",
        "python_version": "3.12", "api_versioning": "header", "server": "gunicorn",
        "database": "mysql", "deploy_target": "compose", "template_updates": False,
    }),
    Case(id="compose-sqlite-gitlab-apache-mounted-py312", answers={
        "tracing": "tempo", "api_versioning": "mounted",
        "python_version": "3.12", "database": "sqlite", "deploy_target": "compose",
        "ci_provider": "gitlab", "license": "Apache-2.0", "template_updates": False,
    }),
    Case(id="kustomize-mysql-header-gunicorn-mit-apikey", answers={
        "auth": "api_key",
        "tracing": "datadog",
        "api_versioning": "header", "server": "gunicorn", "database": "mysql", "license": "MIT",
    }),
    Case(id="compose-sqlite-header-gunicorn-mit-py312-oidc", answers={
        "auth": "oidc",
        "tracing": "jaeger",
        "python_version": "3.12", "api_versioning": "header", "server": "gunicorn",
        "database": "sqlite", "deploy_target": "compose", "license": "MIT",
    }),
    Case(id="helm-gitlab-gunicorn-apache-py312", answers={
        "tracing": "datadog",
        "python_version": "3.12", "server": "gunicorn", "deploy_target": "kubernetes",
        "k8s_packaging": "helm", "ci_provider": "gitlab", "license": "Apache-2.0",
    }),
    Case(id="cloudrun-gitlab-header-gunicorn-mit-py312", answers={
        "python_version": "3.12", "api_versioning": "header", "server": "gunicorn",
        "deploy_target": "cloud_run", "ci_provider": "gitlab", "license": "MIT",
    }),
    Case(id="compose-sqlite-gitlab-mounted-gunicorn", answers={
        "tracing": "datadog",
        "api_versioning": "mounted", "server": "gunicorn", "database": "sqlite",
        "deploy_target": "compose", "ci_provider": "gitlab",
    }),
    # Job queues (queue, broker): every queue with every database and deployment, each broker of
    # Celery and taskiq with every other answer; the long names also run through a queue.
    Case(id="celery-redis-sentry-protections", answers={
        "tracing": "tempo", "queue": "celery", "sentry": True,
        "features": ["rate_limiting", "idempotency", "caching"],
    }),
    Case(id="celery-rabbitmq-mysql-helm-header-gunicorn-gitlab-mit-py312-protect-oidc", answers={
        "auth": "oidc",
        "tracing": "datadog", "features": ["rate_limiting", "idempotency", "caching"],
        "queue": "celery", "broker": "rabbitmq", "database": "mysql", "k8s_packaging": "helm",
        "python_version": "3.12", "api_versioning": "header", "server": "gunicorn",
        "ci_provider": "gitlab", "license": "MIT",
    }),
    Case(id="celery-redis-sqlite-compose-mounted-gitlab-apache-py312-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "none",
        "queue": "celery", "database": "sqlite", "deploy_target": "compose",
        "python_version": "3.12", "api_versioning": "mounted", "ci_provider": "gitlab",
        "license": "Apache-2.0",
    }),
    Case(id="celery-rabbitmq-nodb-compose-apache", answers={
        "tracing": "jaeger",
        "queue": "celery", "broker": "rabbitmq", "database": "none", "deploy_target": "compose",
        "license": "Apache-2.0",
    }),
    Case(id="taskiq-rabbitmq-noitems-mounted", answers={
        "tracing": "none",
        "queue": "taskiq", "broker": "rabbitmq", "example_api": False,
        "api_versioning": "mounted",
    }),
    Case(id="taskiq-redis-mysql-helm-header-gunicorn-gitlab-mit-py312-apikey", answers={
        "auth": "api_key",
        "queue": "taskiq", "database": "mysql", "k8s_packaging": "helm", "python_version": "3.12",
        "api_versioning": "header", "server": "gunicorn", "ci_provider": "gitlab",
        "license": "MIT",
    }),
    Case(id="taskiq-rabbitmq-cloudrun-gunicorn-gitlab-apache-py312-long-names-oidc", answers={
        "auth": "oidc",
        "tracing": "tempo",
        "project_name": "Customer Order Management Platform Svcs",
        "queue": "taskiq", "broker": "rabbitmq",
        "deploy_target": "cloud_run", "python_version": "3.12", "server": "gunicorn",
        "ci_provider": "gitlab", "license": "Apache-2.0",
    }),
    Case(id="taskiq-redis-nodb-compose-apache-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "datadog",
        "queue": "taskiq", "database": "none", "deploy_target": "compose", "license": "Apache-2.0",
    }),
    # Compose's comments quote settings by their full names: no long-names row here (a shorter
    # comment would touch the lines a team edits, such as stop_grace_period, on update).
    Case(id="arq-sqlite-compose-gunicorn-mit-py312-oidc", answers={
        "auth": "oidc",
        "tracing": "datadog",
        "project_name": "Order Platform",
        "queue": "arq", "database": "sqlite", "python_version": "3.12", "server": "gunicorn",
        "license": "MIT",
    }),
    Case(id="arq-nodb-helm-header-gitlab-apache-cloudtrace-long-names", answers={
        "project_name": "Customer Order Management Platform Svcs", "tracing": "cloud_trace",
        "queue": "arq", "database": "none", "k8s_packaging": "helm", "api_versioning": "header",
        "ci_provider": "gitlab", "license": "Apache-2.0",
    }),
    Case(id="arq-cloudrun-mounted-protections-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "jaeger", "features": ["rate_limiting", "idempotency", "caching"],
        "queue": "arq", "deploy_target": "cloud_run", "api_versioning": "mounted",
    }),
    Case(id="arq-mysql-compose-header-gunicorn-gitlab-py312-cache", answers={
        "tracing": "none", "features": ["caching"],
        "queue": "arq", "database": "mysql", "deploy_target": "compose", "python_version": "3.12",
        "api_versioning": "header", "server": "gunicorn", "ci_provider": "gitlab",
    }),
    # Tracing: every backend with every queue (each queue has five rows with the ones above),
    # and cloud_trace off Cloud Run (GKE, another host); the first is one of the two
    # representative tracing combinations whose own suites tests/test_tracing.py runs.
    Case(id="tracing-cloudtrace-celery-rabbitmq-nodb-oidc-apikey", answers={
        "auth": "oidc_and_api_key",
        "tracing": "cloud_trace", "queue": "celery", "broker": "rabbitmq", "database": "none",
    }),
    Case(id="tracing-cloudtrace-taskiq-rabbitmq-sqlite-compose-protections-apikey", answers={
        "auth": "api_key",
        "features": ["rate_limiting", "idempotency", "caching"],
        "tracing": "cloud_trace", "queue": "taskiq", "broker": "rabbitmq", "database": "sqlite",
        "deploy_target": "compose",
    }),
    Case(id="tracing-tempo-arq-apikey", answers={
        "auth": "api_key", "tracing": "tempo", "queue": "arq",
    }),
    # Idempotency without a database: its records in Redis, POST /reports (the long names keep
    # the Redis store and its tests canonical; header versioning names the reports' prefix).
    Case(id="celery-redis-nodb-header-long-names-idempotency-oidc", answers={
        "auth": "oidc",
        "tracing": "none", "features": ["idempotency"],
        "project_name": "Customer Order Management Platform Svcs",
        "queue": "celery", "database": "none", "api_versioning": "header",
    }),
    # Observability (metrics and sentry are yes/no questions, outside the pair ratchet): metrics
    # off with each packaging of Kubernetes and with a queue, Sentry on with both servers.
    Case(id="nometrics-sentry-helm-gunicorn-postgresql-cache", answers={
        "metrics": False, "features": ["caching"], "sentry": True, "k8s_packaging": "helm",
        "server": "gunicorn", "api_versioning": "mounted",
    }),
    Case(id="nometrics-kustomize-nodb-mounted", answers={
        "metrics": False, "database": "none", "api_versioning": "mounted",
    }),
    Case(id="sentry-celery-cloudrun-header-py312-apikey", answers={
        "auth": "api_key",
        "sentry": True, "queue": "celery", "deploy_target": "cloud_run",
        "api_versioning": "header", "python_version": "3.12",
    }),
]
# fmt: on


def context_of(case: Case) -> dict[str, Any]:
    """Every answer and computed flag of a case, as the templates see them (render()'s data)."""
    return effective_row({"project_name": PROJECT_NAME, **case.answers})[1]


def cases(**wanted: Any) -> list[Any]:
    """The matrix cases whose context has the wanted values, as pytest params."""
    return [
        pytest.param(case, id=case.id)
        for case in MATRIX
        if all(context_of(case)[key] == value for key, value in wanted.items())
    ]


ALL_CASES = [pytest.param(case, id=case.id) for case in MATRIX]


# --- the answer model (copier_yml's), on the questions this module sees ------------------------


def effective_row(
    answers: Mapping[str, Any], folder_name: str = "svc"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """copier_yml.effective_row over `questions()` (which a test may replace with its own)."""
    return copier_yml.effective_row(answers, folder_name, specs=questions())


def validation_errors(asked: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, str]:
    """The choice questions of a row whose validator refuses the answer."""
    errors = {}
    for name in choice_questions():
        validator = questions()[name].get("validator")
        if name in asked and validator and (message := render(validator, context).strip()):
            errors[name] = message
    return errors


def items_of(asked: Mapping[str, Any]) -> list[Item]:
    """The (question, value) items of an asked row, for the choice questions only."""
    items = []
    for name in choice_questions():
        if name not in asked:
            continue
        value = asked[name]
        values = value if isinstance(value, list) else [value]
        items += [(name, str(option)) for option in values]
    return items


def pairs_of_items(items: Iterable[Item]) -> set[Pair]:
    """Every pair of items of two different questions, in a canonical order."""
    ordered = sorted(set(items))
    return {
        (q1, v1, q2, v2)
        for i, (q1, v1) in enumerate(ordered)
        for q2, v2 in ordered[i + 1 :]
        if q1 != q2
    }


def covered(rows: Iterable[Mapping[str, Any]]) -> tuple[set[Item], set[Pair]]:
    """The items and pairs the rows render (unasked answers dropped)."""
    items: set[Item] = set()
    pairs: set[Pair] = set()
    for row in rows:
        row_items = items_of(effective_row(row)[0])
        items.update(row_items)
        pairs |= pairs_of_items(row_items)
    return items, pairs


def controlling_questions() -> list[str]:
    """Choice questions that decide whether another question is asked or valid.

    The variables of every `when` and of choice questions' validators, followed through the
    defaults of non-choice values (computed flags, derived names) to the choices they read.
    """
    specs = questions()
    choices = choice_questions()
    pending: set[str] = set()
    for name, spec in specs.items():
        pending |= variables(spec.get("when"))
        if name in choices:
            pending |= variables(spec.get("validator"))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in specs:
            continue
        seen.add(name)
        if name not in choices:
            pending |= variables(specs[name].get("default")) | variables(specs[name].get("when"))
    return [name for name in choices if name in seen]


def feasible_items_and_pairs() -> tuple[set[Item], set[Pair]]:
    """The items and pairs some valid answer set renders.

    Every combination of the controlling questions is evaluated; every other choice question
    influences nothing, so each of its values pairs with whatever that combination asks.
    """
    choices = choice_questions()
    control = controlling_questions()
    items: set[Item] = set()
    pairs: set[Pair] = set()
    for combination in itertools.product(*(choices[name] for name in control)):
        answers: dict[str, Any] = {
            name: [value] if questions()[name].get("multiselect") else value
            for name, value in zip(control, combination, strict=True)
        }
        asked, context = effective_row(answers)
        if validation_errors(asked, context):
            continue
        row_items = [item for item in items_of(asked) if item[0] in control]
        free = [name for name in choices if name not in control and name in asked]
        row_items += [(name, value) for name in free for value in choices[name]]
        items.update(row_items)
        pairs |= pairs_of_items(row_items)
    return items, pairs


def _candidates(name: str) -> list[Any]:
    values = choice_questions()[name]
    return [[value] for value in values] if questions()[name].get("multiselect") else values


def suggest_rows(missing_pairs: Iterable[Pair], limit: int = 50) -> list[dict[str, Any]]:
    """Greedy pairwise rows that cover `missing_pairs` (printed by the ratchet, never used).

    Each row starts from one missing pair and then, question by question, takes the value that
    covers most of the still-missing pairs; only pairs the evaluated row really renders count.
    """
    missing = set(missing_pairs)
    rows: list[dict[str, Any]] = []
    while missing and len(rows) < limit:
        q1, v1, q2, v2 = min(missing)
        row: dict[str, Any] = {}
        for name, value in ((q1, v1), (q2, v2)):
            row[name] = [value] if questions()[name].get("multiselect") else value
        for name in choice_questions():
            if name in row:
                continue
            gains = [(_gain({**row, name: value}, missing), value) for value in _candidates(name)]
            best_gain, best = max(gains, key=operator.itemgetter(0))
            if best_gain > _gain(row, missing):
                row[name] = best
        asked, context = effective_row(row)
        gained = pairs_of_items(items_of(asked)) & missing
        if validation_errors(asked, context) or not gained:
            missing.discard((q1, v1, q2, v2))  # no valid row renders it: report it, not a row
            continue
        missing -= gained
        rows.append(_without_defaults({name: row[name] for name in row if name in asked}))
    return rows


def _gain(row: Mapping[str, Any], missing: set[Pair]) -> int:
    """How many of the missing pairs the row renders."""
    return len(pairs_of_items(items_of(effective_row(row)[0])) & missing)


def _without_defaults(row: dict[str, Any]) -> dict[str, Any]:
    """The row without the answers that merely repeat what copier would pick anyway."""
    for name in list(row):
        shorter = {key: value for key, value in row.items() if key != name}
        if effective_row(shorter)[0] == effective_row(row)[0]:
            row = shorter
    return row
