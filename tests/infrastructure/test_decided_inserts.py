"""A group commit decides under the store's write lock: between its read of what others appended
and its insert, nobody can append, so the insert cannot conflict."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from profilestore import Engine, ProfileStore


def test_another_engine_cannot_append_while_a_group_is_being_decided(db_url: str) -> None:
    with Engine(db_url, background=False) as engine, Engine(db_url, background=False) as other:
        profile = ProfileStore("S", engine=engine).start_session("k")
        assert profile is not None
        theirs = ProfileStore("S", engine=other)
        sent: list[bool] = []
        seen: list[str] = []

        def prepare(after: Callable[[Sequence[tuple[UUID, int]]], dict[UUID, list[tuple[int, str, bytes]]]]
                    ) -> tuple[Sequence[StoredEvent], dict[str, Any]]:
            sender = threading.Thread(target=lambda: sent.append(theirs.message("k", {"n": 1})))
            sender.start()
            sender.join(0.5)
            seen.append("waiting" if sender.is_alive() else "appended")
            stream = profile.core.replica.id
            seen.extend(type(engine.parts.logs.live.decode(StoredEvent(stream, *row))).__name__
                        for row in after([(stream, 0)])[stream])
            threads.append(sender)
            return [], {}

        threads: list[threading.Thread] = []
        engine.parts.logs.live.recorder.insert_decided(prepare)
        threads[0].join(10)
        assert seen[0] == "waiting", "the other engine's append waited for the group's commit"
        assert "MessageQueued" not in seen[1:], "and the group's read could not see it"
        assert sent == [True], "it went through once the group committed"
        assert [e.type for e in theirs.history("k")][-1] == "MessageQueued"
        profile.end_session()
