"""The profile aggregate on its own: saves, replay, time, removal and ids, with no database."""

from __future__ import annotations

import copy

import jsonpatch
import pytest
from support.aggregates import OTHER, OWNER, T0, blank, last_saved_event, replayed, seconds

from profilestore.domain.errors import ProfileStoreError, SessionLostError
from profilestore.domain.profile import ProfileAggregate, profile_id

# ---- creation, claiming and replay ---------------------------------------------------------------


def test_creating_a_profile_and_starting_a_session_gives_epoch_one() -> None:
    profile = blank()
    profile.create({"coins": 0}, OWNER, T0)
    profile.start_session(OWNER, T0)

    events = profile.collect_events()
    assert [type(e).__name__ for e in events] == ["ProfileCreated", "SessionStarted"]
    assert [e.originator_version for e in events] == [1, 2]
    assert events[1].session_load_count == 1
    assert profile.session_load_count == 1
    assert profile.is_owned_by(OWNER, 1)
    assert profile.live and profile.data == {"coins": 0}


def test_the_template_is_copied_so_later_changes_to_it_do_not_reach_the_profile() -> None:
    template = {"bag": ["sword"]}
    profile = blank()
    profile.create(template, OWNER, T0)
    template["bag"].append("shield")

    assert profile.data == {"bag": ["sword"]}


def test_creating_a_profile_that_is_already_live_is_refused() -> None:
    profile = blank()
    profile.create({}, OWNER, T0)

    with pytest.raises(ProfileStoreError):
        profile.create({}, OWNER, seconds(1))


def test_a_save_records_an_rfc_6902_patch_from_the_previous_saved_data(owned: ProfileAggregate) -> None:
    first = {"coins": 5, "bag": ["sword"]}
    owned.save(OWNER, 1, seconds(1), first)
    first_patch = last_saved_event(owned).patch
    second = {"coins": 7, "bag": ["sword", "shield"], "title": "hero"}
    owned.save(OWNER, 1, seconds(2), second)
    second_patch = last_saved_event(owned).patch

    assert jsonpatch.apply_patch({"coins": 0, "bag": []}, first_patch) == first
    assert jsonpatch.apply_patch(first, second_patch) == second
    assert {op["op"] for op in second_patch} <= {"add", "remove", "replace", "move", "copy", "test"}
    assert owned.data == second


def test_replaying_the_recorded_events_rebuilds_the_same_data_metadata_and_user_ids() -> None:
    profile = blank()
    profile.create({"coins": 0}, OWNER, T0)
    profile.start_session(OWNER, T0)
    profile.save(OWNER, 1, seconds(1), {"coins": 3, "bag": [{"id": 1}]}, {"level": 2}, [42])
    profile.save(OWNER, 1, seconds(2), {"coins": 1, "bag": []}, {"level": 3}, [42, 7])
    profile.save(OWNER, 1, seconds(3), {"coins": 1, "bag": [], "seen": True})
    events = profile.collect_events()

    rebuilt = replayed(profile, events)

    assert rebuilt.data == {"coins": 1, "bag": [], "seen": True}
    assert rebuilt.metadata == {"level": 3}
    assert rebuilt.user_ids == [42, 7]
    assert rebuilt.session == OWNER and rebuilt.session_load_count == 1
    assert rebuilt.version == profile.version == len(events)
    assert rebuilt.saved_version == profile.saved_version == 5


def test_replaying_does_not_change_the_recorded_events() -> None:
    profile = blank()
    profile.create({"bag": []}, OWNER, T0)
    profile.start_session(OWNER, T0)
    profile.save(OWNER, 1, seconds(1), {"bag": [{"id": 1}]})
    events = profile.collect_events()
    before = copy.deepcopy([(e.data if e.originator_version == 1 else None) for e in events])
    patch_before = copy.deepcopy(events[-1].patch)

    rebuilt = replayed(profile, events)
    rebuilt.data["bag"][0]["id"] = 2
    rebuilt.data["bag"].append({"id": 3})

    assert [(e.data if e.originator_version == 1 else None) for e in events] == before
    assert events[-1].patch == patch_before
    assert replayed(profile, events).data == {"bag": [{"id": 1}]}


