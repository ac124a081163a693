"""Evaluation tests run tiny models: one intra-op thread avoids oversubscription on shared CPUs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every evaluation test runs on one thread (the root conftest's ``one_thread``)."""
