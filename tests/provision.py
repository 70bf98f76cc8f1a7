"""A rendered service made ready to run against the real servers on this machine.

`prepare()` renders answers, creates the database they chose (PostgreSQL 5432, MariaDB 3306, or
an SQLite file next to the render) under a name of its own, names the broker (Redis 6379 or
RabbitMQ 5672) and installs the project (`uv lock`, `uv sync --locked`). The `rendered_service`
fixture (conftest.py) hands these out; `dispose()` drops the database again.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from databases import create_database, drop_database
from rendering import Rendered, render

BROKER_URLS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}

# The `rendered_service` fixture: answers -> a rendered, provisioned and installed service.
ServiceFactory = Callable[[Mapping[str, Any]], Rendered]


def provision(rendered: Rendered) -> Rendered:
    """Give `rendered` the database its answers chose (created empty, named after its package and
    unique: the services' own suites derive their databases from that name) and its broker."""
    database = str(rendered.answers.get("database", "none"))
    if database != "none":
        name = f"{rendered.package}_{secrets.token_hex(3)}"
        rendered.database_url = create_database(database, name, rendered.path.parent)
        rendered.database_name = name
    queue = rendered.answers.get("queue", "none")
    if queue != "none":
        broker = "redis" if queue == "arq" else str(rendered.answers["broker"])
        rendered.broker_url = BROKER_URLS[broker]
    return rendered


def dispose(rendered: Rendered) -> None:
    """Drop the database `provision()` created."""
    if rendered.database_name:
        drop_database(str(rendered.answers["database"]), rendered.database_name)
        rendered.database_name = None


def prepare(dst: Path, answers: Mapping[str, Any]) -> Rendered:
    """Render `answers` into `dst`, provision and install it; `timings` says what each took."""
    started = time.monotonic()
    rendered = render(dst, answers)
    rendered.timings["render"] = time.monotonic() - started
    provision(rendered)
    rendered.install()
    return rendered


def slug(answers: Mapping[str, Any]) -> str:
    """A directory name for a render of `answers`: its project name, lower-case, dashed."""
    name = str(answers.get("project_name", "service"))
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "service"
