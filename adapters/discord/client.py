"""The discord.py client: the `/opera` command group, persistent buttons, and the gateway listeners.

Everything here only translates: interactions and gateway events become calls on the adapter,
which turns them into the runtime's inbound messages.
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.discord.forms import ContinueButton
from adapters.discord.rendering import CUSTOM_ID_PATTERN, NO_PINGS, button_label, encode_custom_id
from facilitation.start_options import StartMenu

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger("facilitator.discord")

_OURS = re.compile(CUSTOM_ID_PATTERN)
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


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
        await client.adapter.clicked(interaction, self.session_id, self.action_id, self.value)


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


def command_group(adapter: DiscordAdapter, name: str, structures: dict[str, str] | None = None) -> app_commands.Group:
    """`/<name> start|next|extend|pause|resume|skip|end|status|join|mine|vote|do|help`."""
    say = adapter.say
    group = app_commands.Group(name=name, description=say("command_about")[:_DESCRIPTION_CHARS], guild_only=True)

    async def start(interaction: discord.Interaction, question: str | None = None, **given: object) -> None:
        options = {{v: k for k, v in _PARAMETER.items()}.get(k, k): _start_value(v)
                   for k, v in given.items() if v is not None}
        if "cofacilitators" in options:
            options["cofacilitators"] = [options["cofacilitators"]]
        if question is None:
            await adapter.start_form(interaction, options)
            return
        # The question goes in the command text only: typed options at its start (`groups=2 Question...`)
        # are read from there, and a `question` option would carry them into the question itself.
        await adapter.command(interaction, f"start {question}", options)

    params, about, choices = _start_parameters(adapter.menu, structures)
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
            await adapter.command(interaction, word)

        group.command(name=word, description=description)(run)

    for word in ("next", "pause", "resume", "skip", "end", "status", "join", "mine", "help"):
        control(word, say(f"command_about_{word}")[:_DESCRIPTION_CHARS])

    @group.command(name="extend", description=say("command_about_extend")[:_DESCRIPTION_CHARS])
    async def extend(interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 120] = 5) -> None:
        await adapter.command(interaction, f"extend {minutes}")

    @group.command(name="vote", description=say("command_about_vote")[:_DESCRIPTION_CHARS])
    async def vote(interaction: discord.Interaction, numbers: str) -> None:
        await adapter.command(interaction, f"vote {numbers}")

    @group.command(name="do", description=say("command_about_do")[:_DESCRIPTION_CHARS])
    async def do(interaction: discord.Interaction, text: str) -> None:
        await adapter.command(interaction, text)

    return group


class OperaClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, command_name: str, sync_commands: bool = True,
                 structures: dict[str, str] | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read replies in threads
        # guild_ready_timeout: don't wait for member chunks we never use; startup stays fast.
        super().__init__(intents=intents, allowed_mentions=NO_PINGS, guild_ready_timeout=0.5)
        self.adapter = adapter
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(command_group(adapter, command_name, structures))

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
            await self.adapter.out_of_date(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.message_created(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.adapter.message_edited(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.adapter.message_deleted(payload)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.adapter.thread_seen(thread)


def _shape(commands: list[dict[str, Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Names, subcommands and option names/types: enough to tell whether a sync is needed."""

    def options(opts: list[dict[str, Any]]) -> tuple[Any, ...]:
        return tuple(sorted((o["name"], o["type"], options(o.get("options", []))) for o in opts))

    return sorted((c["name"], options(c.get("options", []))) for c in commands)
