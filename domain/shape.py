"""A store's shape: its data's model (if any), its migrations and schema, and the rules that
decide what a server may read, claim and write of data stored at another schema."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .copying import json_copy
from .errors import ProfileStoreError
from .migrations import JsonDict, Migration, migrate, readable_from, steps
from .profile import ProfileAggregate
from .typed import ModelCodec
from .validation import check_template

Schema = tuple[int, int]  # (schema, readable_from)


@dataclass
class Admitted:
    """What a server may hold of a stored profile: its data as game code sees it (a private
    copy, a model instance for typed stores), and the migrated JSON to record, if any."""

    value: Any
    migrated: JsonDict | None


class StoreShape:
    """One store's model, migrations and schema."""

    def __init__(self, template: object, migrations: Sequence[Callable[[JsonDict], JsonDict] | Migration]
                 = ()) -> None:
        self.codec: ModelCodec | None = None
        if isinstance(template, type) and issubclass(template, BaseModel):
            self.codec = ModelCodec(template)
            self.template_data = self.codec.template()
        else:
            self.template_data = check_template({} if template is None else template)
        self.migrations = steps(migrations)
        self.schema = len(self.migrations)
        self.readable_from = readable_from(self.migrations, self.schema)
        self.raw = False

    def as_raw(self) -> StoreShape:
        """The same store with no model and no migrations: data exactly as stored."""
        raw = copy.copy(self)
        raw.codec, raw.raw = None, True
        return raw

    @property
    def template(self) -> Any:
        """The model class of a typed store, else the template dict."""
        return self.codec.model if self.codec is not None else self.template_data

    @property
    def new_schema(self) -> Schema:
        """The schema a new profile (or a Reset) starts at."""
        return self.schema, self.readable_from

    def value(self, plain: JsonDict, where: str = "") -> Any:
        """Stored JSON as game code sees it: a private copy, or the model (DataError if it does
        not validate)."""
        return self.codec.load(plain, where) if self.codec is not None else json_copy(plain)

    def admit(self, replica: ProfileAggregate) -> Admitted:
        """A live profile as this server may hold it, migrated to this store's schema: a
        ProfileStoreError naming both schemas if it is stored at a newer one this server may not
        read, a DataError if a migration fails or the data does not validate. Nothing is written."""
        if self.raw:
            return Admitted(json_copy(replica.data), None)
        stored, migrated = replica.schema, None
        data = replica.data
        if stored > self.schema:
            if replica.readable_from > self.schema:
                raise ProfileStoreError(
                    f"profile {replica.store_name!r}/{replica.key!r} is stored at schema {stored},"
                    f" readable from schema {replica.readable_from}; this server's store knows"
                    f" schema {self.schema}: deploy the newer migrations to read it")
        elif stored < self.schema:
            data = migrated = migrate(self.migrations, data, stored)
        where = f" (stored version {replica.saved_version}, schema {stored})"
        return Admitted(self.value(data, where), migrated)

    def schema_of(self, replica: ProfileAggregate) -> Schema:
        """The schema a write of data read from `replica` records: the stored one for raw stores
        and for data stored at a newer schema (readable here), else this store's."""
        if self.raw or replica.schema > self.schema:
            return replica.schema, replica.readable_from
        return self.new_schema
