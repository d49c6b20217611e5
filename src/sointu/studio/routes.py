"""The studio's API routes beyond ``/api/info`` (see ``docs/studio.md``)."""

from __future__ import annotations

__all__ = ["register"]


def register(app) -> None:
    """Add the API routes to ``app``."""
