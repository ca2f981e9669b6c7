"""Maps events to stored rows as plain JSON (orjson), with integer epoch-microsecond timestamps.

Plain JSON means no type tags: a user's dict that looks like a transcoder tag comes back as the
dict it was, and freezegun's FakeDatetime is stored like any datetime.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from profilestore.domain.timeutil import from_us, to_us


class JsonMapper(Mapper[UUID]):
    """Event <-> StoredEvent through orjson; the event's fields are the stored object's keys."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state["timestamp"] = to_us(state["timestamp"])
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=orjson.dumps(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls = resolve_topic(stored_event.topic)
            state = orjson.loads(stored_event.state)
            state["timestamp"] = from_us(state["timestamp"])
        except Exception as error:
            raise MapperDeserialisationError(
                f"undecodable event {stored_event.originator_id} v{stored_event.originator_version}"
                f" ({stored_event.topic}): {error}"
            ) from error
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event
