"""Planning an inspection term and following its rectification: village classification (科学分类),
the inspection mode for each village, a plan of rounds that reaches every village before the term
ends (届内全覆盖), deadline warnings, a reproducible back-check sample (抽查) and the effectiveness
figures (成效评估). Pure functions over plain records; no store here.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..model import DONE_STATUSES, ONCE_RECTIFIED, overdue
from .ledger import came_back, found_again

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
# A plan's defaults (loaders/data/planning/classification.toml, table [plan]): per team and round,
# 4 key villages inspected directly or 15 objects of a joint inspection (a township and its
# villages); two rounds a year; 立行立改 items due within 15 days of being found.
PLAN_DEFAULTS = {"direct": 4, "joint": 15, "rounds_per_year": 2, "immediate_days": 15}
INDICATOR_ZH = {"population": "人口", "collective_funds": "集体资金", "projects": "项目数", "disputes": "矛盾纠纷和信访",
                "weak_organisation": "软弱涣散", "integrity_risk": "廉政风险", "problems_before": "以往问题数",
                "recurrences": "整改后复发", "overdue_open": "逾期未整改", "in_root_cause": "涉及根源问题"}


def plan_defaults(config: dict | None) -> dict:
    """The plan's defaults, with a configuration's ``[plan]`` table over them.

    >>> plan_defaults({"plan": {"joint": 12}})["joint"], plan_defaults(None)["direct"]
    (12, 4)
    """
    return {**PLAN_DEFAULTS, **((config or {}).get("plan") or {})}


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
    # The ``must`` indicators present (软弱涣散): key whatever a list or a score says.
    forced: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"village_code": self.village_code, "name": self.name, "township_code": self.township_code,
                "class": self.klass, "score": round(self.score, 4),
                "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
                "indicators": self.indicators, "reasons": self.reasons, "forced": list(self.forced)}


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
        if overdue(i.status, i.due_on, as_of):
            row["overdue_open"] += 1
        by_vc[(i.village_code, i.category)].append(i)
    for (village, _), found in by_vc.items():
        if came_back(found):
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
                                   {k: v for k, v in values.items()}, reasons, tuple(forced)))
    return result


# -- the article's rules, each stated once ------------------------------------------------------------
# The sentences of the source article each planning rule follows (quoted; "……" marks words left out).
# docs/planning.md maps each to its rule and test; a failing rule's message names its sentence.
ARTICLE = {
    "classify": "首要就是对村(社区)进行科学分类,合理采取组织形式",
    "township_list": "由乡镇提出初步分类名单,巡察办以乡镇意见为基础,参考相关职能部门意见进行调整,"
                     "最后报巡察工作领导小组和党委审定",
    "indicators": "由巡察办确定若干指标,向相关职能部门收集各村基础数据,通过一定参数或标准,确定初步分类名单",
    "key_direct": "重点村要通过直接巡,确保巡深巡透",
    "direct_for": "直接巡村……主要适用于人口体量大、资金项目多、矛盾纠纷突出、党组织软弱涣散的村",
    "joint_for": "乡村一体巡……适用于体量不大、村情平稳的村,是在时间紧、任务重、巡察力量相对不足等情况下,"
                 "完成对村(社区)巡察全覆盖的主要方式",
    "joint_together": "乡村一体巡有助于减轻对基层的干扰,有助于问题双向印证,有助于乡村共同整改",
    "joint_village": "要真正把村作为独立的巡察对象来看待,保障必要的人员力量和现场巡察时间",
    "special_supplement": "专项巡察……主要适用于检查重大部署落实、发现群众反映强烈的系统性问题等,可作为对村(社区)巡察的补充方式",
    "special_for": "建议对党组织软弱涣散、经济发展滞后、基层治理矛盾突出、生态环境承载力大、廉洁风险突出、巡察反馈整改不力的村(社区)采用",
    "coverage": "统筹考虑届内实现全覆盖、现有巡察力量、村级分类情况等要素",
    "immediate": "通过立行立改“短平快”解决百姓身边“小急难”问题",
    "transfer": "根子在上级,我们不能只盯着基层抓整改,需要“机关、基层”两端发力,联动整改",
    "evaluate": "巡察整改落实得怎么样,最后需要有人来评估、来验收,形成闭环机制",
    "shifts": "要把握好村级党组织履责重心由脱贫攻坚转向乡村振兴的变化,要把握“一肩挑”政策落实后村“两委”班子运行情况的变化,"
              "要把握群众身边不正之风和腐败问题表现形式的变化",
}


def village_modes(classes: list[VillageClass]) -> list[dict]:
    """The inspection mode of each village (``ARTICLE["key_direct"]``, ``ARTICLE["joint_for"]``):
    a key village is inspected directly (直接巡村), any other with its township (乡村一体巡). 专项巡察 is
    never a village's mode: it is proposed beside the plan (:func:`special_proposals`).

    >>> c = [VillageClass("500101001001", "甲村", "500101001", 0.6, KEY, {}, {}, ["软弱涣散"], ("软弱涣散",)),
    ...      VillageClass("500101001002", "乙村", "500101001", 0.1, ORDINARY, {}, {}, [])]
    >>> [(m["mode"], m["reasons"][0]) for m in village_modes(c)]
    [('直接巡村', '重点村：软弱涣散'), ('乡村一体巡', '一般村：随所在乡镇(街道)一体巡察')]
    """
    modes = []
    for c in classes:
        if c.klass == KEY:
            mode, reasons = DIRECT, [f"重点村：{'、'.join(c.reasons) or '综合得分高'}", ARTICLE["key_direct"]]
        else:
            mode, reasons = JOINT, ["一般村：随所在乡镇(街道)一体巡察", ARTICLE["joint_village"]]
        modes.append({"village_code": c.village_code, "name": c.name, "township_code": c.township_code,
                      "class": c.klass, "mode": mode, "reasons": reasons})
    return modes


def township_modes(modes: list[dict], names: dict[str, str]) -> list[dict]:
    """Each township as an object of inspection (``ARTICLE["joint_together"]``): a township with
    一般村 is inspected with them (乡村一体巡); one whose villages are all key has no joint visit.

    >>> m = [{"township_code": "t1", "mode": JOINT}, {"township_code": "t1", "mode": DIRECT},
    ...      {"township_code": "t2", "mode": DIRECT}]
    >>> [(t["township_code"], t["mode"], t["joint_villages"], t["direct_villages"]) for t in township_modes(m, {})]
    [('t1', '乡村一体巡', 1, 1), ('t2', None, 0, 1)]
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    for m in modes:
        counts[m["township_code"]][m["mode"]] += 1
    return [{"township_code": t, "name": names.get(t, t), "mode": JOINT if n[JOINT] else None,
             "joint_villages": n[JOINT], "direct_villages": n[DIRECT]} for t, n in sorted(counts.items())]


