"""Fixtures for the domain tests."""

from __future__ import annotations

import pytest
from support.aggregates import OWNER, T0, blank

from profilestore.domain.profile import ProfileAggregate


@pytest.fixture
def owned() -> ProfileAggregate:
    """A profile created from a template and claimed by OWNER (epoch 1), its events collected."""
    profile = blank()
    profile.create({"coins": 0, "bag": []}, OWNER, T0)
    profile.start_session(OWNER, T0)
    profile.collect_events()
    return profile
