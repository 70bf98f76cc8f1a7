"""The optional parts of the service as one protocol, and the lifespan that opens them in turn.

Each integration module (`integrations/`: error reporting, tracing, the database, the job queue,
metrics) has a `component(settings)` factory; `components.py` lists the integrations this
service was generated with, and the composition roots (`main.py` for the API, `worker/` for the
worker) build everything from that list. An optional part is one more module in the list, never
a branch in `main.py`.

A component overrides the hooks it needs; the others do nothing. In list order:

- `app_options`, `install`, `middleware` (the API only, while `create_app` builds the app):
  arguments of `FastAPI(...)`, routes and the innermost middleware, then middleware placed around
  the error middleware (so that it sees every answer, 500s included); `document` adds what its
  middleware answers to the OpenAPI document;
- `open` (the API's lifespan, and the worker when `in_worker`): opens the component's client,
  kept under `name` (`request.state.<name>`, a job's `ctx.resources`), and registers its
  readiness checks;
- `attach`, once every client is open: works with the other components' clients (tracing
  instruments the database engine, metrics samples the pools and the queue).

Everything is undone in reverse order: detached first, then closed, the first opened last.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol, override

from fastapi import FastAPI
from starlette.middleware import Middleware

from ..kernel.settings import Settings
from .blocking import LoopMonitor
from .health import HealthRegistry


class Component:
    """An optional part of the service; every hook does nothing until a subclass overrides it."""

    name = ""  # the key of its client in the lifespan's state and a job's resources ("": none)
    in_worker = False  # whether the worker opens it too (its jobs use the client)
    quiet_paths: frozenset[str] = frozenset()  # its own endpoints, left out of the access log

    def app_options(self) -> dict[str, Any]:
        """Keyword arguments of `FastAPI(...)`."""
        return {}

    def install(self, app: FastAPI, monitor: LoopMonitor) -> None:
        """Add routes and the innermost middleware (called before the kernel's middleware)."""

    def middleware(self) -> list[Middleware]:
        """Middleware around the error middleware: it sees every answer, 500s included."""
        return []

    def document(self, document: dict[str, Any], prefix: str) -> None:
        """Document what the middleware answers, in the generated OpenAPI `document` (in place)
        whose operations are served under `prefix` (kernel/openapi.py, `Documenter`)."""

    @asynccontextmanager
    async def open(self, health: HealthRegistry) -> AsyncIterator[object]:
        """Open the client (kept under `name`) and register its checks; close it at exit."""
        yield None

    @asynccontextmanager
    async def attach(self, opened: Mapping[str, object]) -> AsyncIterator[None]:
        """Work with every opened client (by name) until the shutdown."""
        yield


class Client(Component):
    """A component that is one client, opened by `opener(settings, health)` and kept as `name`:
    the database, the job queue. Jobs use it, so the worker opens it too, unless `in_worker` is
    false (a client only the API's protections use)."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        opener: Callable[[Settings, HealthRegistry], AbstractAsyncContextManager[object]],
        *,
        in_worker: bool = True,
    ) -> None:
        self.name = name
        self.settings = settings
        self.opener = opener
        self.in_worker = in_worker

    @override
    @asynccontextmanager
    async def open(self, health: HealthRegistry) -> AsyncIterator[object]:
        async with self.opener(self.settings, health) as client:
            yield client


class Integration(Protocol):
    """An integration module: `components.py` lists them."""

    def component(self, settings: Settings) -> Component: ...


@asynccontextmanager
async def open_components(
    components: Sequence[Component], health: HealthRegistry
) -> AsyncIterator[dict[str, object]]:
    """Open every component in order, then attach them; yields the clients by name."""
    opened: dict[str, object] = {}
    async with AsyncExitStack() as stack:
        for component in components:
            client = await stack.enter_async_context(component.open(health))
            if component.name:
                opened[component.name] = client
        for component in components:
            await stack.enter_async_context(component.attach(opened))
        yield opened