# The article's kinds of village a special inspection suits (``ARTICLE["special_for"]``) that the
# indicators show, each with its topic and the district unit that leads it (by function).
SPECIAL_KINDS = {
    "weak_organisation": ("软弱涣散村党组织专项巡察", "organization"),
    "integrity_risk": ("廉洁风险突出村专项巡察", "discipline"),
    "disputes": ("基层治理矛盾突出村专项巡察", "petitions"),
    "recurrences": ("巡察反馈整改不力村专项巡察", "inspection_office"),
}
SPECIAL_MIN_VILLAGES = 5   # "涉及的村数量多、分布广": at least this many villages in two townships or more


def special_proposals(causes: list[dict], classes: list[VillageClass], district_units: dict[str, dict] | None = None,
                      scale: dict[str, float] | None = None) -> list[dict]:
    """专项巡察 proposals, listed beside the plan (``ARTICLE["special_supplement"]``): one per surfaced
    district-level root cause (a systemic problem; led by its root unit), and one per kind of village
    of ``ARTICLE["special_for"]`` the indicators show in many villages (led by the district unit of
    ``district_units``: function -> unit). Each has its topic, scope (villages, townships, key
    villages among them), lead unit and the cause that prompts it. Villages keep their own mode.

    >>> cause = {"level": "district", "area_code": "500101", "area_name": "万州区", "category": "惠民惠农资金",
    ...          "unit_id": "500101-agriculture", "unit_name": "万州区农业农村委", "confidence": 0.999,
    ...          "villages": ["500101001001", "500101002001"], "evidence": {"observed": 40, "expected": 15.6}}
    >>> c = [VillageClass("500101001001", "甲村", "500101001", 0.6, KEY, {})]
    >>> [p] = special_proposals([cause], c)
    >>> p["topic"], p["lead_unit"]["unit_name"], p["scope"]["villages"], p["scope"]["townships"], p["scope"]["key_villages"]
    ('惠民惠农资金专项巡察', '万州区农业农村委', 2, 2, 1)
    >>> p["cause"]["expected"]
    16
    >>> weak = [VillageClass(f"5001010{t}0001", "", f"5001010{t}0", 0.2, KEY, {}, {"weak_organisation": 1}) for t in range(10, 16)]
    >>> [(p["topic"], p["scope"]["villages"], p["lead_unit"]["unit_name"])
    ...  for p in special_proposals([], weak, {"organization": {"unit_id": "500101-organization", "unit_name": "万州区委组织部"}})]
    [('软弱涣散村党组织专项巡察', 6, '万州区委组织部')]
    """
    key = {c.village_code for c in classes if c.klass == KEY}
    scale = {**DEFAULT_CONFIG["scale"], **(scale or {})}

    def proposal(pid, topic, area, villages, lead, cause, reason):
        return {"proposal_id": pid, "topic": topic,
                "scope": {"area_code": area[0], "area_name": area[1], "villages": len(villages),
                          "townships": len({v[:9] for v in villages}), "key_villages": len(key & set(villages)),
                          "village_codes": villages},
                "lead_unit": lead, "cause": cause, "reasons": [reason, ARTICLE["special_supplement"]]}

    out = []
    for cause in causes:
        if cause.get("level") != "district":
            continue
        villages = sorted(cause.get("villages", ()))
        evidence = cause.get("evidence", {})
        out.append(proposal(
            f"ZX-{cause['area_code']}-{cause['category']}", f"{cause['category']}专项巡察",
            (cause["area_code"], cause.get("area_name", cause["area_code"])), villages,
            {"unit_id": cause["unit_id"], "unit_name": cause["unit_name"]},
            {"unit_name": cause["unit_name"], "category": cause["category"],
             "confidence": round(cause.get("confidence", 0.0), 4), "observed": evidence.get("observed"),
             "expected": None if evidence.get("expected") is None else round(evidence["expected"])},
            f"{cause['category']}在全区 {len(villages)} 个村(社区)集中出现，根子在{cause['unit_name']}"))
    district = classes[0].village_code[:6] if classes else ""
    for indicator, (topic, function) in SPECIAL_KINDS.items():
        # A flag (软弱涣散) or a count at its scale's full mark (矛盾纠纷和信访, 整改后复发).
        villages = sorted(c.village_code for c in classes
                          if float(c.indicators.get(indicator, 0) or 0) >= scale.get(indicator, 1))
        if len(villages) < SPECIAL_MIN_VILLAGES or len({v[:9] for v in villages}) < 2:
            continue
        lead = (district_units or {}).get(function) or {"unit_id": f"{district}-{function}", "unit_name": function}
        out.append(proposal(
            f"ZX-{district}-{INDICATOR_ZH[indicator]}", topic, (district, district), villages, lead,
            {"unit_name": lead["unit_name"], "category": INDICATOR_ZH[indicator], "confidence": None,
             "observed": len(villages), "expected": None},
            f"{len(villages)} 个村(社区){INDICATOR_ZH[indicator]}（指标达到 {scale.get(indicator, 1):g}），"
            f"分布在 {len({v[:9] for v in villages})} 个乡镇(街道)；{ARTICLE['special_for']}"))
    return out


