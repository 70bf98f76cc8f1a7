"""Render every matrix row at two refs of the template and show what changed.

    uv run python scripts/render_diff.py                   # merge-base with main vs HEAD
    uv run python scripts/render_diff.py --base 0.2.0 --head my-branch --rows 'mysql|helm'
    uv run python scripts/render_diff.py --stat            # per-file counts, no diffs

The rows are tests/matrix.py's `MATRIX` (imported from this checkout, whatever the refs), rendered
with Copier at `--base` and at `--head` as the tests render them (`copier copy --vcs-ref REF
--defaults --data ...`, no --trust, in at most two processes). Copier renders `HEAD` of a local
repository with its uncommitted changes: the default `--head HEAD` is the working tree. The
default `--base` is the merge-base of the head with `main` (or `origin/main`), or the head's parent
when that is the head's own commit and there is nothing uncommitted to compare.

For each row: unchanged, or the files changed (+a -b lines), added and removed, then unified
diffs (up to `--max-lines` per row; `--diff` shows them all, and a file's diff already shown for
an earlier row is named, not repeated), then a summary table and the time the renders took.
`.copier-answers.yml`'s `_commit` and `_src_path` lines are ignored.

Exit status: 0 when every row renders identically at both refs (a pure refactor), 1 when some row
differs (review the diff), 2 when a ref does not render or a ref or pattern is wrong.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from matrix import MATRIX, Case
from rendering import PROJECT_NAME, ROOT, copy_template

IGNORED_ANSWER_LINES = re.compile(r"^(_commit|_src_path):")
ANSWERS_FILE = ".copier-answers.yml"
CLONE_DIR = re.compile(r"^.*/copier\._vcs\.clone\.[^/]+/")  # copier's checkout of the ref
MAX_PROCESSES = 2


@dataclass
class FileChange:
    """One file that differs between the base and the head render of a row."""

    path: str
    kind: str  # "changed", "added" or "removed"
    added: int = 0
    removed: int = 0
    diff: list[str] = field(default_factory=list)
    note: str = ""  # a mode change, or why there is no text diff


@dataclass
class RowResult:
    case: Case
    changes: list[FileChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(change.kind == kind for change in self.changes)

    def lines(self) -> tuple[int, int]:
        changed = [change for change in self.changes if change.kind == "changed"]
        return sum(c.added for c in changed), sum(c.removed for c in changed)

    def status(self) -> str:
        if self.errors:
            return "error"
        if not self.changes:
            return "unchanged"
        added, removed = self.lines()
        parts = [f"{plural(self.count('changed'), 'file')} changed (+{added} -{removed} lines)"]
        parts += [f"{self.count(kind)} {kind}" for kind in ("added", "removed") if self.count(kind)]
        return ", ".join(parts)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 'es' if noun.endswith('s') else 's'}"


# --- git --------------------------------------------------------------------------------------


def git(repo: Path, *argv: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *argv], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LookupError(f"git {' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout.strip()


def commit_of(repo: Path, ref: str) -> str:
    try:
        return git(repo, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    except LookupError:
        raise LookupError(f"{repo} has no commit {ref!r}") from None


def is_dirty(repo: Path) -> bool:
    return bool(git(repo, "status", "--porcelain"))


def default_base(repo: Path, head: str) -> tuple[str, str]:
    """(ref, how it was chosen): the merge-base with main, else the head's parent."""
    with_head_dirt = head == "HEAD" and is_dirty(repo)
    for main in ("main", "origin/main"):
        try:
            base = git(repo, "merge-base", head, main)
        except LookupError:
            continue
        if base != commit_of(repo, head) or with_head_dirt:
            return base, f"merge-base of {head} and {main}"
    return f"{head}~1", f"parent of {head}"


# --- rendering (in worker processes) ----------------------------------------------------------


def render_row(repo: str, ref: str, answers: dict[str, Any], dst: str) -> str | None:
    """Render one row at one ref; None, or copier's error with where it happened."""
    warnings.simplefilter("ignore")  # DirtyLocalWarning once per render: the header says it
    try:
        copy_template(Path(dst), answers, vcs_ref=ref, src=Path(repo))
    except Exception as error:  # every failure is reported, with the row's answers
        frames = [
            f"{CLONE_DIR.sub('', frame.filename)}:{frame.lineno}"
            for frame in traceback.extract_tb(error.__traceback__)
            if not frame.filename.endswith(".py")  # Jinja templates' frames
        ]
        where = f"\n  in template {', '.join(frames)}" if frames else ""
        return f"{type(error).__name__}: {str(error).strip()}{where}"
    return None


