"""Runtime settings: environment variables (FACILITATOR_*, SLACK_*, DISCORD_*) over config/default.toml."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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

    @field_validator("database", mode="before")
    @classmethod
    def _path_or_url(cls, value: object) -> object:
        """A URL stays a string (a Path would fold its `//`); anything else is a file path."""
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return value
        return Path(value) if isinstance(value, str) else value

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
