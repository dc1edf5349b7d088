"""The one place configuration is read from: environment variables, with defaults for a laptop."""
from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    store: str = Field("sqlite:///xuncha.db", validation_alias="XUNCHA_STORE")
    neo4j_user: str = Field("neo4j", validation_alias="NEO4J_USER")
    # No default: a Neo4j store needs the password from the environment, as docker-compose does.
    neo4j_password: SecretStr | None = Field(None, validation_alias="NEO4J_PASSWORD")
    neo4j_database: str = Field("neo4j", validation_alias="NEO4J_DATABASE")
    # The API listens on loopback unless an operator decides otherwise.
    api_host: str = Field("127.0.0.1", validation_alias="XUNCHA_API_HOST")
    api_port: int = Field(8000, ge=1, le=65535, validation_alias="XUNCHA_API_PORT")
    # Browsers on other origins are refused unless an operator lists them (comma-separated).
    cors_origins: str = Field("", validation_alias="XUNCHA_CORS_ORIGINS")
    max_upload_mb: int = Field(50, gt=0, validation_alias="XUNCHA_MAX_UPLOAD_MB")
    # POST /issues as JSON (up to 5,000 problems); every other JSON body is capped at 256 KB.
    max_json_mb: int = Field(8, gt=0, validation_alias="XUNCHA_MAX_JSON_MB")
    # How long a write waits for another writer of the same SQLite file (a load in another
    # process holds it for seconds: 200,000 problems write in about 5 s) before it gives up.
    sqlite_busy_s: float = Field(30.0, ge=0.01, le=3600, validation_alias="XUNCHA_SQLITE_BUSY_TIMEOUT")
    cypher_timeout_s: float = Field(10.0, gt=0, le=3600, validation_alias="XUNCHA_CYPHER_TIMEOUT")
    cypher_row_limit: int = Field(5000, ge=1, validation_alias="XUNCHA_CYPHER_ROWS")
    cypher_max_mb: int = Field(8, gt=0, validation_alias="XUNCHA_CYPHER_MB")
    # Times are stored in UTC and shown in the office's zone: an offset (+08:00, China's) or an
    # IANA name (Asia/Urumqi) where the machine has the zone database.
    timezone: str = Field("+08:00", validation_alias="XUNCHA_TIMEZONE")

    @field_validator("timezone")
    @classmethod
    def _a_zone(cls, name: str) -> str:
        try:
            if not name.strip():  # (office_zone reads the settings for a zone left out)
                raise ValueError(name)
            office_zone(name)
        except (ValueError, KeyError, OSError):  # zoneinfo's errors for a name it cannot find
            raise ValueError("时区，如 +08:00 或 Asia/Shanghai (an offset or a time zone name)") from None
        return name


def get_settings() -> Settings:
    """The settings from the environment; a value that cannot be read is bad input, named by its
    variable, in Chinese (not pydantic's traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        from .errors import InputError, RowError
        from .model import expected_zh
        raise InputError([RowError("环境变量 " + ".".join(str(p) for p in e["loc"]) + " (environment variable)",
                                   None, None, e.get("input"), expected_zh(e)) for e in exc.errors()]) from None


def office_zone(name: str | None = None) -> dt.tzinfo:
    """The office's time zone: ``XUNCHA_TIMEZONE`` (default +08:00).

    >>> str(office_zone("+08:00")), str(office_zone("UTC-03:30"))
    ('UTC+08:00', 'UTC-03:30')
    """
    name = name or get_settings().timezone
    offset = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2}):?(\d{2})?", name.strip())
    if offset and int(offset.group(3) or 0) >= 60:
        raise ValueError(f"an offset's minutes are below 60: {name}")
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0)))
    from zoneinfo import ZoneInfo
    return ZoneInfo(name)


def office_time(stored: str | None, zone: dt.tzinfo | None = None) -> str | None:
    """A stored UTC time (ISO 8601) as the office reads it, in its zone.

    >>> office_time("2026-12-03T09:30:00+00:00", office_zone("+08:00"))
    '2026-12-03 17:30:00'
    """
    if not stored:
        return stored
    moment = dt.datetime.fromisoformat(stored)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(zone or office_zone()).strftime("%Y-%m-%d %H:%M:%S")