def explain(repo: str, ref: str, case: Case, error: str) -> str:
    """A row that does not render: copier's error, the answers, the command that reproduces it."""
    data = {"project_name": PROJECT_NAME, **case.answers}
    argv = ["copier", "copy", "--vcs-ref", ref, "--defaults"]
    for name, value in data.items():
        argv += ["-d", f"{name}={value if isinstance(value, str) else json.dumps(value)}"]
    return (
        f"{ref} does not render: {error}\n"
        f"  answers: {', '.join(f'{k}={v!r}' for k, v in data.items())}\n"
        f"  reproduce: {shlex.join([*argv, repo, case.id])}"
    )


# --- comparing two renders --------------------------------------------------------------------


def read_tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under root: relative path -> (mode, content); a symlink's content is its
    target. The answers file loses the lines that name the commit and the source path."""
    tree: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                tree[relative] = (0o120000, str(path.readlink()).encode())
                continue
            content = path.read_bytes()
            if relative == ANSWERS_FILE:
                lines = content.decode().splitlines(keepends=True)
                content = "".join(x for x in lines if not IGNORED_ANSWER_LINES.match(x)).encode()
            tree[relative] = (path.stat().st_mode & 0o777, content)
    return tree


def text_lines(content: bytes) -> list[str] | None:
    try:
        return content.decode().splitlines()
    except UnicodeDecodeError:
        return None


def file_change(
    path: str, old: tuple[int, bytes] | None, new: tuple[int, bytes] | None
) -> FileChange:
    kind = "added" if old is None else "removed" if new is None else "changed"
    old_mode, old_bytes = old or (0, b"")
    new_mode, new_bytes = new or (0, b"")
    change = FileChange(path, kind)
    if old is not None and new is not None and old_mode != new_mode:
        change.note = f"mode {old_mode:o} -> {new_mode:o}"
    old_lines, new_lines = text_lines(old_bytes), text_lines(new_bytes)
    if old_lines is None or new_lines is None:
        change.note = change.note or f"binary, {len(old_bytes)} -> {len(new_bytes)} bytes"
        return change
    fromfile = "/dev/null" if old is None else f"a/{path}"
    tofile = "/dev/null" if new is None else f"b/{path}"
    change.diff = list(
        difflib.unified_diff(old_lines, new_lines, fromfile, tofile, lineterm="", n=3)
    )
    body = change.diff[2:]
    change.added = sum(line.startswith("+") for line in body)
    change.removed = sum(line.startswith("-") for line in body)
    return change


def compare(base: Path, head: Path) -> list[FileChange]:
    old, new = read_tree(base), read_tree(head)
    return [
        file_change(path, old.get(path), new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]


# --- output -----------------------------------------------------------------------------------


def change_line(change: FileChange) -> str:
    mark = {"changed": "M", "added": "A", "removed": "D"}[change.kind]
    counts = f"+{change.added} -{change.removed}"
    return f"    {mark} {change.path}  ({counts}{', ' + change.note if change.note else ''})"


def print_row(
    result: RowResult, width: int, args: argparse.Namespace, seen: dict[str, str]
) -> None:
    """The row's status, its files and (unless --stat) its diffs, up to the per-row limit."""
    print(f"{result.case.id:<{width}}  {result.status()}", flush=True)
    for error in result.errors:
        print("    " + error.replace("\n", "\n    "))
    for change in result.changes:
        print(change_line(change))
    if args.stat:
        return
    budget = None if args.diff else args.max_lines
    for change in result.changes:
        key = change.path + "\0" + "\n".join(change.diff)
        if key in seen:
            print(f"    ({change.path}: same diff as in {seen[key]})")
            continue
        seen[key] = result.case.id
        for line in change.diff:
            if budget is not None and budget <= 0:
                print(f"    ... diff cut at {args.max_lines} lines for this row (--diff: all)")
                return
            print("    " + line)
            budget = None if budget is None else budget - 1


def print_summary(results: Sequence[RowResult], width: int) -> None:
    print()
    header = f"{'row':<{width}}  {'result':<9}  changed  added  removed  +lines  -lines"
    print(header)
    print("-" * len(header))
    for result in results:
        status = "error" if result.errors else "differs" if result.changes else "unchanged"
        added, removed = result.lines()
        print(
            f"{result.case.id:<{width}}  {status:<9}  {result.count('changed'):>7}"
            f"  {result.count('added'):>5}  {result.count('removed'):>7}  {added:>6}  {removed:>6}"
        )


