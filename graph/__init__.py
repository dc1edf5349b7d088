"""The responsibility graph: model, stores and analysis.

:func:`open_store` is the one place that picks a backend from a URL:
``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or ``neo4j://host:port``
(also ``bolt://``, ``neo4j+s://``, ``bolt+s://``).
"""
from __future__ import annotations

from .errors import InputError, RowError, StoreUnavailable
from .settings import Settings, get_settings
from .store import AccessStore, GraphStore, WorkflowStore

# The one version: the package's (pyproject.toml reads it here) and the API's.
__version__ = "0.2.0"

NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def open_store(url: str | None = None, settings: Settings | None = None, create: bool = True,
               read_only: bool | None = None) -> GraphStore:
    """The store a URL names. ``create=False`` for reading: a SQLite file that does not exist is an
    error (:class:`StoreMissing`, exit 2) and nothing is created."""
    settings = settings or get_settings()
    url = url or settings.store
    if url.startswith("sqlite:///"):
        from .sqlite_store import SQLiteStore
        path = url[len("sqlite:///"):]
        if not path.strip():  # not silently ./xuncha.db: a path left out is a typo, not a choice
            raise InputError(RowError("--store（或 XUNCHA_STORE）", None, None, url,
                                      "sqlite:/// 之后的数据库文件路径，如 sqlite:///xuncha.db (a file path)"))
        return SQLiteStore(path, create=create, read_only=read_only, busy_seconds=settings.sqlite_busy_s)
    if url.startswith(NEO4J_SCHEMES):
        from .neo4j_store import Neo4jStore
        if settings.neo4j_password is None:
            raise StoreUnavailable("连接 Neo4j 需要密码：请设置环境变量 NEO4J_PASSWORD (NEO4J_PASSWORD is not set)")
        return Neo4jStore(url, user=settings.neo4j_user, password=settings.neo4j_password.get_secret_value(),
                          database=settings.neo4j_database)
    raise InputError(RowError("--store（或 XUNCHA_STORE）", None, None, url,
                              "存储位置 sqlite:///路径 或 neo4j://主机:端口 (a store URL)"))


def open_access(store: GraphStore) -> AccessStore:
    """The API tokens and audit log kept beside a graph store: in its file or database, so an audit
    entry commits in the transaction of the change it records (``store.atomic()``)."""
    from .sqlite_store import SQLiteAccess, SQLiteStore
    if isinstance(store, SQLiteStore):
        return SQLiteAccess(store)
    from .neo4j_store import Neo4jAccess
    return Neo4jAccess(store)


def open_workflow(store: GraphStore) -> WorkflowStore:
    """The office's workflow records (packages' ends, key-village lists, inspections, follow-ups,
    villages' base data) kept beside a graph store: in its file or database, so a record commits in
    the transaction of the change it belongs to (``store.atomic()``)."""
    from .sqlite_store import SQLiteStore, SQLiteWorkflow
    if isinstance(store, SQLiteStore):
        return SQLiteWorkflow(store)
    from .neo4j_store import Neo4jWorkflow
    return Neo4jWorkflow(store)


__all__ = ["AccessStore", "GraphStore", "WorkflowStore", "open_access", "open_store", "open_workflow", "Settings",
           "get_settings", "__version__"]
