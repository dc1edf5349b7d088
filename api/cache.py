"""Answers cached per data version: any committed write on either store bumps the version, so a
cached answer is never stale.

The cache keeps apart what it holds, each kind in a pool of its own size, so that a flood of one
kind never evicts another:

* ``analysis``: what is computed once per data version and read by many requests — the root-cause
  analysis of the whole store and its selections per district and level, the joint packages, each
  district's problems. A few hundred entries at most.
* ``graphs``: the networkx projections (a district's, the province's) the neighbourhoods walk,
  sized by their nodes: the province's alone is some 110,000.
* ``answers`` (the cache's own :meth:`VersionedCache.get`): per-item answers — a problem's chain,
  a node's neighbourhood, one filtered issue list, a token — of which a spread of callers asks
  tens of thousands, each rarely twice.

A new data version empties a pool when it is first read at that version: older answers would never
be read again, and would only hold memory.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool

from graph.store import GraphStore

MISSING = object()

# The data version a read request has seen, once per request: on Neo4j each reading of it is a
# round trip, and a request asks the cache several times (its token, then its answer). A dict, set
# by :func:`reading` at the start of a GET, that the thread pool's copies of the context share.
_seen_versions: ContextVar[dict | None] = ContextVar("seen_versions", default=None)


def reading() -> None:
    """Start a read request: the data version is read once for all its cache lookups. (Not for
    writes: a write changes the version in the middle of the request.)"""
    _seen_versions.set({})


def data_version(store: GraphStore) -> int:
    """The store's data version, read once per read request (:func:`reading`)."""
    seen = _seen_versions.get()
    if seen is None:
        return store.data_version()
    version = seen.get(id(store))
    if version is None:
        version = seen[id(store)] = store.data_version()
    return version


async def run_read(store: GraphStore, read: Callable[[], Any]) -> Any:
    """A short read for a coroutine route: called on the event loop for an in-process store
    (SQLite), in the thread pool for a store behind a network (Neo4j), whose round trips would
    otherwise hold the loop."""
    return read() if store.in_process else await run_in_threadpool(read)


class Pool:
    """Least-recently-used answers of one data version, at most ``capacity`` in all as ``weigh``
    counts each (1 an entry by default; a graph's nodes for projections)."""

    def __init__(self, capacity: int, weigh: Callable[[Any], int] = lambda value: 1):
        self.capacity = capacity
        self.weigh = weigh
        self.version: int | None = None
        self.weight = 0
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _at(self, version: int) -> None:
        """Move to the store's current version (under the lock): a new one empties the pool."""
        if version != self.version:
            self._items.clear()
            self._computing.clear()
            self.version, self.weight = version, 0

    def peek(self, store: GraphStore, key: tuple) -> Any:
        """The cached value for the store's current data, or ``MISSING``."""
        version = data_version(store)
        with self._lock:
            self._at(version)
            found = self._items.get(key, MISSING)
            if found is MISSING:
                return MISSING
            self._items.move_to_end(key)
            return found[0]

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
        version = data_version(store)
        with self._lock:
            self._at(version)
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            lock = self._computing.setdefault(key, threading.Lock())
        # One computation per key at a time: twelve parallel cold calls compute once, not twelve times.
        with lock:
            with self._lock:
                if self.version == version and key in self._items:
                    return self._items[key][0]
            value = compute()
            with self._lock:
                if self.version == version:  # not when a write came in meanwhile: the value may be older
                    self._put(key, value)
                    self._computing.pop(key, None)
            return value

    def _put(self, key: tuple, value: Any) -> None:
        weight = self.weigh(value)
        if weight > self.capacity:
            return  # larger than the whole pool: kept by nobody rather than evicting everything
        self._items[key] = (value, weight)
        self.weight += weight
        while self.weight > self.capacity:
            _, (_, dropped) = self._items.popitem(last=False)
            self.weight -= dropped


class VersionedCache:
    """The app's cache: :attr:`analysis`, :attr:`graphs` and the per-item answers (``get``,
    ``aget``, ``peek``), each a :class:`Pool` of its own.

    Sizes, for all of Chongqing (72,000 problems): the root-cause analysis with every district's
    and level's selection and packages is some 250 entries; the province's projection about
    110,000 nodes and every district's together as many again, so ``graph_nodes`` holds them all."""

    def __init__(self, answers: int = 4096, analyses: int = 1024, graph_nodes: int = 400_000):
        self.answers = Pool(answers)
        self.analysis = Pool(analyses)
        self.graphs = Pool(graph_nodes, weigh=len)
        self.peek, self.get, self.aget = self.answers.peek, self.answers.get, self.answers.aget
