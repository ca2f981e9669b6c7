"""profilestore: event-sourced player profiles with session locking for game backends."""

from profilestore.application.default import default_engine
from profilestore.application.engine import Engine
from profilestore.application.handle import Profile
from profilestore.application.settings import Settings
from profilestore.application.signals import Connection, Signal
from profilestore.application.store import ProfileStore
from profilestore.application.values import HistoryEntry, KeyInfo, Server, SortDirection
from profilestore.application.versions import VersionQuery
from profilestore.domain.errors import (
    DataError,
    InvalidKeyError,
    ProfileStoreError,
    SessionLostError,
    StoreClosedError,
)
from profilestore.domain.migrations import Migration

__all__ = [
    "Connection",
    "DataError",
    "Engine",
    "HistoryEntry",
    "InvalidKeyError",
    "KeyInfo",
    "Migration",
    "Profile",
    "ProfileStore",
    "ProfileStoreError",
    "Server",
    "SessionLostError",
    "Settings",
    "Signal",
    "SortDirection",
    "StoreClosedError",
    "VersionQuery",
    "default_engine",
]
