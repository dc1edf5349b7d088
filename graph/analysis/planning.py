"""Planning an inspection term and following its rectification: village classification (科学分类),
the inspection mode for each village, a plan of rounds that reaches every village before the term
ends (届内全覆盖), deadline warnings, a reproducible back-check sample (抽查) and the effectiveness
figures (成效评估). Pure functions over plain records; no store here.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..model import DONE_STATUSES, ONCE_RECTIFIED, OPEN_STATUSES

KEY, ORDINARY = "重点村", "一般村"
DIRECT, JOINT, SPECIAL = "直接巡村", "乡村一体巡", "专项巡察"

# Indicators a village is classified on: those an office supplies (base data) and those the graph
# gives. Weights and thresholds come from a configuration (loaders/data/planning/classification.toml).
DEFAULT_CONFIG = {
    "threshold": 0.45,
    "must": ["weak_organisation"],          # any of these alone makes a key village (软弱涣散)
    "weights": {"population": 0.10, "collective_funds": 0.15, "projects": 0.10, "disputes": 0.15,
                "weak_organisation": 0.10, "integrity_risk": 0.10, "problems_before": 0.10,
                "recurrences": 0.08, "overdue_open": 0.07, "in_root_cause": 0.05},
    "scale": {"population": 3000, "collective_funds": 2_000_000, "projects": 10, "disputes": 10,
              "weak_organisation": 1, "integrity_risk": 1, "problems_before": 15, "recurrences": 3,
              "overdue_open": 5, "in_root_cause": 1},
}
INDICATOR_ZH = {"population": "人口", "collective_funds": "集体资金", "projects": "项目数", "disputes": "矛盾纠纷和信访",
                "weak_organisation": "软弱涣散", "integrity_risk": "廉政风险", "problems_before": "以往问题数",
                "recurrences": "整改后复发", "overdue_open": "逾期未整改", "in_root_cause": "涉及根源问题"}


@dataclass
class VillageClass:
    village_code: str
    name: str
    township_code: str
    score: float
    klass: str
    contributions: dict[str, float]
    indicators: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"village_code": self.village_code, "name": self.name, "township_code": self.township_code,
                "class": self.klass, "score": round(self.score, 4),
                "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
                "indicators": self.indicators, "reasons": self.reasons}


def graph_indicators(issues, as_of: dt.date, root_cause_villages: set[str]) -> dict[str, dict[str, float]]:
    """Per village, what the ledger says: problems found, villages whose rectified category came
    back (recurrences), overdue open problems, and membership in a surfaced root cause.

    >>> from types import SimpleNamespace as I
    >>> d = dt.date(2024, 1, 1)
    >>> rows = [I(village_code="v1", category="低保", status="closed", due_on=None, found_on=d, round_id="R1"),
    ...         I(village_code="v1", category="低保", status="open", due_on=d, found_on=dt.date(2024, 6, 1), round_id="R2")]
    >>> graph_indicators(rows, dt.date(2024, 9, 1), {"v1"})["v1"]
    {'problems_before': 2, 'recurrences': 1, 'overdue_open': 1, 'in_root_cause': 1}
    """
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"problems_before": 0, "recurrences": 0,
                                                            "overdue_open": 0, "in_root_cause": 0})
    by_vc: dict[tuple[str, str], list] = defaultdict(list)
    for i in issues:
        row = out[i.village_code]
        row["problems_before"] += 1
        if i.status in OPEN_STATUSES and i.due_on is not None and i.due_on < as_of:
            row["overdue_open"] += 1
        by_vc[(i.village_code, i.category)].append(i)
    for (village, _), found in by_vc.items():
        found.sort(key=lambda i: (i.found_on, i.round_id))
        done = next((k for k, i in enumerate(found) if i.status in ONCE_RECTIFIED), None)
        if done is not None and any(i.round_id != found[done].round_id and i.found_on > found[done].found_on
                                    for i in found[done + 1:]):
            out[village]["recurrences"] += 1
    for village in root_cause_villages:
        out[village]["in_root_cause"] = 1
    return {k: dict(v) for k, v in out.items()}


def classify(villages: list[tuple[str, str, str]], indicators: dict[str, dict[str, float]],
             config: dict | None = None) -> list[VillageClass]:
    """Score each village (``(code, name, township)``) on its indicators: each indicator scaled to
    [0, 1] by its ``scale`` (capped), times its weight, as a share of the weights of the indicators
    present in the data; a key village (重点村) when the score reaches the threshold or a ``must``
    indicator is present. Every contribution is returned.

    >>> out = classify([("v1", "甲村", "t1"), ("v2", "乙村", "t1")],
    ...                {"v1": {"population": 6000, "disputes": 12}, "v2": {"weak_organisation": 1}},
    ...                {"threshold": 0.2, "must": ["weak_organisation"],
    ...                 "weights": {"population": 0.1, "disputes": 0.15, "weak_organisation": 0.1},
    ...                 "scale": {"population": 3000, "disputes": 10, "weak_organisation": 1}})
    >>> [(c.village_code, c.klass, round(c.score, 2)) for c in out]
    [('v1', '重点村', 0.71), ('v2', '重点村', 0.29)]
    >>> out[1].reasons
    ['软弱涣散']
    """
    config = {**DEFAULT_CONFIG, **(config or {})}
    weights, scale, must = config["weights"], config["scale"], set(config.get("must", []))
    # Scores are shares of the weight of the indicators the office has data for: without base data,
    # the graph's indicators alone can still make a key village.
    present = {k for values in indicators.values() for k in values}
    total = sum(w for k, w in weights.items() if k in present) or 1.0
    result = []
    for code, name, township in villages:
        values = indicators.get(code, {})
        contributions = {k: w / total * min(float(values.get(k, 0) or 0) / scale.get(k, 1), 1.0)
                         for k, w in weights.items() if k in present}
        score = sum(contributions.values())
        forced = [INDICATOR_ZH.get(k, k) for k in sorted(must) if values.get(k)]
        klass = KEY if score >= config["threshold"] or forced else ORDINARY
        reasons = forced + [INDICATOR_ZH.get(k, k) for k, v in sorted(contributions.items(), key=lambda kv: -kv[1])
                            if v > 0 and INDICATOR_ZH.get(k, k) not in forced][:3 if klass == KEY and not forced else 0]
        result.append(VillageClass(code, name, township, score, klass, contributions,
                                   {k: v for k, v in values.items()}, reasons))
    return result


def recommend_modes(classes: list[VillageClass], systemic: dict[str, list[dict]]) -> list[dict]:
    """The inspection mode of each village, with its reasons: 专项巡察 where a surfaced district-level
    root cause makes a category systemic across the village's district (``systemic``: district ->
    causes); 直接巡村 for key villages; 乡村一体巡 for the others.

    >>> c = [VillageClass("500101001001", "甲村", "500101001", 0.6, KEY, {}, {}, ["人口"]),
    ...      VillageClass("500101001002", "乙村", "500101001", 0.1, ORDINARY, {}, {}, [])]
    >>> [m["mode"] for m in recommend_modes(c, {})]
    ['直接巡村', '乡村一体巡']
    """
    modes = []
    for c in classes:
        causes = [s for s in systemic.get(c.village_code[:6], []) if c.village_code in s.get("villages", ())]
        if causes:
            cause = causes[0]
            mode, reasons = SPECIAL, [f"{cause['category']}在全区多村(社区)集中出现，根源在{cause['unit_name']}"
                                      f"（置信度 {cause['confidence']:.3f}）"]
        elif c.klass == KEY:
            mode, reasons = DIRECT, [f"重点村：{'、'.join(c.reasons) or '综合得分高'}"]
        else:
            mode, reasons = JOINT, ["一般村：规模小、情况稳定，随所在乡镇一体巡察"]
        modes.append({"village_code": c.village_code, "name": c.name, "township_code": c.township_code,
                      "class": c.klass, "mode": mode, "reasons": reasons})
    return modes


def plan_rounds(modes: list[dict], inspected: set[str], *, teams: int, per_team: dict[str, int],
                rounds_per_year: int, start: dt.date, term_end: dt.date) -> dict:
    """Rounds that reach every village not yet inspected this term before ``term_end``: key villages
    (直接巡村, 专项巡察) first, the 乡村一体巡 villages of one township kept in one round. A round
    takes ``teams × per_team[mode]`` villages (a joint-mode village costs less than a direct one).
    If the term is too short, the plan says how many teams or rounds it would need.

    >>> modes = [{"village_code": f"v{i}", "name": "", "township_code": f"t{i // 4}", "class": "一般村",
    ...           "mode": "乡村一体巡", "reasons": []} for i in range(12)]
    >>> p = plan_rounds(modes, {"v0"}, teams=1, per_team={"乡村一体巡": 8, "直接巡村": 4, "专项巡察": 4},
    ...                 rounds_per_year=2, start=dt.date(2025, 1, 1), term_end=dt.date(2026, 12, 31))
    >>> p["feasible"], [len(r["villages"]) for r in p["rounds"]], p["covered"]
    (True, [7, 4], 12)
    """
    order = {SPECIAL: 0, DIRECT: 1, JOINT: 2}
    todo = [m for m in modes if m["village_code"] not in inspected]
    # Key villages one by one; joint-mode villages in township blocks.
    units: list[list[dict]] = []
    for m in sorted((m for m in todo if m["mode"] != JOINT), key=lambda m: (order[m["mode"]], m["village_code"])):
        units.append([m])
    blocks: dict[str, list[dict]] = defaultdict(list)
    for m in todo:
        if m["mode"] == JOINT:
            blocks[m["township_code"]].append(m)
    units += [blocks[t] for t in sorted(blocks)]
    weight = {mode: 1.0 / n for mode, n in per_team.items()}   # share of one team-round a village takes
    rounds = _pack(units, weight, float(teams))
    months = 12 / rounds_per_year
    available = max(0, math.floor(((term_end.year - start.year) * 12 + term_end.month - start.month + 1) / months))
    dated = []
    for k, villages in enumerate(rounds):
        month = start.month - 1 + round(k * months)
        begins = dt.date(start.year + month // 12, month % 12 + 1, 1)
        dated.append({"round": k + 1, "starts_on": begins.isoformat(), "villages": villages,
                      "by_mode": dict(Counter(m["mode"] for m in villages)), "within_term": k < available})
    total_work = sum(weight[m["mode"]] for m in todo)
    feasible = len(rounds) <= available
    result = {"villages": len(modes), "inspected": len(inspected & {m["village_code"] for m in modes}),
              "to_inspect": len(todo), "rounds": dated, "rounds_available": available, "feasible": feasible,
              "covered": len(inspected & {m["village_code"] for m in modes}) + sum(len(r) for r in rounds[:available]),
              "teams": teams}
    if not feasible:
        # The fewest teams whose plan fits the rounds left (township blocks make it more than the
        # bare arithmetic), and the rounds the given teams would need.
        needed = None
        if available:
            teams_tried = max(teams + 1, math.ceil(total_work / available))
            while teams_tried <= 10 * len(todo) and len(_pack(units, weight, float(teams_tried))) > available:
                teams_tried += 1
            needed = teams_tried
        result["teams_needed"] = needed
        result["rounds_needed"] = len(rounds)
    return result


def _pack(units: list[list[dict]], weight: dict[str, float], capacity: float) -> list[list[dict]]:
    """Fill rounds in order: a unit (a key village, or a township's joint-mode villages) goes into
    the current round if it fits, else starts the next; a township larger than a round is split."""
    rounds: list[list[dict]] = []
    load = 0.0
    for unit in units:
        need = sum(weight[m["mode"]] for m in unit)
        if not rounds or load + min(need, capacity) > capacity + 1e-9:
            rounds.append([])
            load = 0.0
        for m in unit:
            if load + weight[m["mode"]] > capacity + 1e-9:
                rounds.append([])
                load = 0.0
            rounds[-1].append(m)
            load += weight[m["mode"]]
    return rounds


WARNING_ZH = {"on_time": "按期", "due_soon": "15日内到期", "overdue": "逾期", "overdue_90": "逾期超90日",
              "done": "已完成", "no_deadline": "无时限"}
WARNING_COLOR = {"on_time": "#2ca02c", "due_soon": "#ff9f1c", "overdue": "#d62728", "overdue_90": "#7f0000",
                 "done": "#6b8e23", "no_deadline": "#888888"}


def deadline_warning(status: str, due_on: dt.date | None, as_of: dt.date) -> str:
    """按期, 15日内到期, 逾期 or 逾期超90日 for an open problem; 已完成 for a done one.

    >>> d = dt.date(2024, 6, 1)
    >>> [deadline_warning("open", d, x) for x in (dt.date(2024, 5, 1), dt.date(2024, 5, 25), dt.date(2024, 7, 1),
    ...                                          dt.date(2024, 10, 1))]
    ['on_time', 'due_soon', 'overdue', 'overdue_90']
    """
    if status in DONE_STATUSES:
        return "done"
    if due_on is None:
        return "no_deadline"
    days = (due_on - as_of).days
    if days >= 15:
        return "on_time"
    if days >= 0:
        return "due_soon"
    return "overdue_90" if days < -90 else "overdue"


def back_check_sample(closed_ids: list[str], share: float, seed: int, minimum: int = 1) -> list[str]:
    """A reproducible random sample of closed problems to re-verify on site (抽查).

    >>> ids = [f"Q{i}" for i in range(100)]
    >>> back_check_sample(ids, 0.05, seed=7) == back_check_sample(list(reversed(ids)), 0.05, seed=7)
    True
    >>> len(back_check_sample(ids, 0.05, seed=7))
    5
    """
    population = sorted(set(closed_ids))
    n = min(len(population), max(minimum, math.ceil(share * len(population)))) if population else 0
    return sorted(random.Random(seed).sample(population, n))


def effectiveness(issues, as_of: dt.date) -> dict:
    """On-time rate (closed or rectified by the due date), share closed, recurrence after closure,
    and the category mix by round.

    >>> from types import SimpleNamespace as I
    >>> d = dt.date(2024, 1, 1)
    >>> rows = [I(village_code="v1", category="低保", status="closed", due_on=d, closed_on=d, found_on=d, round_id="R1"),
    ...         I(village_code="v1", category="低保", status="open", due_on=d, closed_on=None,
    ...           found_on=dt.date(2024, 6, 1), round_id="R2")]
    >>> e = effectiveness(rows, dt.date(2024, 9, 1))
    >>> e["on_time_rate"], e["share_closed"], e["recurrence_after_closure"]
    (0.5, 0.5, 1.0)
    """
    issues = list(issues)
    with_due = [i for i in issues if i.due_on is not None and (i.status in DONE_STATUSES or i.due_on < as_of)]
    on_time = sum(1 for i in with_due if i.status in DONE_STATUSES and i.closed_on is not None
                  and i.closed_on <= i.due_on)
    closed = sum(1 for i in issues if i.status in DONE_STATUSES)
    by_vc: dict[tuple[str, str], list] = defaultdict(list)
    for i in issues:
        by_vc[(i.village_code, i.category)].append(i)
    rectified = recurred = 0
    for found in by_vc.values():
        found.sort(key=lambda i: (i.found_on, i.round_id))
        done = next((k for k, i in enumerate(found) if i.status in ONCE_RECTIFIED), None)
        if done is None:
            continue
        rectified += 1
        recurred += any(i.round_id != found[done].round_id and i.found_on > found[done].found_on
                        for i in found[done + 1:])
    mix: dict[str, Counter] = defaultdict(Counter)
    for i in issues:
        mix[i.round_id][i.category] += 1
    return {"problems": len(issues), "on_time_rate": round(on_time / len(with_due), 4) if with_due else None,
            "share_closed": round(closed / len(issues), 4) if issues else None,
            "recurrence_after_closure": round(recurred / rectified, 4) if rectified else None,
            "villages_rectified": rectified, "villages_recurred": recurred,
            "category_mix_by_round": {r: dict(c.most_common()) for r, c in sorted(mix.items())}}


def recurrence_links(issues) -> list[dict]:
    """Each rectified or closed problem that came back: the same category found again in the same
    village in a later round, with the later problem that reopened it.

    >>> from types import SimpleNamespace as I
    >>> d = dt.date(2024, 1, 1)
    >>> rows = [I(issue_id="Q1", village_code="v1", category="低保", status="closed", found_on=d, round_id="R1"),
    ...         I(issue_id="Q2", village_code="v1", category="低保", status="open", found_on=dt.date(2024, 6, 1),
    ...           round_id="R2")]
    >>> recurrence_links(rows)
    [{'closed': 'Q1', 'reopened_by': 'Q2', 'village_code': 'v1', 'category': '低保', 'round': 'R2', 'reopened': False}]
    """
    by_vc: dict[tuple[str, str], list] = defaultdict(list)
    for i in issues:
        by_vc[(i.village_code, i.category)].append(i)
    links = []
    for (village, category), found in sorted(by_vc.items()):
        found.sort(key=lambda i: (i.found_on, i.round_id, i.issue_id))
        for k, done in enumerate(found):
            if done.status not in ONCE_RECTIFIED:
                continue
            later = next((i for i in found[k + 1:] if i.round_id != done.round_id and i.found_on > done.found_on), None)
            if later is not None:
                links.append({"closed": done.issue_id, "reopened_by": later.issue_id, "village_code": village,
                              "category": category, "round": later.round_id,
                              "reopened": done.status == "reopened"})
    return links


# The shifts the source article names, as tags on categories (by name or group): from poverty
# alleviation (脱贫攻坚) to rural revitalisation (乡村振兴), and oversight of the combined
# secretary-director post (书记主任"一肩挑").
SHIFT_TAGS = {"poverty_alleviation": ("低保", "特困", "惠民惠农", "扶贫", "返贫"),
              "rural_revitalisation": ("乡村振兴",),
              "secretary_director": ("一肩挑",)}
SHIFT_ZH = {"poverty_alleviation": "脱贫攻坚与民生兜底", "rural_revitalisation": "乡村振兴", "secretary_director": "“一肩挑”监督"}


def category_tags(categories) -> dict[str, set[str]]:
    """Category name -> the shifts it belongs to, from its name and group.

    >>> from types import SimpleNamespace as C
    >>> category_tags([C(name="低保特困救助", group="民生保障"), C(name="乡村振兴项目", group="乡村振兴")])
    {'低保特困救助': {'poverty_alleviation'}, '乡村振兴项目': {'rural_revitalisation'}}
    """
    tags = {}
    for c in categories:
        text = f"{c.name} {getattr(c, 'group', '') or ''}"
        tags[c.name] = {tag for tag, words in SHIFT_TAGS.items() if any(w in text for w in words)}
    return tags


def shifts(issues, tags: dict[str, set[str]]) -> dict[str, dict]:
    """Per round, problems and the share of each shift's categories among them.

    >>> from types import SimpleNamespace as I
    >>> rows = [I(round_id="R1", category="低保"), I(round_id="R1", category="作风"), I(round_id="R2", category="振兴")]
    >>> shifts(rows, {"低保": {"poverty_alleviation"}, "振兴": {"rural_revitalisation"}, "作风": set()})["R1"]
    {'problems': 2, 'poverty_alleviation': 0.5, 'rural_revitalisation': 0.0, 'secretary_director': 0.0}
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for i in issues:
        totals[i.round_id] += 1
        for tag in tags.get(i.category, ()):
            counts[i.round_id][tag] += 1
    return {r: {"problems": totals[r], **{tag: round(counts[r][tag] / totals[r], 4) for tag in SHIFT_TAGS}}
            for r in sorted(totals)}