class PlanError(ValueError):
    """Input a plan cannot be made from: ``option``, ``value`` and what is expected, in Chinese."""

    def __init__(self, option: str, value, expected: str):
        self.option, self.value, self.expected = option, value, expected
        super().__init__(f"{option}：{value}：应为 {expected}")


ROUND_MONTHS = {1: 12, 2: 6, 3: 4, 4: 3, 6: 2, 12: 1}   # rounds a year -> months a round


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it is shorter).

    >>> add_months(dt.date(2026, 8, 31), 6), add_months(dt.date(2026, 12, 3), 6)
    (datetime.date(2027, 2, 28), datetime.date(2027, 6, 3))
    """
    years, month = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def check_plan_input(*, teams: int, per_team: dict[str, int], rounds_per_year: int, start: dt.date,
                     term_end: dt.date, today: dt.date) -> None:
    """Refuse what no plan can be made from, each with what is expected.

    >>> check_plan_input(teams=0, per_team={DIRECT: 4, JOINT: 15}, rounds_per_year=2, start=dt.date(2027, 1, 1),
    ...                  term_end=dt.date(2031, 12, 31), today=dt.date(2026, 12, 3))
    Traceback (most recent call last):
    ...
    graph.analysis.planning.PlanError: --teams：0：应为 至少 1 个巡察组
    """
    if teams < 1:
        raise PlanError("--teams", teams, "至少 1 个巡察组")
    for mode, option in ((DIRECT, "--direct"), (JOINT, "--joint")):
        if per_team.get(mode, 0) < 1:
            raise PlanError(option, per_team.get(mode), f"每组每轮{mode}至少 1 个村(社区)")
    if rounds_per_year not in ROUND_MONTHS:
        raise PlanError("--rounds-per-year", rounds_per_year, "1、2、3、4、6 或 12（每轮整月数）")
    if start < today:
        raise PlanError("--start", start.isoformat(), f"今天（{today.isoformat()}）或以后：计划不能从过去开始")
    first_end = add_months(start, ROUND_MONTHS[rounds_per_year]) - dt.timedelta(days=1)
    if term_end < first_end:
        raise PlanError("--term-end", term_end.isoformat(),
                        f"不早于第一轮结束日期 {first_end.isoformat()}（第一轮 {start.isoformat()} 开始）")


def plan_rounds(modes: list[dict], townships: dict[str, str], inspected: set[str], *, teams: int,
                per_team: dict[str, int], rounds_per_year: int, start: dt.date, term_end: dt.date,
                today: dt.date | None = None) -> dict:
    """A work plan that reaches every village and township not yet inspected this term before
    ``term_end`` (``ARTICLE["coverage"]``): rounds with start and end dates, each team's objects.

    * A team-round holds ``per_team[直接巡村]`` key villages or ``per_team[乡村一体巡]`` objects of a
      joint inspection; the township itself is one of them, visited with its 一般村.
    * Key villages (直接巡村) go into the first half of the term's rounds.
    * A township's joint villages stay in one round (split between teams of that round if one team
      cannot take them all; over rounds only when one round cannot).
    * Too little time or too few teams: ``feasible`` False with the rounds and teams it would take.

    ``inspected``: codes of villages and townships already inspected this term. Impossible input
    raises :class:`PlanError`.

    >>> modes = [{"village_code": f"50010100{t}00{v}", "name": "", "township_code": f"50010100{t}",
    ...           "class": KEY if v == 1 else ORDINARY, "mode": DIRECT if v == 1 else JOINT, "reasons": []}
    ...          for t in (1, 2, 3) for v in (1, 2, 3, 4)]
    >>> p = plan_rounds(modes, {}, {"500101001002"}, teams=1, per_team={DIRECT: 3, JOINT: 8}, rounds_per_year=2,
    ...                 start=dt.date(2027, 1, 1), term_end=dt.date(2028, 12, 31), today=dt.date(2026, 12, 3))
    >>> [(r["round"], r["starts_on"], r["ends_on"], r["by_mode"], len(r["townships"])) for r in p["rounds"]]
    [(1, '2027-01-01', '2027-06-30', {'直接巡村': 3}, 0), (2, '2027-07-01', '2027-12-31', {'乡村一体巡': 6}, 2), (3, '2028-01-01', '2028-06-30', {'乡村一体巡': 2}, 1)]
    >>> p["feasible"], p["covered"], p["key_in_first_half"], p["spare_team_rounds"]
    (True, 12, True, 1)
    """
    today = today or dt.date.today()
    check_plan_input(teams=teams, per_team=per_team, rounds_per_year=rounds_per_year, start=start,
                     term_end=term_end, today=today)
    months = ROUND_MONTHS[rounds_per_year]
    available = 0
    while add_months(start, (available + 1) * months) - dt.timedelta(days=1) <= term_end:
        available += 1
    first_half = max(1, math.ceil(available / 2))
    todo = [m for m in modes if m["village_code"] not in inspected]
    key_units = [[{**m, "kind": "村(社区)"}] for m in sorted(todo, key=lambda m: m["village_code"]) if m["mode"] == DIRECT]
    blocks: dict[str, list[dict]] = defaultdict(list)
    for m in todo:
        if m["mode"] == JOINT:
            blocks[m["township_code"]].append({**m, "kind": "村(社区)"})
    township_units = []
    for code, villages in blocks.items():
        head = [] if code in inspected else [{"village_code": None, "township_code": code, "name": townships.get(code, code),
                                              "class": None, "mode": JOINT, "kind": "乡镇(街道)", "reasons": []}]
        township_units.append(head + sorted(villages, key=lambda m: m["village_code"]))
    township_units.sort(key=lambda u: (-len(u), u[0]["township_code"]))
    rounds = _assign(key_units, township_units, teams, per_team, first_half)
    dated = []
    in_year: Counter = Counter()
    for k, teams_of_round in enumerate(rounds):
        begins = add_months(start, k * months)
        ends = add_months(start, (k + 1) * months) - dt.timedelta(days=1)
        in_year[begins.year] += 1
        objects = [{**o, "team": f"第{t + 1}组"} for t, team in enumerate(teams_of_round) for o in team]
        villages = [o for o in objects if o["kind"] != "乡镇(街道)"]
        dated.append({"round": k + 1, "round_id": f"{begins.year}年第{in_year[begins.year]}轮",
                      "starts_on": begins.isoformat(), "ends_on": ends.isoformat(),
                      "within_term": k < available, "first_half": k < first_half,
                      "teams": [{"team": f"第{t + 1}组", "objects": len(team)} for t, team in enumerate(teams_of_round)
                                if team],
                      "townships": [o for o in objects if o["kind"] == "乡镇(街道)"], "villages": villages,
                      "by_mode": dict(Counter(o["mode"] for o in villages))})
    in_term = [o for r in dated[:available] for o in r["villages"]]
    codes = {m["village_code"] for m in modes}
    result = {"villages": len(modes), "inspected": len(inspected & codes), "to_inspect": len(todo),
              "rounds": dated, "rounds_available": available, "first_half": first_half,
              "feasible": len(dated) <= available, "covered": len(inspected & codes) + len(in_term), "teams": teams,
              "key_in_first_half": all(r["first_half"] for r in dated for o in r["villages"] if o["mode"] == DIRECT),
              "spare_team_rounds": sum(teams - len(r["teams"]) for r in dated[:available]) + teams * max(
                  0, available - len(dated))}
    if not result["feasible"]:
        # The fewest teams whose plan fits the rounds of the term, and the rounds these teams need.
        needed = teams + 1
        while needed <= max(len(todo), 1) and len(_assign(key_units, township_units, needed, per_team,
                                                          first_half)) > available:
            needed += 1
        result["teams_needed"] = needed
        result["rounds_needed"] = len(dated)
    return result


def _assign(key_units: list[list[dict]], township_units: list[list[dict]], teams: int, per_team: dict[str, int],
            first_half: int) -> list[list[list[dict]]]:
    """Rounds of teams of objects. A team-round has ``direct × joint`` slots: a key village takes
    ``joint`` of them, a joint object ``direct``. Key villages fill the first rounds (within the
    first half, or later if they must); township blocks, biggest first, go to the first round that
    holds the whole block (into as few of its teams as possible)."""
    size = per_team[DIRECT] * per_team[JOINT]
    cost = {DIRECT: per_team[JOINT], JOINT: per_team[DIRECT]}
    rounds: list[list[list[dict]]] = []
    free: list[list[int]] = []

    def new_round():
        rounds.append([[] for _ in range(teams)])
        free.append([size] * teams)

    for [village] in key_units:
        for r in range(len(rounds) + 1):
            if r == len(rounds):
                new_round()
            team = next((t for t in range(teams) if free[r][t] >= cost[DIRECT]), None)
            if team is not None:
                rounds[r][team].append(village)
                free[r][team] -= cost[DIRECT]
                break
    for block in township_units:
        pending = list(block)
        r = 0
        while pending:
            if r == len(rounds):
                new_round()
            room = sum(f // cost[JOINT] for f in free[r])
            whole_round = teams * (size // cost[JOINT])
            if room >= len(pending) or (len(pending) > whole_round and room == whole_round):
                # The team with least room that takes the whole block; else the teams with most room first.
                order = sorted(range(teams), key=lambda t: (0, free[r][t], t) if free[r][t] >= len(pending) * cost[JOINT]
                               else (1, -free[r][t], t))
                for t in order:
                    while pending and free[r][t] >= cost[JOINT]:
                        rounds[r][t].append(pending.pop(0))
                        free[r][t] -= cost[JOINT]
            r += 1
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
    rectified = sum(1 for found in by_vc.values() if any(i.status in ONCE_RECTIFIED for i in found))
    recurred = sum(1 for found in by_vc.values() if came_back(found))
    mix: dict[str, Counter] = defaultdict(Counter)
    for i in issues:
        mix[i.round_id][i.category] += 1
    return {"problems": len(issues), "on_time_rate": round(on_time / len(with_due), 4) if with_due else None,
            "share_closed": round(closed / len(issues), 4) if issues else None,
            "recurrence_after_closure": round(recurred / rectified, 4) if rectified else None,
            "villages_rectified": rectified, "villages_recurred": recurred,
            "category_mix_by_round": {r: dict(mix[r].most_common()) for r in round_order(issues)}}


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
            later = next((i for i in found[k + 1:] if found_again(i, done)), None)
            if later is not None:
                links.append({"closed": done.issue_id, "reopened_by": later.issue_id, "village_code": village,
                              "category": category, "round": later.round_id,
                              "reopened": done.status == "reopened"})
    return links


# The shifts the source article names (``ARTICLE["shifts"]``), as tags on categories (by name or
# group): from poverty alleviation (脱贫攻坚) to rural revitalisation (乡村振兴), and the oversight
# of the combined secretary-director post (书记主任"一肩挑"). The third, the changing forms of
# misconduct and corruption close to the people, is read from what each problem says it was
# (its description): the share of problems showing a form, and the count of each form.
SHIFT_TAGS = {"poverty_alleviation": ("低保", "特困", "惠民惠农", "扶贫", "返贫"),
              "rural_revitalisation": ("乡村振兴",),
              "secretary_director": ("一肩挑",)}
SHIFT_ZH = {"poverty_alleviation": "脱贫攻坚与民生兜底", "rural_revitalisation": "乡村振兴", "secretary_director": "“一肩挑”监督",
            "corruption_forms": "腐败表现形式"}
CORRUPTION_FORMS = ("虚报冒领", "优亲厚友", "截留挪用", "套取", "侵占", "贪污", "吃拿卡要", "索要", "超范围列支",
                    "雁过拔毛", "违规发放")


def round_order(issues) -> list[str]:
    """Rounds by the date of their first finding, not by their names' text ("2024年第10轮" after
    "2024年第9轮").

    >>> from types import SimpleNamespace as I
    >>> round_order([I(round_id="2024年第10轮", found_on=dt.date(2024, 10, 1)),
    ...              I(round_id="2024年第9轮", found_on=dt.date(2024, 9, 1))])
    ['2024年第9轮', '2024年第10轮']
    """
    first: dict[str, dt.date] = {}
    for i in issues:
        first[i.round_id] = min(first.get(i.round_id, i.found_on), i.found_on)
    return sorted(first, key=lambda r: (first[r], r))


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
    """Per round (by date), problems, the share of each shift's categories among them, and the
    forms of corruption they show (share and count of each form).

    >>> from types import SimpleNamespace as I
    >>> d = dt.date(2024, 3, 1)
    >>> rows = [I(round_id="R1", category="低保", description="低保优亲厚友", found_on=d),
    ...         I(round_id="R1", category="作风", description="作风落实不及时", found_on=d),
    ...         I(round_id="R2", category="振兴", description="", found_on=d)]
    >>> shifts(rows, {"低保": {"poverty_alleviation"}, "振兴": {"rural_revitalisation"}, "作风": set()})["R1"]
    {'problems': 2, 'poverty_alleviation': 0.5, 'rural_revitalisation': 0.0, 'secretary_director': 0.0, 'corruption_forms': 0.5, 'forms': {'优亲厚友': 1}}
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    forms: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    shown: Counter = Counter()
    for i in issues:
        totals[i.round_id] += 1
        for tag in tags.get(i.category, ()):
            counts[i.round_id][tag] += 1
        found = [f for f in CORRUPTION_FORMS if f in (i.description or "")]
        shown[i.round_id] += bool(found)
        forms[i.round_id].update(found)
    return {r: {"problems": totals[r], **{tag: round(counts[r][tag] / totals[r], 4) for tag in SHIFT_TAGS},
                "corruption_forms": round(shown[r] / totals[r], 4), "forms": dict(forms[r].most_common())}
            for r in round_order(issues)}


