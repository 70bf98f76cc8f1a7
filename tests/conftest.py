"""Shared fixtures: each matrix case is rendered once per test process and reused read-only."""

from __future__ import annotations

import pytest
from matrix import MATRIX, Case, RenderCase
from rendering import Rendered, render


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


@pytest.fixture(scope="session")
def default_render(render_case: RenderCase) -> Rendered:
    """The render of the matrix's first row: every default."""
    assert MATRIX[0].id == "defaults"
    return render_case(MATRIX[0])
