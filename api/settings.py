"""HTTP settings from environment variables; defaults let loopback scripts run at full speed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from index.config import env_int


def _csv(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


@dataclass(frozen=True)
class ApiSettings:
    admin_token: str | None = field(
        default_factory=lambda: os.environ.get("QA_ADMIN_TOKEN") or None
    )
    cors_origins: tuple[str, ...] = field(default_factory=lambda: _csv("QA_CORS_ORIGINS", ""))
    rate_limit_per_minute: int = field(default_factory=lambda: env_int("QA_RATE_LIMIT", 120))
    rate_limit_exempt: tuple[str, ...] = field(
        default_factory=lambda: _csv("QA_RATE_LIMIT_EXEMPT", "127.0.0.1,::1")
    )
    max_body_bytes: int = field(default_factory=lambda: env_int("QA_MAX_BODY_BYTES", 1_000_000))
