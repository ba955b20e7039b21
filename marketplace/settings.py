"""One frozen Settings object read from `MARKETPLACE_*` environment variables, with laptop defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from marketplace.shipped import bundled_content_dir

ENVIRONMENTS = ("development", "production", "test")
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_LENGTH = 32
KNOWN_BAD_SECRETS = frozenset({"", "changeme", "change-me", "secret", "development", "dev"})
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which variable to fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one running marketplace."""

    data_dir: Path
    content_dir: Path
    database_url: str
    base_url: str
    secret_key: str = field(repr=False)
    environment: str = "development"
    # Whether requests to platforms may go to loopback (a platform on this machine: the sandbox, tests).
    # None means: outside production only. Private, link-local and reserved addresses are never allowed.
    loopback_platforms: bool | None = None
    # Whether each server process runs the grade delivery worker (off when a separate worker runs
    # `marketplace grades sync`, or in tests that drive delivery themselves).
    grade_worker: bool = True
    # Whether `marketplace index` fetches catalog pictures from their sites to make local thumbnails (off
    # in tests, which must not reach past loopback, and on hosts without outbound network).
    thumbnail_fetch: bool = True
    # The bearer token /metrics asks for outside development (unset there: /metrics is closed).
    metrics_token: str | None = field(default=None, repr=False)
    # The secret that opens the operator's page /admin (unset: only platform administrators' launches do).
    admin_token: str | None = field(default=None, repr=False)
    # "json" (one object a line, for log collectors) or "text" (for a person at a terminal).
    log_format: str = "json"
    log_level: str = "INFO"
    # How often each server process compares the database's catalog with its host's index (0: never; then
    # only `marketplace index` on this host updates it).
    catalog_check_seconds: float = 15.0

    @property
    def allows_loopback_platforms(self) -> bool:
        return self.loopback_platforms if self.loopback_platforms is not None else not self.is_production

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the environment; in development, generate the secret key into the data folder if absent."""
        env = os.environ if environ is None else environ
        environment = env.get("MARKETPLACE_ENV", "development").strip().lower()
        if environment not in ENVIRONMENTS:
            raise SettingsError(f"MARKETPLACE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}.")
        data_dir = Path(env.get("MARKETPLACE_DATA_DIR", "./var")).expanduser().resolve()
        content_dir = _content_dir(env.get("MARKETPLACE_CONTENT_DIR"))
        database_url = env.get("MARKETPLACE_DATABASE_URL") or f"sqlite:///{data_dir / 'marketplace.sqlite3'}"
        base_url = env.get("MARKETPLACE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(f"MARKETPLACE_BASE_URL must start with http:// or https://, not {base_url!r}.")
        secret_key = env.get("MARKETPLACE_SECRET_KEY", "")
        if environment == "production":
            if secret_key.strip().lower() in KNOWN_BAD_SECRETS or len(secret_key) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    "MARKETPLACE_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters when MARKETPLACE_ENV=production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
                )
            if not base_url.startswith("https://"):
                raise SettingsError("MARKETPLACE_BASE_URL must be an https:// URL when MARKETPLACE_ENV=production.")
        elif not secret_key:
            secret_key = development_secret(data_dir)
        grade_worker = _flag(env, "MARKETPLACE_GRADE_WORKER")
        log_format = env.get("MARKETPLACE_LOG_FORMAT", "json").strip().lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"MARKETPLACE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}.")
        log_level = env.get("MARKETPLACE_LOG_LEVEL", "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"MARKETPLACE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}.")
        metrics_token = env.get("MARKETPLACE_METRICS_TOKEN") or None
        if metrics_token is not None and len(metrics_token) < MIN_SECRET_LENGTH:
            raise SettingsError(f"MARKETPLACE_METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters.")
        admin_token = env.get("MARKETPLACE_ADMIN_TOKEN") or None
        if admin_token is not None and len(admin_token) < MIN_SECRET_LENGTH:
            raise SettingsError(f"MARKETPLACE_ADMIN_TOKEN must be at least {MIN_SECRET_LENGTH} characters.")
        return cls(data_dir, content_dir, database_url, base_url, secret_key, environment,
                   grade_worker=grade_worker, thumbnail_fetch=_flag(env, "MARKETPLACE_THUMBNAIL_FETCH"),
                   metrics_token=metrics_token, admin_token=admin_token, log_format=log_format, log_level=log_level,
                   catalog_check_seconds=_seconds(env, "MARKETPLACE_CATALOG_CHECK_SECONDS", 15.0))


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not 0 <= value <= 3600:
        raise SettingsError(f"{name} must be between 0 and 3600 seconds, not {raw}.")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off variable, on unless set to 0, false, no or off."""
    return env.get(name, "1").strip().lower() not in {"0", "false", "no", "off"}


def _content_dir(configured: str | None) -> Path:
    """The configured catalog folder; else ./content where it exists (a checkout); else the bundled catalog
    installed with the package, so `marketplace index` works from any folder after a plain `pip install`."""
    if configured:
        return Path(configured).expanduser().resolve()
    local = Path("./content").resolve()
    return local if local.is_dir() else bundled_content_dir()


def development_secret(data_dir: Path) -> str:
    """The secret kept in the data folder for development, created on first use (never for production)."""
    path = data_dir / SECRET_FILE
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    return value
