"""Where swsctl keeps the API address and token, and how the environment overrides them.

The file lives under the XDG config directory (`$XDG_CONFIG_HOME/swsctl/config.yaml`, by
default `~/.config/swsctl/config.yaml`) and is written with mode 0600 because it holds a
bearer token. SWS_URL, SWS_TOKEN and SWS_CA_CERT (or the matching options) win over it, so
CI can run without a file at all.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from swsctl.errors import InvalidInput

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True)
class Settings:
    """How to reach the API: address, token and an optional CA bundle for private certificates."""

    url: str | None = None
    token: str | None = None
    ca_cert: str | None = None

    def overridden(self, **overrides: str | None) -> Settings:
        """These settings with every override that is set (not None) taking precedence."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def as_document(self) -> dict:
        return {k: v for k, v in vars(self).items() if v}


def config_path(environ=os.environ) -> Path:
    """The config file: $SWS_CONFIG, else under $XDG_CONFIG_HOME, else ~/.config."""
    if environ.get("SWS_CONFIG"):
        return Path(environ["SWS_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "swsctl" / "config.yaml"


def load(path: Path) -> Settings:
    """Read the config file; a missing file is an empty configuration, a broken one an error."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Settings()
    except OSError as err:
        raise InvalidInput(f"cannot read the config file {path}: {err.strerror}") from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise InvalidInput(
            f"the config file {path} is not valid YAML ({err}); "
            "run `swsctl configure` to write it again"
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput(f"the config file {path} must be a mapping; run `swsctl configure`")
    known = {k: str(document[k]) for k in ("url", "token", "ca_cert") if document.get(k)}
    return Settings(**known)


def save(path: Path, settings: Settings) -> None:
    """Write the file atomically, readable by its owner only (it holds a bearer token)."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    text = "# Written by `swsctl configure`. Holds an access token: keep it private.\n"
    text += yaml.safe_dump(settings.as_document(), sort_keys=False)
    # mkstemp creates the file 0600 from the start, so the token is never world-readable,
    # not even for the moment between writing and renaming.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def normalise_url(url: str) -> str:
    """Check an API address and return it without a trailing slash or /v1 suffix."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"the API address {url!r} must start with http:// or https:// "
            "and name a host, for example https://sws.example.com"
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"the API address {url!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def sends_token_in_clear(url: str) -> bool:
    """True for plain http:// to anything but this machine."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def mask_token(token: str | None) -> str:
    """A form of the token safe to show: enough to recognise it, never enough to use it."""
    if not token:
        return ""
    if len(token) <= 12:
        return "*" * 8
    prefix = "sws_" if token.startswith("sws_") else ""
    return f"{prefix}****{token[-4:]}"