# --- the run ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="the ref before (default: merge-base with main)")
    parser.add_argument("--head", default="HEAD", help="the ref after (default: HEAD, dirty)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the template repository")
    parser.add_argument("--rows", help="regex (or substring) on the matrix rows' ids")
    parser.add_argument("--diff", action="store_true", help="show every diff line")
    parser.add_argument("--stat", action="store_true", help="files and counts only, no diffs")
    parser.add_argument("--max-lines", type=int, default=60, help="diff lines shown per row")
    parser.add_argument("--jobs", type=int, choices=range(1, MAX_PROCESSES + 1), default=2)
    parser.add_argument("--out", type=Path, help="keep the renders here (default: a temp dir)")
    return parser.parse_args(argv)


def selected_rows(pattern: str | None) -> list[Case]:
    if pattern is None:
        return list(MATRIX)
    try:
        regex = re.compile(pattern)
    except re.error:
        regex = re.compile(re.escape(pattern))
    return [case for case in MATRIX if regex.search(case.id)]


def describe_refs(args: argparse.Namespace) -> None:
    """Resolve the refs (LookupError when one does not exist) and print what is compared."""
    repo = args.repo.resolve()
    how = " (given)"
    if args.base is None:
        args.base, how = default_base(repo, args.head)
        how = f" ({how})"
    dirt = " + uncommitted changes" if is_dirty(repo) else ""
    print(f"template: {repo}")
    for label, ref, note in (("base", args.base, how), ("head", args.head, "")):
        commit = commit_of(repo, ref)
        name = commit[:12] if ref == commit else f"{ref} = {commit[:12]}"
        print(f"{label}:     {name}{note}{dirt if ref == 'HEAD' else ''}")


def render_all(
    args: argparse.Namespace, rows: Sequence[Case], out: Path
) -> Iterator[tuple[Case, list[str]]]:
    """Render every row at both refs in at most two processes; yield each row's errors, in order
    (the caller compares a finished row while the next ones render)."""
    # Forked workers start with copier imported (seconds of CPU each); the executor forks them
    # all before it starts its thread. Elsewhere fork is unsafe: spawn.
    context = get_context("fork" if sys.platform == "linux" else "spawn")
    repo = str(args.repo.resolve())
    sys.stdout.flush()  # a forked worker must not print the parent's buffered lines again
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        jobs: list[tuple[Case, list[tuple[str, Future[str | None]]]]] = []
        for case in rows:
            futures = []
            for side, ref in (("base", args.base), ("head", args.head)):
                dst = str(out / side / case.id)
                futures.append((ref, pool.submit(render_row, repo, ref, case.answers, dst)))
            jobs.append((case, futures))
        for case, futures in jobs:
            results = [(ref, future.result()) for ref, future in futures]
            yield case, [explain(repo, ref, case, error) for ref, error in results if error]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers, their git commands)."""
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def print_timing(rows: int, jobs: int, wall: float, cpu: float) -> None:
    """Wall time, and the CPU time, which does not depend on what else the machine runs."""
    renders = 2 * rows
    print(
        f"{renders} renders ({plural(rows, 'row')} x 2 refs) in {wall:.1f} s with"
        f" {plural(jobs, 'process')}; CPU {cpu:.1f} s ({cpu / renders:.1f} s a render, about"
        f" {cpu / jobs:.0f} s of wall time on {jobs} idle cores)"
    )


def run(args: argparse.Namespace, rows: Sequence[Case], out: Path) -> list[RowResult]:
    width = max(len(case.id) for case in rows)
    seen: dict[str, str] = {}
    results = []
    started, cpu_before = time.perf_counter(), cpu_seconds()
    for case, errors in render_all(args, rows, out):
        result = RowResult(case, errors=errors)
        if not errors:
            result.changes = compare(out / "base" / case.id, out / "head" / case.id)
        print_row(result, width, args, seen)
        results.append(result)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_before
    print_summary(results, width)
    print(
        f"\n{sum(bool(r.changes) for r in results)} of {plural(len(rows), 'row')} differ, "
        f"{sum(bool(r.errors) for r in results)} do not render"
    )
    print_timing(len(rows), args.jobs, wall, cpu)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = selected_rows(args.rows)
    if not rows:
        print(f"no matrix row matches {args.rows!r}; rows: {', '.join(c.id for c in MATRIX)}")
        return 2
    if args.out and args.out.exists() and any(args.out.iterdir()):
        print(f"render_diff: --out {args.out} is not empty", file=sys.stderr)
        return 2
    try:
        describe_refs(args)
    except LookupError as error:
        print(f"render_diff: {error}", file=sys.stderr)
        return 2
    print(f"rows:     {len(rows)} of {len(MATRIX)}\n")
    with tempfile.TemporaryDirectory(prefix="render-diff-") as temporary:
        out = args.out.resolve() if args.out else Path(temporary)
        results = run(args, rows, out)
    if any(result.errors for result in results):
        return 2
    return 1 if any(result.changes for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
