"""Analysis results cached per data version: any committed write on either store bumps the
version, so a cached answer is never stale, and a warm /rootcauses answers in milliseconds."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool

from graph.store import GraphStore

MISSING = object()


async def run_read(store: GraphStore, read: Callable[[], Any]) -> Any:
    """A short read for a coroutine route: called on the event loop for an in-process store
    (SQLite), in the thread pool for a store behind a network (Neo4j), whose round trips would
    otherwise hold the loop."""
    return read() if store.in_process else await run_in_threadpool(read)


class VersionedCache:
    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def peek(self, store: GraphStore, key: tuple) -> Any:
        """The cached value for the store's current data, or ``MISSING``."""
        full = (store.data_version(), *key)
        with self._lock:
            value = self._items.get(full, MISSING)
            if value is not MISSING:
                self._items.move_to_end(full)
            return value

    async def aget(self, store: GraphStore, key: tuple, compute: Callable[[], Any]) -> Any:
        """:meth:`get` for a coroutine route: a warm answer at once, on the event loop; a cold
        one computed in the thread pool, so a second-long analysis does not hold the loop. (A
        computation of a few milliseconds, such as one problem's chain, is better called through
        :func:`run_read`: in a thread, each of its store reads would wait for the GIL behind the
        loop.)

        Hot routes are coroutines because a hop to the thread pool and back (twice, with the
        response's validation) cost more than their warm work, the threads taking turns at the
        GIL (docs/benchmarks.md)."""
        if not store.in_process:  # every read a round trip to the server: waited for in a thread
            return await run_in_threadpool(self.get, store, key, compute)
        value = self.peek(store, key)
        if value is MISSING:
            value = await run_in_threadpool(self.get, store, key, compute)
        return value

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
