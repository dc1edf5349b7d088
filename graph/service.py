"""Use cases shared by the CLI and the API: they read from a store, call the pure analysis
functions and return plain data. No I/O formatting here."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from .analysis.chains import responsibility_chain
from .analysis.gc_pause import gc_paused
from .analysis.ledger import finding, ledger_facts_from_findings
from .analysis.packages import build_packages
from .analysis.root_causes import BASELINE_ZH, DEFAULT_MIN_CONFIDENCE, surface_root_causes
from .analysis.root_causes.terms import misdated_notice, order_terms, term_summary
from .access import EVERY_DISTRICT, Scope
from . import open_workflow
from .errors import InputError, NotFound, RowError
from .model import DONE_STATUSES, Status, term_label, term_of
from .store import GraphStore, LedgerFacts

BULK_FROM = 100  # candidates from which their problems are read in one pass


def surfaced(store: GraphStore, min_confidence: float = DEFAULT_MIN_CONFIDENCE, term: str | None = None) -> list:
    """Every tested (area, category) pair of the whole store, best first: the one analysis the
    root-cause reports, packages and views select from (baselines always use everything loaded).

    A ledger with a 届次 column is analysed one term at a time: ``term`` (default the latest),
    with the term before it as each area's own baseline (graph.analysis.root_causes.terms)."""
    with gc_paused():  # the store's facts too are tens of thousands of small objects
        return _surfaced(store, min_confidence, term)


def _surfaced(store: GraphStore, min_confidence: float, term: str | None) -> list:
    current, earlier = term_pair(store, term)
    if current is None:
        return surface_root_causes(store.ledger_facts(), min_confidence=min_confidence)
    facts = term_facts(store)
    candidates = surface_root_causes(facts[current], min_confidence=min_confidence,
                                     earlier=facts.get(earlier) if earlier else None,
                                     terms=(current, earlier) if earlier else None)
    for c in candidates:  # the term analysed, also where none came before it (reports select its problems)
        c.evidence["term"] = current
    return candidates


def term_pair(store: GraphStore, term: str | None = None, dates: dict | None = None) -> tuple[str | None, str | None]:
    """The term analysed and the one before it (None, None for a ledger without 届次); a term the
    ledger does not have is bad input. ``dates``: ``store.term_dates()`` where the caller read it."""
    order = order_terms(store.term_dates() if dates is None else dates)
    term = term_label(term) if term is not None else None  # "十四届 " pasted from Excel is 十四届
    if not order:
        if term is not None:
            raise InputError(RowError("所选届次 (--term, term)", None, None, term,
                                      "台账中有“届次”列：这份台账没有届次，不能按届次分析 (the ledger has no term column)"))
        return None, None
    if term is None:
        term = order[-1]
    if term not in order:
        raise InputError(RowError("所选届次 (--term, term)", None, None, term, "台账中的届次之一：" + "、".join(order)))
    at = order.index(term)
    return term, (order[at - 1] if at > 0 else None)


def terms(store: GraphStore, dates: dict | None = None) -> tuple[list[dict], str | None]:
    """The ledger's terms in order (``terms.term_summary``: problems, first and last 发现日期) and
    what to tell of problems dated in another term's time (None where none is). ``dates``:
    ``store.term_dates()`` where the caller read it (one scan of the ledger, not two)."""
    summary = term_summary(store.term_dates() if dates is None else dates)
    return summary, misdated_notice(summary)


def issues_without_term(store: GraphStore, district: str | None = None) -> int:
    """How many problems of a ledger with a 届次 column carry none (of one district: ``district``):
    they are in no term's analysis, and an office must be told (it saves its ledger from Excel,
    where a cell is easily left blank)."""
    return sum(1 for issue in store.issues(district) if term_of(issue.extra) is None)


def without_term_notice(count: int) -> str | None:
    """What the CLI (on stderr) and the API (``notice``) say of problems without a 届次.

    >>> without_term_notice(3)[:21]
    '注意：台账中有 3 条问题没有填写“届次”'
    >>> without_term_notice(0) is None
    True
    """
    if not count:
        return None
    return (f"注意：台账中有 {count} 条问题没有填写“届次”，不在任何一届的分析中；"
            "在台账的“届次”列补齐后重新载入 (problems without a term are in no term's analysis)")


def term_notice(store: GraphStore, term: str | None = None, district: str | None = None,
                dates: dict | None = None) -> tuple[str | None, int]:
    """The term analysed (None for a ledger without 届次) and how many problems (of ``district``)
    carry no 届次 in a ledger that has the column."""
    current, _ = term_pair(store, term, dates)
    return current, (issues_without_term(store, district) if current is not None else 0)


