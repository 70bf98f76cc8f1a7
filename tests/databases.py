"""The real database servers on this machine, for tests that run rendered services against them.

PostgreSQL on 5432 (trust) and MariaDB on 3306 (root, no password) are administered with the
machine's `psql` and `mariadb` clients; SQLite databases are files. Each test makes its own
database (`create_database`) and drops it when done (`drop_database`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SERVER_URLS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
    "mysql": "mysql+asyncmy://root@127.0.0.1:3306/{name}",
    "sqlite": "sqlite+aiosqlite:///{name}",
}
SERVER_PORTS = {"postgresql": 5432, "mysql": 3306}


def admin(database: str, statement: str) -> None:
    """Run SQL on the server as its administrator."""
    if database == "postgresql":
        argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
    else:
        argv = ["mariadb", "-h", "127.0.0.1", "-u", "root", "-e"]
    subprocess.run([*argv, statement], check=True, capture_output=True, text=True)


def drop_database(database: str, name: str) -> None:
    """Drop `name` if it exists (PostgreSQL: cutting off whoever is connected)."""
    if database == "postgresql":
        admin(database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif database == "mysql":
        admin(database, f"DROP DATABASE IF EXISTS `{name}`")


def create_database(database: str, name: str, tmp: Path) -> str:
    """An empty database called `name` (SQLite: a file under `tmp`); returns its URL."""
    if database == "sqlite":
        return SERVER_URLS[database].format(name=tmp / f"{name}.db")
    drop_database(database, name)
    if database == "postgresql":
        admin(database, f'CREATE DATABASE "{name}"')
    else:
        admin(database, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return SERVER_URLS[database].format(name=name)
