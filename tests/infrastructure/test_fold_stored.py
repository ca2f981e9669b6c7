"""Point-in-time reads fold Saved rows straight from their JSON (domain.folding.fold_stored);
at every version of any history that must give exactly what decoding and replaying does."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from support.aggregates import OWNER, blank, seconds

from profilestore.domain.folding import fold_stored
from profilestore.domain.profile import ProfileAggregate
from profilestore.infrastructure.mapper import JsonMapper

MAPPER = JsonMapper(transcoder=None)  # type: ignore[arg-type]
_small = st.dictionaries(st.sampled_from(["coins", "bag", "title"]),
                         st.integers(0, 3) | st.lists(st.text(max_size=2), max_size=2) | st.text(max_size=3),
                         max_size=3)
_user_ids = st.none() | st.lists(st.integers(1, 9), max_size=2)
commands = st.lists(st.one_of(
    st.tuples(st.just("save"), _small, st.none() | _small, _user_ids),
    st.tuples(st.just("message"), _small),
    st.tuples(st.just("save processing messages"), _small),
    st.tuples(st.just("end and start again")),
    st.tuples(st.just("overwrite"), _small),
    st.tuples(st.just("heartbeat")),
), max_size=25)


def history(steps: list[tuple[Any, ...]]) -> list[Any]:
    """The events of a profile driven through the steps, one second apart."""
    profile = blank()
    profile.create({"coins": 0}, OWNER, seconds(0))
    profile.start_session(OWNER, seconds(0))
    for n, (what, *args) in enumerate(steps, start=1):
        now, epoch = seconds(n), profile.session_load_count
        if what == "save":
            profile.save(OWNER, epoch, now, args[0], args[1], args[2])
        elif what == "message":
            profile.queue_message(args[0], 100, now)
        elif what == "save processing messages":
            profile.save(OWNER, epoch, now, args[0], processed_messages=list(profile.messages)[:1])
        elif what == "end and start again":
            profile.end_session(OWNER, epoch, "Manual", now)
            profile.start_session(OWNER, now)
        elif what == "overwrite":
            profile.overwrite(profile.version, args[0], {}, [], [], now)
            profile.start_session(OWNER, now)
        else:
            profile.save(OWNER, epoch, now, None)
    return profile.collect_events()


def rows(events: list[Any]) -> list[tuple[int, str, bytes]]:
    return [(s.originator_version, s.topic, s.state) for s in map(MAPPER.to_stored_event, events)]


def decode(version: int, topic: str, state: bytes) -> Any:
    return MAPPER.to_domain_event(StoredEvent(blank().id, version, topic, state))


@settings(max_examples=150, deadline=None)
@given(commands, st.data())
def test_folding_stored_rows_gives_what_replaying_decoded_events_gives(steps: list[tuple[Any, ...]],
                                                                      data: st.DataObject) -> None:
    events = history(steps)
    stored = rows(events)
    for end in range(1, len(events) + 1):
        expected = ProfileAggregate.replay([decode(*row) for row in stored[:end]])
        assert expected is not None
        folded = fold_stored(stored[:end], None, decode)
        assert folded is not None and vars(folded) == vars(expected)
    # and from a snapshot, as a read at a version does
    start = data.draw(st.integers(1, len(events)))
    at = ProfileAggregate.replay([decode(*row) for row in stored[:start]])
    snapshot = MAPPER.to_domain_event(MAPPER.to_stored_event(ProfileAggregate.Snapshot.take(at)))
    folded = fold_stored(stored[start:], ProfileAggregate.replay([snapshot]), decode)
    expected = ProfileAggregate.replay([decode(*row) for row in stored])
    assert folded is not None and expected is not None
    assert vars(folded) == vars(expected)


def test_a_saved_row_out_of_sequence_is_refused_as_the_library_refuses_it() -> None:
    stored = rows(history([("save", {"coins": 1}, None, None), ("save", {"coins": 2}, None, None)]))
    with pytest.raises(OriginatorVersionError):
        fold_stored(stored[:2] + stored[3:], None, decode)


def test_a_saved_row_that_does_not_decode_fails_as_decoding_it_fails_naming_the_row() -> None:
    stored = rows(history([("save", {"coins": 1}, None, None)]))
    version, topic, _ = stored[-1]
    for broken in (b"{not json", b"[1, 2]", b'{"patch": []}'):
        with pytest.raises(Exception) as by_decoding:
            ProfileAggregate.replay([decode(*row) for row in stored[:-1]] + [decode(version, topic, broken)])
        with pytest.raises(Exception) as by_folding:
            fold_stored([*stored[:-1], (version, topic, broken)], None, decode)
        assert type(by_folding.value) is type(by_decoding.value)
        assert str(by_folding.value) == str(by_decoding.value)
