"""Analysis results cached per data version: any committed write on either store bumps the
version, so a cached answer is never stale, and a warm /rootcauses answers in milliseconds."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from graph.store import GraphStore


class VersionedCache:
    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def get(self, store: GraphStore, key: tuple, compute: Callable[[], Any]) -> Any:
        full = (store.data_version(), *key)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full]
            lock = self._computing.setdefault(full, threading.Lock())
        # One computation per key at a time: twelve parallel cold calls compute once, not twelve times.
        with lock:
            with self._lock:
                if full in self._items:
                    return self._items[full]
            value = compute()
            with self._lock:
                self._items[full] = value
                self._computing.pop(full, None)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
