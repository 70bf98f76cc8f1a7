"""The dead letters of the job queue, for operators: `python -m <package>.worker.deadletters`.

    list [--limit N]    one JSON line per dead job: id, job, attempts, error, when
    show JOB_ID         the job in full, its arguments included
    requeue JOB_ID      send it again (same id and arguments, attempts counted from zero)
    purge [JOB_ID]      delete it (or every dead letter, with --all)

Run it where the worker runs (the same image and settings: `kubectl exec`, `docker compose
exec`, a Cloud Run job execution). Requeue a job once its cause is fixed: it runs as a new job
would, and its `on_dead_letter` hook runs again if it fails again.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from ..integrations.queue import DeadLetters
from ..kernel.jobs import DeadLetter
from ..kernel.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deadletters", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the dead jobs, newest first")
    listing.add_argument("--limit", type=int, default=100)
    commands.add_parser("show", help="one dead job in full").add_argument("job_id")
    commands.add_parser("requeue", help="send a dead job again").add_argument("job_id")
    purge = commands.add_parser("purge", help="delete a dead job, or all of them")
    target = purge.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?")
    target.add_argument("--all", action="store_true")
    return parser


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")  # the command's output; logs (if any) are JSON lines apart


def _summary(letter: DeadLetter) -> str:
    fields = ("job_id", "job", "attempts", "error", "dead_at")
    return json.dumps({name: getattr(letter, name) for name in fields})


async def run(argv: Sequence[str]) -> int:
    """Run one command; its exit code (1: no dead job with that id)."""
    args = _parser().parse_args(argv)
    letters = DeadLetters(get_settings())
    try:
        if args.command == "list":
            for letter in await letters.list(limit=args.limit):
                _out(_summary(letter))
            return 0
        if args.command == "purge":
            purged = await letters.purge(None if args.all else args.job_id)
            _out(json.dumps({"purged": purged}))
            return 0 if purged or args.all else 1
        if args.command == "show":
            found = await letters.get(args.job_id)
            _out(found.dumps() if found else f"no dead job {args.job_id}")
            return 0 if found else 1
        requeued = await letters.requeue(args.job_id)
        _out(json.dumps({"requeued": args.job_id}) if requeued else f"no dead job {args.job_id}")
        return 0 if requeued else 1
    finally:
        await letters.close()


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
