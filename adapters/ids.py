"""Ids that travel in a platform's buttons (Slack action_id and value, Discord custom_id), checked in one place.

A click must find its session, action and value again after a restart, so they ride in the id. Cutting an id to
the platform's limit would make the click mean something else (or nothing); an id that does not fit is a bug
in what the engine hands out, so it raises where tests see it.
"""

from __future__ import annotations


class IdTooLong(ValueError):
    """A button id longer than the platform accepts."""


def fitted(platform_id: str, limit: int, what: str) -> str:
    """`platform_id` unchanged if it fits `limit` characters; otherwise IdTooLong, naming `what` it is."""
    if len(platform_id) > limit:
        raise IdTooLong(f"{what} of {len(platform_id)} characters does not fit the {limit} allowed: "
                        f"{platform_id[:60]!r}\u2026")
    return platform_id
