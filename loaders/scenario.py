"""A scenario generator for demos, tests and benchmarks: units, duties and a problem ledger over
real divisions, with higher-level root causes planted over realistic background problems.

There is no public ledger of inspection findings, so the system is measured on generated ledgers
whose truth is known. The generator is deterministic per seed, and has several *families* of
ledger, so the method is judged on shapes it was not built on (``bench/accuracy.py``).

Model
-----
* Each village-level unit has an underlying risk ``r ~ Gamma(1/noise², noise²)`` (mean 1,
  coefficient of variation ``noise``), so counts are overdispersed like real ledgers, not Poisson.
* Problems of category ``c`` found in village ``v`` in one inspection:
  ``Poisson(rate_kind(c) × r_v × m)`` where the rate depends on whether ``v`` is a village or a
  community and ``m`` is a planted multiplier (1 elsewhere). With ``kappa`` the village's *mix*
  of problems persists across rounds: its composition is ``Dirichlet(kappa · share(c) · m)``,
  drawn once for the term, and each inspection's problems are spread by it (so a village's counts
  of a category given its total are beta-binomial, ρ = 1/(kappa + 1)).
* Inspection: each township in one of ``rounds`` rounds (乡村一体巡), or with ``every_round``
  every village in each round; ``coverage`` inspects only that share of villages,
  ``township_share`` only that share of townships (mid-term). A rectified/closed problem is found
  again later (after rectification) with a small base probability: in the last round (回头看) when
  townships are inspected once, in the next round otherwise, and in an extra 回头看 round with
  ``revisit``.
* Planted causes: a district unit's policy gap (the category's rate ×2–3 in 60–90 % of the
  district's townships); a township unit's missing supervision (×3–5 in 70–90 % of its
  villages, townships of 8 or more inspected villages); a township unit whose fixes do not hold
  (×2, and the category recurs after closure in 80 % of cases instead of 5 %). Causes are planted
  where a ledger can show them: about ten problems of the category are expected there anyway. The
  planted unit is the one bearing primary duty for the category at that level.
* ``spread``: districts differ for local reasons, the same in every term: each district's rate of
  each category is multiplied by ``Gamma`` with relative variance ``spread · (1 − π) / π`` (π the
  category's share), so district shares spread by ``τ² ≈ spread · π(1 − π)``, as
  ``tests/test_root_causes.py`` draws them. None of it is a root cause.
* ``terms``: that many terms (届次) of inspection, five years apart, each a full term as above,
  over the same villages with the same risks; the ledger's 届次 column labels them 第1届 … 第N届.
  Causes are planted in the latest term only: new this term.
* ``office_categories``: an office's own catalog of that many categories (drawn from the default
  one); its files carry Chinese headers and no rates, so nothing tells the analysis the
  categories' expected shares.
"""
from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import json
import math
import random

import numpy as np
from dataclasses import dataclass, field
from pathlib import Path

from graph.errors import InputError
from graph.model import DUTY_ORDER, TERM_HEADER, CategoryIn, DutyType, Division, Severity, Status, short_name
from graph.store import GraphStore

from .catalog import CATALOG_DIR, catalog_units, default_categories

SEVERITIES = ("minor", "serious", "grave")
BACKGROUND_SEVERITY = (0.65, 0.27, 0.08)
PLANTED_SEVERITY = (0.50, 0.35, 0.15)
STATUSES = ("open", "in_progress", "rectified", "closed")
STATUS_LAST_ROUND = (0.3, 0.4, 0.2, 0.1)
STATUS_EARLIER = (0.02, 0.05, 0.18, 0.75)
TERM_START = dt.date(2022, 3, 1)
PHRASES = ("制度执行不到位", "程序不规范", "台账资料不完整", "监督管理缺位", "群众反映强烈", "落实不及时")
MONEY_PHRASES = ("资金使用不规范", "虚报冒领", "超范围列支", "优亲厚友", "账目不清")


