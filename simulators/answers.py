"""Reading the one status that matters out of an answer, the same way for 1.6 and 2.0.1.

Used by the scenario runner (``expect: {"status": ...}``) and the load
generator (status counts per action):

* ``idTagInfo.status`` (1.6 Authorize, StartTransaction, StopTransaction, §7.24);
* ``idTokenInfo.status`` (2.0.1 Authorize, TransactionEvent, §2.29);
* else a top-level ``status`` (BootNotification, DataTransfer and the
  answers to the central system's own CALLs).
"""

from __future__ import annotations

from typing import Any


def main_status(payload: dict[str, Any]) -> str | None:
    """The answer's status as described above, or None when it carries none."""
    for key in ("idTagInfo", "idTokenInfo"):
        info = payload.get(key)
        if isinstance(info, dict):
            status = info.get("status")
            return status if isinstance(status, str) else None
    status = payload.get("status")
    return status if isinstance(status, str) else None
