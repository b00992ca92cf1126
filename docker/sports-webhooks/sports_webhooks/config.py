"""Settings from environment variables (twelve-factor: the same code natively and in the image)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from pathlib import Path
import re
from typing import Final

from ._espn import espn
from .egress import Network, parse_networks

# Host names the API answers to (any port) besides SPORTS_WEBHOOKS_SERVER_NAMES; any other Host
# header is 421, so a page on an attacker's name re-pointed at 127.0.0.1 (DNS rebinding) gets
# nothing. IPv6 addresses without brackets.
DEFAULT_SERVER_NAMES: Final = ("localhost", "127.0.0.1", "::1")
_SERVER_NAME: Final = re.compile(r"[a-z0-9._-]{1,253}|\[?[0-9a-f:.]{2,45}\]?")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment. See README.md for each variable."""

    api_key: str
    db_path: Path
    # GET /api/games and /api/deliveries only: the key the dashboard holds.
    read_key: str = ""
    # Receivers on these networks are allowed besides public addresses (see egress.py).
    allow_networks: tuple[Network, ...] = ()
    # Host header names served (lower case, IPv6 without brackets); see host_name().
    server_names: tuple[str, ...] = DEFAULT_SERVER_NAMES
    auth_failures_per_minute: int = 10
    tests_per_minute: int = 6
    retention_days: int = 30
    host: str = "127.0.0.1"
    port: int = 8080
    espn_base_url: str = espn.DEFAULT_BASE
    poll_enabled: bool = True
    concurrency: int = 32
    per_subscription: int = 4
    max_attempts: int = 8
    retry_base: float = 10.0
    retry_max: float = 3600.0
    timeout: float = 10.0
    log_level: str = "INFO"


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _secret(env: Mapping[str, str], name: str) -> str:
    """``NAME``, or the content of the file ``NAME_FILE`` names (Compose secrets)."""
    value = env.get(name, "")
    path = env.get(f"{name}_FILE", "")
    if not value and path:
        try:
            value = Path(path).read_text().strip()
        except OSError as err:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {err.strerror}") from None
    return value


def host_name(host: str) -> str:
    """The name in a Host header, as compared with ``server_names``: lower case, without the
    port, the brackets of an IPv6 address or a trailing dot ("LocalHost.:8090" -> "localhost",
    "[::1]:8090" -> "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        name = host.split(":", 1)[0]
    else:
        name = host
    return name.removesuffix(".")


def _server_names(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("SPORTS_WEBHOOKS_SERVER_NAMES", "").replace(",", " ").lower().split()
    for name in raw:
        if not _SERVER_NAME.fullmatch(name):
            raise ConfigError(
                f"SPORTS_WEBHOOKS_SERVER_NAMES: {name!r} is not a host name or an IP address"
            )
    names = (*DEFAULT_SERVER_NAMES, *(host_name(name) for name in raw))
    return tuple(dict.fromkeys(names))


def db_path_from_env(env: Mapping[str, str] | None = None) -> Path:
    """The database file (``SPORTS_WEBHOOKS_DB``, default ``./data/webhooks.db``)."""
    env = os.environ if env is None else env
    return Path(env.get("SPORTS_WEBHOOKS_DB") or "data/webhooks.db")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; ConfigError explains what is wrong."""
    env = os.environ if env is None else env
    api_key = _secret(env, "SPORTS_WEBHOOKS_API_KEY")
    if len(api_key) < 16:
        raise ConfigError("SPORTS_WEBHOOKS_API_KEY is required (at least 16 characters)")
    read_key = _secret(env, "SPORTS_WEBHOOKS_READ_KEY")
    if read_key and (len(read_key) < 16 or read_key == api_key):
        raise ConfigError(
            "SPORTS_WEBHOOKS_READ_KEY must be at least 16 characters and differ from the API key"
        )
    try:
        allow_networks = parse_networks(env.get("SPORTS_WEBHOOKS_ALLOW_NETWORKS", ""))
    except ValueError as err:
        raise ConfigError(f"SPORTS_WEBHOOKS_ALLOW_NETWORKS: {err}") from None
    base = env.get("ESPN_BASE_URL") or espn.DEFAULT_BASE
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"ESPN_BASE_URL must be an http(s) URL, got {base!r}")
    retry_base = _float(env, "SPORTS_WEBHOOKS_RETRY_BASE", 10.0, 0.01, 3600.0)
    return Settings(
        api_key=api_key,
        db_path=db_path_from_env(env),
        read_key=read_key,
        allow_networks=allow_networks,
        server_names=_server_names(env),
        auth_failures_per_minute=_int(
            env, "SPORTS_WEBHOOKS_AUTH_FAILURES_PER_MINUTE", 10, 1, 10**6
        ),
        tests_per_minute=_int(env, "SPORTS_WEBHOOKS_TESTS_PER_MINUTE", 6, 1, 10**6),
        retention_days=_int(env, "SPORTS_WEBHOOKS_RETENTION_DAYS", 30, 1, 36500),
        host=env.get("SPORTS_WEBHOOKS_HOST") or "127.0.0.1",
        port=_int(env, "SPORTS_WEBHOOKS_PORT", 8080, 0, 65535),
        espn_base_url=base,
        poll_enabled=_bool(env, "SPORTS_WEBHOOKS_POLL", True),
        concurrency=_int(env, "SPORTS_WEBHOOKS_CONCURRENCY", 32, 1, 1024),
        per_subscription=_int(env, "SPORTS_WEBHOOKS_PER_SUBSCRIPTION", 4, 1, 64),
        max_attempts=_int(env, "SPORTS_WEBHOOKS_MAX_ATTEMPTS", 8, 1, 100),
        retry_base=retry_base,
        retry_max=_float(env, "SPORTS_WEBHOOKS_RETRY_MAX", 3600.0, retry_base, 86400.0),
        timeout=_float(env, "SPORTS_WEBHOOKS_TIMEOUT", 10.0, 0.1, 300.0),
        log_level=(env.get("SPORTS_WEBHOOKS_LOG_LEVEL") or "INFO").upper(),
    )
