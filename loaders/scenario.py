"""A scenario generator for demos, tests and benchmarks: units, duties and a problem ledger over
real divisions, with higher-level root causes planted over realistic background problems.

There is no public ledger of inspection findings, so the system is measured on generated ledgers
whose truth is known. The generator is deterministic per seed.

Model
-----
* Each village-level unit has an underlying risk ``r ~ Gamma(1/noise², noise²)`` (mean 1,
  coefficient of variation ``noise``), so counts are overdispersed like real ledgers, not Poisson.
* Problems of category ``c`` in village ``v``: ``Poisson(rate_kind(c) × r_v × m)`` where the
  rate depends on whether ``v`` is a village or a community and ``m`` is a planted multiplier (1
  elsewhere).
* Townships are inspected in one of ``rounds`` rounds (乡村一体巡); in the last round a follow-up
  (回头看) of earlier rounds finds rectified/closed problems again with a small base probability.
* Planted causes: a district unit's policy gap (the category's rate ×2–3 in 60–90 % of the
  district's townships); a township unit's missing supervision (×3–5 in 70–90 % of its
  villages, townships of 12 or more); a township unit whose fixes do not hold (×2, and the
  category recurs after closure in 80 % of cases instead of 5 %). The planted unit is the one bearing primary duty for the category at that level.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from graph.errors import InputError
from graph.model import DUTY_ORDER, DutyType, Division
from graph.store import GraphStore

from .catalog import CATALOG_DIR, catalog_units, default_categories

SEVERITIES = ("minor", "serious", "grave")
BACKGROUND_SEVERITY = (0.65, 0.27, 0.08)
PLANTED_SEVERITY = (0.50, 0.35, 0.15)
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

    def truth(self) -> dict:
        return {"unit_id": self.unit_id, "level": self.level, "category": self.category,
                "area_code": self.area_code, "kind": self.kind, "multiplier": round(self.multiplier, 2),
                "villages": sorted(self.villages)}


@dataclass
class Scenario:
    units: list
    duties_path: Path
    issues: list[dict]
    causes: list[PlantedCause]
    meta: dict

    def write(self, out: str | Path) -> dict[str, Path]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / f"{name}.csv" for name in ("units", "duties", "issues")}
        with open(paths["units"], "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["unit_id", "name", "level", "area_code", "function"])
            for u in self.units:
                w.writerow([u.unit_id, u.name, u.level.value, u.area_code, u.function])
        paths["duties"].write_text(self.duties_path.read_text(encoding="utf-8"), encoding="utf-8")
        with open(paths["issues"], "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=ISSUE_FIELDS, lineterminator="\n")
            w.writeheader()
            w.writerows(self.issues)
        paths["truth"] = out / "truth.json"
        paths["truth"].write_text(json.dumps({**self.meta, "root_causes": [c.truth() for c in self.causes]},
                                             ensure_ascii=False, indent=1), encoding="utf-8")
        return paths


ISSUE_FIELDS = ["issue_id", "village_code", "round_id", "found_on", "category", "description", "severity",
                "amount_yuan", "status", "immediate", "due_on", "closed_on", "root_unit_hint"]


def short_name(name: str) -> str:
    """The name people use: 黄柏村 for 黄柏村村民委员会, 东方广场社区 for 东方广场社区居委会.

    >>> short_name("黄柏村村民委员会"), short_name("东方广场社区居委会"), short_name("化龙桥社区工作站")
    ('黄柏村', '东方广场社区', '化龙桥社区工作站')
    """
    for suffixes, noun in ((("村民委员会", "村委会"), "村"), (("居民委员会", "居委会"), "社区")):
        for suffix in suffixes:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                return base if base.endswith(noun) else base + noun
    return name


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation; never reached with catalog rates
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _primary_function(duties: list[dict], category: str, level: str) -> str | None:
    bearers = sorted((DUTY_ORDER[DutyType(d["duty"])], d["function"]) for d in duties
                     if d["category"] == category and d["level"] == level)
    return bearers[0][1] if bearers else None


def generate_scenario(store: GraphStore, *, province: str | None = None, districts: list[str] | None = None,
                      seed: int = 1, rounds: int = 2, noise: float = 0.5, causes: int | None = None) -> Scenario:
    if not province and not districts:
        raise InputError("--province CODE or --district CODE")
    if rounds < 1 or not (0 <= noise <= 2):
        raise InputError("--rounds ≥ 1 and --noise between 0 and 2")
    scope = [province] if province else list(districts)
    district_list: list[Division] = []
    for code in scope:
        found = [d for d in store.divisions("district", within=code)]
        if not found:
            raise InputError(f"loaded divisions for {code}: load them first with xuncha load divisions")
        district_list += found
    district_list = sorted(set(district_list))
    rng = random.Random(seed)
    categories = default_categories()
    with open(CATALOG_DIR / "duties.csv", encoding="utf-8") as f:
        duties = list(csv.DictReader(f))
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
    townships_of = {d.code: [t for t in sorted(townships) if townships[t].parent_code == d.code] for d in district_list}

    # -- rounds ---------------------------------------------------------------------------------
    order = sorted(townships)
    rng.shuffle(order)
    round_of = {t: (i % rounds) + 1 for i, t in enumerate(order)}
    round_ids = {r: f"{TERM_START.year + (r - 1) // 2}年第{(r - 1) % 2 + 1}轮" for r in range(1, rounds + 1)}
    round_start = {r: TERM_START + dt.timedelta(days=180 * (r - 1)) for r in range(1, rounds + 1)}

    # -- planted causes -------------------------------------------------------------------------
    n_causes = causes if causes is not None else max(2, round(len(district_list) / 3))
    planted: list[PlantedCause] = []
    used: set[tuple[str, str]] = set()
    # Causes are planted where a ledger can show them: townships with enough villages, and for
    # recurrence a township inspected before the last round, so a follow-up can find it again.
    big_townships = [t for t in sorted(townships) if len(villages_of[t]) >= 12]
    early_townships = [t for t in big_townships if round_of[t] < rounds]
    kinds = ["district_policy", "township_supervision", "recurrence" if rounds >= 2 else "township_supervision"]
    attempts = 0
    while len(planted) < n_causes and attempts < 1000:
        attempts += 1
        kind = kinds[len(planted) % 3]
        category = rng.choice(categories).name
        if kind == "district_policy":
            district = rng.choice(district_list).code
            pool = townships_of[district]
            if len(pool) < 3 or (district, category) in used:
                continue
            share = rng.uniform(0.6, 0.9)
            affected = sorted(rng.sample(pool, max(2, round(share * len(pool)))))
            function = _primary_function(duties, category, "district")
            cause = PlantedCause(kind, "district", district, f"{district}-{function}", category,
                                 rng.uniform(2.0, 3.0), affected)
            clash = {(t, category) for t in pool}
        else:
            pool = early_townships if kind == "recurrence" else big_townships
            if not pool:
                break
            township = rng.choice(pool)
            district = townships[township].parent_code
            if (township, category) in used or (district, category) in used:
                continue
            function = _primary_function(duties, category, "township")
            cause = PlantedCause(kind, "township", township, f"{township}-{function}", category,
                                 rng.uniform(3.0, 5.0) if kind == "township_supervision" else 2.0, [township])
            clash = {(district, category)}
        if function is None or cause.unit_id not in unit_ids or clash & used:
            continue
        used |= clash | {(cause.area_code, category)}
        planted.append(cause)

    multiplier: dict[tuple[str, str], tuple[float, PlantedCause]] = {}  # (village, category) -> m, cause
    recurring: dict[tuple[str, str], PlantedCause] = {}                # (township, category) -> cause
    for cause in planted:
        for township in cause.townships:
            share = 1.0 if cause.kind == "district_policy" else rng.uniform(0.7, 0.9)
            pool = villages_of[township]
            chosen = pool if share >= 1 else rng.sample(pool, max(1, round(share * len(pool))))
            for v in chosen:
                multiplier[(v.code, cause.category)] = (cause.multiplier, cause)
            if cause.kind == "recurrence":
                recurring[(township, cause.category)] = cause

    issues: list[dict] = []
    counter: dict[str, int] = {}
    shape = 1 / noise ** 2 if noise > 0 else None

    def add(v: Division, category, r: int, planted_by: PlantedCause | None, description: str | None = None):
        district = v.code[:6]
        counter[district] = counter.get(district, 0) + 1
        found = round_start[r] + dt.timedelta(days=rng.randrange(45))
        severity = rng.choices(SEVERITIES, PLANTED_SEVERITY if planted_by else BACKGROUND_SEVERITY)[0]
        last = r == rounds
        status = rng.choices(("open", "in_progress", "rectified", "closed"),
                             (0.3, 0.4, 0.2, 0.1) if last else (0.02, 0.05, 0.18, 0.75))[0]
        closed = found + dt.timedelta(days=rng.randrange(20, 120)) if status in ("rectified", "closed") else None
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
        issue = {
            "issue_id": f"{district}-{counter[district]:05d}", "village_code": v.code, "round_id": round_ids[r],
            "found_on": found.isoformat(), "category": category.name,
            "description": description or f"{short_name(v.name)}{category.name}{phrase}",
            "severity": severity, "amount_yuan": amount, "status": status,
            "immediate": "yes" if severity == "minor" and rng.random() < 0.3 else "no",
            "due_on": (found + dt.timedelta(days=90)).isoformat(),
            "closed_on": closed.isoformat() if closed else "", "root_unit_hint": hint,
        }
        issues.append(issue)
        if planted_by:
            planted_by.villages.add(v.code)
        return issue

    earlier: list[tuple[Division, object, dict]] = []
    for township in sorted(townships):
        r = round_of[township]
        for v in villages_of[township]:
            risk = rng.gammavariate(shape, 1 / shape) if shape else 1.0
            rate_key = "rate_village" if v.kind == "village" else "rate_community"
            for category in categories:
                m, cause = multiplier.get((v.code, category.name), (1.0, None))
                for _ in range(_poisson(rng, getattr(category, rate_key) * risk * m)):
                    issue = add(v, category, r, cause)
                    if r < rounds and issue["status"] in ("rectified", "closed"):
                        earlier.append((v, category, issue))
    # Follow-up in the last round (回头看): closed problems found again.
    for v, category, issue in earlier:
        cause = recurring.get((v.parent_code, category.name))
        if cause is None:
            m, other = multiplier.get((v.code, category.name), (1.0, None))
            chance, cause = (0.2, other) if other else (0.05, None)
        else:
            chance = 0.8
        if rng.random() < chance:
            add(v, category, rounds, cause, description=f"{issue['description']}（整改后反弹）")

    meta = {"seed": seed, "scope": scope, "rounds": rounds, "noise": noise, "causes": len(planted),
            "villages": sum(len(v) for v in villages_of.values()), "issues": len(issues)}
    return Scenario(units=units, duties_path=CATALOG_DIR / "duties.csv", issues=issues, causes=planted, meta=meta)
