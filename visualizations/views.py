"""Views of the responsibility graph as self-contained HTML pages: pure functions from a networkx
subgraph (the store's projection) to one HTML string, with vis-network and every style inlined and
no outside resource, so a page opens on an intranet with no internet.

What pyvis does here, plainly: it holds the nodes (``add_node``) and the options (``set_options``)
and hands them over as vis-network's data (``get_network_data``). The rest is the project's own:
edges are appended to its list directly (pyvis's ``add_edge`` looks for a duplicate among every
edge, quadratic in a district's thousands), positions are computed here (layers for chains, rings
of townships for maps; physics off, so hundreds of villages are drawn at once), and the page is
rendered through ``templates/view.html``, because pyvis's templates load Bootstrap from a CDN in
every mode and insert tooltips with ``innerHTML``. Here tooltips are plain text, turned into DOM
nodes with ``textContent``. Each page exports what it shows (PNG, JSON, XLSX) with the web UI's
script (``templates/export.js``). Area views are capped: beyond ``MAX_NODES`` nodes, problems are
aggregated into their villages, and the page says so; a root-cause map shows every affected
village, grouped by township.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import networkx as nx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pyvis.network import Network

from graph.analysis.chains import responsibility_chain
from graph.model import LEVEL_ZH, NODE_KIND_ZH, OPEN_STATUSES, DutyType, Severity, Status, short_name

HERE = Path(__file__).parent
MAX_NODES = 400
LEVEL_COLOR = {"province": "#5b3a8e", "city": "#5b3a8e", "district": "#8e1b1b", "township": "#c05a1b",
               "village": "#2c7a3f", "unit": "#1f5f99", "category": "#7a6a00", "issue": "#888888"}
STATUS_COLOR = {"open": "#d62728", "in_progress": "#ff9f1c", "rectified": "#2ca02c", "closed": "#6b8e23", "reopened": "#9467bd"}
DUTY_COLOR = {"primary": "#b22222", "supervisory": "#1f5f99", "guidance": "#7f7f7f"}
# The views' groups are the graph's node kinds (their Chinese names from graph.model), plus the
# problems summed into one node.
GROUP_ZH = {kind.value.lower(): name for kind, name in NODE_KIND_ZH.items()} | {"problems": "问题（汇总）"}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


@lru_cache(maxsize=1)
def vis_network_js() -> str:
    return (HERE / "vendor" / "vis-network.min.js").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def export_js() -> str:
    """The PNG, JSON and XLSX export the web UI serves at /ui/export.js, inlined in each page."""
    return (HERE / "templates" / "export.js").read_text(encoding="utf-8")


class View:
    """A network under construction: pyvis holds nodes, edges and options."""

    def __init__(self, title: str):
        self.title = title
        self.net = Network(height="100%", width="100%", directed=True, cdn_resources="in_line")
        self.notes: list[str] = []
        self.legend: dict[str, str] = {}
        self._edges: set[tuple[str, str, str]] = set()

    def node(self, node_id: str, label: str, group: str, title: str, color: str, x: float, y: float,
             size: int = 14, shape: str = "dot", anchor: bool = False, legend: str | None = None,
             font_size: int | None = None, font_color: str | None = None) -> None:
        """A node; ``legend`` names what its colour means (default: its kind), so the legend lists
        exactly the colours drawn. ``font_size`` (in the layout's units) keeps the label of a node
        that matters readable when a large view is fitted to the window; other labels (14) are too
        small to draw at that zoom and appear as one zooms in, and every node has its tooltip."""
        if node_id in self.net.node_ids:
            return
        # "kind", not vis-network's "group": a group's palette would override the colours given here.
        self.net.add_node(node_id, label=label, kind=GROUP_ZH.get(group, group), title=title, color=color,
                          x=round(x, 1), y=round(y, 1), size=size, shape=shape, physics=False, anchor=anchor,
                          **({"font": {k: v for k, v in (("size", font_size), ("color", font_color)) if v}}
                             if font_size or font_color else {}))
        self.legend.setdefault(legend or GROUP_ZH.get(group, group), color)

    def edge(self, source: str, target: str, label: str = "", color: str = "#999999", title: str = "",
             dashes: bool = False, legend: str | None = None, font_size: int = 11) -> None:
        key = (source, target, label)
        if key in self._edges:
            return
        self._edges.add(key)
        if legend:
            self.legend.setdefault(legend, color)
        # pyvis's add_edge scans every edge for duplicates (quadratic): the set above does that,
        # and the edge is appended as pyvis would store it.
        self.net.edges.append({"from": source, "to": target, "label": label, "title": title, "arrows": "to",
                               "color": color, "dashes": dashes, "font": {"size": font_size, "align": "middle"}})

    def html(self) -> str:
        self.net.set_options('{"physics": {"enabled": false}, "interaction": {"hover": true, "tooltipDelay": 120},'
                             ' "nodes": {"font": {"size": 14, "face": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"}},'
                             ' "edges": {"smooth": false}}')
        nodes, edges, _, _, _, options = self.net.get_network_data()
        import json
        legend = [{"label": k, "color": v} for k, v in self.legend.items()]
        data = {"nodes": nodes, "edges": edges, "options": json.loads(options) if isinstance(options, str) else options,
                "groups": sorted({n["kind"] for n in nodes}), "legend": legend}
        return _environment().get_template("view.html").render(
            title=self.title, data=data, vis_network=vis_network_js(), export_js=export_js(), notes=self.notes,
            legend=legend)


def _issue_tip(a: dict) -> str:
    found = a.get("found_on")
    found = found.isoformat() if isinstance(found, dt.date) else found
    return (f"问题 {a.get('issue_id')}\n{a.get('description') or ''}\n类别：{a.get('category')}\n"
            f"严重程度：{Severity(a['severity']).zh}　整改状态：{Status(a['status']).zh}\n发现日期：{found}")


def chain_view(graph: nx.MultiDiGraph, issue_id: str) -> str:
    """(a) The responsibility chain of a problem, top-down: district → township → village → problem,
    with each level's units and their duty type on the edges.

    >>> import networkx as nx
    >>> g = nx.MultiDiGraph()
    >>> g.add_node("issue:Q1", kind="Issue", issue_id="Q1", category="低保", severity="grave", status="open",
    ...            description="<script>alert(1)</script>", root_unit_hint=None)
    >>> g.add_node("500101001001", kind="Village", name="黄柏村", level="village")
    >>> g.add_node("500101001", kind="Township", name="高笋塘街道", level="township")
    >>> _ = g.add_edge("issue:Q1", "500101001001", type="FOUND_IN")
    >>> _ = g.add_edge("500101001001", "500101001", type="PART_OF")
    >>> page = chain_view(g, "Q1")
    >>> "<script>alert(1)</script>" in page, "\\\\u003cscript\\\\u003ealert(1)" in page, "http://" in page.split("<script>")[0]
    (False, True, False)
    """
    chain = responsibility_chain(graph, issue_id)
    issue = chain["issue"]
    view = View(f"问题 {issue_id} 的责任链")
    levels = list(reversed(chain["levels"]))   # district first
    for depth, level in enumerate(levels):
        y = depth * 170
        view.node(level["code"], level["name"], level["level"], f"{LEVEL_ZH[level['level']]} {level['name']}\n代码 {level['code']}",
                  LEVEL_COLOR[level["level"]], 0, y, size=20, shape="box", anchor=True)
        if depth:
            view.edge(levels[depth - 1]["code"], level["code"], "下辖")
        units = level["units"]
        for k, unit in enumerate(units):
            # Staggered to the right of the level, so no edge runs through another unit.
            x, y = 300 + 230 * (k % 3), depth * 170 - 45 + 45 * (k // 3) + (25 if k % 3 == 1 else 0)
            node = f"unit:{unit['unit_id']}"
            view.node(node, unit["unit_name"], "unit", f"{unit['unit_name']}\n{unit['duty_zh']}\n编号 {unit['unit_id']}",
                      LEVEL_COLOR["unit"], x, y, size=12, shape="ellipse")
            view.edge(node, level["code"], unit["duty_zh"], DUTY_COLOR.get(unit["duty"], "#999"),
                      legend=f"连线：{unit['duty_zh']}")
    attrs = graph.nodes[f"issue:{issue_id}"]
    node = f"issue:{issue_id}"
    view.node(node, f"{issue_id} {issue.get('category', '')}", "issue", _issue_tip(attrs),
              STATUS_COLOR.get(attrs.get("status"), "#888"), 0, len(levels) * 170, size=18, shape="diamond", anchor=True,
              legend=f"问题：{Status(attrs['status']).zh}")
    if levels:
        view.edge(levels[-1]["code"], node, "发现问题")
    if chain.get("hint"):
        hint = chain["hint"]
        target = f"unit:{hint['unit_id']}"
        if target in view.net.node_ids:
            view.edge(node, target, "巡察组提示根源", "#8e1b1b", dashes=True, legend="连线：巡察组提示根源")
    return view.html()


def _layered(view: View, graph: nx.MultiDiGraph, area: str, villages: list[str], problems: dict, units: list[str],
             y0: float = 0) -> dict[str, tuple[float, float]]:
    """The area in the centre, its units in an inner ring; for a district, its townships on a ring
    and each township's villages around it; for a township, its villages on a ring. Returns the
    villages' positions."""
    import math
    a = graph.nodes[area]
    view.node(area, a["name"], a["level"], f"{LEVEL_ZH[a['level']]} {a['name']}\n代码 {area}", LEVEL_COLOR[a["level"]],
              0, y0, size=26, shape="box", anchor=True)
    for k, unit in enumerate(units):
        u = graph.nodes[unit]
        angle = 2 * math.pi * k / max(len(units), 1)
        view.node(unit, u["name"], "unit", f"{u['name']}\n职能 {u['function']}", LEVEL_COLOR["unit"],
                  160 * math.cos(angle), y0 + 160 * math.sin(angle), size=8, shape="dot")
        view.edge(unit, area, "", "#b0c4de")
    by_township = defaultdict(list)
    for v in villages:
        by_township[v[:9]].append(v)
    positions: dict[str, tuple[float, float]] = {}

    def ring(center: str, members: list[str], cx: float, cy: float, radius: float):
        for k, v in enumerate(members):
            angle = 2 * math.pi * k / max(len(members), 1)
            x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            attrs = graph.nodes[v]
            total = sum(problems.get(v, Counter()).values())
            view.node(v, short_name(attrs["name"]), "village",
                      f"{attrs['name']}\n代码 {v}\n问题 {total} 个", LEVEL_COLOR["village"], x, y,
                      size=6 + min(total, 24))
            view.edge(center, v)
            positions[v] = (x, y)

    if a["level"] == "district":
        townships = sorted(by_township)
        radius = max(600, len(townships) * 260 / (2 * math.pi))
        for k, township in enumerate(townships):
            angle = 2 * math.pi * k / max(len(townships), 1)
            tx, ty = radius * math.cos(angle), y0 + radius * math.sin(angle)
            t = graph.nodes[township]
            view.node(township, t["name"], "township", f"乡镇(街道) {t['name']}\n代码 {township}\n"
                      f"村(社区) {len(by_township[township])} 个", LEVEL_COLOR["township"], tx, ty, size=16, shape="box")
            view.edge(area, township, "")
            ring(township, by_township[township], tx, ty, 70 + 6 * len(by_township[township]))
    else:
        ring(area, villages, 0, y0, max(320, len(villages) * 60 / (2 * math.pi)))
    return positions


def area_view(graph: nx.MultiDiGraph, area: str, key_villages: set[str] | None = None) -> str:
    """(b) A township's or district's network: its units, townships and villages, and the problems
    of each village aggregated by category (size by count, colour by the share still open);
    key villages (重点村) ringed. Beyond ``MAX_NODES`` the problem groups are folded into their
    villages, and the page says so."""
    attrs = graph.nodes[area]
    view = View(f"{attrs['name']}的巡察网络")
    villages = sorted(n for n, a in graph.nodes(data=True) if a.get("level") == "village" and n.startswith(area))
    units = sorted(n for n, a in graph.nodes(data=True) if a.get("kind") == "Unit" and a.get("area_code") == area)
    problems: dict[str, Counter] = defaultdict(Counter)
    still_open: dict[tuple[str, str], int] = Counter()
    for node, a in graph.nodes(data=True):
        if a.get("kind") == "Issue":
            village = next((t for _, t, d in graph.out_edges(node, data=True) if d.get("type") == "FOUND_IN"), None)
            if village and village.startswith(area):
                problems[village][a["category"]] += 1
                still_open[(village, a["category"])] += a["status"] in OPEN_STATUSES
    positions = _layered(view, graph, area, villages, problems, units)
    groups = sum(len(c) for c in problems.values())
    key_villages = key_villages or set()
    if len(view.net.nodes) + groups <= MAX_NODES:
        for v, counts in problems.items():
            vx, vy = positions[v]
            for k, (category, n) in enumerate(sorted(counts.items())):
                share = still_open[(v, category)] / n
                node = f"problems:{v}:{category}"
                view.node(node, f"{category} {n}", "problems", f"{category}\n{n} 个问题，未完成整改 {still_open[(v, category)]} 个",
                          STATUS_COLOR["open"] if share >= .5 else STATUS_COLOR["rectified"],
                          vx * 1.25 + 40 * (k % 3), vy * 1.25 + 40 * (k // 3),
                          size=6 + min(n, 20), shape="square",
                          legend="问题组：半数以上未整改" if share >= .5 else "问题组：多数已整改")
                view.edge(v, node)
    else:
        view.notes.append(f"为保持可用，{groups:,} 组问题（按村和类别）已并入各村(社区)节点：村节点大小表示问题数")
    for v in key_villages & set(villages):
        node = view.net.get_node(v)
        node["borderWidth"], node["shape"] = 4, "star"
    return view.html()


def root_cause_view(graph: nx.MultiDiGraph, cause: dict, package: dict | None = None) -> str:
    """(c) A root-cause map: the surfaced unit, its category, the affected villages and their
    problems, the evidence in the tooltips; the agency end (the unit's task) and the grassroots end
    (each village's responsible units) of the joint package."""
    e = cause["evidence"]
    view = View(f"根源：{cause['unit_name']} · {cause['category']}")
    unit = f"unit:{cause['unit_id']}"
    evidence = (f"{cause['unit_name']}（{LEVEL_ZH[cause['level']]}，{DutyType(cause['duty']).zh}）\n"
                f"发现 {e['observed']} 个，期望 {e['expected']:.1f} 个\n置信度 {cause['confidence']:.4f}\n"
                f"涉及 {e.get('villages_affected')} 个村(社区)，整改后复发 {e.get('recurrences', 0)} 个")
    import math
    villages = sorted(cause.get("villages", []))
    by_township: dict[str, list[str]] = defaultdict(list)
    for v in villages:
        by_township[v[:9]].append(v)
    townships = sorted(by_township)
    # Every affected village, around its township; the townships on a ring around the category
    # (a district cause reaches 250 villages and more: none is left out).
    radius = max(300, sum(90 + 8 * len(by_township[t]) for t in townships) / math.pi)
    # Fitted to a window about 800 pixels wide, the layout (townships' ring plus their villages)
    # shows at about 400 / extent: the labels that matter are set large enough to read there.
    extent = radius + 40 + 7 * max((len(m) for m in by_township.values()), default=0) if len(townships) > 1 \
        else max(260, len(villages) * 46 / (2 * math.pi))
    readable = max(14, round(14 * extent / 400))
    view.node(unit, cause["unit_name"], "unit", evidence, LEVEL_COLOR["district" if cause["level"] == "district"
              else "township"], 0, -140 * readable / 14, size=28, shape="box", anchor=True, legend="根源单位",
              font_size=round(readable * 1.4), font_color="#ffffff")
    category = f"category:{cause['category']}"
    view.node(category, cause["category"], "category", f"问题类别 {cause['category']}", LEVEL_COLOR["category"],
              0, 0, size=20, shape="ellipse", anchor=True, font_size=round(readable * 1.2),
              font_color="#ffffff")
    view.edge(unit, category, "根源", "#8e1b1b", font_size=readable)
    if package:
        agency = package["agency_end"]
        view.node("agency-end", "机关端整改", "unit", f"机关端：{agency['unit_name']}\n任务：{agency['task']}\n时限：{agency['due_on']}",
                  "#444444", 260 * readable / 14, -140 * readable / 14, size=16, shape="box", legend="机关端整改",
                  font_size=readable, font_color="#ffffff")
        view.edge(unit, "agency-end", "整改任务", "#444444", dashes=True, font_size=readable)
    ids = set(cause.get("issue_ids", []))
    per_village: dict[str, list[dict]] = defaultdict(list)
    for node, a in graph.nodes(data=True):
        if a.get("kind") == "Issue" and a.get("issue_id") in ids:
            village = next((t for _, t, d in graph.out_edges(node, data=True) if d.get("type") == "FOUND_IN"), None)
            per_village[village].append(a)
    grassroots = {v["village_code"]: v for v in (package or {}).get("grassroots_end", [])}
    for k, township in enumerate(townships):
        angle = math.pi / 2 + 2 * math.pi * k / max(len(townships), 1)
        tx, ty = radius * math.cos(angle), radius * math.sin(angle)
        members = by_township[township]
        found_here = sum(len(per_village.get(v, [])) for v in members)
        t = graph.nodes.get(township, {"name": township})
        if len(townships) > 1:
            view.node(township, t["name"], "township", f"乡镇(街道) {t['name']}\n涉及村(社区) {len(members)} 个，"
                      f"本类问题 {found_here} 个", LEVEL_COLOR["township"], tx, ty, size=14, shape="box",
                      font_size=readable)
            view.edge(category, township, str(found_here), font_size=round(readable * 0.8))
            hub, ring = township, 40 + 7 * len(members)
        else:
            hub, ring, tx, ty = category, max(260, len(members) * 46 / (2 * math.pi)), 0, 0
        for j, v in enumerate(members):
            a = graph.nodes.get(v, {"name": v})
            found = per_village.get(v, [])
            open_n = sum(1 for i in found if i["status"] in OPEN_STATUSES)
            responsible = "、".join(u["unit_name"] for u in grassroots.get(v, {}).get("responsible_units", []))
            tip = f"{a['name']}\n本类问题 {len(found)} 个，未完成整改 {open_n} 个" + (f"\n基层端责任：{responsible}" if responsible else "")
            for i in found[:3]:
                tip += f"\n· {i.get('description') or i.get('issue_id')}（{Status(i['status']).zh}）"
            turn = angle + 2 * math.pi * j / max(len(members), 1)
            view.node(v, short_name(a["name"]), "village", tip,
                      STATUS_COLOR["open"] if open_n else STATUS_COLOR["rectified"],
                      tx + ring * math.cos(turn), ty + ring * math.sin(turn), size=8 + min(len(found), 20),
                      legend="村(社区)：仍有未整改" if open_n else "村(社区)：已整改")
            view.edge(hub, v, str(len(found)) if found and hub == category else "")
    return view.html()


def unit_view(graph: nx.MultiDiGraph, unit_id: str) -> str:
    """(d) A unit-centred neighbourhood: the unit, its area, the categories it bears duties for, and
    whatever ``graph`` (a capped neighbourhood) holds around them, in rings by distance."""
    center = f"unit:{unit_id}"
    a = graph.nodes[center]
    view = View(f"{a['name']}的关系")
    distance = nx.single_source_shortest_path_length(graph.to_undirected(as_view=True), center)
    rings: dict[int, list[str]] = defaultdict(list)
    for node, d in sorted(distance.items(), key=lambda item: (item[1], str(item[0]))):
        rings[d].append(node)
    import math
    for d, members in rings.items():
        for k, node in enumerate(members):
            angle = 2 * math.pi * k / max(len(members), 1)
            radius = max(240 * d, len(members) * 48 / (2 * math.pi))   # labels apart however many
            attrs = graph.nodes[node]
            kind = str(attrs.get("kind", "")).lower()
            group = attrs.get("level") or ("issue" if kind == "issue" else kind or "unit")
            label = attrs.get("name") or attrs.get("issue_id") or str(node)
            tip = _issue_tip(attrs) if kind == "issue" else f"{label}\n{node}"
            color = STATUS_COLOR.get(attrs.get("status"), LEVEL_COLOR.get(group, "#888"))
            view.node(node, str(label), group, tip, color, radius * math.cos(angle), radius * math.sin(angle),
                      size=24 if node == center else 12, shape="box" if node == center else "dot", anchor=node == center,
                      legend=f"问题：{Status(attrs['status']).zh}" if kind == "issue" else None)
    for u, v, data in graph.edges(data=True):
        duty = data.get("duty")
        view.edge(u, v, DutyType(duty).zh if duty else "", DUTY_COLOR.get(duty, "#aaaaaa"),
                  legend=f"连线：{DutyType(duty).zh}" if duty else None)
    return view.html()
