"""CLI: member operations (list, invite, edit, deactivate, delete, transfer), audit.

Registered by :mod:`gateway.cli`: top-level commands in ``COMMANDS``, actions of the
``members`` command in ``ACTIONS``; both dispatched to :func:`run`.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.config import Settings
from gateway.store.database import Database

COMMANDS: tuple[str, ...] = ()
ACTIONS: tuple[str, ...] = ()


def add_parsers(sub: Any) -> None:
    """Top-level commands."""


def add_member_actions(members: Any) -> None:
    """Actions of ``ocpp-gateway members``."""


async def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    raise NotImplementedError(args.command)
