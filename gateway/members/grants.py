"""What an actor may give and change, applied to a whole change (pure, no I/O).

The single-role rules live in :mod:`gateway.members.roles`; these apply them
to what an invitation or an edit asks for:

- roles: every role asked for (``role`` and ``extra_roles``) must be one the
  actor may grant: at or below the actor's highest role, never Owner (Owner
  is only transferred). A member holding several roles may grant any of them,
  which the highest one already covers.
- permission overrides: an actor may only set, change or remove an override
  of a permission the actor holds. Overrides the change leaves as they were
  are not checked (editing a member's phone does not fail because of an
  override someone else gave them).
- your own record: anyone may edit their own name, email and phone, and
  nothing else of it (not role, permissions, status, groups, tokens, policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.members.roles import RANK, Permission, Role, may_grant

SELF_EDITABLE = frozenset({"first_name", "last_name", "email", "phone"})
"""The fields of their own record a member may change without the members permission."""


def refused_roles(actor_roles: Iterable[Role], asked: Iterable[Role]) -> list[Role]:
    """The roles in ``asked`` the actor may not grant, highest first, each once."""
    held = frozenset(actor_roles)
    refused = {role for role in asked if not may_grant(held, role)}
    return sorted(refused, key=RANK.__getitem__, reverse=True)


def changed_overrides(
    before: Mapping[Permission, bool], after: Mapping[Permission, bool]
) -> frozenset[Permission]:
    """Permissions whose override is added, removed or flipped."""
    return frozenset(p for p in {*before, *after} if before.get(p) != after.get(p))


def refused_overrides(
    held: Iterable[Permission],
    before: Mapping[Permission, bool],
    after: Mapping[Permission, bool],
) -> list[Permission]:
    """Overrides the change touches on permissions the actor does not hold, sorted."""
    return sorted(changed_overrides(before, after) - frozenset(held))


def not_self_editable(fields: Iterable[str]) -> list[str]:
    """The fields a member may not change on their own record, sorted."""
    return sorted(set(fields) - SELF_EDITABLE)


__all__ = [
    "SELF_EDITABLE",
    "changed_overrides",
    "not_self_editable",
    "refused_overrides",
    "refused_roles",
]
