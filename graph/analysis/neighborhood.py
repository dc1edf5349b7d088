"""The neighbourhood of a node in the responsibility graph, for visual exploration: breadth-first
over relationships in both directions, capped, saying where the cap cut."""
from __future__ import annotations

import heapq
from collections import deque

import networkx as nx


def neighborhood(g: nx.MultiDiGraph, node: str, depth: int = 1, limit: int = 200,
                 allowed=None) -> tuple[list[str], list[tuple[str, str, dict]], bool]:
    """Nodes within ``depth`` steps of ``node`` (at most ``limit``), the edges among them, and
    whether the cap cut anything off. ``allowed(node_id) -> bool`` hides nodes (another district's).

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
    >>> len(nodes), cut
    (2, True)
    """
    seen = {node: 0}
    queue = deque([node])
    truncated = False
    while queue:
        current = queue.popleft()
        if seen[current] >= depth:
            continue
        # Neighbours in the order of their ids, drawn from a heap only as far as the cap needs:
        # a category or a unit can have thousands, and sorting them all cost more than the walk.
        around = set(g.succ[current])
        around.update(g.pred[current])
        heap = [(str(n), i, n) for i, n in enumerate(around) if n not in seen]
        heapq.heapify(heap)
        while heap:
            neighbour = heapq.heappop(heap)[2]
            if allowed is not None and not allowed(neighbour):
                continue
            if len(seen) >= limit:
                truncated = True
                break
            seen[neighbour] = seen[current] + 1
            queue.append(neighbour)
    # The edges among the nodes, read from each node's own adjacency (a subgraph view would filter
    # a hub's whole adjacency through its node test, edge by edge).
    edges = [(u, v, dict(data)) for u in seen for v, keyed in g.succ[u].items() if v in seen
             for data in keyed.values()]
    return list(seen), edges, truncated
