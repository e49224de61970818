"""The Discord adapter: slash commands, threads, persistent buttons and modals via discord.py."""

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.invite import invite_url

__all__ = ["DiscordAdapter", "invite_url"]
