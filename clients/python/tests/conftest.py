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


# --- results for the vitest bridge (tooling/python-client): one outcome per test id -----------
_RESULTS: dict[str, dict[str, str]] = {}


def pytest_runtest_logreport(report):  # type: ignore[no-untyped-def]
    if report.when == "call" or report.outcome != "passed":
        prev = _RESULTS.get(report.nodeid)
        if prev is None or prev["outcome"] == "passed":
            _RESULTS[report.nodeid] = {"outcome": report.outcome, "message": str(report.longrepr or "")[-3000:]}


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    path = os.environ.get("SRMUDP_PYTEST_RESULTS")
    if path:
        import json

        with open(path, "w", encoding="utf-8") as f:
            json.dump(_RESULTS, f)
