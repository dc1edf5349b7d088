"""The key-village list (重点村名单) the way offices settle it: the townships propose, the inspection
office adjusts (each change with its reason) and approves (who, when). Pure functions over one
plain record per district, which the stores keep as it is.

The record::

    {"district": "500101", "status": "proposed" | "adjusted" | "approved",
     "villages": {code: {"township_code", "name", "source": "township" | "office", "reason"}},
     "proposed": {"by", "at", "file", "count"},
     "changes": [{"village_code", "action": "add" | "remove", "reason", "by", "at"}],
     "approved": {"by", "at"} | None}

Any change after approval sends the list back for approval: the approved list is the one the
plan uses, and it must be the one someone approved.
"""
from __future__ import annotations

from .planning import KEY, ORDINARY, VillageClass

STATUS_ZH = {"proposed": "乡镇已推荐、待巡察办审定", "adjusted": "巡察办已调整、待审定", "approved": "已审定"}


class ListError(ValueError):
    """A change the list refuses: the message says why, in Chinese."""


def propose(district: str, rows: list[dict], by: str, at: str, file: str = "", earlier: dict | None = None) -> dict:
    """A new list from the townships' proposal: ``rows`` of ``{"village_code", "township_code", "name",
    "reason"}``. It replaces the townships' part of the ``earlier`` list and its approval; the
    office's adjustments (its additions and removals, with their reasons) are applied again to the
    new proposal and kept in the record.

    >>> record = propose("500101", [{"village_code": "500101001001", "township_code": "500101001",
    ...                              "name": "东方广场社区", "reason": "信访多"}], "高笋塘街道", "2026-11-01T09:00:00")
    >>> record["status"], list(record["villages"]), record["villages"]["500101001001"]["source"]
    ('proposed', ['500101001001'], 'township')
    >>> office = adjust(record, {"village_code": "500101001002"}, "add", "历年问题多", "巡察办", "2026-11-02T10:00:00")
    >>> again = propose("500101", [], "高笋塘街道", "2026-11-05T09:00:00", earlier=office)
    >>> again["status"], list(again["villages"]), again["changes"][0]["reason"]
    ('adjusted', ['500101001002'], '历年问题多')
    """
    if not by.strip():
        raise ListError("推荐人或推荐单位不能为空 (who proposed the list)")
    villages = {r["village_code"]: {"township_code": r.get("township_code") or r["village_code"][:9],
                                    "name": r.get("name") or "", "source": "township",
                                    "reason": r.get("reason") or ""} for r in rows}
    changes = list((earlier or {}).get("changes", []))
    for change in changes:  # in their order: the office's last word on a village stands
        if change["action"] == "remove":
            villages.pop(change["village_code"], None)
        else:
            office = (earlier or {}).get("villages", {}).get(change["village_code"])
            villages[change["village_code"]] = {**(office or {"township_code": change["village_code"][:9], "name": ""}),
                                                "source": "office", "reason": change["reason"]}
    return {"district": district, "status": "adjusted" if changes else "proposed",
            "villages": dict(sorted(villages.items())),
            "proposed": {"by": by.strip(), "at": at, "file": file, "count": len(rows)},
            "changes": changes, "approved": None}


def adjust(record: dict, village: dict, action: str, reason: str, by: str, at: str) -> dict:
    """The office adds a village to the list or removes one, with its reason; a new record.

    >>> record = propose("500101", [], "乡镇", "2026-11-01T09:00:00")
    >>> v = {"village_code": "500101001002", "township_code": "500101001", "name": "甲村"}
    >>> after = adjust(record, v, "add", "历年问题多", "巡察办张三", "2026-11-02T10:00:00")
    >>> after["status"], after["villages"]["500101001002"]["source"], after["changes"][0]["reason"]
    ('adjusted', 'office', '历年问题多')
    >>> adjust(after, v, "add", "", "巡察办张三", "2026-11-02T10:00:00")
    Traceback (most recent call last):
    ...
    graph.analysis.key_villages.ListError: 调整理由不能为空 (a reason for the change)
    """
    if not reason.strip():
        raise ListError("调整理由不能为空 (a reason for the change)")
    if not by.strip():
        raise ListError("调整人不能为空 (who made the change)")
    code = village["village_code"]
    villages = dict(record["villages"])
    if action == "add":
        if code in villages:
            raise ListError(f"{code} 已在重点村名单中 (already on the list)")
        villages[code] = {"township_code": village.get("township_code") or code[:9], "name": village.get("name") or "",
                          "source": "office", "reason": reason.strip()}
    elif action == "remove":
        if code not in villages:
            raise ListError(f"{code} 不在重点村名单中 (not on the list)")
        del villages[code]
    else:
        raise ListError("调整方式：add（增加）或 remove（移出）")
    change = {"village_code": code, "action": action, "reason": reason.strip(), "by": by.strip(), "at": at}
    return {**record, "status": "adjusted", "villages": dict(sorted(villages.items())),
            "changes": [*record["changes"], change], "approved": None}


