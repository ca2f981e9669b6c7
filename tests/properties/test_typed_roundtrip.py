"""Random pydantic models and random edits of their instances: what a typed save stores is the
instance's `model_dump(mode="json")`, exactly (types included), and a fresh read gives it back;
the incremental dump of lists of models (domain/typed.py) agrees with the whole dump, its patch
leads from the saved JSON to it, and data that does not validate is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import jsonpatch
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, create_model
from support.databases import BACKENDS, fresh_database

from profilestore import DataError, Engine, ProfileStore
from profilestore.domain.typed import ModelCodec

CODEC = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STORE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

Draw = Callable[[st.SearchStrategy[Any]], Any]

# Scalar field types and their values. Their values compare in Python as in JSON (no bool next
# to int in one field, no -0.0): see the last test for what happens when they do not.
SCALARS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "int": (int, st.integers(-(10**9), 10**9)),
    "str": (str, st.text(max_size=6)),
    "bool": (bool, st.booleans()),
    "float": (float, st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda x: x + 0.0)),
    "optional": (int | None, st.none() | st.integers(-5, 5)),
    "ints": (list[int], st.lists(st.integers(-5, 5), max_size=3)),
}
# Values a field of that kind refuses.
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "int": st.sampled_from(["many", [1], {"a": 1}, 1.5]),
    "str": st.sampled_from([5, [1], None]),
    "bool": st.sampled_from(["maybe", [True], 2]),
    "float": st.sampled_from(["abc", [1.0], None]),
    "optional": st.sampled_from(["x", [None]]),
    "ints": st.sampled_from([5, ["x"], [[1]]]),
}


class Shape:
    """A random model: its scalar fields, nested model fields and list-of-model fields, with
    the strategy of a valid value for each."""

    def __init__(self, model: type[BaseModel], scalars: dict[str, str], nested: dict[str, Shape],
                 lists: dict[str, Shape]) -> None:
        self.model, self.scalars, self.nested, self.lists = model, scalars, nested, lists

    def values(self) -> st.SearchStrategy[BaseModel]:
        fields: dict[str, st.SearchStrategy[Any]] = {
            name: SCALARS[kind][1] for name, kind in self.scalars.items()}
        fields.update((name, shape.values()) for name, shape in self.nested.items())
        fields.update((name, st.lists(shape.values(), max_size=4)) for name, shape in self.lists.items())
        return st.fixed_dictionaries(fields).map(lambda kwargs: self.model(**kwargs))


@st.composite
def shapes(draw: st.DrawFn, depth: int = 0, with_list: bool = True) -> Shape:
    """A model with one to four scalar fields, and at the top a nested model and one or two
    lists of models; every field has a default."""
    kinds = draw(st.lists(st.sampled_from(sorted(SCALARS)), min_size=1, max_size=4))
    scalars = {f"s{n}": kind for n, kind in enumerate(kinds)}
    nested: dict[str, Shape] = {}
    lists: dict[str, Shape] = {}
    if depth == 0:
        if draw(st.booleans()):
            nested["nested"] = draw(shapes(depth + 1))
        for n in range(draw(st.integers(1 if with_list else 0, 2))):
            lists[f"items{n}"] = draw(shapes(depth + 1))
    fields: dict[str, Any] = {}
    for name, kind in scalars.items():
        annotation, values = SCALARS[kind]
        fields[name] = (annotation, draw(values))
    for name, shape in nested.items():
        fields[name] = (shape.model, shape.model())
    for name, shape in lists.items():
        fields[name] = (list[shape.model], [])  # type: ignore[name-defined]
    model = create_model(f"M{uuid4().hex[:8]}", **fields)
    return Shape(model, scalars, nested, lists)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (1, 1.0 and True are three values)."""
    option = orjson.OPT_SORT_KEYS
    return orjson.dumps(a, option=option) == orjson.dumps(b, option=option)


