"""Idempotency keys: a retried POST or PATCH gets the first one's response, and runs once.

Modelled on the IETF draft "The Idempotency-Key HTTP Header Field" (expired in 2026: a model,
not a standard). A route takes part with `dependencies=[idempotent(...)]` and a router with
`route_class=IdempotentRoute`. For a request with an `Idempotency-Key`:

- The key is claimed, in a short transaction of its own on the request's session (its one
  connection), for the client (the authenticated principal, else "anonymous": never the
  address, which NAT and proxies share and a mobile client changes between its retries) and
  with a fingerprint of the method, the path and the body.
- A new key runs the endpoint. The response it built (status, the headers that describe the
  result, the body) is written into the record in the session of the effect, so the commit
  that follows stores both or neither: no crash can leave an effect without its record.
- The same key and fingerprint again: the stored response, with `Idempotent-Replayed: true`.
  The same key with another body or path: 422. The first request still in flight: 409 with
  `Retry-After`; once its lock expired (its process died), the next request takes the key over.
- A request that fails (an error response, an exception, a failed commit) stores nothing: its
  claim is deleted and a retry runs again. Errors are not replayed: a 503 must be retried.

Records expire after `idempotency_ttl_seconds`: an expired key is new again, and
`python -m <package>.integrations.idempotency purge` deletes expired records (run it daily).
"""

from ...kernel.settings import Settings
from ...web.component import Component
from .claim import idempotent
from .route import IdempotentRoute

__all__ = ["IdempotentRoute", "component", "idempotent"]


class Idempotency(Component):
    """No client of its own: the records live in the database, in each request's session."""


def component(settings: Settings) -> Component:
    return Idempotency()
