"""Random interleavings of start, change, save, end, steal, message, set and remove on two
engines sharing one database (a SQLite file, or a PostgreSQL schema); after every step the store
must still tell a consistent story."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from support.databases import fresh_database

from profilestore import Engine, Profile, ProfileStore, Server, Settings

KEYS = ["k0", "k1"]
FAST = Settings(poll_interval=0.001, first_load_repeat=0.01, load_repeat_period=0.01,
                session_steal=0.03, auto_save_period=3600)
engines_ = st.sampled_from([0, 1])
keys_ = st.sampled_from(KEYS)


class TwoServers(RuleBasedStateMachine):
    """Two game servers and a model of what must hold."""

    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.database = ExitStack()
        url = self.database.enter_context(fresh_database(self.backend, self.folder))
        self.engines = [Engine(url, server=Server(job_id=f"E{n}"), settings=FAST, background=False)
                        for n in range(2)]
        self.stores = [ProfileStore("S", {"applied": [], "mark": ""}, engine=e) for e in self.engines]
        self.held: dict[tuple[int, str], Profile] = {}
        self.counter = 0
        self.committed: dict[str, list[tuple[str, dict[str, Any]]]] = {k: [] for k in KEYS}
        self.sent: dict[str, list[int]] = {k: [] for k in KEYS}
        self.rolled_back = dict.fromkeys(KEYS, False)
        self.erased: set[str] = set()
        self.written: dict[str, set[str]] = {k: set() for k in KEYS}

    def next_mark(self, key: str) -> str:
        self.counter += 1
        mark = f"MARK{self.counter:05d}"
        self.written[key].add(mark)
        return mark

    def active(self, engine: int, key: str) -> Profile | None:
        profile = self.held.get((engine, key))
        return profile if profile is not None and profile.is_active() else None

    def take(self, engine: int, key: str, profile: Profile | None) -> None:
        if profile is None:
            return

        def apply(message: dict[str, Any], processed: Any) -> None:
            profile.data["applied"].append(message["t"])
            processed()

        profile.message_handler(apply)
        self.held[(engine, key)] = profile

    def record(self, key: str, profile: Profile) -> None:
        self.committed[key].append((profile.key_info.version, dict(profile.last_saved_data)))

    # ---- rules ---------------------------------------------------------------------------

    @rule(engine=engines_, key=keys_)
    def start(self, engine: int, key: str) -> None:
        if self.active(engine, key) is None:
            self.take(engine, key, self.stores[engine].start_session(key))

    @rule(engine=engines_, key=keys_)
    def steal(self, engine: int, key: str) -> None:
        if self.active(engine, key) is None:
            self.take(engine, key, self.stores[engine].start_session(key, steal=True))

    @rule(engine=engines_, key=keys_)
    def change(self, engine: int, key: str) -> None:
        profile = self.active(engine, key)
        if profile is not None:
            profile.data["mark"] = self.next_mark(key)

    @rule(engine=engines_, key=keys_)
    def save(self, engine: int, key: str) -> None:
        profile = self.active(engine, key)
        if profile is not None and profile.save():
            self.record(key, profile)

    @rule(engine=engines_, key=keys_)
    def end(self, engine: int, key: str) -> None:
        profile = self.active(engine, key)
        if profile is not None:
            before = profile.key_info.version
            profile.end_session()
            if profile.key_info.version != before:
                self.record(key, profile)

    @rule(engine=engines_, key=keys_)
    def message(self, engine: int, key: str) -> None:
        self.counter += 1
        if self.stores[engine].message(key, {"t": self.counter}):
            self.sent[key].append(self.counter)

    @rule(engine=engines_, key=keys_)
    def set_from_get(self, engine: int, key: str) -> None:
        payload = self.stores[engine].get(key)
        if payload is not None:
            payload.data["mark"] = self.next_mark(key)
            if payload.set():
                self.record(key, payload)
                self.rolled_back[key] = True

    @rule(engine=engines_, key=keys_)
    def remove(self, engine: int, key: str) -> None:
        assert self.stores[engine].remove(key)
        self.erased |= self.written[key]
        self.written[key] = set()
        self.committed[key], self.sent[key], self.rolled_back[key] = [], [], False

    @rule()
    def pump(self) -> None:
        for engine in self.engines:
            engine.run_pending()

    # ---- what must hold ------------------------------------------------------------------

    @invariant()
    def only_the_session_owner_ever_wrote(self) -> None:
        for key in KEYS:
            owner = None
            for entry in self.stores[0].history(key):
                if entry.type == "SessionStarted":
                    assert owner is None, f"{key}: a session started while {owner} held it"
                    owner = entry.session
                elif entry.type in ("SessionEnded", "Removed", "ProfileCreated", "Reset"):
                    owner = None
                elif entry.type == "Saved":
                    assert entry.session == owner, f"{key}: {entry.session} saved while {owner} held it"

    @invariant()
    def every_committed_save_reads_back_at_its_version(self) -> None:
        for key, saves in self.committed.items():
            for version, data in saves:
                stored = self.stores[1].get(key, version=version)
                assert stored is not None and stored.data == data, (key, version)

    @invariant()
    def no_message_is_applied_twice(self) -> None:
        for key in KEYS:
            latest = self.stores[0].get(key)
            if latest is not None:
                applied = latest.data["applied"]
                assert len(applied) == len(set(applied)), f"{key}: applied twice: {applied}"

    @invariant()
    def erased_data_is_never_readable_again(self) -> None:
        if not self.erased:
            return
        for key in KEYS:
            readable = [str(p.data) for p in self.stores[0].version_query(key)]
            readable += [str(e.payload) for e in self.stores[0].history(key)]
            assert not any(mark in text for mark in self.erased for text in readable)

    def teardown(self) -> None:
        try:
            for key in KEYS:  # finish: one last session drains what is still held
                for engine in self.engines:
                    engine.run_pending()
                profile = self.active(0, key)
                if profile is None:
                    profile = self.stores[0].start_session(key, steal=True)
                    assert profile is not None
                    self.take(0, key, profile)
                profile.end_session()
                if not self.rolled_back[key]:
                    latest = self.stores[1].get(key)
                    applied = [] if latest is None else latest.data["applied"]
                    assert sorted(applied) == sorted(self.sent[key]), "a message was lost or doubled"
        finally:
            for engine in self.engines:
                engine.close(timeout=5)
            self.database.close()
            shutil.rmtree(self.folder, ignore_errors=True)


class TwoServersOnPostgres(TwoServers):
    backend = "postgresql"


for machine in (TwoServers, TwoServersOnPostgres):
    machine.TestCase.settings = settings(max_examples=20, stateful_step_count=25, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_two_servers_keep_one_writer_every_save_every_message_and_every_erasure = pytest.mark.slow(
    TwoServers.TestCase)
test_the_same_on_postgresql = pytest.mark.postgres(pytest.mark.slow(TwoServersOnPostgres.TestCase))
