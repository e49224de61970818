"""Signed requests to a real slack-bolt app, as Slack sends them (Events API, slash commands, interactions)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.slack.fake_slack import TEAM

SECRET = "fake-signing-secret-0123456789abcdef"
APP_ID = "A0OPERA"


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SignedSlack:
    """Posts to the app's /slack/events the way Slack does, signing each body with the signing secret."""

    def __init__(self, client: TestClient, secret: str = SECRET, path: str = "/slack/events") -> None:
        self.client = client
        self.secret = secret
        self.path = path

    async def send(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret or self.secret, ts, body),
            **(headers or {}),
        }
        resp = await self.client.post(self.path, data=body.encode(), headers=all_headers)
        return resp.status, await resp.text()

    async def event(self, event: dict[str, Any], event_id: str, retry: int | None = None,
                    **kw: Any) -> tuple[int, str]:
        body = json.dumps({
            "token": "legacy", "team_id": TEAM, "api_app_id": APP_ID, "event": event, "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return await self.send(body, "application/json", headers=headers, **kw)

    async def command(self, command: str, text: str, user: str, user_name: str, channel: str,
                      response_url: str, trigger_id: str, **kw: Any) -> tuple[int, str]:
        body = urlencode({
            "token": "legacy", "team_id": TEAM, "team_domain": "fake", "channel_id": channel,
            "channel_name": "breakout", "user_id": user, "user_name": user_name, "command": command, "text": text,
            "api_app_id": APP_ID, "response_url": response_url, "trigger_id": trigger_id,
        })
        return await self.send(body, "application/x-www-form-urlencoded", **kw)

    async def interaction(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.send(body, "application/x-www-form-urlencoded", **kw)
