"""The discord.py client: the `/opera` command group, persistent buttons, the gateway listeners, and where the
client connects.

Everything here only translates: interactions and gateway events are handed, as discord.py gives them, to a
`Listener` (adapters/discord/app.py), which turns them into the runtime's inbound messages.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context
from yarl import URL

from adapters.discord.forms import ContinueButton
from adapters.discord.rendering import CUSTOM_ID_PATTERN, NO_PINGS, button_label, encode_custom_id
from adapters.words import Say
from facilitation.start_options import StartMenu

log = logging.getLogger("facilitator.discord")

_OURS = re.compile(CUSTOM_ID_PATTERN)
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


class Listener(Protocol):
    """What the client hands on, as discord.py gives it (adapters/discord/app.py is the one implementation), and
    the words and start options the command group offers."""

    @property
    def say(self) -> Say: ...

    @property
    def menu(self) -> StartMenu: ...

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


# The start options the slash command offers besides the question, in this order (facilitation/start_options.py).
SLASH_OPTIONS = ("voting", "dots", "own", "convenor", "cofacilitators", "structure", "attribution", "groups",
                 "group_size", "assign", "plenary")
_DESCRIPTION_CHARS = 100
# Discord's user option picks one person: `cofacilitators` is offered as one co-facilitator.
_PARAMETER = {"cofacilitators": "cofacilitator"}


def structure_choices(menu: StartMenu, structures: dict[str, str]) -> list[app_commands.Choice[str]]:
    """The structures as the start command's choices (Discord allows 25, each name up to 100 characters)."""
    return [app_commands.Choice(name=menu.structure_label(key, text)[:100], value=key)
            for key, text in sorted(structures.items())[:25]]


def _start_parameters(menu: StartMenu, structures: dict[str, str] | None
                      ) -> tuple[list[inspect.Parameter], dict[str, str], dict[str, list[app_commands.Choice[str]]]]:
    """The slash command's start options as callback parameters, their descriptions and their choices."""
    params, about, choices = [], {}, {}
    for key in SLASH_OPTIONS:
        o = menu[key]
        name = _PARAMETER.get(key, key)
        kind: Any = str
        if o.kind == "choice":
            kind = app_commands.Choice[str]
            choices[name] = [app_commands.Choice(name=c.label[:100], value=c.value) for c in o.choices]
        elif o.kind == "structure" and structures:
            choices[name] = structure_choices(menu, structures)
        elif o.kind == "whole":
            kind = app_commands.Range[int, int(o.low or 0), int(o.high or 0)]
        elif o.kind == "switch":
            kind = bool
        elif o.kind in ("person", "people"):
            kind = discord.User
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind | None))
        about[name] = (o.choices[0].label if o.kind == "switch" else o.label)[:_DESCRIPTION_CHARS]
    return params, about, choices


def _start_value(value: object) -> object:
    """A slash option's value as the start options carry it: a choice's word, a person's id."""
    if isinstance(value, app_commands.Choice):
        return value.value
    if isinstance(value, discord.abc.User):
        return str(value.id)
    return value


def command_group(app: Listener, name: str, structures: dict[str, str] | None = None) -> app_commands.Group:
    """`/<name> start|next|extend|pause|resume|skip|end|status|join|mine|vote|do|help`, in the words of `app.say`
    and with the start options of `app.menu`."""
    say = app.say
    group = app_commands.Group(name=name, description=say("command_about")[:_DESCRIPTION_CHARS], guild_only=True)

    async def start(interaction: discord.Interaction, question: str | None = None, **given: object) -> None:
        options = {{v: k for k, v in _PARAMETER.items()}.get(k, k): _start_value(v)
                   for k, v in given.items() if v is not None}
        if "cofacilitators" in options:
            options["cofacilitators"] = [options["cofacilitators"]]
        if question is None:
            await app.start_form(interaction, options)
            return
        # The question goes in the command text only: typed options at its start (`groups=2 Question...`)
        # are read from there, and a `question` option would carry them into the question itself.
        await app.command(interaction, f"start {question}", options)

    params, about, choices = _start_parameters(app.menu, structures)
    question = inspect.Parameter("question", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                 annotation=str | None)
    interaction = inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)
    start.__signature__ = inspect.Signature([interaction, question, *params])  # type: ignore[attr-defined]
    app_commands.describe(question=say("command_about_question")[:_DESCRIPTION_CHARS], **about)(start)
    app_commands.choices(**choices)(start)
    group.command(name="start", description=say("command_about_start")[:_DESCRIPTION_CHARS])(start)

    def control(word: str, description: str) -> None:
        async def run(interaction: discord.Interaction) -> None:
            await app.command(interaction, word)

        group.command(name=word, description=description)(run)

    for word in ("next", "pause", "resume", "skip", "end", "status", "join", "mine", "help"):
        control(word, say(f"command_about_{word}")[:_DESCRIPTION_CHARS])

    @group.command(name="extend", description=say("command_about_extend")[:_DESCRIPTION_CHARS])
    async def extend(interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 120] = 5) -> None:
        await app.command(interaction, f"extend {minutes}")

    @group.command(name="vote", description=say("command_about_vote")[:_DESCRIPTION_CHARS])
    async def vote(interaction: discord.Interaction, numbers: str) -> None:
        await app.command(interaction, f"vote {numbers}")

    @group.command(name="do", description=say("command_about_do")[:_DESCRIPTION_CHARS])
    async def do(interaction: discord.Interaction, text: str) -> None:
        await app.command(interaction, text)

    return group


class OperaClient(discord.Client):
    def __init__(self, listener: Listener, command_name: str, sync_commands: bool = True,
                 structures: dict[str, str] | None = None, *, api_url: str | None = None,
                 gateway_url: str | None = None, **shards: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read replies in threads
        # guild_ready_timeout: don't wait for member chunks we never use; startup stays fast.
        super().__init__(intents=intents, allowed_mentions=NO_PINGS, guild_ready_timeout=0.5, **shards)
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


class ShardedOperaClient(OperaClient, discord.AutoShardedClient):
    """The same client on some of the bot's gateway shards (discord.py's AutoShardedClient with `shard_ids` and
    `shard_count`): Discord sends it the events of the servers on those shards, and DMs if it runs shard 0."""


def opera_client(listener: Listener, command_name: str, sync_commands: bool = True,
                 structures: dict[str, str] | None = None, *, api_url: str | None = None,
                 gateway_url: str | None = None, shard_ids: list[int] | None = None,
                 shard_count: int | None = None) -> OperaClient:
    """One unsharded gateway connection, or the given shards of `shard_count` (each identified by discord.py)."""
    if shard_count is None:
        return OperaClient(listener, command_name, sync_commands, structures, api_url=api_url,
                           gateway_url=gateway_url)
    return ShardedOperaClient(listener, command_name, sync_commands, structures, api_url=api_url,
                              gateway_url=gateway_url, shard_ids=shard_ids or list(range(shard_count)),
                              shard_count=shard_count)


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
