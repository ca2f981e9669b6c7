"""Typed profile data: a pydantic model as a store's template, stored as its JSON dump.

What is stored is `model_dump(mode="json")`, so events, diffs and read models see plain JSON as
for dict profiles. A save never stores what a later load would refuse: the dump is validated.
Whole dumps and validations grow with the profile (14 and 28 ms at 10,000 inventory items), so
for a field that is a list of models (an inventory) a save dumps and validates only the elements
that changed since the last save: the list's equal prefix and suffix are found by comparing each
element's attributes with the saved JSON at C speed (`map(operator.ne, ...)`), as domain/diff.py
does for lists, and only the elements between are dumped and validated; the other fields are
dumped whole and validated with the unchanged elements passed as the instances they are. Models
whose validators could see the difference (a `before` or `wrap` model validator, a field
validator on such a list, `revalidate_instances`) are validated whole.
"""

from __future__ import annotations

import operator
import types
import typing
from itertools import compress
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from .diff import Op, make_patch, token
from .errors import DataError

JsonDict = dict[str, Any]
_FEW = 32  # changed elements dumped and validated one by one; more: the whole model at once
Memo = dict[str, dict[int, tuple[Any, JsonDict]]]  # per list field: id(element) -> (it, its dump)
_dict_of = operator.attrgetter("__dict__")


def data_path(loc: tuple[int | str, ...], root: str = "data") -> str:
    """A pydantic error location in the subscript form of DataError texts: data['items'][0]."""
    return root + "".join(f"[{step}]" if isinstance(step, int) else f"[{step!r}]" for step in loc)


def data_error(error: ValidationError, prefix: tuple[int | str, ...] = (), where: str = "") -> DataError:
    """A DataError naming the first failing field path, pydantic's message and what was there."""
    problems = error.errors(include_url=False)
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    text = f"{data_path((*prefix, *first['loc']))}: {first['msg']}{more}"
    return DataError(f"{text}{where}")


