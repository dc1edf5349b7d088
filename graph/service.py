"""Use cases shared by the CLI and the API: they read from a store, call the pure analysis
functions and return plain data. No I/O formatting here."""
from __future__ import annotations

import datetime as dt

from .analysis.chains import responsibility_chain
from .analysis.packages import build_packages
from .analysis.root_causes import DEFAULT_MIN_CONFIDENCE, surface_root_causes
from .access import EVERY_DISTRICT, Scope
from .errors import InputError, NotFound, RowError
from .model import DONE_STATUSES
from .store import GraphStore

BULK_FROM = 100  # candidates from which their problems are read in one pass


def surfaced(store: GraphStore, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list:
    """Every tested (area, category) pair of the whole store, best first: the one analysis the
    root-cause reports, packages and views select from (baselines always use everything loaded)."""
    return surface_root_causes(store.ledger_facts(), min_confidence=min_confidence)


def root_causes(store: GraphStore, **options) -> list[dict]:
    """Surfaced root causes (or, with ``include_all``, every pair), best first, as dicts with their
    villages and issue ids; see :func:`root_cause_report`."""
    return root_cause_report(store, **options)[0]


def root_cause_report(store: GraphStore, *, district: str | None = None, level: str | None = None,
                      top: int | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                      include_all: bool = False, with_issues: bool = True,
                      candidates: list | None = None) -> tuple[list[dict], list[str]]:
    """The root causes and, for the pairs in scope that could not be tested, each distinct reason
    (no baseline, no reference rates); ``district`` and ``level`` filter. ``candidates``: the
    store's :func:`surfaced` analysis at ``min_confidence``, when the caller has it already."""
    if candidates is None:
        candidates = surfaced(store, min_confidence)
    notes = sorted({c.reason for c in candidates if c.reason and (district is None or c.district_code == district)
                    and (level is None or c.level == level)})
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
    return [_cause(rank, c, issues_of(c) if with_issues else None)
            for rank, c in enumerate(selected, start=1)], notes


def root_cause(store: GraphStore, unit_id: str, category: str, candidates: list | None = None) -> dict | None:
    """One tested pair, surfaced or not, as :func:`root_causes` with ``include_all`` gives it (its
    rank among all pairs, its villages and issue ids); None if the pair was not tested."""
    for rank, c in enumerate(surfaced(store) if candidates is None else candidates, start=1):
        if c.unit_id == unit_id and c.category == category:
            return _cause(rank, c, store.issues_in(c.area_code, c.category))
    return None


def _cause(rank: int, candidate, issues: list | None) -> dict:
    item = {"rank": rank, **candidate.as_dict()}
    if issues is not None:
        item["villages"] = sorted({i.village_code for i in issues})
        item["issue_ids"] = [i.issue_id for i in issues]
    return item


def chain(store: GraphStore, issue_id: str) -> dict:
    graph = store.chain_graph(issue_id)
    if f"issue:{issue_id}" not in graph:
        raise NotFound(f"没有编号为 {issue_id} 的问题 (no such issue)")
    return responsibility_chain(graph, issue_id)


def packages(store: GraphStore, as_of: dt.date | None = None, **options) -> list[dict]:
    """Joint rectification packages for the surfaced causes, each with the state of its two ends;
    due dates count from ``as_of`` (today)."""
    found = _packages(store, as_of, **options)
    ends = store.package_ends(p["package_id"] for p in found)
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


def complete_agency_end(store: GraphStore, package_id: str, done_on: dt.date, note: str,
                        scope: Scope = EVERY_DISTRICT) -> tuple[dict, dict]:
    """Record that the agency end (机关端) of a package is done, with its date and evidence; the
    package's state before, and the package after."""
    from .access import now
    before = _package(store, package_id, scope)["status"]
    if not note.strip():
        raise InputError(RowError(package_id, None, "--note", None, "机关端完成情况说明（佐证），不能为空 (an evidence note)"))
    store.mark_package_end(package_id, "agency", done_on, note.strip(), now())
    return before, _package(store, package_id)


def close_package(store: GraphStore, package_id: str, closed_on: dt.date, note: str = "",
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
    store.mark_package_end(package_id, "closed", closed_on, note, now())
    return status, _package(store, package_id)


def _packages(store: GraphStore, as_of: dt.date | None = None, **options) -> list[dict]:
    causes = root_causes(store, with_issues=False, **options)
    issues = {c["rank"]: store.issues_in(c["area_code"], c["category"]) for c in causes}
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
    ``causes``: the district's root causes, when the caller has them already."""
    from .analysis.planning import classify, graph_indicators
    as_of = as_of or dt.date.today()
    causes = root_causes(store, district=district) if causes is None else causes
    in_cause = {v for c in causes for v in c.get("villages", [])}
    indicators = graph_indicators(_district_issues(store, district), as_of, in_cause)
    for code, values in (base_data or {}).items():
        indicators.setdefault(code, {}).update(values)
    villages = [(v.code, v.name, v.parent_code) for v in store.divisions("village", within=district)]
    from .analysis.key_villages import apply_approved
    classes = classify(villages, indicators, config)
    return apply_approved(classes, store.key_villages(district)) if use_list else classes


def classified_modes(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> tuple[list, list[dict]]:
    """The classes and the inspection modes of the district's villages, from one root-cause analysis."""
    from .analysis.planning import recommend_modes
    causes = root_causes(store, district=district)
    classes = classification(store, district, base_data, config, causes=causes)
    systemic = [c for c in causes if c["level"] == "district"]
    return classes, recommend_modes(classes, {district: systemic})


def inspection_modes(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> list[dict]:
    return classified_modes(store, district, base_data, config)[1]


def coverage_plan(store: GraphStore, district: str, *, teams: int, term_end: dt.date, start: dt.date | None = None,
                  rounds_per_year: int = 2, per_team: dict | None = None, base_data: dict | None = None,
                  config: dict | None = None, term_start: dt.date | None = None) -> dict:
    """Villages inspected this term (a problem found since ``term_start``) and rounds for the rest."""
    from .analysis.planning import DIRECT, JOINT, SPECIAL, plan_rounds
    modes = inspection_modes(store, district, base_data, config)
    inspected = {i.village_code for i in _district_issues(store, district)
                 if term_start is None or i.found_on >= term_start}
    plan = plan_rounds(modes, inspected, teams=teams, per_team=per_team or {DIRECT: 4, SPECIAL: 8, JOINT: 8},
                       rounds_per_year=rounds_per_year, start=start or dt.date.today(), term_end=term_end)
    return {"district": district, **plan}


def rectification_status(store: GraphStore, district: str, as_of: dt.date | None = None) -> dict:
    from .analysis.planning import WARNING_ZH, deadline_warning
    as_of = as_of or dt.date.today()
    rows = []
    for i in _district_issues(store, district):
        warning = deadline_warning(i.status, i.due_on, as_of)
        rows.append({"issue_id": i.issue_id, "village_code": i.village_code, "category": i.category,
                     "status": i.status, "due_on": i.due_on, "immediate": i.immediate, "warning": warning,
                     "warning_zh": WARNING_ZH[warning]})
    counts = {k: sum(1 for r in rows if r["warning"] == k) for k in WARNING_ZH}
    immediate = [r for r in rows if r["immediate"]]
    return {"district": district, "as_of": as_of.isoformat(), "counts": counts,
            "immediate": {"total": len(immediate), "done": sum(1 for r in immediate if r["warning"] == "done")},
            "issues": rows}


# -- the key-village list: proposed by the townships, adjusted and approved by the office -----------
def key_village_list(store: GraphStore, district: str, base_data: dict | None = None,
                     config: dict | None = None) -> dict:
    """The district's list as it stands, with where it and the indicators disagree."""
    from .analysis.key_villages import STATUS_ZH, compare
    record = store.key_villages(district)
    if record is None:
        raise NotFound(f"区县 {district} 还没有重点村名单：先用 xuncha keylist propose 导入乡镇推荐名单")
    by_indicators = classification(store, district, base_data, config, use_list=False)
    return {**record, "status_zh": STATUS_ZH[record["status"]],
            "against_indicators": compare(record, by_indicators)}


def _key_list_change(store: GraphStore, district: str, change, scope: Scope) -> tuple[dict | None, dict]:
    from .access import now
    from .analysis.key_villages import ListError
    scope.require(district, "区县")
    before = store.key_villages(district)
    at = now()
    try:
        after = change(before, at)
    except ListError as exc:
        raise InputError(RowError("重点村名单", None, None, district, str(exc))) from None
    store.save_key_villages(district, after, at)
    return before, after


def propose_key_villages(store: GraphStore, district: str, rows: list[dict], by: str, file: str = "",
                         scope: Scope = EVERY_DISTRICT):
    """Import the townships' proposal (``loaders.base_data.read_key_village_proposal`` reads the file);
    it replaces the district's list, approval included. Returns (before, after)."""
    from .analysis.key_villages import propose
    return _key_list_change(store, district, lambda before, at: propose(district, rows, by, at, file), scope)


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
                       scope: Scope = EVERY_DISTRICT) -> dict:
    """Reopen (复发重开) what came back in a later round, with the link recorded:

    * a rectified or closed problem whose category was found again in the same village in a later
      round: its status becomes 复发重开 (an entry in its status history) and its extra field
      names the problem that reopened it;
    * a closed joint package whose category was found again under its root unit (in the unit's
      area) after the package was closed: the package is reopened, the new problems named.

    With ``apply`` False nothing is written (a preview of the same answer)."""
    from .access import now
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
        reopened.append(IssueIn.model_validate({**fields, "status": Status.REOPENED, "extra": {
            **{k: str(v) for k, v in old.extra.items()},
            "复发重开": f"{link['reopened_by']}（{link['round']}，同一村(社区)同类问题再次发现）"}}))
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
            store.mark_package_end(link["package_id"], "reopened", on,
                                   "销号后同一根源单位辖区再次发现同类问题：" + "、".join(link["reopened_by"]), recorded_at)
    return {"district": district, "applied": apply, "issues": links, "packages": package_links, "before": before}


def back_check(store: GraphStore, district: str, share: float = 0.05, seed: int = 1) -> dict:
    from .analysis.planning import back_check_sample
    closed = [i.issue_id for i in _district_issues(store, district) if i.status in DONE_STATUSES]
    return {"district": district, "seed": seed, "share": share, "closed": len(closed),
            "sample": back_check_sample(closed, share, seed)}


def evaluation(store: GraphStore, district: str, as_of: dt.date | None = None) -> dict:
    """Effectiveness for the district and each of its townships."""
    from .analysis.planning import effectiveness
    as_of = as_of or dt.date.today()
    issues = _district_issues(store, district)
    by_township: dict[str, list] = {}
    for i in issues:
        by_township.setdefault(i.village_code[:9], []).append(i)
    names = store.division_names(by_township)
    from .analysis.planning import category_tags, shifts
    return {"district": district, **effectiveness(issues, as_of),
            "shifts_by_round": shifts(issues, category_tags(store.categories())),
            "townships": [{"code": t, "name": names.get(t, t),
                           **{k: v for k, v in effectiveness(found, as_of).items() if k != "category_mix_by_round"}}
                          for t, found in sorted(by_township.items())]}