@dataclass
class PlantedCause:
    kind: str          # district_policy | township_supervision | recurrence
    level: str         # district | township
    area_code: str
    unit_id: str
    category: str
    multiplier: float
    townships: list[str] = field(default_factory=list)
    villages: set[str] = field(default_factory=set)  # villages where the cause produced evidence
    affected: list[str] = field(default_factory=list)  # villages whose rate the cause multiplied
    share: float = 1.0                                 # share of the township's villages affected

    def truth(self) -> dict:
        return {"unit_id": self.unit_id, "level": self.level, "category": self.category,
                "area_code": self.area_code, "kind": self.kind, "multiplier": round(self.multiplier, 2),
                "share": round(self.share, 3), "affected": sorted(self.affected), "villages": sorted(self.villages)}


@dataclass
class Scenario:
    units: list
    duties: list[dict]  # the catalog's duty rows for the scenario's categories
    issues: list[dict]
    causes: list[PlantedCause]
    meta: dict

    categories: list[CategoryIn] = field(default_factory=list)
    office: bool = False  # an office's own catalog: Chinese headers, no rates in the files
    base: list[list] = field(default_factory=list)  # village base data, BASE_HEADER rows
    # (district, category) -> the rate's local multiplier (``spread``): the truth an oracle knows
    local: dict[tuple[str, str], float] = field(default_factory=dict)

    def write(self, out: str | Path) -> dict[str, Path]:
        """units.csv, duties.csv, issues.csv, truth.json; with an office catalog also
        categories.csv, every table with the Chinese headers an office uses."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / f"{name}.csv" for name in ("units", "duties", "issues")}
        zh = self.office
        unit_header = (["单位编号", "单位名称", "层级", "所属区划代码", "职能"] if zh
                       else ["unit_id", "name", "level", "area_code", "function"])
        _write_rows(paths["units"], unit_header,
                    [[u.unit_id, u.name, u.level.zh if zh else u.level.value, u.area_code, u.function]
                     for u in self.units])
        duties = self.duties
        _write_rows(paths["duties"], ["问题类别", "层级", "职能", "责任类型"] if zh else list(duties[0]),
                    [[d["category"], {"district": "区县", "township": "乡镇"}[d["level"]] if zh else d["level"],
                      d["function"], DutyType(d["duty"]).zh if zh else d["duty"]] for d in duties])
        names = ISSUE_FIELDS + (["term"] if self.issues and "term" in self.issues[0] else [])
        fields = [ISSUE_FIELDS_ZH[f] for f in names] if zh else [TERM_HEADER if f == "term" else f for f in names]
        _write_rows(paths["issues"], fields, [[_zh_value(f, i[f]) if zh else i[f] for f in names]
                                              for i in self.issues])
        if zh:
            paths["categories"] = out / "categories.csv"
            _write_rows(paths["categories"], ["问题类别", "类别分组", "涉及资金", "机关端整改措施"],
                        [[c.name, c.group, "是" if c.money else "否", c.systemic_fix] for c in self.categories])
        if self.base:
            paths["base"] = out / "base.csv"
            _write_rows(paths["base"], BASE_HEADER, self.base)
        paths["truth"] = out / "truth.json"
        paths["truth"].write_text(json.dumps({**self.meta, "root_causes": [c.truth() for c in self.causes]},
                                             ensure_ascii=False, indent=1), encoding="utf-8")
        return paths


def _zh_value(field_name: str, value: str) -> str:
    """A ledger cell as a Chinese office writes it: 严重 for grave, 已销号 for closed, 是/否."""
    if field_name == "severity":
        return Severity(value).zh
    if field_name == "status":
        return Status(value).zh
    if field_name == "immediate":
        return "是" if value == "yes" else "否"
    return value


def _write_rows(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


ISSUE_FIELDS = ["issue_id", "village_code", "round_id", "found_on", "category", "description", "severity",
                "amount_yuan", "status", "immediate", "due_on", "closed_on", "root_unit_hint"]
ISSUE_FIELDS_ZH = {"issue_id": "问题编号", "village_code": "村(社区)代码", "round_id": "巡察轮次",
                   "found_on": "发现日期", "category": "问题类别", "description": "问题描述", "severity": "严重程度",
                   "amount_yuan": "涉及金额(元)", "status": "整改状态", "immediate": "立行立改", "due_on": "整改时限",
                   "closed_on": "销号日期", "root_unit_hint": "根源单位", "term": TERM_HEADER}


class _Pick:
    """One weighted pick from ``population``, drawn as ``random.choices(population, weights)[0]``
    draws it (one ``random()`` scaled by the cumulative weights, then a bisection), with the
    cumulative weights summed once: a province's term makes hundreds of thousands of picks, and
    the same seed must keep making the same ledger.

    >>> pick, rng, same = _Pick(SEVERITIES, BACKGROUND_SEVERITY), random.Random(5), random.Random(5)
    >>> [pick(rng) for _ in range(6)] == [same.choices(SEVERITIES, BACKGROUND_SEVERITY)[0] for _ in range(6)]
    True
    """

    def __init__(self, population, weights):
        self.population, self.cumulative = tuple(population), list(itertools.accumulate(weights))
        self.total, self.last = self.cumulative[-1] + 0.0, len(self.population) - 1

    def __call__(self, rng: random.Random):
        return self.population[bisect.bisect(self.cumulative, rng.random() * self.total, 0, self.last)]


def _primary_function(duties: list[dict], category: str, level: str) -> str | None:
    bearers = sorted((DUTY_ORDER[DutyType(d["duty"])], d["function"]) for d in duties
                     if d["category"] == category and d["level"] == level)
    return bearers[0][1] if bearers else None




def generate_scenario(store: GraphStore, *, province: str | None = None, districts: list[str] | None = None,
                      seed: int = 1, rounds: int = 2, noise: float = 0.5, causes: int | None = None,
                      every_round: bool = False, revisit: bool = False, kappa: float | None = None,
                      coverage: float = 1.0, township_share: float = 1.0,
                      office_categories: int | None = None, terms: int = 1, spread: float = 0.0) -> Scenario:
    """A generated term of inspection over the loaded divisions of ``province`` or ``districts``;
    see the module's docstring for the model and its options."""
    if not province and not districts:
        raise InputError("需要 --province CODE 或 --district CODE (a province or districts)")
    if rounds < 1 or not (0 <= noise <= 2) or not (0 < coverage <= 1) or not (0 < township_share <= 1):
        raise InputError("--rounds ≥ 1, --noise 在 0 到 2 之间, --coverage 和 --township-share 在 (0, 1] 之间")
    if kappa is not None and kappa <= 0:
        raise InputError("--kappa 须大于 0")
    if not 1 <= terms <= 5 or not 0 <= spread <= 0.2:
        raise InputError("--terms 在 1 到 5 之间, --spread 在 0 到 0.2 之间")
    scope = [province] if province else list(districts)
    district_list: list[Division] = []
    for code in scope:
        found = [d for d in store.divisions("district", within=code)]
        if not found:
            raise InputError(f"没有已载入的区划 {code}：请先 xuncha load divisions (load divisions first)")
        district_list += found
    district_list = sorted(set(district_list))
    rng = random.Random(seed)
    counts_rng = np.random.default_rng(seed)
    categories = default_categories()
    if office_categories:
        if not 2 <= office_categories <= len(categories):
            raise InputError(f"--office-categories 在 2 到 {len(categories)} 之间")
        categories = sorted(rng.sample(categories, office_categories), key=lambda c: c.name)
    names = {c.name for c in categories}
    with open(CATALOG_DIR / "duties.csv", encoding="utf-8") as f:
        duties = [d for d in csv.DictReader(f) if d["category"] in names]
    units = [u for d in district_list for u in catalog_units(store, d.code)]
    unit_ids = {u.unit_id for u in units}
    townships: dict[str, Division] = {}
    villages_of: dict[str, list[Division]] = {}
    for d in district_list:
        for t in store.divisions("township", within=d.code):
            townships[t.code] = t
            villages_of[t.code] = []
        for v in store.divisions("village", within=d.code):
            villages_of.setdefault(v.parent_code, []).append(v)
    # -- who is inspected, when -----------------------------------------------------------------
    order = sorted(townships)
    rng.shuffle(order)
    round_of = {t: (i % rounds) + 1 for i, t in enumerate(order)}
    visited_townships = {t for t in sorted(townships) if township_share >= 1 or rng.random() < township_share}
    inspected = {t: [v for v in villages_of[t] if coverage >= 1 or rng.random() < coverage]
                 for t in sorted(visited_townships)}
    townships_of = {d.code: [t for t in sorted(inspected) if townships[t].parent_code == d.code and inspected[t]]
                    for d in district_list}
    round_ids: dict[int, str] = {}
    round_start: dict[int, dt.date] = {}
    term_label = None

    def start_term(t: int) -> None:
        """Rounds of term ``t`` (1 … terms): the latest term starts at TERM_START, each earlier five years before."""
        nonlocal term_label
        start = TERM_START.replace(year=TERM_START.year - 5 * (terms - t))
        round_ids.clear()
        round_ids.update({r: f"{start.year + (r - 1) // 2}年第{(r - 1) % 2 + 1}轮" for r in range(1, rounds + 1)})
        round_start.clear()
        round_start.update({r: start + dt.timedelta(days=180 * (r - 1)) for r in range(1, rounds + 2)})
        if revisit:
            round_ids[rounds + 1] = f"{start.year + rounds // 2}年回头看"
        term_label = f"第{t}届" if terms > 1 else None

    start_term(terms)
    last_round = rounds + 1 if revisit else rounds
    visits = {t: (list(range(1, rounds + 1)) if every_round else [round_of[t]]) for t in inspected}
    kind_rate = {"village": "rate_village", "community": "rate_community", "other": "rate_community"}

    def expected_background(township: str, category) -> float:
        return sum(getattr(category, kind_rate[v.kind]) for v in inspected[township]) * len(visits[township])

    # -- planted causes -------------------------------------------------------------------------
    n_causes = causes if causes is not None else max(2, round(len(district_list) / 3))
    planted: list[PlantedCause] = []
    used: set[tuple[str, str]] = set()
    big_townships = [t for t in sorted(inspected) if len(inspected[t]) >= 8]
    # A recurrence cause needs a township whose rectified problems a later round can see again.
    early_townships = [t for t in big_townships if (every_round and rounds >= 2) or revisit or round_of[t] < rounds]
    can_recur = rounds >= 2 or revisit
    kinds = ["district_policy", "township_supervision", "recurrence" if can_recur else "township_supervision"]
    attempts = 0
    while len(planted) < n_causes and attempts < 2000:
        attempts += 1
        kind = kinds[len(planted) % 3]
        category = rng.choice(categories)
        if kind == "district_policy":
            district = rng.choice(district_list).code
            pool = townships_of[district]
            if len(pool) < 3 or (district, category.name) in used:
                continue
            share = rng.uniform(0.6, 0.9)
            affected = sorted(rng.sample(pool, max(2, round(share * len(pool)))))
            function = _primary_function(duties, category.name, "district")
            cause = PlantedCause(kind, "district", district, f"{district}-{function}", category.name,
                                 rng.uniform(2.0, 3.0), affected, share=1.0)
            clash = {(t, category.name) for t in pool}
            if sum(expected_background(t, category) for t in affected) < 10:
                continue
        else:
            pool = early_townships if kind == "recurrence" else big_townships
            if not pool:
                break
            township = rng.choice(pool)
            district = townships[township].parent_code
            if (township, category.name) in used or (district, category.name) in used:
                continue
            # A cause is planted where the ledger would hold some ten problems of the category
            # without it: a category an office sees a few times a term cannot show a cause.
            if expected_background(township, category) < 10:
                continue
            function = _primary_function(duties, category.name, "township")
            cause = PlantedCause(kind, "township", township, f"{township}-{function}", category.name,
                                 rng.uniform(3.0, 5.0) if kind == "township_supervision" else 2.0, [township],
                                 share=rng.uniform(0.7, 0.9))
            clash = {(district, category.name)}
        if function is None or cause.unit_id not in unit_ids or clash & used:
            continue
        used |= clash | {(cause.area_code, category.name)}
        planted.append(cause)

    planted_multiplier: dict[tuple[str, str], tuple[float, PlantedCause]] = {}  # (village, category) -> m, cause
    planted_recurring: dict[tuple[str, str], PlantedCause] = {}                # (township, category) -> cause
    multiplier, recurring = planted_multiplier, planted_recurring
    for cause in planted:
        for township in cause.townships:
            pool = inspected[township]
            chosen = pool if cause.share >= 1 else rng.sample(pool, max(1, round(cause.share * len(pool))))
            for v in chosen:
                planted_multiplier[(v.code, cause.category)] = (cause.multiplier, cause)
                cause.affected.append(v.code)
            if cause.kind == "recurrence":
                planted_recurring[(township, cause.category)] = cause
    # Local differences between districts, stable over terms (their own stream: a seed's ledger
    # without them does not change).
    local: dict[tuple[str, str], float] = {}
    if spread > 0:
        spread_rng = np.random.default_rng(seed * 104729 + 3)
        total = sum(c.rate_village for c in categories)
        for d in district_list:
            for c in categories:
                share = c.rate_village / total
                v = spread * (1 - share) / share
                local[(d.code, c.name)] = float(spread_rng.gamma(1 / v, v))

    issues: list[dict] = []
    counter: dict[str, int] = {}
    shape = 1 / noise ** 2 if noise > 0 else None

    # Per problem the same draws in the same order as ever (a seed's ledger does not change); what
    # does not need a draw is made once: the weighted picks' sums, the dates' text, the names.
    planted_severity, background_severity = _Pick(SEVERITIES, PLANTED_SEVERITY), _Pick(SEVERITIES, BACKGROUND_SEVERITY)
    status_last, status_earlier = _Pick(STATUSES, STATUS_LAST_ROUND), _Pick(STATUSES, STATUS_EARLIER)
    dates: dict[tuple[dt.date, int], tuple[dt.date, str]] = {}
    village_names: dict[str, str] = {}

    def day(start: dt.date, offset: int) -> tuple[dt.date, str]:
        made = dates.get((start, offset))
        if made is None:
            date = start + dt.timedelta(days=offset)
            made = dates[(start, offset)] = (date, date.isoformat())
        return made

    def add(v: Division, category, r: int, planted_by: PlantedCause | None, description: str | None = None):
        district = v.code[:6]
        counter[district] = counter.get(district, 0) + 1
        found, found_on = day(round_start[r], rng.randrange(45))
        severity = (planted_severity if planted_by else background_severity)(rng)
        status = (status_last if r == last_round else status_earlier)(rng)
        closed_on = day(found, rng.randrange(20, 120))[1] if status in ("rectified", "closed") else ""
        amount = ""
        if category.money and rng.random() < 0.7:
            amount = str(round(rng.lognormvariate(9.2, 1.1)))
        hint = ""
        if planted_by and rng.random() < 0.25:
            hint = planted_by.unit_id
        elif rng.random() < 0.01:  # inspectors' guesses are sometimes wrong
            bearers = [d for d in duties if d["category"] == category.name]
            bearer = rng.choice(bearers)
            area = v.parent_code if bearer["level"] == "township" else district
            if f"{area}-{bearer['function']}" in unit_ids:
                hint = f"{area}-{bearer['function']}"
        phrase = rng.choice(MONEY_PHRASES if category.money else PHRASES)
        if description is None:
            name = village_names.get(v.code)
            if name is None:
                name = village_names[v.code] = short_name(v.name)
            description = f"{name}{category.name}{phrase}"
        issue = {
            "issue_id": f"{district}-{counter[district]:05d}", "village_code": v.code, "round_id": round_ids[r],
            "found_on": found_on, "category": category.name, "description": description,
            "severity": severity, "amount_yuan": amount, "status": status,
            "immediate": "yes" if severity == "minor" and rng.random() < 0.3 else "no",
            "due_on": day(found, 90)[1], "closed_on": closed_on, "root_unit_hint": hint,
        }
        if term_label:
            issue["term"] = term_label
        issues.append(issue)
        if planted_by:
            planted_by.villages.add(v.code)
        return issue

    def recur(v: Division, category, issue: dict, r: int) -> None:
        """A rectified/closed problem found again in round ``r``: the fix did not hold."""
        cause = recurring.get((v.parent_code, category.name))
        if cause is None:
            m, other = multiplier.get((v.code, category.name), (1.0, None))
            chance, cause = (0.2, other) if other else (0.05, None)
        else:
            chance = 0.8
        if rng.random() < chance:
            add(v, category, r, cause, description=f"{issue['description']}（整改后反弹）")

    kind_rates = {kind: np.array([getattr(c, attr) for c in categories]) for kind, attr in kind_rate.items()}

    district_rates: dict[str, np.ndarray] = {}

    def local_rates(district: str) -> np.ndarray | float:
        if not local:
            return 1.0
        if district not in district_rates:
            district_rates[district] = np.array([local[(district, c.name)] for c in categories])
        return district_rates[district]

    risks: dict[str, float] = {}
    for term in range(1, terms + 1):
        # Causes act in the latest term only: each is new this term.
        start_term(term)
        multiplier, recurring = (planted_multiplier, planted_recurring) if term == terms else ({}, {})
        earlier: list[tuple[Division, object, dict]] = []
        for township in sorted(inspected):
            for v in inspected[township]:
                risk = risks.get(v.code)
                if risk is None:  # a village's risk is its own over terms
                    risk = risks[v.code] = rng.gammavariate(shape, 1 / shape) if shape else 1.0
                rates = kind_rates[v.kind] * local_rates(v.code[:6])
                causes_here = [multiplier.get((v.code, c.name), (1.0, None)) for c in categories]
                boosted = rates * np.array([m for m, _ in causes_here])
                if kappa is not None:  # the village's mix of problems, fixed for the term
                    weights = counts_rng.gamma(np.maximum(kappa * boosted / rates.sum(), 1e-9))
                    mix = weights / weights.sum() if weights.sum() > 0 else boosted / boosted.sum()
                pending: list[tuple[object, dict]] = []
                for r in visits[township]:
                    for category, issue in pending:  # found again after rectification, next round
                        recur(v, category, issue, r)
                    pending = []
                    if kappa is None:
                        counts = counts_rng.poisson(boosted * risk)
                    else:
                        counts = counts_rng.multinomial(counts_rng.poisson(boosted.sum() * risk), mix)
                    for j, count in enumerate(counts):
                        category = categories[j]
                        for _ in range(int(count)):
                            issue = add(v, category, r, causes_here[j][1])
                            if issue["status"] in ("rectified", "closed"):
                                if every_round:
                                    pending.append((category, issue))
                                elif r < rounds:
                                    earlier.append((v, category, issue))
                if every_round and revisit:
                    for category, issue in pending:
                        recur(v, category, issue, last_round)
        # Follow-up in the last round (回头看) when townships are inspected once: closed problems found again.
        for v, category, issue in earlier:
            recur(v, category, issue, last_round)

    base = _base_data(villages_of, risks, seed, shape)
    meta = {"seed": seed, "scope": scope, "rounds": rounds, "noise": noise, "causes": len(planted),
            "every_round": every_round, "revisit": revisit, "kappa": kappa, "coverage": coverage,
            "township_share": township_share, "office_categories": office_categories,
            "terms": terms, "spread": spread,
            "villages": sum(len(v) for v in villages_of.values()),
            "villages_inspected": sum(len(v) for v in inspected.values()), "issues": len(issues)}
    return Scenario(units=units, duties=duties, issues=issues, causes=planted, meta=meta,
                    categories=categories, office=bool(office_categories), base=base, local=local)


