"""The Discord adapter: slash commands, threads, persistent buttons and modals via discord.py."""

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.run import invite_url, run_discord

__all__ = ["DiscordAdapter", "invite_url", "run_discord"]
