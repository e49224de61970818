"""Loading structures and wording from config/, with errors that name the file and the key."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from bot.settings import Settings
from facilitation.config import EngineConfig, Limits
from facilitation.errors import Fixable, SetupError
from facilitation.models import Options, Structure
from facilitation.text import one_line

log = logging.getLogger("facilitator.config")


class ConfigError(SetupError):
    """A configuration file is wrong; the message says which file, where, and what."""


class UnknownStructure(ConfigError, Fixable):
    """A structure name that is not one `list_structures` gives: in chat, the facilitator hears it in the bot's
    words (`start_no_structure`); in the terminal, the operator reads the line below."""

    def __init__(self, name: str, available: str) -> None:
        Fixable.__init__(self, "start_no_structure", name=name, available=available)

    def __str__(self) -> str:
        return f"no structure called {self.values['name']!r} (available: {self.values['available']})"


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_structure(settings: Settings, name: str) -> Structure:
    """The structure `name`: only a name `list_structures` gives (never a path), and errors that name the file
    as `structures/<name>.toml`, never where the server keeps it (they reach the facilitator in chat)."""
    known = list_structures(settings)
    if name not in known:
        available = ", ".join(sorted(known)) or "none"
        raise UnknownStructure(one_line(name, 40), available)
    shown = f"structures/{name}.toml"
    try:
        data = tomllib.loads((settings.config_dir / "structures" / f"{name}.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{shown}: {exc if isinstance(exc, tomllib.TOMLDecodeError) else 'cannot be read'}") from exc
    try:
        return Structure.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            (f"key {'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ConfigError(f"{shown}: {problems}") from exc


def list_structures(settings: Settings) -> dict[str, str]:
    """Structure file names and their one-line descriptions."""
    out = {}
    for path in sorted((settings.config_dir / "structures").glob("*.toml")):
        try:
            out[path.stem] = str(_read_toml(path).get("description", ""))
        except ConfigError:
            out[path.stem] = ""  # listed all the same: loading it says what is wrong

    return out


def languages(settings: Settings) -> list[str]:
    """The languages the bot can speak: one config/messages/<language>.toml each."""
    return sorted(p.stem for p in (settings.config_dir / "messages").glob("*.toml"))


def load_messages(settings: Settings, language: str | None = None) -> dict[str, str]:
    language = language or settings.language
    path = settings.config_dir / "messages" / f"{language}.toml"
    if not path.exists():
        known = ", ".join(languages(settings)) or "none"
        raise ConfigError(f"no messages for language {language!r}: {path} not found (available: {known})")
    data = _read_toml(path)
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{path}: key {bad[0]}: every message must be a string")
    return data


def engine_config(settings: Settings) -> EngineConfig:
    messages = load_messages(settings)
    catalogues = {lang: load_messages(settings, lang) for lang in languages(settings) if lang != settings.language}
    return EngineConfig(messages=messages, limits=Limits(**settings.limits), embed=_embedder(settings),
                        catalogues={**catalogues, settings.language: messages})


def _embedder(settings: Settings) -> Callable[[list[str]], list[list[float]]] | None:
    if settings.grouping == "lexical":
        log.info("grouping themes with word overlap")
        return None
    from bot.embeddings import load_embedder

    embed = load_embedder()
    if embed is None and settings.grouping == "embeddings":
        raise ConfigError("grouping = embeddings, but the sentence-embedding model could not be loaded "
                          "(the log says why; see docs/arrange.md)")
    log.info("grouping themes with %s", "sentence embeddings (all-MiniLM-L6-v2, int8)" if embed else "word overlap")
    return embed


def default_options(settings: Settings, structure: Structure) -> Options:
    d = settings.session
    own = next((p for p in structure.phases if p.kind == "own"), None)
    rank = next((p for p in structure.phases if p.kind == "rank"), None)
    return Options(
        own_private=own.private if own else True,
        ideas_per_person=own.per_person if own and own.per_person else d.ideas_per_person,
        picks_per_pair=d.picks_per_pair,
        voting=rank.voting if rank and rank.voting else d.voting,  # type: ignore[arg-type]
        dots=d.dots,
        dots_per_proposal=d.dots_per_proposal,
        attribution=d.attribution,
        reminder_seconds=d.reminder_seconds,
        empty_chair_seconds=d.empty_chair_seconds,
        language=settings.language,
    )
