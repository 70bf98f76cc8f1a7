"""What the request's scope says about the request, for every module that answers one.

The request id (given by `web.middleware.RequestIdMiddleware`) and the paths the client called:
the problem documents (errors), `Location` headers (dependencies) and versioning read them here.
"""

from starlette.types import Scope

# Where a middleware that rewrites the path (header versioning) keeps the one the client called.
CLIENT_PATH = "client_path"


def request_id_of(scope: Scope) -> str | None:
    """The id `RequestIdMiddleware` gave this request."""
    state: dict[str, object] = scope.get("state", {})
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else None


def request_path(scope: Scope) -> str:
    """The path the client called, `root_path` included, before any rewrite of ours.

    Servers put `root_path` in front of `path` already (uvicorn, and Starlette for a mount);
    `path` is only prefixed here when it does not start with it.
    """
    state: dict[str, object] = scope.get("state", {})
    client_path = state.get(CLIENT_PATH)
    if isinstance(client_path, str):
        return client_path
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    return path if path == root or path.startswith(f"{root}/") else root + path


def route_path(scope: Scope) -> str:
    """The path below `root_path`, as the routes see it: `/v1/items` under `/api/v1/items`."""
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :]
    return path
