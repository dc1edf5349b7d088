"""The responsibility graph: model, stores and analysis.

:func:`open_store` is the one place that picks a backend from a URL:
``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or ``neo4j://host:port``
(also ``bolt://``, ``neo4j+s://``, ``bolt+s://``).
"""
from __future__ import annotations

from .errors import InputError
from .settings import Settings, get_settings
from .store import GraphStore

NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def open_store(url: str | None = None, settings: Settings | None = None) -> GraphStore:
    settings = settings or get_settings()
    url = url or settings.store
    if url.startswith("sqlite:///"):
        from .sqlite_store import SQLiteStore
        return SQLiteStore(url[len("sqlite:///"):] or "xuncha.db")
    if url.startswith(NEO4J_SCHEMES):
        from .neo4j_store import Neo4jStore
        return Neo4jStore(url, user=settings.neo4j_user, password=settings.neo4j_password,
                          database=settings.neo4j_database)
    raise InputError(f"a store URL sqlite:///PATH or neo4j://HOST:PORT, not {url!r}")


__all__ = ["GraphStore", "open_store", "Settings", "get_settings"]
