"""`facilitator slack-manifest`: config/slack-manifest.yml made ready to paste, for Socket Mode or a public URL.

The file is edited as text, line by line, so its comments (why each scope is there) reach the person who
pastes it; it has one known shape, and the test checks the result.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from facilitation.errors import SetupError

PLACEHOLDER = "https://YOUR-HOST"


class ManifestError(SetupError):
    """What was asked for cannot make a manifest (a URL that is not https://host)."""


def manifest_path(config_dir: Path) -> Path:
    return config_dir / "slack-manifest.yml"


def ready_manifest(text: str, *, socket: bool, url: str | None, command: str = "/opera") -> str:
    """The manifest for Socket Mode (`socket`) or for HTTP mode at `url`, with the slash command `command`."""
    lines: list[str] = ["# Slack app manifest for the OPERA facilitator, made by `facilitator slack-manifest`.",
                        "# Paste it at https://api.slack.com/apps > Create New App > From a manifest."]
    base = _base_url(url) if url else None
    for line in text.splitlines():
        if line.startswith("#"):
            continue  # the file's own header tells people to edit it by hand: no longer needed
        if socket and re.match(r"^\s*(request_)?url:", line):
            continue  # Socket Mode delivers everything over its connection: no URLs
        if base:
            line = line.replace(PLACEHOLDER, base)
        line = re.sub(r"^(\s*- command: )/opera\b", rf"\g<1>{command}", line)
        if socket:
            line = line.replace("socket_mode_enabled: false", "socket_mode_enabled: true")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ManifestError(f"{url!r} is not a public https:// address (like https://opera.example.org): Slack "
                            "only sends events to https")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def manifest_scopes(text: str) -> list[str]:
    """The bot scopes the manifest asks for (oauth_config.scopes.bot)."""
    scopes: list[str] = []
    inside = False
    for line in text.splitlines():
        if re.match(r"^\s+bot:\s*$", line):
            inside = True
            continue
        m = re.match(r"^\s+-\s+([\w:.]+)", line)
        if inside and m:
            scopes.append(m.group(1))
        elif inside and line.strip() and not line.lstrip().startswith("#"):
            break
    return scopes
