"""The neighbourhood of a node in the responsibility graph, for visual exploration: breadth-first
over relationships in both directions, capped, saying where the cap cut."""
from __future__ import annotations

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
        for neighbour in sorted(set(g.successors(current)) | set(g.predecessors(current)), key=str):
            if neighbour in seen or (allowed is not None and not allowed(neighbour)):
                continue
            if len(seen) >= limit:
                truncated = True
                break
            seen[neighbour] = seen[current] + 1
            queue.append(neighbour)
    nodes = list(seen)
    edges = [(u, v, dict(data)) for u, v, data in g.subgraph(nodes).edges(data=True)]
    return nodes, edges, truncated
