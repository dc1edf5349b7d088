"""Feedback and transfer (反馈移交): "根子在上级……需要“机关、基层”两端发力,联动整改". One notice
(抄告单) per receiving unit, gathering what points at it: the surfaced root causes it leads (joint
packages) and the problems whose 根源单位 the inspectors named. Pure functions over plain records.

A notice lists the problems still to fix; done ones are counted, never re-listed (a closed item of
an earlier term gets no new deadline). Numbers are whole: an expectation of 15.665 problems is
"约 16 个".
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from ..model import DONE_STATUSES, OPEN_STATUSES, Status

CAUSE, HINT = "根源分析", "巡察组提示"


def transfer_notices(packages: list[dict], hinted: list, units: dict, names: dict[str, str],
                     term_start: dt.date | None = None) -> list[dict]:
    """The notices, one per receiving unit, biggest first.

    Parameters
    ----------
    packages : list of dict
        Joint packages (:func:`graph.analysis.packages.build_packages`), with their problems.
    hinted : list
        Problems (:class:`graph.store.Issue`) with a ``root_unit_hint``.
    units : dict
        unit id -> :class:`graph.store.Unit` (name, level, leader).
    names : dict
        Division code -> name, for the villages and townships of the problems.
    term_start : datetime.date, optional
        Done problems found before it belong to an earlier term: not counted either.

    Examples
    --------
    >>> from graph.store import Issue, Unit
    >>> d = dt.date(2026, 3, 1)
    >>> units = {"500101-civil_affairs": Unit("500101-civil_affairs", "万州区民政局", "district", "500101",
    ...                                       "civil_affairs", "张三（副区长）")}
    >>> hinted = [Issue("Q1", "500101001001", "R1", d, "低保", "错评", "minor", None, "open", False, d, None,
    ...                 "500101-civil_affairs"),
    ...           Issue("Q2", "500101001002", "R0", dt.date(2021, 3, 1), "低保", "漏评", "minor", None, "closed", False,
    ...                 None, dt.date(2021, 5, 1), "500101-civil_affairs")]
    >>> [n] = transfer_notices([], hinted, units, {}, term_start=dt.date(2022, 1, 1))
    >>> n["unit_name"], n["leader"], [i["issue_id"] for i in n["items"]], n["hints"][0]["problems"], n["done"]
    ('万州区民政局', '张三（副区长）', ['Q1'], 1, 0)
    """
    this_term = lambda issue: term_start is None or issue.found_on >= term_start  # noqa: E731
    notices: dict[str, dict] = {}

    def notice(unit_id: str, fallback_name: str) -> dict:
        if unit_id not in notices:
            unit = units.get(unit_id)
            notices[unit_id] = {"unit_id": unit_id, "unit_name": unit.name if unit else fallback_name,
                                "level": unit.level if unit else None, "leader": (unit.leader if unit else "") or "",
                                "causes": [], "hints": [], "items": [], "done": 0, "_seen": set()}
        return notices[unit_id]

    def add_item(n: dict, issue: dict, source: str, responsible: str = "") -> None:
        if issue["issue_id"] in n["_seen"]:
            return
        n["_seen"].add(issue["issue_id"])
        if issue["status"] in DONE_STATUSES:
            n["done"] += 1 if issue["this_term"] else 0
            return
        n["items"].append({**{k: v for k, v in issue.items() if k != "this_term"}, "source": source,
                           "responsible": responsible})

    for p in packages:
        agency, cause = p["agency_end"], p["root_cause"]
        n = notice(agency["unit_id"], agency["unit_name"])
        evidence = cause.get("evidence", {})
        problems = [(v, i) for v in p["grassroots_end"] for i in v["issues"]]
        n["causes"].append({
            "package_id": p["package_id"], "category": cause["category"], "area_name": cause.get("area_name", ""),
            "duty_zh": agency["duty_zh"], "confidence": cause.get("confidence"), "task": agency["task"],
            "due_on": agency["due_on"], "villages": p["totals"]["villages"], "problems": p["totals"]["issues"],
            "open": p["totals"]["open_issues"],
            "expected": None if evidence.get("expected") is None else round(evidence["expected"]),
            "recurrences": int(evidence.get("recurrences") or 0)})
        for village, issue in problems:
            add_item(n, {"issue_id": issue["issue_id"], "village_code": village["village_code"],
                         "village_name": village["village_name"], "township_name": village["township_name"],
                         "category": cause["category"], "description": issue["description"],
                         "status": issue["status"], "status_zh": issue["status_zh"], "found_on": issue["found_on"],
                         "due_on": issue["due_on"], "this_term": term_start is None or
                         dt.date.fromisoformat(issue["found_on"]) >= term_start},
                     CAUSE, "；".join(u["unit_name"] for u in village["responsible_units"]))
    by_unit: dict[str, list] = defaultdict(list)
    for issue in hinted:
        if issue.root_unit_hint and (issue.status in OPEN_STATUSES or this_term(issue)):
            by_unit[issue.root_unit_hint].append(issue)
    for unit_id, found in sorted(by_unit.items()):
        n = notice(unit_id, unit_id)
        for category in sorted({i.category for i in found}):
            of_category = [i for i in found if i.category == category]
            n["hints"].append({"category": category, "problems": len(of_category),
                               "villages": len({i.village_code for i in of_category}),
                               "open": sum(i.status in OPEN_STATUSES for i in of_category)})
        for i in sorted(found, key=lambda i: (i.village_code, i.found_on, i.issue_id)):
            add_item(n, {"issue_id": i.issue_id, "village_code": i.village_code,
                         "village_name": names.get(i.village_code, i.village_code),
                         "township_name": names.get(i.village_code[:9], i.village_code[:9]), "category": i.category,
                         "description": i.description, "status": i.status, "status_zh": Status(i.status).zh,
                         "found_on": i.found_on.isoformat(), "due_on": i.due_on.isoformat() if i.due_on else None,
                         "this_term": this_term(i)}, HINT)
    out = []
    for n in notices.values():
        del n["_seen"]
        if not n["causes"] and not n["items"]:
            continue  # everything it was told of is done: nothing to transfer
        n["villages"] = len({i["village_code"] for i in n["items"]})
        out.append(n)
    return sorted(out, key=lambda n: (-len(n["items"]), n["unit_id"]))


def notice_lines(notice: dict, as_of: dt.date, office: str) -> list[tuple[str, str]]:
    """The notice's text as (label, text) lines, the same on the workbook and the printable page."""
    lines = [("编号", f"CG-{notice['unit_id']}-{as_of:%Y%m%d}"),
             ("致", f"{notice['unit_name']}（{notice['unit_id']}）"),
             ("抄送", f"分管领导：{notice['leader'] or '________________'}")]
    for k, c in enumerate(notice["causes"], start=1):
        expected = f"（按同类地区情况期望约 {c['expected']} 个）" if c["expected"] is not None else ""
        confidence = f"，置信度 {c['confidence']:.3f}" if c["confidence"] is not None else ""
        lines += [(f"移交事项{k}", f"{c['category']}：巡察在{c['area_name']}所辖 {c['villages']} 个村(社区)发现问题 "
                                   f"{c['problems']} 个{expected}，其中 {c['open']} 个尚未完成整改；整改后复发 "
                                   f"{c['recurrences']} 个村(社区)。该类问题集中、反复出现，根子在本单位"
                                   f"（{c['duty_zh']}{confidence}）。"),
                  ("整改要求", c["task"]), ("完成时限", c["due_on"])]
    for h in notice["hints"]:
        lines.append(("巡察组提示", f"{h['category']}：巡察组在 {h['villages']} 个村(社区)的 {h['problems']} 个问题中"
                                  f"指出根源在本单位，其中 {h['open']} 个尚未完成整改。"))
    lines += [("基层端", f"尚未完成整改的问题 {len(notice['items'])} 个，涉及 {notice['villages']} 个村(社区)，"
                         f"清单附后；本届已整改 {notice['done']} 个，不再列出。"),
              ("反馈要求", "请于完成时限前将整改情况（含佐证材料）书面反馈巡察办；机关端、基层端两端发力，联动整改。"),
              ("", ""), ("", f"{office}　　{as_of.year}年{as_of.month}月{as_of.day}日")]
    return lines