def test_saving_unchanged_data_records_an_empty_patch_as_a_heartbeat(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, seconds(1), {"coins": 0, "bag": []})
    event = last_saved_event(owned)

    assert event.patch == []
    assert event.timestamp == seconds(1)
    assert owned.saved_version == event.originator_version


def test_saving_without_data_records_an_empty_patch_and_keeps_the_last_good_data(
    owned: ProfileAggregate,
) -> None:
    owned.save(OWNER, 1, seconds(1), {"coins": 9, "bag": []})
    owned.collect_events()

    owned.save(OWNER, 1, seconds(2), None)

    assert last_saved_event(owned).patch == []
    assert owned.data == {"coins": 9, "bag": []}


def test_metadata_and_user_ids_appear_in_a_save_only_when_they_changed(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, seconds(1), {"coins": 0, "bag": []}, {"note": "hi"}, [1, 2])
    changed = last_saved_event(owned)
    owned.save(OWNER, 1, seconds(2), {"coins": 0, "bag": []}, {"note": "hi"}, [1, 2])
    unchanged = last_saved_event(owned)
    owned.save(OWNER, 1, seconds(3), {"coins": 0, "bag": []}, {"note": "bye"}, [1, 2])
    only_metadata = last_saved_event(owned)

    assert (changed.metadata, changed.user_ids) == ({"note": "hi"}, [1, 2])
    assert (unchanged.metadata, unchanged.user_ids) == (None, None)
    assert (only_metadata.metadata, only_metadata.user_ids) == ({"note": "bye"}, None)
    assert owned.metadata == {"note": "bye"} and owned.user_ids == [1, 2]


def test_metadata_with_the_same_content_in_another_key_order_counts_as_unchanged(
    owned: ProfileAggregate,
) -> None:
    owned.save(OWNER, 1, seconds(1), None, {"a": 1, "b": 2})
    owned.collect_events()

    owned.save(OWNER, 1, seconds(2), None, {"b": 2, "a": 1})

    assert last_saved_event(owned).metadata is None


def test_a_save_lists_the_processed_message_ids_in_order(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, seconds(1), None, processed_messages={3, 1, 2})

    assert last_saved_event(owned).processed_messages == [1, 2, 3]


# ---- time ----------------------------------------------------------------------------------------


def test_an_event_stamped_earlier_than_the_previous_one_gets_the_previous_timestamp() -> None:
    profile = blank()
    profile.create({}, OWNER, seconds(10))
    profile.start_session(OWNER, seconds(5))
    profile.save(OWNER, 1, seconds(3), {"a": 1})
    profile.save(OWNER, 1, seconds(20), {"a": 2})
    profile.request_session(OTHER, seconds(15))

    stamps = [e.timestamp for e in profile.collect_events()]

    assert stamps == [seconds(10), seconds(10), seconds(10), seconds(20), seconds(20)]


def test_event_timestamps_never_go_backwards_across_a_takeover_and_removal(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, seconds(50), None)
    owned.take_session(OTHER, seconds(40))
    owned.remove(seconds(30))
    owned.create({}, None, seconds(60))

    stamps = [e.timestamp for e in owned.collect_events()]

    assert stamps == sorted(stamps)
    assert stamps == [seconds(50)] * 4 + [seconds(60)]


# ---- removal -------------------------------------------------------------------------------------


def test_removing_a_profile_leaves_a_tombstone_and_nothing_live(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, seconds(1), {"coins": 5, "bag": ["gem"]}, {"m": 1}, [9])
    owned.collect_events()

    owned.remove(seconds(2))

    (tombstone,) = owned.collect_events()
    assert isinstance(tombstone, ProfileAggregate.Removed)
    assert tombstone.originator_version == 4
    assert not owned.live and owned.removed
    assert (owned.data, owned.metadata, owned.user_ids, owned.session) == ({}, {}, [], None)


