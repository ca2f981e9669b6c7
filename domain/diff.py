"""The JSON Patch (RFC 6902) from one JSON document to another, costing the change, not the document.

Player data is mostly lists of dicts changed one element at a time, so a list is diffed by
skipping its equal prefix and suffix with C-level comparisons of slices, then pairing what is
left element by element (equal lengths) or by a short edit script (Myers, a few edits at most);
only changed elements are recursed into. Past a few dozen changed elements (a sort, a rebuilt
list) the list is replaced whole, so a patch is never much larger than the value it changes.

Python's `==` calls 1, 1.0 and True equal, so every patch is checked before it is returned: the
old document with the patch applied (copying only the containers on the patched paths) must
encode to the same JSON as the new one. When it does not (a type-only change that `==` hid),
the diff is made again with type-exact comparisons. Patches are applied directly for the
operations written here (`add`, `remove`, `replace` on dict members and list indices); any
other operation goes to jsonpatch, which also raises its own errors for a patch that does not
apply. RFC 6902 stays the stored format: jsonpatch applies every patch written here alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from itertools import compress, count, islice
from operator import ne
from typing import Any

import jsonpatch
import orjson

from .copying import json_copy

Op = dict[str, Any]
Run = Callable[[list[Any], int, list[Any], int], int]

CHANGED_ELEMENTS = 64  # pairs that differ before a list is replaced whole
EDITS = 32  # insertions and removals an edit script may hold before a list is replaced whole
_MISSING = object()


# ---- making a patch ------------------------------------------------------------------------------


def make_patch(old: Any, new: Any, encoded: bytes | None = None) -> list[Op]:
    """Operations that turn `old` into `new` (both JSON documents). `encoded`, when given, is
    `orjson.dumps(new)`, already made by the caller. The values of the operations are `new`'s
    own objects: copy them (`detached`) before `new` can change."""
    if encoded is None:
        encoded = orjson.dumps(new)
    ops: list[Op] = []
    _diff(old, new, "", False, ops)
    if _turns_into(old, ops, new, encoded):
        return ops
    ops = []
    _diff(old, new, "", True, ops)
    return ops


def detached(patch: list[Op]) -> list[Op]:
    """The patch with its values copied: shares nothing with the document they came from."""
    return [op if type(op.get("value")) not in (dict, list) else {**op, "value": json_copy(op["value"])}
            for op in patch]


def weight(value: Any) -> int:
    """Roughly what a JSON value costs to decode and copy: the elements of the containers at
    its top."""
    if type(value) is dict:
        return len(value) + sum(len(item) for item in value.values() if type(item) in (dict, list))
    return len(value) if type(value) is list else 0


def patch_weight(patch: list[Op]) -> int:
    """What replaying the patch costs beyond its operations: the weight of its values."""
    return sum(weight(op.get("value")) for op in patch)


def same(old: Any, new: Any) -> bool:
    """Equal as JSON, types included (Python's == says 1 == 1.0 == True)."""
    if old is new:
        return True
    if old != new:
        return False
    try:
        return orjson.dumps(old) == orjson.dumps(new)
    except TypeError:  # not JSON; validation refuses it elsewhere
        return False


def token(key: str) -> str:
    """A dict key as a JSON Pointer reference token."""
    return key.replace("~", "~0").replace("/", "~1") if ("~" in key or "/" in key) else key


def _diff(old: Any, new: Any, path: str, exact: bool, ops: list[Op]) -> None:
    kind = type(old)
    if kind is not type(new) or kind not in (dict, list):
        if not _equal(old, new, exact):
            ops.append({"op": "replace", "path": path, "value": new})
        return
    if old is new or (exact and same(old, new)):  # else equal parts are skipped below, in C
        return
    if kind is dict:
        if len(old) > len(new) or not old.keys() <= new.keys():
            ops.extend({"op": "remove", "path": f"{path}/{token(key)}"} for key in old if key not in new)
        for key, value in new.items():
            before = old.get(key, _MISSING)
            if before is value or (not exact and type(before) is type(value)
                                   and type(value) not in (dict, list) and before == value):
                continue  # most members of most saves: settled without a call
            if before is _MISSING:
                ops.append({"op": "add", "path": f"{path}/{token(key)}", "value": value})
            else:
                _diff(before, value, f"{path}/{token(key)}", exact, ops)
        return
    _diff_list(old, new, path, exact, ops)


def _equal(old: Any, new: Any, exact: bool) -> bool:
    if exact:
        return same(old, new)
    return type(old) is type(new) and old == new


def _diff_list(old: list[Any], new: list[Any], path: str, exact: bool, ops: list[Op]) -> None:
    run = _exact_run if exact else _run
    start = run(old, 0, new, 0)
    end = _common_suffix(old, new, start, exact)
    middle_old, middle_new = old[start:len(old) - end], new[start:len(new) - end]
    found: list[Op] | None = None
    if len(middle_old) == len(middle_new):
        found = _pairwise(middle_old, middle_new, start, path, exact)
    if found is None or len(found) > 1:  # an insertion and a removal shift what lies between
        scripted = _edit_script(middle_old, middle_new, start, path, exact, run)
        if scripted is not None and (found is None or len(scripted) < len(found)):
            found = scripted
    if found is None or (len(found) > 1 and _larger_than(found, new)):
        ops.append({"op": "replace", "path": path, "value": new})
    else:
        ops.extend(found)


def _larger_than(ops: list[Op], value: list[Any]) -> bool:
    """Whether the operations' JSON is longer than the value's (every element takes at least
    two bytes, so short patches of long lists are settled without encoding the list)."""
    size = len(orjson.dumps(ops))
    return size > 2 * len(value) + 2 and size > len(orjson.dumps(value))


def _run(a: list[Any], i: int, b: list[Any], j: int) -> int:
    """How many elements from a[i] and b[j] on are equal (==), counted in C: one pass that
    stops at the first difference."""
    limit = min(len(a) - i, len(b) - j)
    if limit <= 0 or a[i] != b[j]:  # most of an edit script's probes: no iterators built
        return 0
    pairs = map(ne, islice(a, i, i + limit), islice(b, j, j + limit))
    return next(compress(count(), pairs), limit)


def _exact_run(a: list[Any], i: int, b: list[Any], j: int) -> int:
    equal, limit = 0, min(len(a) - i, len(b) - j)
    while equal < limit and same(a[i + equal], b[j + equal]):
        equal += 1
    return equal


def _common_suffix(old: list[Any], new: list[Any], start: int, exact: bool) -> int:
    """How many elements at the ends of both lists are equal, within what follows `start`."""
    limit = min(len(old), len(new)) - start
    if exact:
        equal = 0
        while equal < limit and same(old[-1 - equal], new[-1 - equal]):
            equal += 1
        return equal
    pairs = map(ne, islice(reversed(old), limit), islice(reversed(new), limit))
    return next(compress(count(), pairs), limit)


def _pairwise(old: list[Any], new: list[Any], start: int, path: str, exact: bool) -> list[Op] | None:
    """Operations for lists of equal length, element by element; None past CHANGED_ELEMENTS."""
    if exact:
        differ = [not same(before, after) for before, after in zip(old, new, strict=True)]
        changed = list(islice(compress(count(), differ), CHANGED_ELEMENTS + 1))
    else:
        changed = list(islice(compress(count(), map(ne, old, new)), CHANGED_ELEMENTS + 1))
    if len(changed) > CHANGED_ELEMENTS:
        return None
    ops: list[Op] = []
    for index in changed:
        _diff(old[index], new[index], f"{path}/{start + index}", exact, ops)
    return ops


def _edit_script(old: list[Any], new: list[Any], start: int, path: str, exact: bool, run: Run
                 ) -> list[Op] | None:
    """Operations from the shortest edit script (Myers) of at most EDITS insertions and
    removals; a removal next to an insertion is one change of that element. None past EDITS."""
    moves = _myers(old, new, run)
    if moves is None:
        return None
    ops: list[Op] = []
    shift, i = 0, 0  # where old[x] now stands is start + x + shift
    while i < len(moves):
        kind, x, y = moves[i]
        follow = moves[i + 1] if i + 1 < len(moves) else None
        if follow is not None and kind != follow[0] and (
                (kind == "del" and follow[1:] == (x + 1, y)) or (kind == "ins" and follow[1:] == (x, y + 1))):
            where = start + x + shift
            _diff(old[x], new[y], f"{path}/{where}", exact, ops)
            i += 2
            continue
        if kind == "del":
            ops.append({"op": "remove", "path": f"{path}/{start + x + shift}"})
            shift -= 1
        else:
            ops.append({"op": "add", "path": f"{path}/{start + x + shift}", "value": new[y]})
            shift += 1
        i += 1
    return ops


def _myers(old: list[Any], new: list[Any], run: Run) -> list[tuple[str, int, int]] | None:
    """The moves ("del", x, y) / ("ins", x, y) of a shortest edit script, oldest first, found
    in O((N + M) D) with equal runs skipped by `run`; None if it needs more than EDITS."""
    n, m = len(old), len(new)
    furthest: dict[int, int] = {1: 0}  # diagonal k = x - y: the furthest x reached on it
    steps: list[dict[int, tuple[bool, int, int]]] = []  # per d, per k: (down, x, y) moved from
    for d in range(EDITS + 1):
        step: dict[int, tuple[bool, int, int]] = {}
        for k in range(-d, d + 1, 2):
            down, right = furthest.get(k + 1), furthest.get(k - 1)
            options = []
            if down is not None and down <= n and down - k <= m:
                options.append((down, True))  # an insertion: x stays, y grows
            if right is not None and right + 1 <= n and right + 1 - k <= m:
                options.append((right + 1, False))  # a removal: x grows
            if not options:
                continue
            x, is_down = max(options)
            step[k] = (is_down, x, x - k - 1) if is_down else (is_down, x - 1, x - k)
            x += run(old, x, new, x - k)
            furthest[k] = x
            if x == n and x - k == m:
                steps.append(step)
                return _backtrack(steps, k)
        steps.append(step)
    return None


def _backtrack(steps: list[dict[int, tuple[bool, int, int]]], k: int) -> list[tuple[str, int, int]]:
    moves: list[tuple[str, int, int]] = []
    for d in range(len(steps) - 1, 0, -1):
        down, x, y = steps[d][k]
        moves.append(("ins" if down else "del", x, y))
        k = x - y
    moves.reverse()
    return moves


def _turns_into(old: Any, ops: list[Op], new: Any, encoded: bytes) -> bool:
    """Whether `old` patched by `ops` encodes as `new` does (key order aside)."""
    patched = _patched_copy(old, ops)
    if patched is _MISSING:
        return False
    try:
        if orjson.dumps(patched) == encoded:
            return True
        option = orjson.OPT_SORT_KEYS  # an added key lands last: order is not content
        return bool(orjson.dumps(patched, option=option) == orjson.dumps(new, option=option))
    except TypeError:
        return False


# ---- applying a patch ------------------------------------------------------------------------------


def apply_patch(document: Any, patch: list[Op], *, copy_values: bool = True) -> Any:
    """`patch` applied to `document` in place, as `jsonpatch.apply_patch(..., in_place=True)`
    would. `add`, `remove` and `replace` of dict members and list indices are done here
    directly, values copied in unless `copy_values` is False (a patch decoded for this read
    only); anything else (the root, move, copy, test, a missing member, a bad index) goes to
    jsonpatch, which also raises its own errors."""
    for op in patch:
        if not _apply_direct(document, op, copy_values, None):
            document = jsonpatch.apply_patch(document, [copy.deepcopy(op)], in_place=True)
    return document


def patched(document: Any, patch: list[Op], *, copy_values: bool = True, copied: set[int] | None = None
            ) -> Any:
    """A new document: `document` with `patch` applied, `document` left as it was. Only the
    containers the patch changes are copied (the rest is shared), and the values copied in
    unless `copy_values` is False. `copied` holds the ids of containers made by earlier calls
    that nothing else shares: they are changed in place (a fold of many patches copies each
    container once); the containers this call makes are added to it."""
    result = _patched_copy(document, patch, copy_values, copied)
    if result is _MISSING:
        return apply_patch(json_copy(document), patch, copy_values=copy_values)
    return result


def _patched_copy(document: Any, patch: list[Op], copy_values: bool = False,
                  copied: set[int] | None = None) -> Any:
    """`document` with `patch` applied, copying only the containers the patch changes (the
    rest is shared with `document`); _MISSING if an operation does not apply directly."""
    if type(document) not in (dict, list):
        return _MISSING
    copied = set() if copied is None else copied
    root = document
    if id(root) not in copied:
        root = _shallow(document)
        copied.add(id(root))
    for op in patch:
        if not _apply_direct(root, op, copy_values, copied):
            return _MISSING
    return root


def _shallow(container: Any) -> Any:
    return dict(container) if type(container) is dict else list(container)


def _apply_direct(document: Any, op: Op, copy_values: bool, copied: set[int] | None) -> bool:
    """Apply one add/remove/replace below the root; False (nothing changed) if it is not one.
    With `copied`, every container on the path not in it is copied before it is changed."""
    kind, path = op.get("op"), op.get("path")
    if kind not in ("add", "remove", "replace") or type(path) is not str or not path.startswith("/"):
        return False
    if kind != "remove" and "value" not in op:
        return False
    *steps, last = path[1:].split("/")
    parent = document
    for step in steps:
        child = _child(parent, step)
        if child is _MISSING:
            return False
        if copied is not None and id(child) not in copied:
            child = _shallow(child)
            copied.add(id(child))
            _set(parent, step, child)
        parent = child
    value = op.get("value")
    if copy_values and type(value) in (dict, list):
        value = json_copy(value)
    if type(parent) is dict:
        key = _untoken(last)
        if kind == "add":
            parent[key] = value
        elif key not in parent:
            return False
        elif kind == "remove":
            del parent[key]
        else:
            parent[key] = value
        return True
    if type(parent) is not list:
        return False
    if kind == "add" and last == "-":
        parent.append(value)
        return True
    index = _index(last)
    if index is None or index > len(parent) or (kind != "add" and index == len(parent)):
        return False
    if kind == "add":
        parent.insert(index, value)
    elif kind == "remove":
        del parent[index]
    else:
        parent[index] = value
    return True


def _child(parent: Any, step: str) -> Any:
    """The dict or list `step` names in `parent`, else _MISSING."""
    if type(parent) is dict:
        child = parent.get(_untoken(step), _MISSING)
    elif type(parent) is list:
        index = _index(step)
        child = parent[index] if index is not None and index < len(parent) else _MISSING
    else:
        return _MISSING
    return child if type(child) in (dict, list) else _MISSING


def _set(parent: Any, step: str, value: Any) -> None:
    if type(parent) is dict:
        parent[_untoken(step)] = value
    else:
        parent[int(step)] = value


def _index(step: str) -> int | None:
    """A list index as RFC 6901 writes it (digits, no leading zero), else None."""
    if step.isascii() and step.isdigit() and (step == "0" or step[0] != "0"):
        return int(step)
    return None


def _untoken(step: str) -> str:
    return step.replace("~1", "/").replace("~0", "~") if "~" in step else step
