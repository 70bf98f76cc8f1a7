"""Programs the benchmark writes and runs on a rendered service's own virtualenv python.

- `bare_fastapi.py`: FastAPI with `async def` routes returning a small dict (the baseline of
  `/livez` and `/v1/about`);
- `bare_sqlalchemy.py`: FastAPI + async SQLAlchemy (asyncpg) running the two queries of the
  service's `GET /v1/items?limit=20` (the page, then `selectinload` of the tags) with the
  service's pool size, on the same seeded database;
- `launcher.py`: the service's own `python -m <package>` with layers removed (`BENCH_REMOVE`:
  middleware class names of `app.user_middleware`; `BENCH_SKIP`: response validation, cursor
  signing, the session dependency's guards), optionally under pyinstrument.

Every one serves with the service's uvicorn options: uvloop, httptools, no access log, one worker.
"""

from __future__ import annotations

from pathlib import Path

SERVE = """
def serve(app):
    import os

    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_config=None,
        access_log=False,
        server_header=False,
    )
"""

# The probes every program answers (the benchmark waits for /readyz, cold start times /livez).
PROBES = """
@app.get("/livez")
async def livez():
    return {"status": "ok"}


@app.get("/readyz")
async def readyz():
    return {"status": "ok"}
"""

BARE_FASTAPI = (
    """
from fastapi import FastAPI

app = FastAPI()


"""
    + PROBES
    + """


@app.get("/v1/about")
async def about():
    return {"name": "bench-service", "version": "0.1.0"}

"""
    + SERVE
    + "\nserve(app)\n"
)

BARE_SQLALCHEMY = (
    """
import os
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import BigInteger, ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    price_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    tags: Mapped[list["ItemTag"]] = relationship(lazy="raise", order_by="ItemTag.name")


class ItemTag(Base):
    __tablename__ = "item_tags"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), primary_key=True)


engine = create_async_engine(
    os.environ["DATABASE_URL"],
    pool_size=int(os.environ["POOL_SIZE"]),
    max_overflow=int(os.environ["MAX_OVERFLOW"]),
)
sessions = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


"""
    + PROBES
    + """


@app.get("/v1/items")
async def items(limit: int = 20):
    statement = (
        select(Item)
        .options(selectinload(Item.tags))
        .order_by(Item.created_at.desc(), Item.id.desc())
        .limit(limit + 1)
    )
    async with sessions() as session:
        rows = (await session.scalars(statement)).all()
    return {
        "items": [
            {
                "id": row.id,
                "name": row.name,
                "description": row.description,
                "price_cents": row.price_cents,
                "status": row.status,
                "version": row.version,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
                "tags": [tag.name for tag in row.tags],
            }
            for row in rows[:limit]
        ],
        "next_cursor": None,
        "limit": limit,
    }

"""
    + SERVE
    + "\nserve(app)\n"
)

LAUNCHER = '''
"""`python -m <package>` with the middleware named in BENCH_REMOVE taken out of the app, and
the code-level layers named in BENCH_SKIP (response_validation, cursor_signing, session_guards)
bypassed."""
import importlib
import json
import os
import runpy
import sys

import uvicorn

REMOVE = {name for name in os.environ.get("BENCH_REMOVE", "").split(",") if name}
SKIP = {name for name in os.environ.get("BENCH_SKIP", "").split(",") if name}
real_run = uvicorn.run


def service_module(package, room, name):
    """`<package>.<room>.<name>`, or `<package>.core.<name>` in renders older than the rooms."""
    try:
        return importlib.import_module(f"{package}.{room}.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"{package}.core.{name}")


def skip_response_validation():
    """FastAPI serializes what the endpoint returned without validating it first."""
    import fastapi.routing as routing

    original = routing.serialize_response

    async def serialize_response(*, field=None, response_content, dump_json=False, **options):
        if field is None:
            return await original(response_content=response_content, dump_json=dump_json, **options)
        options.pop("is_coroutine", None)
        options.pop("endpoint_ctx", None)
        serializer = field.serialize_json if dump_json else field.serialize
        return serializer(response_content, **options)

    routing.serialize_response = serialize_response


def skip_cursor_signing(package):
    """Cursors carry an empty signature (and verify nothing)."""
    pagination = service_module(package, "kernel", "pagination")
    pagination.CursorCodec._sign = lambda self, payload: b""


def skip_session_guards(package, app):
    """The request's session is a plain SQLAlchemy one: no checkout deadline, bounded close,
    watchdog, error mapping or after-commit hooks (the session dependency's own cost)."""
    from fastapi import Request

    db = service_module(package, "integrations", "db")

    async def plain_session(request: Request):
        async with request.state.db.sessions() as session:
            yield session
            await session.commit()

    app.dependency_overrides[db._request_session] = plain_session


def skip(package, app):
    unknown = SKIP - {"response_validation", "cursor_signing", "session_guards"}
    if unknown:
        sys.exit(f"nothing to skip by the name {sorted(unknown)}")
    if "response_validation" in SKIP:
        skip_response_validation()
    if "cursor_signing" in SKIP:
        skip_cursor_signing(package)
    if "session_guards" in SKIP:
        skip_session_guards(package, app)
    return app


def strip(app):
    names = [entry.cls.__name__ for entry in app.user_middleware]
    if os.environ.get("BENCH_LIST"):
        with open(os.environ["BENCH_LIST"], "w") as listing:
            json.dump(names, listing)
        sys.exit(0)
    unknown = REMOVE - set(names)
    if unknown:
        sys.exit(f"no such middleware: {sorted(unknown)} (the app has {names})")
    app.user_middleware = [e for e in app.user_middleware if e.cls.__name__ not in REMOVE]
    return app


def profiled(app):
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")

    async def wrapper(scope, receive, send):
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            profiler.stop()
            with open(os.environ["BENCH_PYINSTRUMENT"], "w") as out:
                out.write(profiler.output_html())
            return
        await app(scope, receive, send)

    profiler.start()
    return wrapper


def run(target, **options):
    module, _, name = target.partition(":")
    app = skip(module.split(".")[0], strip(getattr(importlib.import_module(module), name)))
    if os.environ.get("BENCH_PYINSTRUMENT"):
        app = profiled(app)
    real_run(app, **options)


uvicorn.run = run
runpy.run_module(sys.argv[1], run_name="__main__", alter_sys=True)
'''


def write(directory: Path) -> dict[str, Path]:
    """Write the three programs into `directory`; their paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    programs = {
        "bare_fastapi": BARE_FASTAPI,
        "bare_sqlalchemy": BARE_SQLALCHEMY,
        "launcher": LAUNCHER,
    }
    paths = {}
    for name, source in programs.items():
        path = directory / f"{name}.py"
        path.write_text(source.lstrip())
        paths[name] = path
    return paths