def term_facts(store: GraphStore) -> dict[str, LedgerFacts]:
    """Each term's ledger facts, by the ledger rules' reference (graph.analysis.ledger), from the
    store's problems of that term; units, duties, categories and names as the store gives them."""
    base = store.ledger_facts()
    by_term = defaultdict(list)
    for issue in store.issues():
        label = term_of(issue.extra)
        if label is not None:
            by_term[label].append(finding(issue))
    villages = {}
    for district in sorted({c.district_code for c in base.cells}):
        villages.update({v.code: (v.parent_code, v.code[:6], v.kind) for v in store.divisions("village", within=district)})
    out = {}
    for label, findings in by_term.items():
        cells, exposure, hints, counts = ledger_facts_from_findings(findings, villages)
        by_township = defaultdict(list)
        for c in counts:
            by_township[c.village_code[:9]].append(c)
        out[label] = dataclasses.replace(
            base, cells=cells, exposure=exposure, hints=hints,
            village_counts=lambda townships, by=by_township: [c for t in sorted(set(townships)) for c in by.get(t, [])])
    return out


def of_term(issues: list, term: str | None) -> list:
    """The problems of the term analysed (all of them for a ledger without 届次, ``term`` None): a
    cause's problems, a package's, are that term's, not the earlier term's as well."""
    return issues if term is None else [i for i in issues if term_of(i.extra) == term]


def root_causes(store: GraphStore, **options) -> list[dict]:
    """Surfaced root causes (or, with ``include_all``, every pair), best first, as dicts with their
    villages and issue ids; see :func:`root_cause_report`."""
    with gc_paused():  # thousands of dicts for --all (graph.analysis.gc_pause)
        return root_cause_report(store, **options)[0]


def untested_notes(untested: list) -> list[str]:
    """Each distinct reason of the untested pairs, once: pairs whose reasons differ only in their own
    category share one note naming every such category (twelve unused categories, or twenty
    without rates, were as many near-identical paragraphs).

    >>> from graph.analysis.root_causes import Candidate
    >>> def pair(category, reason):
    ...     return Candidate("district", "500101", "万州区", "500101", category, "u", "单位", "primary", [],
    ...                      None, None, None, None, None, tested=False, reason=reason)
    >>> untested_notes([pair("低保", "类别“低保”没有比例"), pair("作风", "类别“作风”没有比例"),
    ...                 pair("作风", "类别“作风”没有比例"), pair("低保", "乡镇没有基线")])
    ['乡镇没有基线', '类别“低保”、“作风”没有比例']
    """
    placeholder = "\x00"
    grouped: dict[str, list[str]] = {}
    for c in untested:
        template = c.reason.replace(f"“{c.category}”", placeholder)
        names = grouped.setdefault(template, [])
        if c.category not in names:
            names.append(c.category)
    return sorted(template.replace(placeholder, "、".join(f"“{n}”" for n in names)) if placeholder in template
                  else template for template, names in grouped.items())


def district_code(store: GraphStore, text: str, option: str = "district") -> str | None:
    """The loaded district ``text`` names, by its 6-digit code or its full name (万州区), as the
    CLI's ``--district`` and the API's ``district`` take it; None where none does. A name several
    provinces give a district (鼓楼区) is refused with their codes (``option``: the parameter the
    message names)."""
    text = text.strip()
    division = store.division(text)
    if division is not None and division.level == "district":
        return text
    if text.isdigit():
        return None
    named = [d for d in store.find_divisions(text, limit=50) if d.level == "district" and d.name == text]
    if len(named) == 1:
        return named[0].code
    if named:
        names = store.division_names(d.parent_code for d in named if d.parent_code)
        raise InputError(RowError(option, None, None, text, "其中一个的 6 位代码：同名区县有 " + "、".join(
            f"{names.get(d.parent_code, '')}{d.name} {d.code}" for d in named)))
    return None


def no_ledger_note(store: GraphStore, district: str) -> str | None:
    """Why an analysis of ``district`` lists nothing when no problem of it is loaded (not "nothing
    above the threshold"); None when it has a ledger."""
    if store.counts(district)["issues"]:
        return None
    name = store.division_names([district]).get(district, "")
    return f"区县 {name}({district}) 没有载入问题台账，没有可分析的问题（先 xuncha load issues 问题.csv）"


# A district office alone whose categories are too few to show how far it stands from the rates.
ASSUMED_TOLERANCE_NOTE = ("基线：只有一个区县有台账，区县层级以问题类别参考比例为基线；本区县可与参考比例比较的类别太少，"
                          "看不出其各类别与参考比例本来相差多少，容差按假定为一个标准差 ±10%：区县根源的置信度以这一假定为前提，"
                          "本地差异也可能超出它。载入其他区县或本区县上一届的台账(台账带“届次”列)可不依赖这一假定")


