"""Routes: stations, tokens, groups and policies (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["network"])