def approve(record: dict, by: str, at: str) -> dict:
    """Approval (审定) by the office: who and when.

    >>> approve(propose("500101", [], "乡镇", "2026-11-01T09:00:00"), "巡察办主任李四", "2026-11-03T16:00:00")["approved"]
    {'by': '巡察办主任李四', 'at': '2026-11-03T16:00:00'}
    """
    if not by.strip():
        raise ListError("审定人不能为空 (who approved the list)")
    if record["status"] == "approved":
        raise ListError(f"名单已于 {record['approved']['at']} 由 {record['approved']['by']} 审定，无需重复审定")
    return {**record, "status": "approved", "approved": {"by": by.strip(), "at": at}}


def compare(record: dict, classes: list[VillageClass]) -> dict:
    """Where the list and the indicators disagree: listed villages the indicators call 一般村, and
    indicator 重点村 missing from the list; the office reads these before approving.

    >>> classes = [VillageClass("v1", "甲村", "t1", 0.9, KEY, {}), VillageClass("v2", "乙村", "t1", 0.1, ORDINARY, {})]
    >>> compare({"villages": {"v2": {}}}, classes)
    {'listed_but_ordinary': ['v2'], 'key_but_not_listed': ['v1']}
    """
    listed = set(record["villages"])
    return {"listed_but_ordinary": sorted(c.village_code for c in classes if c.village_code in listed and c.klass != KEY),
            "key_but_not_listed": sorted(c.village_code for c in classes if c.klass == KEY and c.village_code not in listed)}


def apply_approved(classes: list[VillageClass], record: dict | None) -> list[VillageClass]:
    """The classes with an approved list in force (``ARTICLE["township_list"]``): a listed village is
    重点村, with the list's reason; a 软弱涣散 village stays 重点村 whether listed or not
    (``ARTICLE["direct_for"]``: approval adjusts the rest, never that rule); any other is 一般村.
    An unapproved list changes nothing.

    >>> classes = [VillageClass("v1", "甲村", "t1", 0.9, KEY, {}), VillageClass("v2", "乙村", "t1", 0.1, ORDINARY, {}),
    ...            VillageClass("v3", "丙村", "t1", 0.2, KEY, {}, {}, ["软弱涣散"], ("软弱涣散",))]
    >>> record = approve(propose("x", [{"village_code": "v2", "reason": "换届"}], "乡镇", "t"), "主任", "t")
    >>> [(c.village_code, c.klass, c.reasons) for c in apply_approved(classes, record)]
    [('v1', '一般村', ['审定名单未列入']), ('v2', '重点村', ['乡镇推荐：换届']), ('v3', '重点村', ['软弱涣散（审定名单未列入，仍为重点村）'])]
    """
    if not record or record.get("status") != "approved":
        return classes
    listed = record["villages"]
    out = []
    for c in classes:
        entry = listed.get(c.village_code)
        if entry is not None:
            source = "乡镇推荐" if entry["source"] == "township" else "巡察办增列"
            klass, reasons = KEY, [f"{source}：{entry['reason']}" if entry["reason"] else source]
            reasons += [r for r in c.forced if r not in reasons[0]]
        elif c.forced:
            klass, reasons = KEY, [f"{'、'.join(c.forced)}（审定名单未列入，仍为重点村）"]
        else:
            klass, reasons = ORDINARY, ["审定名单未列入"] if c.klass == KEY else []
        out.append(VillageClass(c.village_code, c.name, c.township_code, c.score, klass, c.contributions,
                                c.indicators, reasons, c.forced))
    return out
