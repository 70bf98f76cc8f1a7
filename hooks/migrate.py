"""Migrations that `copier update` runs when it crosses a release (copier.yml `_migrations`).

    python hooks/migrate.py before|after RELEASE TEMPLATE_DIR ANSWERS_FILE

Copier runs this in the service's directory, with the interpreter Copier itself runs on, once
before it renders the new release (`before`) and once after it merged it (`after`). Both stages
are idempotent: run again on a migrated service, they find nothing to do and say so.

What a release needs lives in the tables below; a new release adds rows, not code.

RENAMES: questions renamed by a release. Copier alone forgets the answer of a renamed question
and silently gives the new name its default; the `before` stage renames the key in the answers
file, so the answer (and its value) carries over.

PINS: the answers a new question must get in services generated before it existed. A new
question's default may turn a feature on; an old service must keep what it had, so when its
answers file lacks the question (and the new release asks it) the answer is written before Copier
reads the answers.

MOVES: rendered files whose path changes. Copier alone loses a team's edits to a moved file: it
deletes the file at the old path (it is not in the new render) and renders the new path fresh;
a `git mv` alone turns the file into one whole-file conflict (Copier sees a file added on both
sides with an empty base). So the `before` stage keeps the team's file and the file as the old
release rendered it (the merge base, rendered again with Copier from the old release) under .git/,
and removes the old path; the `after` stage three-way merges the team's edits into the new
release's file at the new path, with Copier's own conflict labels (inline markers, and the path
marked unmerged in the index, when both sides changed the same lines).

Only the standard library and git; the old release is rendered by Copier's own command line with
the interpreter that runs this script. No network beyond what Copier itself needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Release -> {old question name: new question name}.
RENAMES: dict[str, dict[str, str]] = {}

# Release -> {question: the answer that keeps the behaviour of services older than the question}.
PINS: dict[str, dict[str, str]] = {
    # 0.2.0 adds tracing, metrics and sentry with defaults that turn features on, and features
    # (the HTTP protections) and auth, whose defaults turn nothing on: pinned too, so the
    # answers file says what the service has, as for the others.
    "0.2.0": {
        "tracing": "none",
        "metrics": "false",
        "sentry": "false",
        "features": "[]",
        "auth": "none",
    },
}

# Release -> [(old path, new path)] of rendered files, relative to the service's root.
# `{package_name}` in a path stands for the service's answer.
SRC = "src/{package_name}"
MOVES: dict[str, list[tuple[str, str]]] = {
    "0.2.0": [
        # Every production deployment file under deploy/, one directory per target (deploy/k8s,
        # deploy/helm, deploy/cloudrun, deploy/compose) beside deploy/deploy.sh.
        ("compose.prod.yaml", "deploy/compose/compose.prod.yaml"),
        # core/ split into rooms: the kernel features import, the web machinery the composition
        # root wires, the integrations (optional components).
        (f"{SRC}/core/settings.py", f"{SRC}/kernel/settings/base.py"),
        (f"{SRC}/core/logging.py", f"{SRC}/kernel/logging.py"),
        (f"{SRC}/core/errors.py", f"{SRC}/kernel/errors.py"),
        (f"{SRC}/core/dependencies.py", f"{SRC}/kernel/dependencies.py"),
        (f"{SRC}/core/bounds.py", f"{SRC}/kernel/bounds.py"),
        (f"{SRC}/core/openapi.py", f"{SRC}/kernel/openapi.py"),
        (f"{SRC}/core/versioning.py", f"{SRC}/kernel/versioning.py"),
        (f"{SRC}/core/pagination.py", f"{SRC}/kernel/pagination.py"),
        (f"{SRC}/core/models.py", f"{SRC}/kernel/models.py"),
        (f"{SRC}/core/jobs.py", f"{SRC}/kernel/jobs.py"),
        (f"{SRC}/core/health.py", f"{SRC}/web/health.py"),
        (f"{SRC}/core/draining.py", f"{SRC}/web/draining.py"),
        (f"{SRC}/core/blocking.py", f"{SRC}/web/blocking.py"),
        (f"{SRC}/core/middleware.py", f"{SRC}/web/middleware.py"),
        (f"{SRC}/core/api_versions.py", f"{SRC}/web/api_versions.py"),
        (f"{SRC}/core/probe.py", f"{SRC}/web/probe.py"),
        (f"{SRC}/core/db.py", f"{SRC}/integrations/db.py"),
        (f"{SRC}/core/db_dialect.py", f"{SRC}/integrations/db_dialect.py"),
        (f"{SRC}/core/queue.py", f"{SRC}/integrations/queue.py"),
        (f"{SRC}/core/celery_broker.py", f"{SRC}/integrations/celery_broker.py"),
        (f"{SRC}/core/telemetry.py", f"{SRC}/integrations/telemetry.py"),
        (f"{SRC}/core/metrics.py", f"{SRC}/integrations/metrics.py"),
        (f"{SRC}/core/metrics_dir.py", f"{SRC}/integrations/metrics_dir.py"),
        (f"{SRC}/core/job_metrics.py", f"{SRC}/integrations/job_metrics.py"),
        (f"{SRC}/core/sentry.py", f"{SRC}/integrations/sentry.py"),
        # The rendered tests' helpers in one package.
        ("tests/worker_process.py", "tests/support/workers.py"),
    ],
}

# The same labels as Copier's own inline conflicts, so one check finds both.
LABELS = ("before updating", "last update", "after updating")


def say(message: str) -> None:
    print(f"[migrate {RELEASE}] {message}", flush=True)


def git(*args: str, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False, input=stdin
    )
    if check and result.returncode != 0:
        sys.exit(f"[migrate {RELEASE}] `git {' '.join(args)}` failed:\n{result.stderr}")
    return result.stdout


def state_dir(release: str) -> Path:
    """Where the before stage leaves the files for the after stage: inside .git, never committed."""
    return Path(git("rev-parse", "--git-path", f"copier-migrate/{release}").strip()).absolute()


def has_top_level_key(path: Path, key: str) -> bool:
    pattern = re.compile(rf"^{re.escape(key)}\s*:", re.MULTILINE)
    return bool(pattern.search(path.read_text(encoding="utf-8")))


def rename_answers(release: str, answers: Path) -> None:
    for old, new in RENAMES.get(release, {}).items():
        text = answers.read_text(encoding="utf-8")
        key = re.compile(rf"^{re.escape(old)}(\s*:)", re.MULTILINE)
        if not key.search(text) or has_top_level_key(answers, new):
            say(f"{old}: no answer to rename to {new}, nothing to do")
            continue
        answers.write_text(key.sub(rf"{new}\g<1>", text, count=1), encoding="utf-8")
        say(f"{old}: renamed to {new}, your answer kept")


def pin_answers(release: str, template: Path, answers: Path) -> None:
    for question, value in PINS.get(release, {}).items():
        if not has_top_level_key(template / "copier.yml", question):
            say(f"{question}: not a question of this release yet, nothing to pin")
        elif has_top_level_key(answers, question):
            say(f"{question}: already answered, kept")
        else:
            text = answers.read_text(encoding="utf-8")
            answers.write_text(text.rstrip("\n") + f"\n{question}: {value}\n", encoding="utf-8")
            say(f"{question}: not answered before {release}, pinned to {value} (what you had)")


def render_old_release(template: Path, answers: Path, destination: Path) -> None:
    """The service as the release it was generated from renders it: the merge base."""
    version_from = os.environ.get("VERSION_FROM")
    if not version_from:
        sys.exit(f"[migrate {RELEASE}] VERSION_FROM is not set: run me through `copier update`")
    destination.mkdir(parents=True)
    shutil.copyfile(answers, destination / answers.name)  # copier reads the answers from there
    command = [
        sys.executable, "-m", "copier", "copy", "--defaults", "--overwrite", "--quiet",
        "--answers-file", answers.name, "--vcs-ref", version_from, str(template), str(destination),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(
            f"[migrate {RELEASE}] could not render release {version_from} to merge your edits:\n"
            f"{result.stdout}{result.stderr}"
        )


def answered(answers: Path, question: str) -> str | None:
    """A plain scalar answer from the answers file (Copier writes `question: value`)."""
    found = re.search(
        rf"^{question}:[ \t]*['\"]?([^'\"\n]*)['\"]?[ \t]*$", answers.read_text(), re.M
    )
    return found.group(1).strip() if found else None


def release_moves(release: str, answers: Path) -> list[tuple[str, str]]:
    """The release's moves, with `{package_name}` filled in from the service's answers."""
    package = answered(answers, "package_name") or ""
    return [
        (old.format(package_name=package), new.format(package_name=package))
        for old, new in MOVES.get(release, [])
        if package or "{package_name}" not in old
    ]


def before_moves(release: str, template: Path, answers: Path) -> None:
    candidates = release_moves(release, answers)
    moves = [
        (old, new)
        for old, new in candidates
        if git("ls-files", "--", old).strip() and not Path(new).exists()
    ]
    absent = len(candidates) - len(moves)
    if absent:
        say(f"{absent} of the release's {len(candidates)} moved files are not in this service")
    if not moves:
        say("nothing to move")
        return
    state = state_dir(release)
    shutil.rmtree(state, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="copier-migrate-") as scratch:
        old_render = Path(scratch) / "old"
        render_old_release(template, answers, old_render)
        for old, new in moves:
            kept = state / new
            kept.mkdir(parents=True)
            shutil.copyfile(old, kept / "yours")
            base = old_render / old
            (kept / "base").write_bytes(base.read_bytes() if base.exists() else b"")
            (kept / "from").write_text(old, encoding="utf-8")
            git("rm", "--quiet", "--", old)
            say(f"{old}: kept your version; it moves to {new} after the update")


def mark_unmerged(path: str, base: Path, yours: Path, theirs: Path) -> None:
    """Record the conflict in the index as Copier does, so `git status` lists it as unmerged."""
    lines = [f"0 {'0' * 40}\t{path}"]
    for stage, source in (("1", base), ("2", yours), ("3", theirs)):
        sha = git("hash-object", "-w", "--", str(source)).strip()
        lines.append(f"100644 {sha} {stage}\t{path}")
    git("update-index", "--index-info", stdin="\n".join(lines) + "\n")


def after_moves(release: str) -> None:
    state = state_dir(release)
    if not state.is_dir():
        say("no moved file waits for a merge, nothing to do")
        return
    for kept in sorted(path.parent for path in state.rglob("yours")):
        new = kept.relative_to(state).as_posix()
        old = (kept / "from").read_text(encoding="utf-8")
        target = Path(new)
        if not target.exists():
            # The new release does not render the file for these answers: keep the team's file.
            shutil.copyfile(kept / "yours", old)
            say(f"{old}: the new release has no {new} for your answers; your file stays at {old}")
            continue
        theirs = kept / "theirs"
        shutil.copyfile(target, theirs)
        merged = kept / "merged"
        shutil.copyfile(kept / "yours", merged)
        labels = [arg for label in LABELS for arg in ("-L", label)]
        result = subprocess.run(
            ["git", "merge-file", *labels, str(merged), str(kept / "base"), str(theirs)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode < 0 or result.returncode > 127:
            sys.exit(f"[migrate {RELEASE}] git merge-file failed on {new}:\n{result.stderr}")
        shutil.copyfile(merged, target)
        if result.returncode == 0:
            say(f"{old} -> {new}: moved, your edits merged into the new release's file")
        else:
            mark_unmerged(new, kept / "base", kept / "yours", theirs)
            say(
                f"{old} -> {new}: moved; {result.returncode} conflict(s) between your edits and "
                f"the new release: resolve the markers in {new}, then `git add {new}`"
            )
    shutil.rmtree(state)


def main(argv: list[str]) -> None:
    if len(argv) != 4 or argv[0] not in {"before", "after"}:
        sys.exit(__doc__)
    stage, release, template, answers = argv[0], argv[1], Path(argv[2]), Path(argv[3])
    if stage == "before":
        before_moves(release, template, answers)
        rename_answers(release, answers)
        pin_answers(release, template, answers)
    else:
        after_moves(release)


RELEASE = sys.argv[2] if len(sys.argv) > 2 else "?"

if __name__ == "__main__":
    main(sys.argv[1:])
