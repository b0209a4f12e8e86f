"""Who may do what inside an organisation: roles, permissions and their rules (pure).

Roles rank Owner > Administrator > Manager > User. A member may hold several
roles (``role`` plus ``extra_roles``); their rank is that of the highest.

Permissions: Owner and Administrator hold every permission, always. A
Manager holds stations, statistics and reservations by default; a User none
(a User sees their own record, tokens and statistics). Per-member overrides
add or remove permissions for Managers and Users; they never apply to Owners
or Administrators.

The rules the admin API and the CLI enforce (``../shared/PRODUCT.md``):
- grant: you may invite someone as, or give someone, only a role at or below
  your own highest role; Owner is never granted, only transferred;
- act on another member (edit, deactivate, delete, revoke their API tokens):
  only one whose rank is strictly below yours (so never yourself);
- nobody deactivates or deletes themselves; exactly one Owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from gateway.policy_engine import Role


class Permission(StrEnum):
    MEMBERS = "members"
    STATIONS = "stations"
    PRICES = "prices"
    DISCOUNTS = "discounts"
    STATISTICS = "statistics"
    RESERVATIONS = "reservations"


RANK = {Role.USER: 1, Role.MANAGER: 2, Role.ADMINISTRATOR: 3, Role.OWNER: 4}
_DEFAULTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.MANAGER: frozenset({Permission.STATIONS, Permission.STATISTICS, Permission.RESERVATIONS}),
    Role.USER: frozenset(),
}


def rank(roles: Iterable[Role]) -> int:
    return max((RANK[r] for r in roles), default=0)


def highest(roles: Iterable[Role]) -> Role:
    return max(roles, key=RANK.__getitem__, default=Role.USER)


def permissions(
    roles: Iterable[Role], overrides: Mapping[Permission, bool]
) -> frozenset[Permission]:
    """The permissions a member holds: their roles' defaults, then their overrides."""
    held = set(roles)
    granted: set[Permission] = set()
    for role in held:
        granted |= _DEFAULTS[role]
    if held & {Role.OWNER, Role.ADMINISTRATOR}:
        return frozenset(granted)
    for permission, allowed in overrides.items():
        if allowed:
            granted.add(permission)
        else:
            granted.discard(permission)
    return frozenset(granted)


def may_grant(actor_roles: Iterable[Role], role: Role) -> bool:
    """Only roles at or below your own; Owner only by transfer."""
    return role is not Role.OWNER and RANK[role] <= rank(actor_roles)


def may_act_on(actor_roles: Iterable[Role], target_roles: Iterable[Role]) -> bool:
    """Edit, deactivate, delete: only members ranked strictly below you."""
    return rank(target_roles) < rank(actor_roles)


__all__ = ["RANK", "Permission", "Role", "highest", "may_act_on", "may_grant", "permissions"]
