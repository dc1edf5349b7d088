"""The one place configuration is read from: environment variables, with defaults for a laptop."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    store: str = Field("sqlite:///xuncha.db", validation_alias="XUNCHA_STORE")
    neo4j_uri: str = Field("neo4j://127.0.0.1:7687", validation_alias="NEO4J_URI")
    neo4j_user: str = Field("neo4j", validation_alias="NEO4J_USER")
    neo4j_password: str = Field("xuncha-dev-password", validation_alias="NEO4J_PASSWORD")
    neo4j_database: str = Field("neo4j", validation_alias="NEO4J_DATABASE")
    # The API listens on loopback unless an operator decides otherwise.
    api_host: str = Field("127.0.0.1", validation_alias="XUNCHA_API_HOST")
    api_port: int = Field(8000, validation_alias="XUNCHA_API_PORT")


def get_settings() -> Settings:
    return Settings()
