"""The neighbourhood of a node in the responsibility graph, for visual exploration: breadth-first
over relationships in both directions, capped, saying where the cap cut."""
from __future__ import annotations

from collections import deque
import networkx as nx


def neighbours_by_id(g: nx.MultiDiGraph, node: str) -> list[str]:
    """A node's neighbours in both directions, once each, in the order of their ids.

    >>> g = nx.MultiDiGraph([("v2", "t1"), ("t1", "d1"), ("v1", "t1"), ("v1", "t1")])
    >>> neighbours_by_id(g, "t1")
    ['d1', 'v1', 'v2']
    """
    around = set(g.succ[node])
    around.update(g.pred[node])
    return sorted(around, key=str)


def neighborhood(g: nx.MultiDiGraph, node: str, depth: int = 1, limit: int = 200,
                 allowed=None, memo: dict[str, list[str]] | None = None,
                 ) -> tuple[list[str], list[tuple[str, str, dict]], bool]:
    """Nodes within ``depth`` steps of ``node`` (at most ``limit``), the edges among them, and
    whether the cap cut anything off. ``allowed(node_id) -> bool`` hides nodes (another
    district's). Each node's neighbours are taken in the order of their ids
    (:func:`neighbours_by_id`); ``memo``, a dict kept beside a graph that no longer changes (a cached
    projection), remembers that order per node: a category or a unit has thousands of neighbours,
    and ordering them again for every walk that passes through cost more than the walk itself.

    Examples
    --------
    >>> g = nx.MultiDiGraph()
    >>> g.add_edge("v1", "t1", type="PART_OF"); g.add_edge("v2", "t1", type="PART_OF")
    0
    0
    >>> g.add_edge("t1", "d1", type="PART_OF")
    0
    >>> nodes, edges, cut = neighborhood(g, "t1", depth=1, limit=10)
    >>> sorted(nodes), len(edges), cut
    (['d1', 't1', 'v1', 'v2'], 3, False)
    >>> nodes, edges, cut = neighborhood(g, "t1", depth=1, limit=2)
    >>> nodes, cut
    (['t1', 'd1'], True)
    >>> memo = {}
    >>> neighborhood(g, "t1", depth=1, limit=10, allowed=lambda n: n != "v1", memo=memo)[0]
    ['t1', 'd1', 'v2']
    >>> memo
    {'t1': ['d1', 'v1', 'v2']}
    """
    memo = {} if memo is None else memo

    def order(n: str) -> list[str]:
        found = memo.get(n)
        if found is None:
            found = memo[n] = neighbours_by_id(g, n)
        return found
    seen = {node: 0}
    queue = deque([node])
    truncated = False
    while queue and not truncated:
        current = queue.popleft()
        step = seen[current] + 1
        if step > depth:
            continue
        for neighbour in order(current):
            if neighbour in seen or (allowed is not None and not allowed(neighbour)):
                continue
            if len(seen) >= limit:  # something more was within reach: the cap cut it off
                truncated = True
                break
            seen[neighbour] = step
            queue.append(neighbour)
    # The edges among the nodes, read from each node's own adjacency; a hub (a category, a unit)
    # is read from the side of the few nodes kept rather than through its thousands of edges.
    edges = []
    for u in seen:
        out = g.succ[u]
        targets = (v for v in out if v in seen) if len(out) <= len(seen) else (v for v in seen if v in out)
        edges.extend((u, v, dict(data)) for v in targets for data in out[v].values())
    return list(seen), edges, truncated
