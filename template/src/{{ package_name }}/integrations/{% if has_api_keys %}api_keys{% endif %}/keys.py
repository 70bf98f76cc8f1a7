"""The API keys themselves: their form, their hash, and what a stored key proves.

A key is `sk_<id>_<secret>`: `sk_`, an id of 12 lowercase hex digits (48 random bits: what the
key is looked up by, shown in `keys list` and the logs), `_`, and a secret of 43 URL-safe
characters (32 random bytes). Only HMAC-SHA256(API_KEY_PEPPER, the whole key), in hex, is
stored: a copy of the table (a backup, a replica) proves nothing without the pepper, which
lives in the secret store. Changing the pepper invalidates every key.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from ..auth import CredentialError, Principal

PREFIX = "sk"
ID_BYTES = 6  # 12 hex digits
SECRET_BYTES = 32  # 43 URL-safe base64 characters
KEY_FORM = re.compile(r"sk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
ID_FORM = re.compile(r"[0-9a-f]{12}")
# Scopes as OAuth 2.0 writes them (RFC 6749, section 3.3): visible ASCII but `"` and `\`.
SCOPE_FORM = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")
# One answer for a malformed key, an unknown id and a wrong secret: nothing to tell them apart.
INVALID = "The API key is not valid."


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: its id and hash (never the secret), whose it is and what it may do."""

    id: str
    hash: str
    owner: str
    scopes: tuple[str, ...]
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


def new_key() -> tuple[str, str]:
    """A new key and its id."""
    key_id = secrets.token_hex(ID_BYTES)
    return f"{PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}", key_id


def key_id_of(credential: str) -> str:
    """The id of a well-formed key; CredentialError for anything else (before any lookup)."""
    matched = KEY_FORM.fullmatch(credential)
    if matched is None:
        raise CredentialError(INVALID)
    return matched.group(1)


def digest(pepper: str, key: str) -> str:
    """What is stored of `key`: HMAC-SHA256 under the pepper, in hex."""
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def proves(stored: ApiKey | None, key_digest: str, now: datetime) -> Principal:
    """The principal `stored` grants to a key of digest `key_digest` at `now`.

    The digests are compared in constant time (`hmac.compare_digest`): how long a wrong key
    takes says nothing about how much of it was right. An unknown id is compared too, with a
    digest no key has, so it costs the same and answers the same.
    """
    expected = stored.hash if stored is not None else "0" * 64
    if not hmac.compare_digest(expected.encode(), key_digest.encode()) or stored is None:
        raise CredentialError(INVALID)
    if stored.revoked_at is not None and stored.revoked_at <= now:
        raise CredentialError("The API key was revoked.")
    if stored.expires_at is not None and stored.expires_at <= now:
        raise CredentialError("The API key has expired.")
    return Principal(
        method="api_key",
        subject=stored.owner,
        scopes=frozenset(stored.scopes),
        client_id=stored.id,
    )


class UnknownKeyError(LookupError):
    """No key (no active key, for a revocation) has the id."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no active API key has the id {key_id!r}")
