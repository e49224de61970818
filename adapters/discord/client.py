"""The discord.py client: the `/opera` command group, persistent buttons, the gateway listeners, and where the
client connects.

Everything here only translates: interactions and gateway events are handed, as discord.py gives them, to a
`Listener` (adapters/discord/app.py), which turns them into the runtime's inbound messages.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context
from yarl import URL

from adapters.discord.forms import ContinueButton
from adapters.discord.rendering import CUSTOM_ID_PATTERN, NO_PINGS, button_label, encode_custom_id
from adapters.discord.start_form import structure_label

T = TypeVar("T")

log = logging.getLogger("facilitator.discord")

_OURS = re.compile(CUSTOM_ID_PATTERN)
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


class Listener(Protocol):
    """What the client hands on, as discord.py gives it (adapters/discord/app.py is the one implementation)."""

    async def command(self, interaction: discord.Interaction, text: str,
                      options: dict[str, Any] | None = None) -> None: ...

    async def start_form(self, interaction: discord.Interaction, options: dict[str, Any]) -> None: ...

    async def clicked(self, interaction: discord.Interaction, session_id: str, action_id: str,
                      value: str) -> None: ...

    async def out_of_date(self, interaction: discord.Interaction) -> None: ...

    async def message_created(self, message: discord.Message) -> None: ...

    async def message_edited(self, payload: discord.RawMessageUpdateEvent) -> None: ...

    async def message_deleted(self, payload: discord.RawMessageDeleteEvent) -> None: ...


class OperaButton(discord.ui.DynamicItem[discord.ui.Button], template=re.compile(CUSTOM_ID_PATTERN)):
    """A button whose custom id carries session, action and value: it works on any message, after any restart."""

    def __init__(self, session_id: str, action_id: str, value: str, label: str = "\u2026",
                 style: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=button_label(label), custom_id=encode_custom_id(session_id, action_id, value),
                style=_STYLES.get(style or "", discord.ButtonStyle.secondary),
            )
        )
        self.session_id = session_id
        self.action_id = action_id
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> OperaButton:
        return cls(match["session"], match["action"], match["value"], label=item.label or "\u2026")

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        client = interaction.client
        assert isinstance(client, OperaClient)
        await client.listener.clicked(interaction, self.session_id, self.action_id, self.value)


VOTING = [app_commands.Choice(name=n, value=n) for n in ("dots", "borda", "approval")]
OWN = [app_commands.Choice(name="private (ideas hidden until Explain)", value="private"),
       app_commands.Choice(name="open (replies in the thread)", value="open")]
ASSIGN = [app_commands.Choice(name="mixed (as diverse as tags allow)", value="mixed"),
          app_commands.Choice(name="random", value="random"),
          app_commands.Choice(name="choice (people pick their group)", value="choice")]


def structure_choices(structures: dict[str, str]) -> list[app_commands.Choice[str]]:
    """The structures as the start command's choices (Discord allows 25, each name up to 100 characters)."""
    return [app_commands.Choice(name=structure_label(key, text)[:100], value=key)
            for key, text in sorted(structures.items())[:25]]


def _offer_structures(structures: dict[str, str] | None) -> Callable[[T], T]:
    """Offer the installed structures as choices; without a list the option stays free text."""
    if not structures:
        return lambda command: command
    return app_commands.choices(structure=structure_choices(structures))


def command_group(app: Listener, name: str, structures: dict[str, str] | None = None) -> app_commands.Group:
    """`/<name> start|next|extend|pause|resume|skip|end|status|join|mine|vote|do|help`."""
    group = app_commands.Group(name=name, description="Run a facilitated breakout session (OPERA)", guild_only=True)

    @group.command(name="start", description="Start a session (leave out the question for the full settings form)")
    @app_commands.describe(
        question="The question the group works on", voting="How the group ranks the proposals",
        dots="Dots per person (dot voting)", own="Whether ideas stay private during Own",
        convenor="Who receives the round-up note (default: you)", cofacilitator="Someone who may steer with you",
        structure="Structure name (default: opera)", attribution="Name people in the note",
        groups="Breakout groups to run at once", group_size="Or: people per breakout group",
        assign="Who goes in which breakout group", plenary="Rank the groups' reported proposals together",
    )
    @app_commands.choices(voting=VOTING, own=OWN, assign=ASSIGN)
    @_offer_structures(structures)
    async def start(
        interaction: discord.Interaction, question: str | None = None,
        voting: app_commands.Choice[str] | None = None, dots: app_commands.Range[int, 1, 50] | None = None,
        own: app_commands.Choice[str] | None = None, convenor: discord.User | None = None,
        cofacilitator: discord.User | None = None, structure: str | None = None, attribution: bool | None = None,
        groups: app_commands.Range[int, 2, 20] | None = None, group_size: app_commands.Range[int, 2, 50] | None = None,
        assign: app_commands.Choice[str] | None = None, plenary: bool | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "voting": voting.value if voting else None, "dots": dots, "own": own.value if own else None,
            "convenor": str(convenor.id) if convenor else None, "structure": structure, "attribution": attribution,
            "cofacilitators": [str(cofacilitator.id)] if cofacilitator else None,
            "groups": groups, "group_size": group_size, "assign": assign.value if assign else None, "plenary": plenary,
        }
        options = {k: v for k, v in options.items() if v is not None}
        if question is None:
            await app.start_form(interaction, options)
            return
        # The question goes in the command text only: typed options at its start (`groups=2 Question...`)
        # are read from there, and a `question` option would carry them into the question itself.
        await app.command(interaction, f"start {question}", options)

    def control(word: str, description: str) -> None:
        async def run(interaction: discord.Interaction) -> None:
            await app.command(interaction, word)

        group.command(name=word, description=description)(run)

    control("next", "Facilitator: close this phase and open the next")
    control("pause", "Facilitator: stop the clock")
    control("resume", "Facilitator: start the clock again")
    control("skip", "Facilitator: skip the next phase")
    control("end", "Facilitator: end the session and draft the round-up note")
    control("status", "Facilitator: who has contributed so far")
    control("join", "Take part in the session in this channel")
    control("mine", "See your own ideas")
    control("help", "What you can do")

    @group.command(name="extend", description="Facilitator: add minutes to this phase")
    async def extend(interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 120] = 5) -> None:
        await app.command(interaction, f"extend {minutes}")

    @group.command(name="vote", description="Vote by proposal numbers, e.g. 2 2 5 (dots) or 3 1 2 (a ranking)")
    async def vote(interaction: discord.Interaction, numbers: str) -> None:
        await app.command(interaction, f"vote {numbers}")

    @group.command(name="do", description="Any session command as text: idea ..., pick #3 because ..., theme ...")
    async def do(interaction: discord.Interaction, text: str) -> None:
        await app.command(interaction, text)

    return group


