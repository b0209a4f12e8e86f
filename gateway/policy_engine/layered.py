"""`LayeredMap`: a read-only mapping that is cheap to copy with a few entries changed.

The snapshot holds a million tokens and members. Copying a dict that size to
make a snapshot with one member changed takes tens of milliseconds (and as
much memory again); changing it in place would change the snapshot under
whoever still reads the old one. A `LayeredMap` is a large dict that is never
changed (the base) under a small dict of the changes made since (the top):
`updated()` copies the top only, so a change costs microseconds whatever the
size, and the original map is left intact. A lookup reads the top, then the
base: one more (small, cache-resident) dict lookup than a plain dict's.

When the top has grown past a fraction of the base (`_FOLD_RATIO`), the next
`updated()` folds it into a new base: one copy of the base (milliseconds at a
million entries, once per so many changed keys), so a change's amortised cost
stays constant and the top stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class _Mark:
    """A marker in the top: `_REMOVED`, a base key that is gone; `_ABSENT`, not in the top."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


_REMOVED: Final = _Mark("<removed>")
_ABSENT: Final = _Mark("<absent>")
_FOLD_RATIO = 128  # fold the top into a new base beyond len(base) / _FOLD_RATIO keys
_FOLD_MIN = 1024  # ... and never below this many


class LayeredMap(Mapping[K, V]):
    """An immutable mapping; `updated` returns a changed copy sharing the base."""

    __slots__ = ("_base", "_len", "_top")

    _base: dict[K, V]  # never mutated
    _top: dict[K, V | _Mark]  # never mutated once the map is made
    _len: int

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._base = dict(items)
        self._top = {}
        self._len = len(self._base)

    @classmethod
    def owning(cls, base: dict[K, V]) -> LayeredMap[K, V]:
        """A map over `base` itself, not a copy: nobody may change `base` afterwards."""
        made: LayeredMap[K, V] = cls.__new__(cls)
        made._base, made._top, made._len = base, {}, len(base)
        return made

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...
    def get(self, key: K, default: Any = None, /) -> Any:
        found = self._top.get(key, _ABSENT)
        if found is _ABSENT:
            return self._base.get(key, default)
        return default if found is _REMOVED else found

    def __getitem__(self, key: K) -> V:
        found = self._top.get(key, _ABSENT)
        if found is _ABSENT:
            return self._base[key]
        if isinstance(found, _Mark):
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        found = self._top.get(key, _ABSENT)  # type: ignore[arg-type]
        if found is _ABSENT:
            return key in self._base
        return found is not _REMOVED

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        top = self._top
        for key in self._base:
            if key not in top:
                yield key
        for key, value in top.items():
            if value is not _REMOVED:
                yield key

    def __repr__(self) -> str:
        return f"LayeredMap({self._len} entries, {len(self._top)} changed)"

    def parts(self) -> tuple[dict[K, V], dict[K, V | _Mark]]:
        """The two dicts this map reads (base, changes), for whoever frees a map nobody
        reads any more slice by slice (`policy_cache.updates`): never to change one."""
        return self._base, self._top

    def updated(self, set_: Mapping[K, V], remove: Iterable[K] = ()) -> LayeredMap[K, V]:
        """A copy with the entries of `set_` set and the keys of `remove` removed.

        A key both set and removed is set; removing an absent key does nothing.
        """
        top = dict(self._top)
        size = self._len
        for key in remove:
            if key in set_ or key not in self:
                continue
            size -= 1
            if key in self._base:
                top[key] = _REMOVED
            else:
                del top[key]
        for key, value in set_.items():
            size += key not in self
            top[key] = value
        copy: LayeredMap[K, V] = LayeredMap.__new__(LayeredMap)
        if len(top) > max(_FOLD_MIN, len(self._base) // _FOLD_RATIO):
            base = dict(self._base)
            for key, change in top.items():
                if isinstance(change, _Mark):
                    del base[key]
                else:
                    base[key] = change
            copy._base, copy._top, copy._len = base, {}, size
        else:
            copy._base, copy._top, copy._len = self._base, top, size
        return copy