class ModelCodec:
    """The model a store's data is an instance of; JSON in and out, checked."""

    def __init__(self, model: type[BaseModel]) -> None:
        missing = [name for name, field in model.model_fields.items() if field.is_required()]
        if missing:
            raise TypeError(f"template model {model.__name__}: every field needs a default, and "
                            f"{', '.join(repr(name) for name in missing)} has none")
        self.model = model
        decorators = model.__pydantic_decorators__
        self._lists = {name: element for name, field in model.model_fields.items()
                       if (element := _model_list(field)) is not None
                       and not any(name in d.info.fields for d in decorators.field_serializers.values())}
        self._whole = bool(
            decorators.model_serializers
            or any(d.info.mode in ("before", "wrap") for d in decorators.model_validators.values())
            or any(set(d.info.fields) & set(self._lists) for d in decorators.field_validators.values())
            or model.model_config.get("revalidate_instances", "never") != "never")
        if decorators.model_serializers:
            self._lists = {}

    def template(self) -> JsonDict:
        """The data of a new profile: the model's defaults, dumped."""
        return self.dump(self.model())[0]

    def load(self, plain: JsonDict, where: str = "") -> BaseModel:
        """Stored JSON as the model; a DataError naming the field path (and `where`) if it does
        not validate."""
        try:
            return self.model.model_validate(plain, by_alias=True, by_name=True)
        except ValidationError as error:
            raise data_error(error, where=where) from None

    def coerce(self, value: object) -> BaseModel:
        """What `profile.data = value` stores: a dict validated into the model, or an instance
        of it checked by validating its dump; TypeError for anything else."""
        if isinstance(value, dict):
            return self.load(value)
        if isinstance(value, self.model):
            self.load(self._dump_whole(value))
            return value
        raise TypeError(f"Profile.data must be a {self.model.__name__} or a dict, not "
                        f"{type(value).__name__}")

    def dump(self, value: BaseModel, saved: JsonDict | None = None, *, keep_unknown: bool = False,
             diff: bool = False, memo: Memo | None = None) -> tuple[JsonDict, list[Op] | None]:
        """The model instance as checked JSON, dumping and validating what changed since
        `saved` (the JSON last stored) when that is safe, else all of it; with `diff`, also the
        patch from `saved` when it could be made from what changed alone (else None: diff it).
        `keep_unknown`: top-level fields of `saved` the model does not know are kept."""
        plain, patch = self._dump(value, saved, diff, keep_unknown, memo)
        if keep_unknown and saved is not None:
            for name, item in saved.items():
                plain.setdefault(name, item)
        return plain, patch

    def _dump(self, value: BaseModel, saved: JsonDict | None, diff: bool, keep_unknown: bool,
              memo: Memo | None) -> tuple[JsonDict, list[Op] | None]:
        if type(value) is not self.model or saved is None or not self._lists:
            return self._checked_whole(value), None
        lists: dict[str, list[Any]] = {}
        ops: list[Op] | None = []
        for name, element in self._lists.items():
            fresh = self._list(value.__dict__.get(name), saved.get(name), element, name, memo)
            if fresh is None:
                return self._checked_whole(value), None
            lists[name], (start, old, new) = fresh
            if len(new) > max(_FEW, len(lists[name]) // 8):
                ops = None  # many moved (a sort): one diff of the documents, not two
            elif diff and ops is not None:
                ops = _shifted(ops, make_patch(old, new), name, start)
        try:
            rest = value.model_dump(mode="json", exclude=set(self._lists), warnings=False)
        except (PydanticSerializationError, TypeError, ValueError) as error:
            raise DataError(f"data: cannot be dumped as JSON: {error}") from None
        plain = {name: lists[name] if name in lists else rest[name]
                 for name in self.model.model_fields if name in lists or name in rest}
        plain.update((name, item) for name, item in rest.items() if name not in plain)
        if self._whole:
            self._validate(plain)
        else:  # the unchanged elements as the instances they are: checked by type only
            self._validate({**rest, **{name: value.__dict__[name] for name in lists}})
        if not diff or ops is None:
            return plain, None
        others = {name: item for name, item in saved.items()
                  if name not in lists and (name in rest or not keep_unknown)}
        return plain, [*make_patch(others, rest), *ops]

    def _list(self, items: object, saved: object, element: type[BaseModel], name: str,
              memo: Memo | None) -> tuple[list[Any], tuple[int, list[Any], list[Any]]] | None:
        """The dump of a list of `element` models, reusing the saved JSON of the equal prefix
        and suffix, and (start, the saved elements between, their dumps); None when the fast way
        does not apply. `memo` (a profile's: element id -> the element and its dump) lets an
        element that only moved (a sort) reuse its dump too."""
        if type(items) is not list or type(saved) is not list:
            return None
        try:
            attrs = list(map(_dict_of, items))
        except AttributeError:  # not models: a dict put in without validation, say
            return None
        shorter = min(len(attrs), len(saved))
        prefix = next(compress(range(shorter), map(operator.ne, attrs, saved)), shorter)
        suffix = 0
        limit = shorter - prefix
        if limit:
            tail = map(operator.ne, reversed(attrs), reversed(saved))
            suffix = next(compress(range(limit), tail), limit)
        known = {} if memo is None else memo.setdefault(name, {})
        seeded = bool(known)
        many = len(items) - suffix - prefix > max(_FEW, len(items) // 8)
        if many and not seeded:
            return None  # a sort, say: one dump and one validation of the whole are faster
        middle, dumped_anew = [], 0
        for index in range(prefix, len(items) - suffix):
            item = items[index]
            if type(item) is not element:
                return None
            hit = known.get(id(item))
            if hit is not None and hit[0] is item and attrs[index] == hit[1]:
                middle.append(hit[1])  # unchanged since it was dumped: it only moved
                continue
            dumped_anew += 1
            if many and dumped_anew > _FEW:
                return None  # many changed, not only moved: the whole model at once is faster
            try:
                dumped = item.model_dump(mode="json", warnings=False)
            except (PydanticSerializationError, TypeError, ValueError) as error:
                raise DataError(f"{data_path((name, index))}: cannot be dumped as JSON: {error}"
                                ) from None
            try:
                element.model_validate(dumped, by_alias=True, by_name=True)
            except ValidationError as error:
                raise data_error(error, (name, index)) from None
            middle.append(dumped)
            if memo is not None:
                known[id(item)] = (item, dumped)
        end = len(saved) - suffix
        fresh = [*saved[:prefix], *middle, *saved[end:]]
        if memo is not None and (not seeded or len(known) > 2 * len(items) + _FEW):
            # first save of the profile, or many gone since: every element, with its dump
            memo[name] = {id(item): (item, dumped) for item, dumped in zip(items, fresh, strict=True)}
        return fresh, (prefix, saved[prefix:end], middle)

    def _dump_whole(self, value: BaseModel) -> JsonDict:
        try:
            return value.model_dump(mode="json", warnings=False)
        except (PydanticSerializationError, TypeError, ValueError) as error:
            raise DataError(f"data: cannot be dumped as JSON: {error}") from None

    def _checked_whole(self, value: BaseModel) -> JsonDict:
        if not isinstance(value, self.model):
            raise DataError(f"data: {type(value).__name__}, not {self.model.__name__}")
        plain = self._dump_whole(value)
        self._validate(plain)
        return plain

    def _validate(self, plain: JsonDict) -> None:
        try:
            self.model.model_validate(plain, by_alias=True, by_name=True)
        except ValidationError as error:
            raise data_error(error) from None


def _shifted(ops: list[Op] | None, slice_ops: list[Op], name: str, start: int) -> list[Op] | None:
    """`slice_ops` (a patch between slices of list field `name` starting at `start`) added to
    `ops` with their paths into the whole document; None when a slice was replaced whole (the
    caller then diffs the documents)."""
    if ops is None:
        return None
    for op in slice_ops:
        first, _, rest = op["path"][1:].partition("/")
        if not first.isdigit():
            return None
        ops.append({**op, "path": f"/{token(name)}/{int(first) + start}{'/' if rest else ''}{rest}"})
    return ops


def _model_list(field: Any) -> type[BaseModel] | None:
    """The element model of a `list[Model]` field with nothing else attached, whose fields `==`
    compares exactly (see _exact), else None."""
    if field.metadata or field.exclude:
        return None
    annotation = field.annotation
    if typing.get_origin(annotation) is not list:
        return None
    (element,) = typing.get_args(annotation) or (None,)
    if isinstance(element, type) and issubclass(element, BaseModel) and all(
            _exact(f.annotation) for f in element.model_fields.values()):
        return element
    return None


_NUMBERS = (bool, int, float)


def _exact(annotation: Any) -> bool:
    """Whether a field of this type can never hold two values that `==` calls equal but that
    dump differently: Python's 1 == 1.0 == True, which a field's own type otherwise coerces
    (an int field dumps True as 1). A type that admits two of bool, int and float (a union,
    Any, object) cannot be compared so; a nested model or a datetime never equals JSON, so it is
    dumped whenever present: exact."""
    if annotation in (Any, object):
        return False
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _exact(args[0])
    if origin is typing.Literal:
        return len({type(value) for value in args if isinstance(value, _NUMBERS)}) <= 1
    if origin in (typing.Union, types.UnionType):
        numbers = {arg for arg in args if arg in _NUMBERS}
        return len(numbers) <= 1 and all(_exact(arg) for arg in args)
    if args:  # list[X], dict[str, X], tuple[...], set[X]
        return all(_exact(arg) for arg in args if arg is not Ellipsis)
    return True
