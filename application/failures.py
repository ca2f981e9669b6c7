"""What goes wrong with the database or a stored stream, as the application reports it."""

from __future__ import annotations

from profilestore.domain.errors import ProfileStoreError


class DatabaseFailure(ProfileStoreError):
    """A database attempt failed (locked, unreachable, I/O): worth reporting and retrying. In
    the error tree, so that calls with no value to return on failure (find_user, erase_user,
    rebuild_read_models) raise a ProfileStoreError."""


class CorruptStream(ProfileStoreError):
    """A profile's events cannot be replayed: an undecodable row, an unknown event type, or a
    replay that does not give a dict. Carries where the stream ends, to append after it."""

    def __init__(self, message: str, last_version: int, last_us: int | None) -> None:
        super().__init__(message)
        self.last_version, self.last_us = last_version, last_us