BASE_HEADER = ["村(社区)代码", "人口", "集体资金", "项目数", "矛盾纠纷和信访", "软弱涣散", "廉政风险"]


def _base_data(villages_of: dict, risks: dict[str, float], seed: int, shape: float | None) -> list[list]:
    """Plausible village base data (村(社区)基础信息), rising with the village risk the ledger was
    drawn from. Its own random stream: the ledger of a seed does not change with it."""
    rng = random.Random(seed * 7919 + 17)
    rows = []
    for township in sorted(villages_of):
        for v in villages_of[township]:
            risk = risks.get(v.code) or (rng.gammavariate(shape, 1 / shape) if shape else 1.0)
            community = v.kind == "community"
            population = round(rng.lognormvariate(8.0 if community else 7.3, 0.4) * (0.7 + 0.3 * risk))
            funds = int(round(rng.lognormvariate(12.5, 0.8) * risk, -2))
            projects = _poisson(rng, 2.0 * risk)
            disputes = _poisson(rng, 3.0 * risk)
            weak = rng.random() < min(0.02 * risk ** 2, 0.5)
            integrity = rng.random() < min(0.06 * risk, 0.5)
            rows.append([v.code, population, funds, projects, disputes, "是" if weak else "否", "是" if integrity else "否"])
    return rows


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here are small.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
