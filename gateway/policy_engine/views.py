"""Read-only mapping views of a snapshot's parts: policies by scope, tokens by key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .layered import LayeredMap
from .model import MemberInfo, Policy, PolicyScope, ScopeKind, TokenInfo


class ScopedPolicies(Mapping[PolicyScope, Policy]):
    """Policies by scope: organisation and group ones in `shared`, member ones in `members`."""

    __slots__ = ("members", "shared")

    def __init__(
        self, shared: Mapping[PolicyScope, Policy], members: LayeredMap[int, Policy]
    ) -> None:
        self.shared = shared
        self.members = members

    def __getitem__(self, scope: PolicyScope) -> Policy:
        if scope.kind is ScopeKind.MEMBER:
            return self.members[scope.id]
        return self.shared[scope]

    def __contains__(self, scope: object) -> bool:
        if isinstance(scope, PolicyScope) and scope.kind is ScopeKind.MEMBER:
            return scope.id in self.members
        return scope in self.shared

    def __iter__(self) -> Iterator[PolicyScope]:
        yield from self.shared
        for member_id in self.members:
            yield PolicyScope(ScopeKind.MEMBER, member_id)

    def __len__(self) -> int:
        return len(self.shared) + len(self.members)


Holder = tuple[TokenInfo, MemberInfo]
"""A token and its member: what a decision reads first, found in one lookup."""


class TokenView(Mapping[str, TokenInfo]):
    """The tokens by key (`normalize_token`), read from `Snapshot.holders`."""

    __slots__ = ("_holders",)

    def __init__(self, holders: LayeredMap[str, Holder]) -> None:
        self._holders = holders

    def __getitem__(self, key: str) -> TokenInfo:
        return self._holders[key][0]

    def __contains__(self, key: object) -> bool:
        return key in self._holders

    def __iter__(self) -> Iterator[str]:
        return iter(self._holders)

    def __len__(self) -> int:
        return len(self._holders)