def widened_reference_notes(candidates: list) -> list[str]:
    """What a district office alone is told when its district pairs were judged against the rates
    with a tolerance assumed (too few categories to read it: ``ASSUMED_TOLERANCE_NOTE``), or one
    its own mix made more than ``RATES_TOLERANCE`` (said under each pair with
    ``--all``): once, whether or not one surfaced, since it is why none may have.

    >>> from graph.analysis.root_causes import Candidate
    >>> def pair(tolerance):
    ...     c = Candidate("district", "500101", "万州区", "500101", "低保", "u", "单位", "primary", [],
    ...                   10, 8.0, 0.2, None, 0.2)
    ...     c.evidence["reference_tolerance"] = tolerance
    ...     return c
    >>> widened_reference_notes([pair(0.1), pair(0.104)])
    []
    >>> widened_reference_notes([pair(0.1), pair(0.43), pair(0.38)])[0].split("，")[-1]
    '容差按其自身的差异定为一个标准差 ±38%–±43%：区县根源须超出这一差异'
    >>> assumed = pair(0.1)
    >>> assumed.evidence["reference_tolerance_assumed"] = True
    >>> widened_reference_notes([assumed]) == [ASSUMED_TOLERANCE_NOTE]
    True
    """
    from .analysis.root_causes import tolerance_widened
    tolerances = [c.evidence["reference_tolerance"] for c in candidates
                  if c.level == "district" and c.tested and c.evidence.get("reference_tolerance") is not None]
    if any(c.evidence.get("reference_tolerance_assumed") for c in candidates
           if c.level == "district" and c.tested):
        return [ASSUMED_TOLERANCE_NOTE]
    widened = [t for t in tolerances if tolerance_widened(t)]
    if not widened:
        return []
    span = (f"±{min(widened):.0%}" if round(min(widened) * 100) == round(max(widened) * 100)
            else f"±{min(widened):.0%}–±{max(widened):.0%}")
    return [f"基线：只有一个区县有台账，区县层级以问题类别参考比例为基线；本区县各类别与参考比例的差异大于 ±10%，"
            f"容差按其自身的差异定为一个标准差 {span}：区县根源须超出这一差异"]


def root_cause_report(store: GraphStore, *, district: str | None = None, level: str | None = None,
                      top: int | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                      include_all: bool = False, with_issues: bool = True,
                      candidates: list | None = None, term: str | None = None) -> tuple[list[dict], list[str], list[str]]:
    """The root causes; the notes above them: for the pairs in scope that could not be tested, each
    distinct reason (no baseline, no reference rates), and a widened baseline; and the baselines
    the tested district pairs in scope were judged against (in Chinese), surfaced or not.
    ``district`` and ``level`` filter. ``candidates``: the store's :func:`surfaced` analysis at
    ``min_confidence``, when the caller has it already."""
    if candidates is None:
        candidates = surfaced(store, min_confidence, term)
    in_scope = [c for c in candidates if (district is None or c.district_code == district)
                and (level is None or c.level == level)]
    notes = ([f"未检验：{n}" for n in untested_notes([c for c in in_scope if not c.tested and c.reason])]
             + widened_reference_notes(in_scope))
    if district is not None and not any(c.district_code == district for c in candidates):
        notes += [n for n in [no_ledger_note(store, district)] if n]
    selected = [c for c in candidates
                if (include_all or c.surfaced)
                and (district is None or c.district_code == district)
                and (level is None or c.level == level)]
    if top is not None:
        selected = selected[:top]
    if with_issues and len(selected) > BULK_FROM:
        # Many candidates (--all): one pass over the ledger beats a query per candidate.
        under: dict[tuple[str, str], list] = {}
        for issue in sorted(store.issues(district), key=lambda i: (i.village_code, i.found_on, i.issue_id)):
            for area in (issue.village_code[:9], issue.village_code[:6]):
                under.setdefault((area, issue.category), []).append(issue)
        issues_of = lambda c: under.get((c.area_code, c.category), [])  # noqa: E731
    else:
        issues_of = lambda c: store.issues_in(c.area_code, c.category)  # noqa: E731
    # The analysis names the term it read (graph.service.surfaced); a ledger without terms names none.
    current = next((c.evidence["term"] for c in selected if c.evidence.get("term")), None)
    if current is not None:  # a term analysed: its own problems only
        in_term = issues_of
        issues_of = lambda c: of_term(in_term(c), current)  # noqa: E731
    against = sorted({BASELINE_ZH.get(c.baseline, c.baseline) for c in candidates
                      if c.level == "district" and c.tested and c.baseline
                      and (district is None or c.district_code == district)})
    return [_cause(rank, c, issues_of(c) if with_issues else None)
            for rank, c in enumerate(selected, start=1)], notes, against


def root_cause(store: GraphStore, unit_id: str, category: str, candidates: list | None = None) -> dict | None:
    """One tested pair, surfaced or not, as :func:`root_causes` with ``include_all`` gives it (its
    rank among all pairs, its villages and issue ids); None if the pair was not tested."""
    for rank, c in enumerate(surfaced(store) if candidates is None else candidates, start=1):
        if c.unit_id == unit_id and c.category == category:
            return _cause(rank, c, of_term(store.issues_in(c.area_code, c.category), c.evidence.get("term")))
    return None


def _cause(rank: int, candidate, issues: list | None) -> dict:
    item = {"rank": rank, **candidate.as_dict()}
    if issues is not None:
        item["villages"] = sorted({i.village_code for i in issues})
        item["issue_ids"] = [i.issue_id for i in issues]
    return item


def ancestors(store: GraphStore, division) -> list:
    """A division's ancestors, top-down (province first): the one walk up the PART_OF chain the
    CLI's ``show`` and the API's ``/divisions/{code}`` both give."""
    from .projection import lineage
    return lineage(store, division.parent_code)[::-1]