def immediate_due(issue, days: int) -> dt.date | None:
    """A 立行立改 item's deadline (``ARTICLE["immediate"]``: “短平快”): ``days`` after it was found,
    or the ledger's own deadline when that is sooner; other items keep the ledger's.

    >>> from types import SimpleNamespace as I
    >>> found = dt.date(2026, 3, 1)
    >>> immediate_due(I(immediate=True, found_on=found, due_on=dt.date(2026, 5, 30)), 15)
    datetime.date(2026, 3, 16)
    >>> immediate_due(I(immediate=False, found_on=found, due_on=dt.date(2026, 5, 30)), 15)
    datetime.date(2026, 5, 30)
    """
    if not issue.immediate:
        return issue.due_on
    short = issue.found_on + dt.timedelta(days=days)
    return min(short, issue.due_on) if issue.due_on else short


def back_check_villages(closed: dict[str, list[str]], share: float, seed: int, minimum: int = 1) -> list[str]:
    """A reproducible random sample of villages with rectified or closed problems, to re-verify on
    site (抽查): the office goes to a village and checks all its done items there.

    >>> closed = {f"5001010010{i:02d}": [f"Q{i}"] for i in range(40)}
    >>> back_check_villages(closed, 0.1, seed=7) == back_check_villages(dict(reversed(closed.items())), 0.1, seed=7)
    True
    >>> len(back_check_villages(closed, 0.1, seed=7))
    4
    """
    return back_check_sample([v for v, items in closed.items() if items], share, seed, minimum)
