"""Responsibility chain of a problem: village → township → district, with every unit that bears a
duty for the problem's category at each level, and the inspectors' hint."""
from __future__ import annotations

import networkx as nx

from ..model import DUTY_ORDER, DutyType, Rel


def responsibility_chain(graph: nx.MultiDiGraph, issue_id: str) -> dict:
    """Walk PART_OF up from the problem's village; at each level list the units that BELONG_TO that
    area and have a DUTY edge to the problem's category.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        A projection holding the issue, its village and ancestors, their units and duty edges.
    issue_id : str

    Returns
    -------
    dict
        ``issue`` (its fields), ``levels`` (village first, each with ``code``, ``name``, ``level``
        and ``units`` ordered primary, supervisory, guidance), and ``hint`` (or None).

    Examples
    --------
    >>> g = nx.MultiDiGraph()
    >>> g.add_node("issue:Q1", kind="Issue", issue_id="Q1", category="低保", severity="grave",
    ...            status="open", root_unit_hint="500101001-civil_affairs")
    >>> g.add_node("500101001001", kind="Village", name="黄柏村", level="village")
    >>> g.add_node("500101001", kind="Township", name="高笋塘街道", level="township")
    >>> g.add_node("500101", kind="District", name="万州区", level="district")
    >>> g.add_node("category:低保", kind="Category", name="低保")
    >>> _ = g.add_edge("issue:Q1", "500101001001", key="FOUND_IN", type="FOUND_IN")
    >>> _ = g.add_edge("500101001001", "500101001", key="PART_OF", type="PART_OF")
    >>> _ = g.add_edge("500101001", "500101", key="PART_OF", type="PART_OF")
    >>> for unit, area, duty in (("500101001-civil_affairs", "500101001", "primary"),
    ...                          ("500101-civil_affairs", "500101", "primary"),
    ...                          ("500101-finance", "500101", "guidance")):
    ...     g.add_node(f"unit:{unit}", kind="Unit", unit_id=unit, name=unit, level="x")
    ...     _ = g.add_edge(f"unit:{unit}", area, key="BELONGS_TO", type="BELONGS_TO")
    ...     _ = g.add_edge(f"unit:{unit}", "category:低保", key=f"DUTY:{duty}", type="DUTY", duty=duty)
    >>> chain = responsibility_chain(g, "Q1")
    >>> [(lvl["name"], [u["unit_id"] for u in lvl["units"]]) for lvl in chain["levels"]]
    [('黄柏村', []), ('高笋塘街道', ['500101001-civil_affairs']), ('万州区', ['500101-civil_affairs', '500101-finance'])]
    >>> chain["hint"]["unit_id"], chain["hint"]["bears_duty"]
    ('500101001-civil_affairs', True)
    """
    node = f"issue:{issue_id}"
    attrs = graph.nodes[node]
    category_node = f"category:{attrs['category']}"
    village = next(t for _, t, d in graph.out_edges(node, data=True) if d.get("type") == Rel.FOUND_IN)
    levels = []
    area = village
    bearing: set[str] = set()
    while area is not None:
        a = graph.nodes[area]
        units = []
        for unit, _, d in graph.in_edges(area, data=True):
            if d.get("type") != Rel.BELONGS_TO:
                continue
            for _, target, duty_edge in graph.out_edges(unit, data=True):
                if target == category_node and duty_edge.get("type") == Rel.DUTY:
                    u = graph.nodes[unit]
                    units.append({"unit_id": u["unit_id"], "unit_name": u["name"], "function": u.get("function"),
                                  "duty": duty_edge["duty"], "duty_zh": DutyType(duty_edge["duty"]).zh})
                    bearing.add(u["unit_id"])
        units.sort(key=lambda u: (DUTY_ORDER[DutyType(u["duty"])], u["unit_id"]))
        levels.append({"level": a.get("level"), "code": area, "name": a.get("name"), "units": units})
        if a.get("level") == "district":
            break
        area = next((t for _, t, d in graph.out_edges(area, data=True) if d.get("type") == Rel.PART_OF), None)
    hint = None
    hint_id = attrs.get("root_unit_hint")
    if hint_id:
        h = graph.nodes.get(f"unit:{hint_id}", {})
        hint = {"unit_id": hint_id, "unit_name": h.get("name"), "level": h.get("level"),
                "bears_duty": hint_id in bearing}
    issue = {k: v for k, v in attrs.items() if k != "kind"}
    issue["village_code"] = village
    return {"issue": issue, "levels": levels, "hint": hint}

