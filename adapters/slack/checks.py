"""Are the Slack tokens right? One line each that says what is wrong and where to fix it (`run slack` refuses
to start with a wrong token; `facilitator doctor` reports every check)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import Check

BOT_TOKEN_FIX = ("use the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page, after "
                 "installing the app to the workspace")
APP_TOKEN_FIX = ("make an app-level token with the connections:write scope under Basic Information > App-Level "
                 "Tokens, and turn Socket Mode on (or run with --http)")


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None and isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or (exc.response.status_code if exc.response is not None else "refused"))


async def bot_token(client: AsyncWebClient) -> tuple[str | None, dict[str, str], set[str]]:
    """(problem or None, who the token is, the scopes Slack granted it)."""
    token = client.token or ""
    if not token.startswith("xoxb-"):
        hint = " (that looks like the app-level token: the two are swapped)" if token.startswith("xapp-") else ""
        return f"SLACK_BOT_TOKEN is not a bot token{hint}: {BOT_TOKEN_FIX}", {}, set()
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        return f"SLACK_BOT_TOKEN was refused by Slack ({_error(exc)}): {BOT_TOKEN_FIX}", {}, set()
    except (aiohttp.ClientError, OSError) as exc:
        return f"could not reach Slack at {client.base_url} ({type(exc).__name__}): check the network", {}, set()
    granted = {s.strip() for s in str(answer.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    who = {"team": str(answer.get("team", "")), "user": str(answer.get("user", ""))}
    return None, who, granted


async def app_token(base_url: str, token: str) -> str | None:
    """The problem with the Socket Mode token, or None."""
    if not token.startswith("xapp-"):
        hint = " (that looks like the bot token: the two are swapped)" if token.startswith("xoxb-") else ""
        return f"SLACK_APP_TOKEN is not an app-level token{hint}: {APP_TOKEN_FIX}"
    try:
        await AsyncWebClient(base_url=base_url).apps_connections_open(app_token=token)
    except SlackApiError as exc:
        return f"SLACK_APP_TOKEN was refused by Slack ({_error(exc)}): {APP_TOKEN_FIX}"
    except (aiohttp.ClientError, OSError) as exc:
        return f"could not reach Slack at {base_url} ({type(exc).__name__}): check the network"
    return None


async def token_problem(client: AsyncWebClient, socket_token: str | None) -> str | None:
    """The first thing wrong with the tokens `run slack` was given, or None."""
    problem, _, _ = await bot_token(client)
    if problem is None and socket_token is not None:
        problem = await app_token(client.base_url, socket_token)
    return problem


async def slack_checks(client: AsyncWebClient, socket_token: str | None, signing_secret: bool,
                       wanted_scopes: list[str]) -> list[Check]:
    """`facilitator doctor`'s Slack lines: the bot token, its scopes against the manifest's, the mode's token."""
    problem, who, granted = await bot_token(client)
    if problem:
        return [Check(name="Slack bot token", status="fail", detail=problem)]
    out = [Check(name="Slack bot token", status="ok",
                 detail=f"valid: workspace {who['team'] or '?'}, bot user @{who['user'] or '?'}")]
    missing = [s for s in wanted_scopes if s not in granted]
    if missing:
        out.append(Check(name="Slack scopes", status="fail", detail=(
            f"missing {', '.join(missing)}: add them under OAuth & Permissions > Scopes (or paste the manifest "
            "from `facilitator slack-manifest` again), then reinstall the app to the workspace")))
    else:
        out.append(Check(name="Slack scopes", status="ok", detail=f"all {len(wanted_scopes)} the manifest asks for"))
    if socket_token is not None:
        problem = await app_token(client.base_url, socket_token)
        out.append(Check(name="Slack Socket Mode token", status="fail" if problem else "ok",
                         detail=problem or "valid: `facilitator run slack` can connect"))
    else:
        out.append(Check(name="Slack Socket Mode token", status="note",
                         detail=f"SLACK_APP_TOKEN not set, so only `run slack --http` works; to use Socket Mode, "
                                f"{APP_TOKEN_FIX.split(', and')[0]}"))
    out.append(Check(name="Slack signing secret", status="ok" if signing_secret else "note",
                     detail="set (needed for --http)" if signing_secret else
                     "SLACK_SIGNING_SECRET not set, so only Socket Mode works; for --http copy it from Basic "
                     "Information > App Credentials"))
    return out