class OperaClient(discord.Client):
    def __init__(self, listener: Listener, command_name: str, sync_commands: bool = True,
                 structures: dict[str, str] | None = None, *, api_url: str | None = None,
                 gateway_url: str | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read replies in threads
        # guild_ready_timeout: don't wait for member chunks we never use; startup stays fast.
        super().__init__(intents=intents, allowed_mentions=NO_PINGS, guild_ready_timeout=0.5)
        # This client's own Discord (a loopback fake in tests), before anything holds on to the HTTP client.
        self.http = self._connection.http = PointedHTTPClient(self.loop, api_url, gateway_url)
        self.listener = listener
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(command_group(listener, command_name, structures))

    async def connect(self, *, reconnect: bool = True) -> None:
        # Interaction responses go out through discord.py's webhook adapter, chosen by a ContextVar: set in this
        # client's gateway task, so every interaction it receives is answered at its own API base.
        if isinstance(self.http, PointedHTTPClient) and self.http.api_url is not None:
            async_context.set(_PointedWebhooks(self.http))
        await super().connect(reconnect=reconnect)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(OperaButton, ContinueButton)
        if self.sync_commands:
            await self._sync_if_changed()

    async def _sync_if_changed(self) -> None:
        """Sync is rate-limited: compare with what Discord has and only push a changed command set."""
        assert self.application_id is not None
        remote = await self.http.get_global_commands(self.application_id)
        local = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        if _shape(remote) != _shape(local):
            log.info("registering the slash commands with Discord")
            await self.tree.sync()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A button whose custom id is none of ours (tampered with, or from another version of the bot) gets
        an answer instead of Discord's bare "This interaction failed"; ours are answered by their DynamicItem."""
        if interaction.type != discord.InteractionType.component:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if not any(p.fullmatch(custom_id) for p in (_OURS, ContinueButton.__discord_ui_compiled_template__)):
            await self.listener.out_of_date(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.listener.message_created(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.listener.message_edited(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.listener.message_deleted(payload)


def _shape(commands: list[dict[str, Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Names, subcommands and option names/types: enough to tell whether a sync is needed."""

    def options(opts: list[dict[str, Any]]) -> tuple[Any, ...]:
        return tuple(sorted((o["name"], o["type"], options(o.get("options", []))) for o in opts))

    return sorted((c["name"], options(c.get("options", []))) for c in commands)


class PointedHTTPClient(HTTPClient):
    """discord.py's HTTP client, sending to `api_url` and connecting to `gateway_url` when given.

    discord.py keeps Discord's addresses on classes (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY); changing
    those would move every client in the process. Here each request and the gateway connection are re-pointed
    per client instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, api_url: str | None = None,
                 gateway_url: str | None = None) -> None:
        super().__init__(loop)
        self.api_url = api_url.rstrip("/") if api_url else None
        self.gateway_url = URL(gateway_url) if gateway_url else None

    def pointed(self, route: Route) -> Route:
        """`route` re-pointed from Discord's API base to this client's (a Route's url is fixed when it is made)."""
        if self.api_url is not None and route.url.startswith(Route.BASE):
            route.url = self.api_url + route.url[len(Route.BASE):]
        return route

    async def request(self, route: Route, **kwargs: Any) -> Any:
        return await super().request(self.pointed(route), **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        # The first connection and any fresh one after a failed resume go to Discord's default gateway.
        asked = URL(url)
        if self.gateway_url is not None and asked.host == DiscordWebSocket.DEFAULT_GATEWAY.host:
            url = str(self.gateway_url.with_query(asked.query))
        return await super().ws_connect(url, compress=compress)


class _PointedWebhooks(AsyncWebhookAdapter):
    """Interaction responses and follow-ups (discord.py sends them as webhook calls) at the client's API base."""

    def __init__(self, http: PointedHTTPClient) -> None:
        super().__init__()
        self._http = http

    async def request(self, route: Route, *args: Any, **kwargs: Any) -> Any:
        return await super().request(self._http.pointed(route), *args, **kwargs)
