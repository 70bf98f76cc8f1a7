"""Measure `copier update` from release 0.1.0 to the working tree, for a few services.

    uv run python scripts/measure_update.py [--runs 3]

Builds the same template history as tests/test_update.py (0.1.0 from git history, the working
tree as 0.2.0), and for each service: a fresh render of 0.2.0 (the baseline, measured in the same
run), then generate at 0.1.0, commit, and time `copier update --defaults --trust` to 0.2.0.
Prints seconds (best and median of the runs) and the update's cost in fresh renders.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from update_harness import (
    NEW_RELEASE,
    OLD_RELEASE,
    TemplateHistory,
    hermetic_git_env,
    tree,
    update,
)

SERVICES = {
    "default": {},
    # The most files: a database with the example API, Celery on RabbitMQ, a Helm chart,
    # gunicorn, GitLab CI.
    "largest": {
        "database": "postgresql",
        "queue": "celery",
        "broker": "rabbitmq",
        "deploy_target": "kubernetes",
        "k8s_packaging": "helm",
        "server": "gunicorn",
        "ci_provider": "gitlab",
    },
    # The 0.2.0 migration's file move renders 0.1.0 once more inside the update.
    "compose (crosses the move)": {"queue": "celery", "deploy_target": "compose"},
}


def timed(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="measure-update-") as scratch:
        base = Path(scratch)
        os.environ.update(hermetic_git_env(base))
        history = TemplateHistory.build(base / "template")
        print(f"copier update {OLD_RELEASE} -> {NEW_RELEASE}, {runs} runs each (seconds)")
        print(f"{'service':28} {'files':>5} {'render':>7} {'update':>7} {'median':>7} {'ratio':>6}")
        for name, answers in SERVICES.items():
            renders, updates, files = [], [], 0
            for run in range(runs):
                fresh = base / f"fresh-{run}"
                renders.append(timed(history.render, fresh, answers, NEW_RELEASE))
                files = len(tree(fresh))
                project = history.generate(base / f"service-{run}", answers, OLD_RELEASE)
                updates.append(timed(update, project, NEW_RELEASE))
                shutil.rmtree(fresh)
                shutil.rmtree(project)
            render, best = min(renders), min(updates)
            print(
                f"{name:28} {files:5} {render:7.2f} {best:7.2f} "
                f"{statistics.median(updates):7.2f} {best / render:5.1f}x"
            )


if __name__ == "__main__":
    main()