def chain(store: GraphStore, issue_id: str) -> dict:
    graph = store.chain_graph(issue_id)
    if f"issue:{issue_id}" not in graph:
        raise NotFound(f"没有编号为 {issue_id} 的问题 (no such issue)")
    return responsibility_chain(graph, issue_id)


def packages(store: GraphStore, as_of: dt.date | None = None, **options) -> list[dict]:
    """Joint rectification packages for the surfaced causes, each with the state of its two ends;
    due dates count from ``as_of`` (today)."""
    found = _packages(store, as_of, **options)
    ends = open_workflow(store).package_ends(p["package_id"] for p in found)
    for p in found:
        recorded = ends.get(p["package_id"], {})
        agency, closed, reopened = recorded.get("agency"), recorded.get("closed"), recorded.get("reopened")
        if closed and reopened and reopened["recorded_at"] >= closed["recorded_at"]:
            closed = None  # reopened after its closure, until it is closed again
        grassroots_done = p["totals"]["open_issues"] == 0
        p["status"] = {"agency_done": agency is not None,
                       "agency_done_on": agency["done_on"].isoformat() if agency else None,
                       "agency_note": agency["note"] if agency else None,
                       "grassroots_done": grassroots_done, "grassroots_open": p["totals"]["open_issues"],
                       "closable": agency is not None and grassroots_done,
                       "closed": closed is not None, "closed_on": closed["done_on"].isoformat() if closed else None,
                       "reopened_on": reopened["done_on"].isoformat() if reopened else None,
                       "reopened_note": reopened["note"] if reopened else None}
    _package_histories(store, found)
    return found


def _package(store: GraphStore, package_id: str, scope: Scope = EVERY_DISTRICT) -> dict:
    """The package as surfaced now. A district's caller reaches its district's packages only: the
    area the id names (as sent) and the area of the package found (as stored) both lie inside."""
    area = package_id.split("-")[1] if package_id.count("-") >= 2 else ""
    missing = NotFound(f"没有这个整改包 {package_id} (no such package among the surfaced root causes)")
    if scope.district is not None and not (area.isdigit() and scope.sees(area)):
        raise missing
    found = next((p for p in packages(store, district=area[:6] or None) if p["package_id"] == package_id), None)
    if found is None or not scope.sees(found["root_cause"]["area_code"]):
        raise missing
    return found


def complete_agency_end(store: GraphStore, package_id: str, done_on: dt.date, note: str, by: str = "",
                        scope: Scope = EVERY_DISTRICT) -> tuple[dict, dict]:
    """Record that the agency end (机关端) of a package is done, with its date and evidence; the
    package's state before, and the package after."""
    from .access import now
    before = _package(store, package_id, scope)["status"]
    if not note.strip():
        raise InputError(RowError(package_id, None, "--note", None, "机关端完成情况说明（佐证），不能为空 (an evidence note)"))
    open_workflow(store).mark_package_end(package_id, "agency", done_on, note.strip(), now())
    _record_package_step(store, package_id, "agency", done_on, by, note.strip())
    return before, _package(store, package_id)


def close_package(store: GraphStore, package_id: str, closed_on: dt.date, note: str = "", by: str = "",
                  scope: Scope = EVERY_DISTRICT) -> tuple[dict, dict]:
    """销号: only when both ends are done, the agency's task and every grassroots problem; the
    package's state before, and the package after."""
    from .access import now
    package = _package(store, package_id, scope)
    status = package["status"]
    missing = []
    if not status["agency_done"]:
        missing.append("机关端整改尚未完成 (the agency end is not done)")
    if not status["grassroots_done"]:
        missing.append(f"基层端还有 {status['grassroots_open']} 个问题未整改 (grassroots problems still open)")
    if missing:
        raise InputError(RowError(package_id, None, None, None, "两端都完成后才能销号；" + "；".join(missing)))
    open_workflow(store).mark_package_end(package_id, "closed", closed_on, note, now())
    _record_package_step(store, package_id, "closed", closed_on, by, note)
    return status, _package(store, package_id)


PACKAGE_STEP_ZH = {"agency": "机关端完成", "closed": "销号", "reopened": "重新打开"}


def _record_package_step(store: GraphStore, package_id: str, step: str, on: dt.date, by: str, note: str) -> None:
    """A package's step in its history (who, when), beside the state the package ends keep."""
    from .store import FollowUp
    open_workflow(store).save_follow_ups([FollowUp("package", package_id, package_id.split("-")[1][:6], on, by, step, note)])


def _package_histories(store: GraphStore, found: list[dict]) -> None:
    """Each package's recorded steps, oldest first, under ``status["history"]``."""
    steps: dict[str, list[dict]] = {}
    for district in sorted({p["package_id"].split("-")[1][:6] for p in found}):
        for r in open_workflow(store).follow_ups(district, "package"):
            steps.setdefault(r.target, []).append({"on": r.on.isoformat(), "by": r.by, "step": r.result,
                                                   "step_zh": PACKAGE_STEP_ZH.get(r.result, r.result), "note": r.note})
    for p in found:
        p["status"]["history"] = steps.get(p["package_id"], [])


