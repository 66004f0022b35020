"""Settings from the environment, read once at start-up."""

from __future__ import annotations

import json
import os
import secrets
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
        }
        values.update(overrides)
        if not values.get("jwt_secret"):
            values["jwt_secret"] = env.get("FIELDWORK_SECRET_KEY") or _secret_from_file(
                Path(values["data_dir"]) / "jwt-secret"
            )
        return cls(**values)