def test_the_owner_of_a_removed_profile_cannot_write_its_data_back(owned: ProfileAggregate) -> None:
    owned.remove(seconds(1))

    with pytest.raises(SessionLostError):
        owned.save(OWNER, 1, seconds(2), {"coins": 5, "bag": []})
    with pytest.raises(SessionLostError):
        owned.end_session(OWNER, 1, "Manual", seconds(2))


def test_a_removed_profile_replays_to_a_tombstone() -> None:
    profile = blank()
    profile.create({"coins": 1}, OWNER, T0)
    profile.remove(seconds(1))

    rebuilt = replayed(profile, profile.collect_events())

    assert not rebuilt.live and rebuilt.removed and rebuilt.data == {}


def test_creating_after_a_removal_starts_again_at_the_next_version_and_epoch_one(
    owned: ProfileAggregate,
) -> None:
    owned.save(OWNER, 1, seconds(1), {"coins": 5, "bag": []})
    owned.remove(seconds(2))
    tombstone_version = owned.version

    owned.create({"coins": 0}, OTHER, seconds(3))
    owned.start_session(OTHER, seconds(3))

    created, started = owned.collect_events()[-2:]
    assert isinstance(created, ProfileAggregate.ProfileCreated)
    assert created.originator_version == tombstone_version + 1
    assert started.session_load_count == 1
    assert owned.live and not owned.removed
    assert owned.data == {"coins": 0}
    assert owned.is_owned_by(OTHER, 1)
    assert owned.created_at == seconds(3)


# ---- ids -----------------------------------------------------------------------------------------


def test_profile_ids_are_stable_and_never_collide_across_the_store_and_key_boundary() -> None:
    assert profile_id("a", "b:c") != profile_id("a:b", "c")
    assert profile_id("a", "b/c") != profile_id("a/b", "c")
    assert profile_id('a", "b', "c") != profile_id("a", 'b", "c')
    assert profile_id("store", "key") == profile_id("store", "key")
    assert profile_id("store", "key") != profile_id("key", "store")


def test_a_deep_copy_shares_nothing_that_can_change(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, T0, {"coins": 1, "bag": [{"sword": 1}]}, {"m": [1]}, [7])
    owned.queue_message({"gift": [1]}, 10, T0)
    copied = copy.deepcopy(owned)
    assert (copied.data, copied.metadata) == (owned.data, owned.metadata)
    # the data is shared: saves replace it, sharing what they did not change, and never change
    # it in place
    copied.save(OWNER, 1, T0, {"coins": 1, "bag": [{"sword": 2}]}, None, None)
    assert copied.data == {"coins": 1, "bag": [{"sword": 2}]}
    copied.metadata["m"].append(2)
    copied.user_ids.append(8)
    copied.messages[1]["gift"].append(2)
    assert copied.session is not None
    copied.session["job_id"] = "elsewhere"
    assert owned.data == {"coins": 1, "bag": [{"sword": 1}]} and owned.metadata == {"m": [1]}
    assert owned.user_ids == [7] and owned.messages[1] == {"gift": [1]}
    assert owned.session == OWNER
    assert (copied.version - 1, copied.saved_at, copied.id) == (owned.version, owned.saved_at, owned.id)
    assert (len(copied.collect_events()), len(owned.collect_events())) == (3, 2), "pending events too"


def test_a_save_replaces_the_data_sharing_what_it_did_not_change(owned: ProfileAggregate) -> None:
    owned.save(OWNER, 1, T0, {"coins": 1, "bag": [{"sword": 1}, {"axe": [1]}]})
    before = owned.data
    owned.save(OWNER, 1, T0, {"coins": 1, "bag": [{"sword": 2}, {"axe": [1]}]})
    assert before == {"coins": 1, "bag": [{"sword": 1}, {"axe": [1]}]}, "never changed in place"
    assert owned.data == {"coins": 1, "bag": [{"sword": 2}, {"axe": [1]}]}
    assert owned.data["bag"][1] is before["bag"][1]
