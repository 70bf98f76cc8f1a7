"""The route class that stores an idempotent endpoint's response (with its effect, in a
database) and answers a replay."""

from collections.abc import Callable, Coroutine
from typing import Any, override

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ...kernel.openapi import problems
from .keys import STATE, Claim, Replay

# What the claim answers, beside the kernel's 400 for a malformed body; a key used for another
# request, or a malformed key, is a 422 that lists the header in `errors`, as kernel/openapi.py
# documents every 422.
PROBLEMS = problems(
    {
        400: "The body is not valid JSON, or the Idempotency-Key is missing (where required).",
        409: "A request with this Idempotency-Key is still in progress (see Retry-After).",
    }
)


def _documented(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged = dict(responses)
    for code, response in PROBLEMS.items():
        if code in merged:  # one status, two reasons: both described
            own = merged[code].get("description", "")
            merged[code] = {**merged[code], "description": f"{own} Or: {response['description']}"}
        else:
            merged[code] = response
    return merged


class IdempotentRoute(APIRoute):
    """An APIRoute whose handler, once the endpoint built its response, stores it in the
    request's idempotency record: in a database, before the request's session commits (FastAPI
    closes the function-scoped dependencies, hence commits, after the handler returns). A replay
    is answered here too. Routes without `idempotent()` are unchanged."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependencies = kwargs.get("dependencies") or []
        if any(getattr(d.dependency, "idempotent", False) for d in dependencies):
            kwargs["responses"] = _documented(kwargs.get("responses") or {})
        super().__init__(path, endpoint, **kwargs)

    @override
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_idempotently(request: Request) -> Response:
            try:
                response = await handle(request)
            except Replay as replay:
                return replay.response()
            claim = getattr(request.state, STATE, None)
            if isinstance(claim, Claim):
                await claim.store(response)
            return response

        return handle_idempotently
