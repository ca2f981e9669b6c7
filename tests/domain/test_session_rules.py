"""The profile aggregate's session rules on their own: ownership, takeover, requests and
assume-dead, with no database."""

from __future__ import annotations

import pytest
from support.aggregates import ASSUME_DEAD, OTHER, OWNER, T0, blank, replayed, seconds

from profilestore.domain.errors import ProfileStoreError, SessionLostError
from profilestore.domain.profile import ProfileAggregate

# ---- ownership checks ----------------------------------------------------------------------------


def test_another_session_cannot_save(owned: ProfileAggregate) -> None:
    with pytest.raises(SessionLostError):
        owned.check_owner(OTHER, 1)
    with pytest.raises(SessionLostError):
        owned.save(OTHER, 1, seconds(1), {"coins": 100, "bag": []})

    assert owned.collect_events() == []
    assert owned.data == {"coins": 0, "bag": []}


def test_the_owner_cannot_save_with_an_old_epoch(owned: ProfileAggregate) -> None:
    owned.end_session(OWNER, 1, "Manual", seconds(1))
    owned.start_session(OWNER, seconds(2))
    owned.collect_events()

    owned.check_owner(OWNER, 2)
    with pytest.raises(SessionLostError):
        owned.check_owner(OWNER, 1)
    with pytest.raises(SessionLostError):
        owned.save(OWNER, 1, seconds(3), {"coins": 100, "bag": []})
    assert owned.collect_events() == []


def test_a_released_session_cannot_be_saved_to(owned: ProfileAggregate) -> None:
    owned.end_session(OWNER, 1, "Manual", seconds(1))

    assert owned.session is None
    with pytest.raises(SessionLostError):
        owned.save(OWNER, 1, seconds(2), {"coins": 1, "bag": []})


def test_starting_a_session_another_server_holds_is_refused(owned: ProfileAggregate) -> None:
    with pytest.raises(SessionLostError):
        owned.start_session(OTHER, seconds(1))

    assert owned.collect_events() == []
    assert owned.is_owned_by(OWNER, 1)


def test_after_the_owner_releases_another_server_claims_the_next_epoch(owned: ProfileAggregate) -> None:
    owned.end_session(OWNER, 1, "External", seconds(1))
    owned.start_session(OTHER, seconds(2))

    ended, started = owned.collect_events()
    assert (type(ended).__name__, ended.reason) == ("SessionEnded", "External")
    assert started.session == OTHER and started.session_load_count == 2
    assert owned.is_owned_by(OTHER, 2)


# ---- taking and requesting -----------------------------------------------------------------------


def test_taking_a_session_writes_a_stolen_end_then_a_start_with_the_next_epoch(
    owned: ProfileAggregate,
) -> None:
    owned.take_session(OTHER, seconds(5))

    ended, started = owned.collect_events()
    assert isinstance(ended, ProfileAggregate.SessionEnded)
    assert (ended.reason, ended.session, ended.ended_session) == ("Stolen", OTHER, OWNER)
    assert isinstance(started, ProfileAggregate.SessionStarted)
    assert (started.session, started.session_load_count) == (OTHER, 2)
    assert started.originator_version == ended.originator_version + 1
    assert owned.is_owned_by(OTHER, 2)


def test_a_stale_owner_cannot_save_after_the_session_was_taken(owned: ProfileAggregate) -> None:
    owned.take_session(OTHER, seconds(5))
    owned.collect_events()

    with pytest.raises(SessionLostError):
        owned.save(OWNER, 1, seconds(6), {"coins": 999, "bag": []})
    assert owned.collect_events() == []


def test_a_session_cannot_be_taken_when_nobody_else_holds_it(owned: ProfileAggregate) -> None:
    with pytest.raises(ProfileStoreError):
        owned.take_session(OWNER, seconds(1))
    owned.end_session(OWNER, 1, "Manual", seconds(2))
    with pytest.raises(ProfileStoreError):
        owned.take_session(OTHER, seconds(3))


def test_requesting_a_session_records_who_asked_and_when(owned: ProfileAggregate) -> None:
    owned.request_session(OTHER, seconds(3))

    (event,) = owned.collect_events()
    assert isinstance(event, ProfileAggregate.SessionRequested)
    assert event.session == OTHER
    assert owned.requested_by == OTHER and owned.requested_at == seconds(3)
    assert owned.is_owned_by(OWNER, 1)


def test_a_new_session_clears_the_request(owned: ProfileAggregate) -> None:
    owned.request_session(OTHER, seconds(3))
    owned.end_session(OWNER, 1, "External", seconds(4))
    owned.start_session(OTHER, seconds(5))

    assert owned.requested_by is None


def test_nobody_can_request_a_free_session_and_the_owner_cannot_request_its_own(
    owned: ProfileAggregate,
) -> None:
    with pytest.raises(ProfileStoreError):
        owned.request_session(OWNER, seconds(1))
    owned.end_session(OWNER, 1, "Manual", seconds(2))
    with pytest.raises(ProfileStoreError):
        owned.request_session(OTHER, seconds(3))


# ---- assume dead ---------------------------------------------------------------------------------


def test_an_owner_is_dead_only_once_its_newest_owned_event_is_older_than_assume_dead(
    owned: ProfileAggregate,
) -> None:
    owned.save(OWNER, 1, seconds(100), None)
    last_owned = 100

    assert not owned.owner_is_dead(seconds(last_owned + 600), ASSUME_DEAD)
    assert not owned.owner_is_dead(seconds(last_owned + ASSUME_DEAD), ASSUME_DEAD)
    assert owned.owner_is_dead(seconds(last_owned + ASSUME_DEAD + 0.001), ASSUME_DEAD)


def test_a_heartbeat_save_keeps_the_owner_alive(owned: ProfileAggregate) -> None:
    assert owned.owner_is_dead(seconds(ASSUME_DEAD + 1), ASSUME_DEAD)

    owned.save(OWNER, 1, seconds(ASSUME_DEAD), None)

    assert not owned.owner_is_dead(seconds(ASSUME_DEAD + 1), ASSUME_DEAD)


def test_another_servers_request_does_not_count_as_the_owner_being_alive(owned: ProfileAggregate) -> None:
    owned.request_session(OTHER, seconds(600))

    assert owned.owner_is_dead(seconds(ASSUME_DEAD + 1), ASSUME_DEAD)


def test_a_free_session_has_no_dead_owner(owned: ProfileAggregate) -> None:
    owned.end_session(OWNER, 1, "Manual", seconds(1))

    assert not owned.owner_is_dead(seconds(10 * ASSUME_DEAD), ASSUME_DEAD)


def test_the_owner_is_judged_from_the_replayed_events_too() -> None:
    profile = blank()
    profile.create({}, OWNER, T0)
    profile.start_session(OWNER, T0)
    profile.save(OWNER, 1, seconds(300), None)

    rebuilt = replayed(profile, profile.collect_events())

    assert not rebuilt.owner_is_dead(seconds(300 + ASSUME_DEAD), ASSUME_DEAD)
    assert rebuilt.owner_is_dead(seconds(300 + ASSUME_DEAD + 1), ASSUME_DEAD)
