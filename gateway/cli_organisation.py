"""The command line's ``--organisation NAME``: the organisation a command acts in.

Named: that organisation, or an error listing those that exist. Not named: the only
organisation when there is exactly one; with none or several, an error saying what to do
(and naming them). The command line never creates an organisation on the side (it once
made one called ``default``, with no Owner, that the admin API could not see):
``ocpp-gateway orgs create`` does, with its Owner.
"""

from __future__ import annotations

import argparse

from gateway.store.admin import AdminStore
from gateway.store.database import Database

CREATE = 'create one with: ocpp-gateway orgs create "NAME" --owner-email EMAIL'


class OrganisationError(Exception):
    """No organisation to act in: printed on stderr after ``error:``, exit status 1."""


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--organisation",
        default=None,
        help="its name (default: the only organisation; required when there are several)",
    )


async def resolve(db: Database, name: str | None) -> int:
    """The id of the organisation ``name``, or of the only one when ``name`` is None."""
    organisations = await AdminStore(db).organisations()
    if name is not None:
        for org_id, org_name in organisations:
            if org_name == name:
                return org_id
        known = _names(organisations)
        raise OrganisationError(
            f"no organisation {name!r} ({'organisations: ' + known if known else CREATE})"
        )
    if len(organisations) == 1:
        return organisations[0][0]
    if not organisations:
        raise OrganisationError(f"no organisation yet: {CREATE}")
    raise OrganisationError(
        f"there are {len(organisations)} organisations ({_names(organisations)}):"
        " name one with --organisation NAME"
    )


def _names(organisations: list[tuple[int, str]]) -> str:
    return ", ".join(repr(name) for _, name in organisations)
