"""Small immutable values the public API returns or takes: Server, KeyInfo, HistoryEntry, SortDirection."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field


class Server(BaseModel):
    """Who holds a session: a game server's place and job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    place_id: str = "local"
    job_id: str = Field(default_factory=lambda: uuid4().hex)

    def as_session(self) -> dict[str, str]:
        """The server as the `session` dict stored in events."""
        return {"place_id": self.place_id, "job_id": self.job_id}


class SortDirection(StrEnum):
    """Order of a version query."""

    ASCENDING = "Ascending"
    DESCENDING = "Descending"


class KeyInfo(BaseModel):
    """What the store knows of a profile's saved version (ProfileStore's KeyInfo)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    created_time: int
    updated_time: int
    version: str
    user_ids: tuple[int, ...]
    metadata: dict[str, Any]


class HistoryEntry(BaseModel):
    """One stored event of a profile, as `ProfileStore.history` returns it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    type: str
    timestamp: datetime
    session: dict[str, str] | None
    payload: dict[str, Any]
