"""Settings from the environment, read once at start-up."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./fieldwork.db"


def _secret_from_file(path: Path) -> str:
    """The JWT signing secret, generated on first start and kept outside the database."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValueError(f"{name} must be one of 1/0, true/false, yes/no, on/off; it is {value!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    jwt_secret: str = ""
    jwt_issuer: str = "fieldwork"
    jwt_audience: str = "fieldwork-api"
    token_ttl_s: int = 3600
    geocoder: str = "gazetteer"
    geocoder_options: dict[str, Any] = field(default_factory=dict)
    login_attempts_per_minute: int = 10
    max_page_size: int = 200
    # Solver processes running at once; each takes a core while it solves.
    planner_workers: int = 1
    # Notifications (domain.delivery). Without an SMTP host e-mail goes to the log, as SMS does without a provider.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = ""
    smtp_starttls: bool = True
    sms_url: str | None = None
    sms_token: str | None = field(default=None, repr=False)
    # Where customers open their links; empty: http://{host}:{port}.
    public_url: str = ""
    # The background sender. Off unless asked for (from_env turns it on), so an app built by a test or a benchmark
    # sends nothing behind its back.
    outbox_worker: bool = False
    outbox_poll_s: float = 5.0
    # The early-warning watch (api.warning_watch): off unless asked for, like the sender.
    warnings_watch: bool = False
    warnings_interval_s: float = 60.0

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = os.environ
        data_dir = Path(env.get("FIELDWORK_DATA_DIR", "./var"))
        values: dict[str, Any] = {
            "database_url": env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            "host": env.get("HOST", "127.0.0.1"),
            "port": int(env.get("PORT", "8000")),
            "data_dir": data_dir,
            "token_ttl_s": int(env.get("FIELDWORK_TOKEN_TTL", "3600")),
            "geocoder": env.get("FIELDWORK_GEOCODER", "gazetteer"),
            "geocoder_options": json.loads(env.get("FIELDWORK_GEOCODER_OPTIONS", "{}")),
            "login_attempts_per_minute": int(env.get("FIELDWORK_LOGIN_ATTEMPTS_PER_MINUTE", "10")),
            "planner_workers": int(
                env.get("FIELDWORK_PLANNER_WORKERS", str(max(1, (os.cpu_count() or 2) // 2)))
            ),
            "smtp_host": env.get("FIELDWORK_SMTP_HOST") or None,
            "smtp_port": int(env.get("FIELDWORK_SMTP_PORT", "587")),
            "smtp_user": env.get("FIELDWORK_SMTP_USER") or None,
            "smtp_password": env.get("FIELDWORK_SMTP_PASSWORD") or None,
            "smtp_from": env.get("FIELDWORK_SMTP_FROM", ""),
            "smtp_starttls": _flag(env, "FIELDWORK_SMTP_STARTTLS", default=True),
            "sms_url": env.get("FIELDWORK_SMS_URL") or None,
            "sms_token": env.get("FIELDWORK_SMS_TOKEN") or None,
            "public_url": env.get("FIELDWORK_PUBLIC_URL", ""),
            "outbox_worker": _flag(env, "FIELDWORK_OUTBOX_WORKER", default=True),
            "outbox_poll_s": float(env.get("FIELDWORK_OUTBOX_POLL_S", "5")),
            "warnings_watch": _flag(env, "FIELDWORK_WARNINGS_WATCH", default=True),
            "warnings_interval_s": float(env.get("FIELDWORK_WARNINGS_INTERVAL_S", "60")),
        }
        values.update(overrides)
        if not values.get("jwt_secret"):
            values["jwt_secret"] = env.get("FIELDWORK_SECRET_KEY") or _secret_from_file(
                Path(values["data_dir"]) / "jwt-secret"
            )
        return cls(**values)