def edit(draw: Draw, shape: Shape, value: BaseModel) -> None:
    """One random valid change of `value` in place: a field, a nested field, or a list of
    models (append, insert, remove, replace, or change a field of an element)."""
    targets = ["scalar"] + ["nested"] * bool(shape.nested) + ["list"] * bool(shape.lists)
    target = draw(st.sampled_from(targets))
    if target == "scalar":
        name = draw(st.sampled_from(sorted(shape.scalars)))
        setattr(value, name, draw(SCALARS[shape.scalars[name]][1]))
    elif target == "nested":
        name = draw(st.sampled_from(sorted(shape.nested)))
        edit(draw, shape.nested[name], getattr(value, name))
    else:
        name = draw(st.sampled_from(sorted(shape.lists)))
        element, items = shape.lists[name], getattr(value, name)
        action = draw(st.sampled_from(["append", "insert", "remove", "replace", "change"]
                                      if items else ["append", "insert"]))
        where = draw(st.integers(0, max(len(items) - 1, 0)))
        if action == "append":
            items.append(draw(element.values()))
        elif action == "insert":
            items.insert(where, draw(element.values()))
        elif action == "remove":
            del items[where]
        elif action == "replace":
            items[where] = draw(element.values())
        else:
            edit(draw, element, items[where])


def spoil(draw: Draw, shape: Shape, value: BaseModel) -> None:
    """One change that the model refuses: a field of `value`, of its nested model or of an
    element of one of its lists set to a value of the wrong kind."""
    holders: list[tuple[Shape, BaseModel]] = [(shape, value)]
    holders += [(shape.nested[name], getattr(value, name)) for name in shape.nested]
    holders += [(shape.lists[name], item) for name in shape.lists for item in getattr(value, name)]
    holder, target = draw(st.sampled_from(holders))
    name = draw(st.sampled_from(sorted(holder.scalars)))
    setattr(target, name, draw(INVALID[holder.scalars[name]]))


def expected_dump(model: type[BaseModel], value: BaseModel) -> dict[str, Any] | None:
    """What a save must store: the instance's JSON dump, or None when that does not validate."""
    plain = value.model_dump(mode="json", warnings=False)
    try:
        model.model_validate(plain)
    except ValidationError:
        return None
    return plain


def check_dump(codec: ModelCodec, value: BaseModel, saved: dict[str, Any]) -> dict[str, Any] | None:
    """The codec's incremental dump checked against the whole one; the new saved JSON, or None
    if the value was (rightly) refused."""
    expected = expected_dump(codec.model, value)
    if expected is None:
        with pytest.raises(DataError, match=r"^data"):
            codec.dump(value, saved, diff=True)
        return None
    plain, patch = codec.dump(value, saved, diff=True)
    assert same(plain, expected), (plain, expected)
    if patch is not None:
        assert same(jsonpatch.apply_patch(saved, patch), expected), patch
    return plain


@CODEC
@given(data=st.data())
def test_the_incremental_dump_is_the_whole_dump_and_its_patch_leads_there(data: st.DataObject
                                                                          ) -> None:
    shape = data.draw(shapes())
    codec = ModelCodec(shape.model)
    value = data.draw(shape.values())
    saved = codec.dump(value)[0]
    assert same(saved, value.model_dump(mode="json"))
    for _ in range(data.draw(st.integers(1, 4))):
        for _ in range(data.draw(st.integers(1, 4))):
            edit(data.draw, shape, value)
        fresh = check_dump(codec, value, saved)
        assert fresh is not None, "valid edits are never refused"
        saved = fresh


@CODEC
@given(data=st.data())
def test_data_that_does_not_validate_is_refused_by_the_incremental_dump(data: st.DataObject) -> None:
    shape = data.draw(shapes())
    codec = ModelCodec(shape.model)
    value = data.draw(shape.values())
    saved = codec.dump(value)[0]
    for _ in range(data.draw(st.integers(0, 3))):
        edit(data.draw, shape, value)
    spoil(data.draw, shape, value)
    check_dump(codec, value, saved)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One engine per back end for the whole module (hypothesis runs many examples per test)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("typed"), memory=True) as url:
        engine = Engine(url, background=False)
        yield engine
        engine.close(timeout=5)


