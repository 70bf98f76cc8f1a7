"""`python -m <package>.keys`: create, list and revoke API keys (integrations/api_keys/).

    create --owner O --scope items:read [--scope ...] [--expires-in-days N]
        prints the new key, once (only its hash is kept), and its id;
    list [--json]
        every key: id, owner, scopes, created, last used, expires, revoked (never a hash);
    revoke ID
        the key is refused within API_KEY_CACHE_SECONDS.

Exit status 0 on success, 1 when no such key exists, 2 on a malformed argument.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..integrations.api_keys import admin
from ..integrations.api_keys.keys import ID_FORM, SCOPE_FORM, ApiKey, UnknownKeyError
from ..kernel.settings import Settings, get_settings

MAX_OWNER = 255  # the owner column's length
COLUMNS = ("id", "owner", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")


def _scope(value: str) -> str:
    if SCOPE_FORM.fullmatch(value) is None:
        raise argparse.ArgumentTypeError(
            f"not a scope: {value!r} (1-100 visible characters, no quotes or backslashes)"
        )
    return value


def _key_id(value: str) -> str:
    if ID_FORM.fullmatch(value) is None:
        raise argparse.ArgumentTypeError(f"not a key id: {value!r} (12 lowercase hex digits)")
    return value


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r} (1 or more)")
    return days


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key (printed once)")
    create.add_argument("--owner", required=True, help="who holds it (the principal's subject)")
    create.add_argument(
        "--scope", dest="scopes", action="append", type=_scope, default=[], help="repeatable"
    )
    create.add_argument("--expires-in-days", type=_days, help="refused after (default: never)")
    listing = commands.add_parser("list", help="every key (never a hash)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = commands.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key_id", type=_key_id, metavar="ID")
    return parser


def _row(key: ApiKey) -> dict[str, str | list[str] | None]:
    def when(moment: datetime | None) -> str | None:
        return moment.isoformat(timespec="seconds") if moment else None

    return {
        "id": key.id,
        "owner": key.owner,
        "scopes": list(key.scopes),
        "created_at": when(key.created_at),
        "last_used_at": when(key.last_used_at),
        "expires_at": when(key.expires_at),
        "revoked_at": when(key.revoked_at),
    }


def _table(keys: list[ApiKey]) -> list[str]:
    cells = [
        [" ".join(v) if isinstance(v, list) else (v or "-") for v in _row(key).values()]
        for key in keys
    ]
    widths = [max(len(row[i]) for row in [list(COLUMNS), *cells]) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(COLUMNS), *cells]
    ]


async def run(settings: Settings, args: argparse.Namespace) -> list[str]:
    """What the command prints."""
    if args.command == "create":
        expires = None
        if args.expires_in_days:
            expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
        scopes = tuple(dict.fromkeys(args.scopes))
        key, stored, notes = await admin.create(
            settings, owner=args.owner, scopes=scopes, expires_at=expires
        )
        return [f"id: {stored.id}", f"key: {key}", *notes]
    if args.command == "list":
        keys = await admin.listing(settings)
        if args.json:
            return [json.dumps(_row(key)) for key in keys]
        return _table(keys)
    return await admin.revoke(settings, args.key_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "create" and not 0 < len(args.owner.strip()) <= MAX_OWNER:
        parser().error(f"--owner must have 1 to {MAX_OWNER} characters")
    try:
        lines = asyncio.run(run(get_settings(), args))
    except UnknownKeyError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
