"""Conditional requests (RFC 9110, section 13): entity tags, If-Match and If-None-Match.

A feature gives what it answers an `ETag`; this module parses what clients send back and
compares. `If-None-Match` on a read uses the weak comparison (any equivalent copy is still good:
304 without a body); `If-Match` on a write uses the strong one (the write must be based on
exactly what the client saw: 412 otherwise). Deciding a write atomically is the feature's part:
its UPDATE or DELETE carries the condition (see items/repository.py).

A malformed field never fails a request: an element that is not an entity tag matches nothing,
so a garbled If-None-Match gets the full answer and a garbled If-Match a 412.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from .errors import ProblemError

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text (section 8.8.3).
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
# The elements of a list (section 5.6.1) are split at commas outside quotes: a tag may hold one.
_ELEMENT = re.compile(r'(?:[^,"]|"[^"]*"?)+')
_OWS = " \t"

# For `responses=`: the header of an answer that has an entity tag.
ETAG = {
    "ETag": {
        "description": "The entity tag of this representation, for If-None-Match and If-Match.",
        "schema": {"type": "string"},
    }
}


@dataclass(frozen=True, slots=True)
class ETag:
    """An entity tag: `opaque` is what stands between the quotes. A strong tag names one exact
    representation; a weak one (`W/"..."`) any that is equivalent."""

    opaque: str
    weak: bool = False

    def __post_init__(self) -> None:
        if _ENTITY_TAG.fullmatch(f'"{self.opaque}"') is None:
            raise ValueError(f"an entity tag cannot hold {self.opaque!r}")

    def __str__(self) -> str:
        return f'W/"{self.opaque}"' if self.weak else f'"{self.opaque}"'


def strong_match(first: ETag, second: ETag) -> bool:
    """Both strong and the same (section 8.8.3.2): what a write must be based on."""
    return not first.weak and not second.weak and first.opaque == second.opaque


def weak_match(first: ETag, second: ETag) -> bool:
    """The same opaque tag, weak or not: enough to keep using a cached copy."""
    return first.opaque == second.opaque


@dataclass(frozen=True, slots=True)
class EntityTags:
    """An If-Match or If-None-Match field: `*` (any current representation) or entity tags."""

    tags: tuple[ETag, ...] = ()
    wildcard: bool = False

    @classmethod
    def parse(cls, lines: Sequence[str]) -> "EntityTags | None":
        """The field from all its lines (several lines are one list); None when it is absent."""
        if not lines:
            return None
        value = ", ".join(lines).strip(_OWS)
        if value == "*":
            return cls(wildcard=True)
        elements = (element.strip(_OWS) for element in _ELEMENT.findall(value))
        matches = (_ENTITY_TAG.fullmatch(element) for element in elements)
        return cls(tuple(ETag(match[2], weak=match[1] is not None) for match in matches if match))

    def matches_strongly(self, current: ETag) -> bool:
        """If-Match (section 13.1.1): `current` is the resource's tag; it must exist."""
        return self.wildcard or any(strong_match(tag, current) for tag in self.tags)

    def matches_weakly(self, current: ETag) -> bool:
        """If-None-Match (section 13.1.2): true means the client's copy is current."""
        return self.wildcard or any(weak_match(tag, current) for tag in self.tags)


@dataclass(frozen=True, slots=True)
class Selected[T]:
    """What a read answers: the representation and its tag, or only the tag (`body` None)
    when If-None-Match shows the client already has it."""

    etag: ETag
    body: T | None


def conditional_read[T](body: T, etag: ETag, if_none_match: EntityTags | None) -> Selected[T]:
    """`body` unless the client's copy (If-None-Match) is still current."""
    current = if_none_match is not None and if_none_match.matches_weakly(etag)
    return Selected(etag, None if current else body)


def answer[T](
    selected: Selected[T], response: Response, *, cache_control: str | None = None
) -> T | Response:
    """An endpoint's return value: the body with its ETag on `response`, or a bodiless 304
    (which carries the ETag too, and the `cache_control` a 200 would, section 15.4.5)."""
    headers = {"ETag": str(selected.etag)}
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
    if selected.body is None:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return selected.body


def not_modified(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the 304 of a read that honours If-None-Match."""
    return {304: {"description": description, "headers": ETAG}}


class PreconditionFailedError(ProblemError):
    status_code = 412
    detail = "The resource changed since you read it (If-Match): read it again, then retry."


class PreconditionRequiredError(ProblemError):
    status_code = 428
    detail = "This write must be conditional: send If-Match with the ETag you read."
