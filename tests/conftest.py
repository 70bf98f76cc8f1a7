"""Shared fixtures: renders of the matrix, installed services, and the servers a test starts.

Each matrix case is rendered once per test process and reused read-only; so is each service
`rendered_service` installs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from matrix import MATRIX, Case, RenderCase
from process import Servers
from provision import ServiceFactory, dispose, prepare, slug
from rendering import Rendered, render
from service_cases import CASES as SERVICE_CASES
from service_cases import Case as ServiceCase
from service_cases import Project
from update_harness import Target, TemplateHistory, hermetic_git_env, release_target


@pytest.fixture(scope="session")
def render_case(tmp_path_factory: pytest.TempPathFactory) -> RenderCase:
    """Render a matrix case on first use (per xdist worker) and hand out the same render after.

    Tests must not write into the rendered directory: other tests read it.
    """
    cache: dict[str, Rendered] = {}

    def get(case: Case) -> Rendered:
        if case.id not in cache:
            cache[case.id] = render(tmp_path_factory.mktemp(case.id) / "svc", case.answers)
        return cache[case.id]

    return get


@pytest.fixture(scope="session", params=MATRIX, ids=[case.id for case in MATRIX])
def rendered(request: pytest.FixtureRequest, render_case: RenderCase) -> Rendered:
    """The render of one matrix case, shared by every static test of that case."""
    case: Case = request.param
    return render_case(case)


@pytest.fixture(scope="session")
def default_render(render_case: RenderCase) -> Rendered:
    """The render of the matrix's first row: every default."""
    assert MATRIX[0].id == "defaults"
    return render_case(MATRIX[0])


@pytest.fixture(scope="session")
def rendered_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceFactory]:
    """`rendered_service(answers)`: `answers` rendered, with the database they chose created and
    their broker named (`Rendered.settings()`, in every `uv` command's environment), installed.

    The same answers get the same service for the rest of the test process (per xdist worker):
    a test that changes its files restores them. The databases are dropped at the end.
    """
    made: dict[str, Rendered] = {}

    def get(answers: Mapping[str, Any]) -> Rendered:
        key = json.dumps(dict(answers), sort_keys=True, default=str)
        if key not in made:
            made[key] = prepare(tmp_path_factory.mktemp(slug(answers)) / "svc", answers)
        return made[key]

    yield get
    for service in made.values():
        dispose(service)


@pytest.fixture(scope="module", params=SERVICE_CASES, ids=lambda case: case.id)
def project(request: pytest.FixtureRequest, rendered_service: ServiceFactory) -> Project:
    """One service case (service_cases.CASES) rendered and installed, for test_service.py and
    test_service_load.py (the same services: the factory installs each once per process).
    test_database.py has cases of its own."""
    case: ServiceCase = request.param
    built = Project(case, rendered_service(case.answers))
    print(built.timings())
    return built


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Every server a test starts is killed, with its workers, when the test ends."""
    with Servers(tmp_path / "logs") as running:
        yield running


# --- the update tests' template history (update_harness.py) ---------------------------------------


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same git for every run: a known identity, no user or system configuration."""
    saved = dict(os.environ)
    os.environ.update(hermetic_git_env(tmp_path_factory.mktemp("git-home")))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, git_env: None) -> TemplateHistory:
    """Release 0.1.0 from this repository's history, the working tree as 0.2.0."""
    return TemplateHistory.build(tmp_path_factory.mktemp("history") / "template")


@pytest.fixture(scope="module")
def target(history: TemplateHistory, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """The release services update to, and the answers its migration pins for old services."""
    return release_target(history, tmp_path_factory.mktemp("synthesized"))
