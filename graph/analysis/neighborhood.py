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


def path_between(g: nx.MultiDiGraph, source: str, target: str, allowed=None,
                 ) -> tuple[list[str], list[tuple[str, str, dict]]] | None:
    """The shortest path between two nodes over relationships in either direction (a village to
    the county bureau that its problem's chain ends at, a problem to another village's through
    their unit), through ``allowed`` nodes only; its nodes in order and the edges between them
    (each in its stored direction), or ``None`` when no path exists.

    Examples
    --------
    >>> g = nx.MultiDiGraph()
    >>> for u, v in [("i1", "v1"), ("v1", "t1"), ("i1", "u1"), ("i2", "u1"), ("i2", "v2")]:
    ...     _ = g.add_edge(u, v, type="X")
    >>> nodes, edges = path_between(g, "v1", "v2")
    >>> nodes
    ['v1', 'i1', 'u1', 'i2', 'v2']
    >>> [(u, v) for u, v, _ in edges]
    [('i1', 'v1'), ('i1', 'u1'), ('i2', 'u1'), ('i2', 'v2')]
    >>> path_between(g, "v1", "v2", allowed=lambda n: n != "u1") is None
    True
    """
    if source not in g or target not in g:
        return None
    view = g.to_undirected(as_view=True)
    if allowed is not None:
        view = nx.subgraph_view(view, filter_node=allowed)
    try:
        nodes = nx.shortest_path(view, source, target)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None
    edges = []
    for u, v in zip(nodes, nodes[1:]):
        a, b = (u, v) if g.has_edge(u, v) else (v, u)
        edges.append((a, b, dict(next(iter(g[a][b].values())))))
    return nodes, edges
