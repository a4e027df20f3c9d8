"""Shared test settings: a deterministic Hypothesis profile (no example database written into the
repository) and the paths of the repository's built TypeScript packages."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile(
    "srmudp",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=int(os.environ.get("SRMUDP_PY_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("srmudp")

TESTS = Path(__file__).parent
REPO = TESTS.parent.parent.parent
