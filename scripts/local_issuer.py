"""A rendered service's own test issuer (tests/support/issuer.py), run beside it on loopback.

Drills and the benchmark start a service with OIDC authentication as production does, so its
tokens must come from somewhere: the render's issuer, run by the render's Python in its
directory, publishes one RS256 key and prints a token holding every scope of the service's
features (tests/support/credentials.py). It serves until the context ends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rendering import Rendered

# The `auth` answers whose services verify OIDC bearer tokens.
OIDC_AUTH = frozenset({"oidc", "oidc_and_api_key"})

SCRIPT = """
import sys
from tests.support.credentials import SCOPES
from tests.support.issuer import AUDIENCE, Issuer, signing_key
with Issuer().running() as issuer:
    key = signing_key("RS256", "local-1")
    issuer.publish(key)
    token = issuer.token(key, sub="local", scope=" ".join(SCOPES), exp=2**31 - 1)
    print(issuer.url, AUDIENCE, token, flush=True)
    sys.stdin.read()
"""


@dataclass(frozen=True)
class Issuer:
    """A running issuer: the service's settings for it (without the prefix) and a token."""

    settings: dict[str, str]
    headers: dict[str, str]


@contextmanager
def local_issuer(python: Path, project: Path) -> Iterator[Issuer]:
    """The issuer of the render at `project`, run by its `python`, until the context ends."""
    process = subprocess.Popen(
        [str(python), "-c", SCRIPT],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if len(line.split()) != 3:  # url, audience, token
            raise RuntimeError(f"the issuer of {project} did not start (it printed {line!r})")
        url, audience, token = line.split()
        settings = {"OIDC_ISSUER": url, "OIDC_AUDIENCE": audience}
        yield Issuer(settings, {"Authorization": f"Bearer {token}"})
    finally:
        process.kill()
        process.wait()


@contextmanager
def issuer_for(rendered: Rendered) -> Iterator[Issuer | None]:
    """The render's issuer, running until the context ends, when its service verifies OIDC
    tokens; None when it does not (nothing runs)."""
    if rendered.answers.get("auth", "none") not in OIDC_AUTH:
        yield None
        return
    with local_issuer(rendered.venv_bin("python"), rendered.path) as issuer:
        yield issuer
