"""Server configuration: a value, validated once (docs/spec/api-v1.md §8).

``DIR/sealsync.toml`` is read into :class:`Config` (unknown keys refused, every value
type- and range-checked), then ``SEALSYNC_*`` environment variables override single
settings (``SEALSYNC_SERVER_PORT=9000``). The result is passed explicitly; there are no
module-level settings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from .errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "Config",
    "DeviceSettings",
    "Limits",
    "RespondentSettings",
    "ServerSettings",
    "load_config",
    "render_config",
]

CONFIG_NAME = "sealsync.toml"
MiB = 1024 * 1024
_PORT = Annotated[int, msgspec.Meta(ge=0, le=65535)]
_POS = Annotated[int, msgspec.Meta(ge=1)]


class ServerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: _PORT = 8443
    tls_cert: str = ""
    tls_key: str = ""
    #: Worker processes that open and validate bundles: -1 one per core, 0 none.
    ingest_processes: Annotated[int, msgspec.Meta(ge=-1, le=64)] = -1
    #: A connection that has not sent a complete request head (line and headers) this
    #: long after it opened, or after its last answer, is closed (slow or idle clients).
    idle_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 15
    #: A request body must have arrived this long after its head: else 408 and the
    #: connection is closed. Clients on slow links send smaller chunks.
    body_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 120


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_bundle_bytes: _POS = 256 * MiB
    max_chunk_bytes: _POS = 8 * MiB
    uploads_per_device: _POS = 4
    #: Uploads a device may have announced and not completed (each up to
    #: max_bundle_bytes on disk); more are refused until one completes or expires.
    open_uploads_per_device: _POS = 16
    #: An upload untouched for this long is deleted (a device asking again starts over).
    open_upload_days: _POS = 30
    requests_per_minute: _POS = 600
    clock_skew_seconds: _POS = 300


class DeviceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    token_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 30)] = 24


class RespondentSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: A matching weights file re-estimated for this project (docs/dedup.md), relative
    #: to the project directory; empty: the weights shipped with sealsync.
    weights: Annotated[str, msgspec.Meta(max_length=4096)] = ""


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the server reads at start-up. ``project_dir`` is set by the loader."""

    project_dir: str = ""
    store: str = "sqlite:store.db"
    server: ServerSettings = ServerSettings()
    limits: Limits = Limits()
    devices: DeviceSettings = DeviceSettings()
    respondents: RespondentSettings = RespondentSettings()

    @property
    def root(self) -> Path:
        return Path(self.project_dir)

    @property
    def sqlite_path(self) -> Path:
        if not self.store.startswith("sqlite:"):
            raise ConfigError(f"store '{self.store}' is not SQLite")
        return self.root / self.store.removeprefix("sqlite:")


def _overrides(cfg: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key.startswith("SEALSYNC_") or key == "SEALSYNC_PASSPHRASE":
            continue
        parts = key.removeprefix("SEALSYNC_").lower().split("_", 1)
        if parts[0] == "store" and len(parts) == 1:
            cfg["store"] = value
        elif len(parts) == 2 and parts[0] in ("server", "limits", "devices", "respondents"):
            section = cfg.setdefault(parts[0], {})
            section[parts[1]] = int(value) if value.isdigit() else value


def load_config(project_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read ``project_dir/sealsync.toml`` and environment overrides; check everything."""
    path = project_dir / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no {CONFIG_NAME} in {project_dir}",
            hint="create a project with `syncserver init DIR`",
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path.name} cannot be read: {e}") from None
    _overrides(raw, os.environ if env is None else env)
    raw["project_dir"] = str(project_dir)
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as e:
        raise ConfigError(
            f"{path.name}: {e}", hint=f"fix the setting named above in {path}"
        ) from None


def render_config(config: Config) -> str:
    """The TOML text written by ``syncserver init`` (every setting, with defaults)."""
    s, lim, dev = config.server, config.limits, config.devices
    return (
        "# sealsync server configuration. Every setting can be overridden by an\n"
        "# environment variable: SEALSYNC_<SECTION>_<NAME>, e.g. SEALSYNC_SERVER_PORT.\n"
        f'store = "{config.store}"\n\n'
        "[server]\n"
        f'host = "{s.host}"\nport = {s.port}\n'
        f'tls_cert = "{s.tls_cert}"  # PEM file; with tls_key, serve HTTPS\n'
        f'tls_key = "{s.tls_key}"\n'
        f"ingest_processes = {s.ingest_processes}"
        "  # worker processes opening bundles: -1 one per core, 0 none\n"
        f"idle_timeout_seconds = {s.idle_timeout_seconds}"
        "  # close a connection with no complete request head after this\n"
        f"body_timeout_seconds = {s.body_timeout_seconds}"
        "  # a request body must arrive within this (else 408)\n\n"
        "[limits]\n"
        f"max_bundle_bytes = {lim.max_bundle_bytes}\nmax_chunk_bytes = {lim.max_chunk_bytes}\n"
        f"uploads_per_device = {lim.uploads_per_device}\n"
        f"open_uploads_per_device = {lim.open_uploads_per_device}"
        "  # announced, not completed\n"
        f"open_upload_days = {lim.open_upload_days}"
        "  # an upload untouched this long is deleted\n"
        f"requests_per_minute = {lim.requests_per_minute}\n"
        f"clock_skew_seconds = {lim.clock_skew_seconds}\n\n"
        "[devices]\n"
        f"certificate_days = {dev.certificate_days}\ntoken_hours = {dev.token_hours}\n\n"
        "[respondents]\n"
        f'weights = "{config.respondents.weights}"  # re-estimated weights (docs/dedup.md);'
        " empty: the shipped ones\n"
    )