def _packages(store: GraphStore, as_of: dt.date | None = None, **options) -> list[dict]:
    causes = root_causes(store, with_issues=False, **options)
    # A term analysed: a package rectifies that term's problems, not the earlier term's as well.
    current = next((c["evidence"]["term"] for c in causes if c["evidence"].get("term")), None)
    issues = {c["rank"]: of_term(store.issues_in(c["area_code"], c["category"]), current) for c in causes}
    villages = {i.village_code for found in issues.values() for i in found}
    townships = {code[:9] for code in villages}
    names = store.division_names(villages | townships)
    duties = store.duties()
    categories = {c.name: c for c in store.categories()}
    return build_packages(causes, issues, names, store.units(townships), duties, categories, as_of=as_of)


# -- planning and the closed loop ----------------------------------------------------------------------
def _district_issues(store: GraphStore, district: str):
    return store.issues(district)


def classification(store: GraphStore, district: str, base_data: dict | None = None, config: dict | None = None,
                   as_of: dt.date | None = None, causes: list[dict] | None = None, use_list: bool = True) -> list:
    """Every village-level unit of the district, classified on its base data and the graph; where
    the district's key-village list is approved (and ``use_list``), the list decides.
    ``base_data``: a table read for this call; by default the one loaded into the store
    (``xuncha load base``), so the CLI and the API score alike.
    ``causes``: the district's root causes, when the caller has them already."""
    from .analysis.planning import classify, graph_indicators
    as_of = as_of or dt.date.today()
    causes = root_causes(store, district=district) if causes is None else causes
    in_cause = {v for c in causes for v in c.get("villages", [])}
    indicators = graph_indicators(_district_issues(store, district), as_of, in_cause)
    for code, values in (open_workflow(store).base_data(district) if base_data is None else base_data).items():
        indicators.setdefault(code, {}).update(values)
    villages = [(v.code, v.name, v.parent_code) for v in store.divisions("village", within=district)]
    from .analysis.key_villages import apply_approved
    classes = classify(villages, indicators, config)
    return apply_approved(classes, open_workflow(store).key_villages(district)) if use_list else classes


