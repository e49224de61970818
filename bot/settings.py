"""Runtime settings: environment variables (FACILITATOR_*, SLACK_*, DISCORD_*) over config/default.toml."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class SessionDefaults(BaseModel):
    structure: str = "opera"
    voting: str = "dots"
    dots: int = 3
    dots_per_proposal: int = 2
    picks_per_pair: int = 1
    ideas_per_person: int = 0
    attribution: bool = False
    reminder_seconds: int = 60
    empty_chair_seconds: int = 60


class DiscordShards(NamedTuple):
    """The Discord gateway shards one process runs: `ids` out of `count` (docs/deploy.md)."""

    ids: tuple[int, ...]
    count: int

    def __str__(self) -> str:
        return f"{','.join(map(str, self.ids))}/{self.count}"


_SHARDS = re.compile(r"(\d+(?:,\d+)*)/(\d+)")


def parse_shards(value: str) -> DiscordShards:
    """`1/4` (shard 1 of 4) or `0,1/4` (shards 0 and 1 of 4): FACILITATOR_DISCORD_SHARDS and `--shards`."""
    found = _SHARDS.fullmatch(value.replace(" ", ""))
    if found is None:
        raise ValueError(f"{value!r} is not a shard setting: write ID/COUNT, e.g. 1/4 for shard 1 of 4, or 0,1/4 "
                         "for shards 0 and 1 of 4")
    ids = [int(n) for n in found[1].split(",")]
    count = int(found[2])
    if count < 1:
        raise ValueError(f"{value!r}: the shard count after the / must be at least 1")
    if outside := [n for n in ids if n >= count]:
        raise ValueError(f"{value!r}: there is no shard {outside[0]} of {count}: shard ids run from 0 to {count - 1}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{value!r}: a shard is named twice")
    return DiscordShards(tuple(sorted(ids)), count)


class Settings(BaseSettings):
    """Everything the runtime reads at start. Secrets are SecretStr so they never print in logs."""

    model_config = SettingsConfigDict(env_prefix="FACILITATOR_", env_nested_delimiter="__", extra="ignore")

    config_dir: Path = CONFIG_DIR
    # A file path (SQLite, one process) or a postgresql:// URL (PostgreSQL, several processes): docs/deploy.md.
    database: Path | str = Path("facilitator.sqlite3")
    language: str = "en"
    # Themes in Arrange: "auto" uses sentence embeddings when the model loads (bot/embeddings.py), else word overlap.
    grouping: Literal["auto", "lexical", "embeddings"] = "auto"
    session: SessionDefaults = SessionDefaults()
    limits: dict[str, int] = {}
    # Days after a session's note is approved that its content (texts, forms) is kept; then only counts remain.
    retention_days: int = Field(default=30, ge=0)

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_command: str = Field(default="/opera", validation_alias="SLACK_COMMAND")
    discord_token: SecretStr | None = Field(default=None, validation_alias="DISCORD_TOKEN")
    discord_api_url: str | None = Field(default=None, validation_alias="DISCORD_API_URL")
    discord_gateway_url: str | None = Field(default=None, validation_alias="DISCORD_GATEWAY_URL")
    discord_command: str = Field(default="opera", validation_alias="DISCORD_COMMAND")
    # The gateway shards this process runs, e.g. "1/4" (FACILITATOR_DISCORD_SHARDS); unset: one unsharded connection.
    discord_shards: Annotated[DiscordShards | None, NoDecode] = None

    @field_validator("database", mode="before")
    @classmethod
    def _path_or_url(cls, value: object) -> object:
        """A URL stays a string (a Path would fold its `//`); anything else is a file path."""
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return value
        return Path(value) if isinstance(value, str) else value

    @field_validator("discord_shards", mode="before")
    @classmethod
    def _shards(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_shards(value) if value.strip() else None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlDefaults(settings_cls)


def setting_problems(exc: ValidationError) -> str:
    """What is wrong with the settings, each named by the environment variable that sets it."""
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = loc[0] if loc and loc[0].isupper() else "FACILITATOR_" + "__".join(loc).upper()  # an alias is its name
        out.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(out)


class _TomlDefaults(PydanticBaseSettingsSource):
    """config/default.toml, flattened into the settings' shape (lowest priority)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("FACILITATOR_CONFIG_DIR", CONFIG_DIR)) / "default.toml"
        if not path.exists():
            return {}
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out: dict[str, Any] = dict(data.get("runtime", {}))
        if "session" in data:
            out["session"] = data["session"]
        if "limits" in data:
            out["limits"] = data["limits"]
        return out
