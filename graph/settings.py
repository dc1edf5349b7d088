"""The one place configuration is read from: environment variables, with defaults for a laptop."""
from __future__ import annotations

from pydantic import Field, SecretStr
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
    api_port: int = Field(8000, validation_alias="XUNCHA_API_PORT")
    # Browsers on other origins are refused unless an operator lists them (comma-separated).
    cors_origins: str = Field("", validation_alias="XUNCHA_CORS_ORIGINS")
    max_upload_mb: int = Field(50, validation_alias="XUNCHA_MAX_UPLOAD_MB")
    # POST /issues as JSON (up to 5,000 problems); every other JSON body is capped at 256 KB.
    max_json_mb: int = Field(8, validation_alias="XUNCHA_MAX_JSON_MB")
    cypher_timeout_s: float = Field(10.0, validation_alias="XUNCHA_CYPHER_TIMEOUT")
    cypher_row_limit: int = Field(5000, validation_alias="XUNCHA_CYPHER_ROWS")
    cypher_max_mb: int = Field(8, validation_alias="XUNCHA_CYPHER_MB")


def get_settings() -> Settings:
    return Settings()
