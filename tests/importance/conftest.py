"""One planted run shared by the importance tests (trained once per session)."""

from __future__ import annotations

import pytest

from basketcast.importance import RunArtifacts
from tests.importance._planted import planted_frame, planted_run


@pytest.fixture(scope="session")
def planted() -> RunArtifacts:
    # 1,000 users x 2 orders x 10 candidates = 20,000 rows, 3 folds.
    return planted_run(planted_frame(users=1000, candidates=10, seed=0))