def classified_modes(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> tuple[list, list[dict]]:
    """The classes and the inspection modes of the district's villages (直接巡村 for key villages,
    乡村一体巡 for the others)."""
    from .analysis.planning import village_modes
    classes = classification(store, district, base_data, config)
    return classes, village_modes(classes)


def inspection_modes(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> list[dict]:
    return classified_modes(store, district, base_data, config)[1]


def planning_view(store: GraphStore, district: str, base_data: dict | None = None, config: dict | None = None
                  ) -> dict:
    """Classes, the modes of villages and townships, and the 专项巡察 proposals beside them, from one
    root-cause analysis."""
    from .analysis.planning import special_proposals, township_modes, village_modes
    causes = root_causes(store, district=district)
    classes = classification(store, district, base_data, config, causes=causes)
    modes = village_modes(classes)
    names = store.division_names({c.township_code for c in classes} | {district})
    units = {u.function: {"unit_id": u.unit_id, "unit_name": u.name} for u in store.units([district])}
    special = special_proposals(causes, classes, units, (config or {}).get("scale"))
    for p in special:
        p["scope"]["area_name"] = names.get(p["scope"]["area_code"], p["scope"]["area_name"])
    return {"classes": classes, "modes": modes, "townships": township_modes(modes, names), "special": special}


def inspected_this_term(store: GraphStore, district: str, term_start: dt.date | None = None) -> set[str]:
    """Codes of the villages and townships inspected since ``term_start`` (all, without it): those
    with an inspection record, and villages where a problem was found (a finding is a visit)."""
    since = lambda day: term_start is None or day >= term_start  # noqa: E731
    done = {r.area_code for r in open_workflow(store).inspections(district) if since(r.started_on)}
    return done | {i.village_code for i in _district_issues(store, district) if since(i.found_on)}


def coverage_plan(store: GraphStore, district: str, *, teams: int, term_end: dt.date, start: dt.date | None = None,
                  rounds_per_year: int | None = None, per_team: dict | None = None, base_data: dict | None = None,
                  config: dict | None = None, term_start: dt.date | None = None, today: dt.date | None = None) -> dict:
    """A work plan for the villages and townships not inspected this term, with the townships'
    modes and the 专项巡察 proposals listed beside it (not inside it). Impossible input: InputError."""
    from .analysis.planning import DIRECT, JOINT, PlanError, plan_defaults, plan_rounds
    defaults = plan_defaults(config)
    per_team = {DIRECT: defaults["direct"], JOINT: defaults["joint"], **(per_team or {})}
    today = today or dt.date.today()
    view = planning_view(store, district, base_data, config)
    names = {t["township_code"]: t["name"] for t in view["townships"]}
    try:
        plan = plan_rounds(view["modes"], names, inspected_this_term(store, district, term_start), teams=teams,
                           per_team=per_team, rounds_per_year=rounds_per_year or defaults["rounds_per_year"],
                           start=start or today, term_end=term_end, today=today)
    except PlanError as exc:
        raise InputError(RowError(exc.option, None, None, exc.value, exc.expected)) from None
    return {"district": district, **plan, "per_team": per_team, "townships": view["townships"],
            "special": view["special"]}


def rectification_status(store: GraphStore, district: str, as_of: dt.date | None = None,
                         config: dict | None = None) -> dict:
    """Each problem's deadline warning, with its village, township and responsible units (the
    village committee, then the township units bearing a duty for its category); 立行立改 items
    have their own short deadline (``immediate_days``) and their own overdue list."""
    from .analysis.packages import township_bearers
    from .analysis.planning import WARNING_ZH, deadline_warning, immediate_due, plan_defaults
    as_of = as_of or dt.date.today()
    days = plan_defaults(config)["immediate_days"]
    issues = _district_issues(store, district)
    villages = {i.village_code for i in issues}
    townships = {v[:9] for v in villages}
    names = store.division_names(villages | townships)
    bearers = township_bearers(store.units(townships), store.duties())
    rows = []
    for i in issues:
        due = immediate_due(i, days)
        warning = deadline_warning(i.status, due, as_of)
        rows.append({"issue_id": i.issue_id, "village_code": i.village_code,
                     "village_name": names.get(i.village_code, i.village_code),
                     "township_name": names.get(i.village_code[:9], i.village_code[:9]), "category": i.category,
                     "description": i.description, "status": i.status, "found_on": i.found_on, "due_on": due,
                     "immediate": i.immediate, "warning": warning, "warning_zh": WARNING_ZH[warning],
                     "responsible": ["村(社区)“两委”"] + [u["unit_name"] for u in
                                                       bearers.get((i.village_code[:9], i.category), [])]})
    counts = {k: sum(1 for r in rows if r["warning"] == k) for k in WARNING_ZH}
    immediate = [r for r in rows if r["immediate"]]
    overdue = [r for r in immediate if r["warning"] in ("overdue", "overdue_90")]
    return {"district": district, "as_of": as_of.isoformat(), "counts": counts, "immediate_days": days,
            "immediate": {"total": len(immediate), "done": sum(1 for r in immediate if r["warning"] == "done"),
                          "overdue": len(overdue)},
            "immediate_overdue": [r["issue_id"] for r in overdue], "issues": rows}


# -- the key-village list: proposed by the townships, adjusted and approved by the office -----------
def key_village_list(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> dict:
    """The district's list as it stands, with where it and the indicators disagree."""
    from .analysis.key_villages import STATUS_ZH, compare
    record = open_workflow(store).key_villages(district)
    if record is None:
        raise NotFound(f"区县 {district} 还没有重点村名单：先用 xuncha keylist propose 导入乡镇推荐名单")
    by_indicators = classification(store, district, base_data, config, use_list=False)
    return {**record, "status_zh": STATUS_ZH[record["status"]],
            "against_indicators": compare(record, by_indicators)}


def _key_list_change(store: GraphStore, district: str, change, scope: Scope) -> tuple[dict | None, dict]:
    from .access import now
    from .analysis.key_villages import ListError
    scope.require(district, "区县")
    before = open_workflow(store).key_villages(district)
    at = now()
    try:
        after = change(before, at)
    except ListError as exc:
        raise InputError(RowError("重点村名单", None, None, district, str(exc))) from None
    open_workflow(store).save_key_villages(district, after, at)
    return before, after


def propose_key_villages(store: GraphStore, district: str, rows: list[dict], by: str, file: str = "",
                         scope: Scope = EVERY_DISTRICT):
    """Import the townships' proposal (``loaders.base_data.read_key_village_proposal`` reads the file);
    it replaces the townships' part of the list and its approval, the office's adjustments kept.
    Returns (before, after)."""
    from .analysis.key_villages import propose
    return _key_list_change(store, district, lambda before, at: propose(district, rows, by, at, file, earlier=before),
                            scope)


def adjust_key_villages(store: GraphStore, district: str, village_code: str, action: str, reason: str, by: str,
                        scope: Scope = EVERY_DISTRICT):
    """The office adds or removes a village, with its reason. Returns (before, after)."""
    from .analysis.key_villages import adjust
    scope.require(district, "区县")
    village = store.division(village_code)
    if village is None or village.level != "village" or not village_code.startswith(district):
        raise InputError(RowError("重点村名单", None, "村(社区)代码", village_code,
                                  f"区县 {district} 已加载的 12 位村(社区)代码 (a village of the district)"))

    def change(before, at):
        if before is None:
            raise InputError(RowError("重点村名单", None, None, district, "先导入乡镇推荐名单 (no proposed list yet)"))
        return adjust(before, {"village_code": village.code, "name": village.name,
                               "township_code": village.parent_code}, action, reason, by, at)
    return _key_list_change(store, district, change, scope)


def approve_key_villages(store: GraphStore, district: str, by: str, scope: Scope = EVERY_DISTRICT):
    """Approval by the office (who, when): from now on classification and the plan use the list."""
    from .analysis.key_villages import approve

    def change(before, at):
        if before is None:
            raise InputError(RowError("重点村名单", None, None, district, "先导入乡镇推荐名单 (no proposed list yet)"))
        return approve(before, by, at)
    return _key_list_change(store, district, change, scope)


def reopen_recurrences(store: GraphStore, district: str, *, apply: bool = False, on: dt.date | None = None,
                       by: str = "", scope: Scope = EVERY_DISTRICT) -> dict:
    """Reopen (复发重开) what came back in a later round, with the link recorded:

    * a rectified or closed problem whose category was found again in the same village in a later
      round: its status becomes 复发重开 (an entry in its status history) and its extra field
      names the problem that reopened it;
    * a closed joint package whose category was found again under its root unit (in the unit's
      area) after the package was closed: the package is reopened, the new problems named.

    With ``apply`` False nothing is written (a preview of the same answer)."""
    from .access import now
    from .analysis.packages import GRASSROOTS_DAYS
    from .analysis.planning import recurrence_links
    from .model import IssueIn, Status
    scope.require(district, "区县")
    on = on or dt.date.today()
    issues = {i.issue_id: i for i in _district_issues(store, district)}
    links = [link for link in recurrence_links(issues.values())
             if not link["reopened"] and issues[link["closed"]].status in DONE_STATUSES]
    reopened = []
    for link in links:
        old = issues[link["closed"]]
        fields = {k: v for k, v in old.__dict__.items() if k != "extra"}
        # Open again with a deadline of its own: the old one (often of an earlier term) has passed.
        due = old.due_on if old.due_on and old.due_on > on else on + dt.timedelta(days=GRASSROOTS_DAYS)
        link["due_on"] = due.isoformat()
        reopened.append(IssueIn.model_validate({**fields, "status": Status.REOPENED, "due_on": due, "extra": {
            **{k: str(v) for k, v in old.extra.items()},
            "复发重开": f"{link['reopened_by']}（{link['round']}，同一村(社区)同类问题再次发现）",
            **({"原整改时限": old.due_on.isoformat()} if old.due_on and old.due_on != due else {})}}))
    package_links = []
    for p in packages(store, district=district):
        closed_on = p["status"]["closed_on"]
        if not p["status"]["closed"] or closed_on is None:
            continue
        later = sorted(i.issue_id for i in store.issues_in(p["root_cause"]["area_code"], p["root_cause"]["category"])
                       if i.found_on > dt.date.fromisoformat(closed_on))
        if later:
            package_links.append({"package_id": p["package_id"], "unit_id": p["agency_end"]["unit_id"],
                                  "category": p["root_cause"]["category"], "closed_on": closed_on,
                                  "reopened_by": later})
    # What the reopening changes, as it stood (the audit's before): the problems' status and notes,
    # the packages' closure.
    before = {"issues": {link["closed"]: {"status": issues[link["closed"]].status,
                                          "extra": issues[link["closed"]].extra} for link in links},
              "packages": {link["package_id"]: {"closed_on": link["closed_on"]} for link in package_links}}
    if apply:
        recorded_at = now()
        if reopened:
            store.upsert_issues(reopened, recorded_at=recorded_at)
        for link in package_links:
            note = "销号后同一根源单位辖区再次发现同类问题：" + "、".join(link["reopened_by"])
            open_workflow(store).mark_package_end(link["package_id"], "reopened", on, note, recorded_at)
            _record_package_step(store, link["package_id"], "reopened", on, by, note)
    return {"district": district, "applied": apply, "issues": links, "packages": package_links, "before": before}


def transfer_notices(store: GraphStore, district: str, as_of: dt.date | None = None, top: int | None = None,
                     term_start: dt.date | None = None) -> list[dict]:
    """反馈移交: one notice per receiving unit, from the surfaced causes' packages and from the
    problems whose 根源单位 the inspectors named (see :mod:`graph.analysis.transfer`)."""
    from .analysis.transfer import transfer_notices as notices
    found = packages(store, district=district, top=top, as_of=as_of)
    hinted = [i for i in _district_issues(store, district) if i.root_unit_hint]
    villages = {i.village_code for i in hinted}
    names = store.division_names(villages | {v[:9] for v in villages})
    areas = {district} | {t.code for t in store.divisions("township", within=district)}
    units = {u.unit_id: u for u in store.units(areas)}
    return notices(found, hinted, units, names, term_start)


BACKCHECK_RESULTS = ("整改到位", "未整改到位")


def back_check(store: GraphStore, district: str, share: float = 0.05, seed: int = 1) -> dict:
    """A reproducible sample of villages with rectified or closed problems (抽查), each with its done
    problems to re-verify on site, and the results recorded so far."""
    from .analysis.planning import back_check_villages
    done: dict[str, list] = {}
    for i in _district_issues(store, district):
        if i.status in DONE_STATUSES:
            done.setdefault(i.village_code, []).append(i)
    sample = back_check_villages({v: [i.issue_id for i in found] for v, found in done.items()}, share, seed)
    names = store.division_names(set(sample) | {v[:9] for v in sample})
    results = {r.target: r for r in open_workflow(store).follow_ups(district, "backcheck")}
    villages = [{"village_code": v, "village_name": names.get(v, v), "township_name": names.get(v[:9], v[:9]),
                 "issues": [{"issue_id": i.issue_id, "category": i.category, "description": i.description,
                             "status": i.status, "status_zh": Status(i.status).zh,
                             "closed_on": i.closed_on.isoformat() if i.closed_on else None,
                             **({"result": results[i.issue_id].result, "checked_on": results[i.issue_id].on.isoformat(),
                                 "checked_by": results[i.issue_id].by} if i.issue_id in results else {})}
                            for i in sorted(done[v], key=lambda i: i.issue_id)]} for v in sample]
    return {"district": district, "seed": seed, "share": share, "closed": sum(len(f) for f in done.values()),
            "villages_with_closed": len(done), "villages": villages,
            "sample": [i["issue_id"] for v in villages for i in v["issues"]]}


def record_back_checks(store: GraphStore, district: str, rows: list[dict], by: str) -> dict:
    """Back-check results from the result sheet (``loaders.base_data.read_back_check_results``), each
    with who checked and when; a problem found not fixed (未整改到位) is reported, for reopening."""
    from .store import FollowUp
    if not by.strip() and any(not r.get("by") for r in rows):
        raise InputError(RowError("--by", None, None, None, "抽查人（结果表“抽查人”列为空的行）"))
    known = {i.issue_id for i in _district_issues(store, district)}
    unknown = [r for r in rows if r["issue_id"] not in known]
    if unknown:
        raise InputError([RowError(r["file"], r["row"], "问题编号", r["issue_id"], f"区县 {district} 已加载的问题编号")
                          for r in unknown])
    summary = open_workflow(store).save_follow_ups([FollowUp("backcheck", r["issue_id"], district, r["on"], r.get("by") or by.strip(),
                                              r["result"], r.get("note") or "") for r in rows])
    return {"district": district, "recorded": summary.as_dict(),
            "not_fixed": sorted(r["issue_id"] for r in rows if r["result"] != BACKCHECK_RESULTS[0])}


def evaluation(store: GraphStore, district: str, as_of: dt.date | None = None) -> dict:
    """成效评估 for the district and each township, department (the district units that lead
    packages or that the inspectors named) and package, the back-check results, and the three
    shifts by round."""
    from .analysis.planning import category_tags, effectiveness, shifts
    as_of = as_of or dt.date.today()
    issues = _district_issues(store, district)
    by_township: dict[str, list] = {}
    for i in issues:
        by_township.setdefault(i.village_code[:9], []).append(i)
    names = store.division_names(by_township)
    brief = lambda found: {k: v for k, v in effectiveness(found, as_of).items() if k != "category_mix_by_round"}  # noqa: E731
    found_packages = packages(store, district=district, as_of=as_of)
    by_id = {i.issue_id: i for i in issues}
    under: dict[str, dict] = {}  # department -> its problems by id: under its packages or named by the inspectors
    for p in found_packages:
        under.setdefault(p["agency_end"]["unit_id"], {}).update(
            (i["issue_id"], by_id[i["issue_id"]]) for v in p["grassroots_end"] for i in v["issues"] if i["issue_id"] in by_id)
    for i in issues:
        if i.root_unit_hint:
            under.setdefault(i.root_unit_hint, {})[i.issue_id] = i
    units = {u.unit_id: u for u in store.units([district] + sorted(by_township))}
    checks = open_workflow(store).follow_ups(district, "backcheck")
    return {"district": district, **effectiveness(issues, as_of),
            "shifts_by_round": shifts(issues, category_tags(store.categories())),
            "townships": [{"code": t, "name": names.get(t, t), **brief(found)} for t, found in sorted(by_township.items())],
            "departments": [{"unit_id": u, "unit_name": units[u].name if u in units else u,
                             "packages": sum(p["agency_end"]["unit_id"] == u for p in found_packages),
                             "agency_done": sum(p["agency_end"]["unit_id"] == u and p["status"]["agency_done"]
                                                for p in found_packages), **brief(found.values())}
                            for u, found in sorted(under.items())],
            "packages": [{"package_id": p["package_id"], "unit_name": p["agency_end"]["unit_name"],
                          "category": p["root_cause"]["category"], "villages": p["totals"]["villages"],
                          "problems": p["totals"]["issues"], "open": p["totals"]["open_issues"],
                          "agency_done": p["status"]["agency_done"], "closed": p["status"]["closed"],
                          "closed_on": p["status"]["closed_on"],
                          "on_time_rate": effectiveness([by_id[i["issue_id"]] for v in p["grassroots_end"]
                                                         for i in v["issues"] if i["issue_id"] in by_id],
                                                        as_of)["on_time_rate"]} for p in found_packages],
            "back_checks": {"checked": len({r.target for r in checks}),
                            "fixed": sum(r.result == BACKCHECK_RESULTS[0] for r in checks),
                            "not_fixed": sorted({r.target for r in checks if r.result != BACKCHECK_RESULTS[0]})}}
