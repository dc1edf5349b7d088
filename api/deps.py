"""Typed dependencies: the settings and a store per request."""
from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends

from graph import GraphStore, Settings, get_settings, open_store

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_store(settings: SettingsDep) -> Iterator[GraphStore]:
    store = open_store(settings.store, settings)
    try:
        yield store
    finally:
        store.close()


StoreDep = Annotated[GraphStore, Depends(get_store)]