def read_back(store: ProfileStore, key: str) -> dict[str, Any]:
    """A fresh read of the key's latest data, dumped; also what the raw view holds."""
    profile, raw = store.get(key), store.raw.get(key)
    assert profile is not None and raw is not None
    assert same(raw.data, profile.data.model_dump(mode="json"))
    dumped: dict[str, Any] = profile.data.model_dump(mode="json")
    return dumped


@pytest.mark.slow
@STORE
@given(data=st.data())
def test_random_edits_saved_in_a_session_read_back_exactly(engine: Engine, data: st.DataObject
                                                           ) -> None:
    shape = data.draw(shapes())
    store, key = ProfileStore(f"T{uuid4().hex[:12]}", shape.model, engine=engine), "p"
    profile = store.start_session(key)
    assert profile is not None
    profile.data = data.draw(shape.values())
    assert profile.save()
    assert same(read_back(store, key), profile.data.model_dump(mode="json"))
    for _ in range(data.draw(st.integers(1, 3))):
        for _ in range(data.draw(st.integers(1, 4))):
            edit(data.draw, shape, profile.data)
        assert profile.save()
        assert same(read_back(store, key), profile.data.model_dump(mode="json"))
    edit(data.draw, shape, profile.data)
    last = profile.data.model_dump(mode="json")
    profile.end_session()
    assert same(read_back(store, key), last)


class Flag(BaseModel):
    value: Any = 0


class Flags(BaseModel):
    items: list[Flag] = []


@pytest.mark.parametrize(("before", "after"), [(1, True), (0, False), (1, 1.0), (True, 1)])
def test_a_change_that_python_equality_hides_is_still_saved(before: Any, after: Any) -> None:
    codec = ModelCodec(Flags)
    value = Flags(items=[Flag(value=before)])
    saved = codec.dump(value)[0]
    value.items[0].value = after
    check_dump(codec, value, saved)


class _Gem(BaseModel):
    name: str = ""
    cut: int = 0
    tags: list[str] = []


class _Vault(BaseModel):
    gold: int = 0
    gems: list[_Gem] = []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["cut", "add", "drop", "front", "sort", "shuffle",
                                           "tag", "gold"]), st.integers(0, 10_000)),
                min_size=1, max_size=40),
       st.integers(0, 120))
def test_a_profiles_memo_of_moved_elements_never_changes_what_is_stored(
        edits: list[tuple[str, int]], size: int) -> None:
    """With a profile's memo (elements that only moved reuse their dumps, as after a sort), every
    save's JSON is the model's own dump and its patch turns the last saved JSON into it."""
    codec, memo = ModelCodec(_Vault), {}
    vault = _Vault(gems=[_Gem(name=f"g{n}", cut=n % 7) for n in range(size)])
    saved = codec.dump(vault, memo=memo)[0]
    for kind, number in edits:
        gems = vault.gems
        if kind == "cut" and gems:
            gems[number % len(gems)].cut += 1
        elif kind == "add":
            gems.append(_Gem(name=f"new{number}", cut=number % 5))
        elif kind == "drop" and gems:
            del gems[number % len(gems)]
        elif kind == "front":
            gems.insert(0, _Gem(name=f"front{number}"))
        elif kind == "sort":
            gems.sort(key=lambda gem: (gem.cut, gem.name))
        elif kind == "shuffle":
            gems.reverse()
        elif kind == "tag" and gems:
            gems[number % len(gems)].tags.append(str(number))
        else:
            vault.gold += number
        plain, patch = codec.dump(vault, saved, diff=True, memo=memo)
        assert plain == vault.model_dump(mode="json")
        if patch is not None:
            assert jsonpatch.apply_patch(saved, patch) == plain
        saved = plain
