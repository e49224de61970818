"""What the engine reads from `config/`, passed in as data (the engine itself opens no files)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, PrivateAttr

CHART_BARS = 15  # proposals a ranking chart shows: more bars than this are unreadable, and slow to draw


class Limits(BaseModel):
    idea_chars: int = 1500  # longer ideas are kept whole; posts show this many characters
    reason_chars: int = 300
    label_chars: int = 60
    preview_chars: int = 200
    # A message, edit, command or form bigger than this is refused whole, with a message (never stored).
    message_chars: int = 20_000


class EngineConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: dict[str, str]
    limits: Limits = Limits()
    # Optional sentence embedder for grouping (see bot/embeddings.py); None means lexical grouping.
    embed: Callable[[list[str]], list[list[float]]] | None = None
    # Every language's messages (config/messages/<language>.toml), for sessions started in another language.
    catalogues: dict[str, dict[str, str]] = {}
    _languages: dict[str, EngineConfig] = PrivateAttr(default_factory=dict)

    def in_language(self, language: str) -> EngineConfig:
        """This config speaking `language` (itself when that is already its language or unknown)."""
        messages = self.catalogues.get(language)
        if not language or messages is None or messages is self.messages:
            return self
        cached = self._languages.get(language)
        if cached is None:
            cached = self._languages[language] = self.model_copy(update={"messages": messages})
        return cached

    def say(self, key: str, **values: object) -> str:
        """A user-facing sentence from config/messages, with its placeholders filled in."""
        try:
            template = self.messages[key]
        except KeyError as exc:
            raise KeyError(f"message {key!r} is missing from config/messages") from exc
        return template.format(**values).strip("\n")
