"""Joint rectification packages (机关+基层联动整改): for each surfaced root cause, the agency-end
task for the higher-level unit and the grassroots-end tasks for each affected village, with the
responsible units, their duty types and due dates."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from ..model import DUTY_ORDER, OPEN_STATUSES, DutyType, Severity, Status

AGENCY_DAYS = 90       # a systemic fix (policy, fund flow, supervision) gets a quarter
GRASSROOTS_DAYS = 60   # a village's own fix, when the ledger gives no due date


def township_bearers(township_units: list, duties: list) -> dict[tuple[str, str], list[dict]]:
    """(township, category) -> the township's units with a duty for the category, primary first.

    >>> from graph.store import Duty, Unit
    >>> units = [Unit("500101001-civil_affairs", "高笋塘街道社会事务办", "township", "500101001", "civil_affairs")]
    >>> township_bearers(units, [Duty("低保", "township", "civil_affairs", "primary")])[("500101001", "低保")][0]["unit_name"]
    '高笋塘街道社会事务办'
    """
    bearers = defaultdict(list)
    functions = defaultdict(list)
    for duty in duties:
        if duty.level == "township":
            functions[(duty.function, duty.category)].append(duty.duty)
    for unit in township_units:
        for category in {c for (f, c) in functions if f == unit.function}:
            for duty in functions[(unit.function, category)]:
                bearers[(unit.area_code, category)].append(
                    {"unit_id": unit.unit_id, "unit_name": unit.name, "duty": duty, "duty_zh": DutyType(duty).zh})
    for found in bearers.values():
        found.sort(key=lambda u: (DUTY_ORDER[DutyType(u["duty"])], u["unit_id"]))
    return bearers


def build_packages(causes: list[dict], issues: dict, names: dict[str, str], township_units: list,
                   duties: list, categories: dict, as_of: dt.date | None = None) -> list[dict]:
    """One package per root cause, in the causes' order.

    Parameters
    ----------
    causes : list of dict
        Root causes as :func:`graph.service.root_causes` returns them (with ``rank``).
    issues : dict
        rank -> the :class:`graph.store.Issue` records under the cause's area and category.
    names : dict
        Division code -> name, for the villages and townships involved.
    township_units, duties, categories
        Units of the townships involved, the duties table, and the catalog's categories by name.
    as_of : datetime.date, optional
        The report's date (default: today). Due dates count from it: a package printed today never
        asks for work "before" a date already past. A village's own due date from the ledger is kept
        while it is still ahead; a passed one is flagged ``overdue`` (``overdue_since`` that date) and
        the village gets a new one from ``as_of``.

    Returns
    -------
    list of dict
        ``package_id``, ``root_cause``, ``agency_end`` and ``grassroots_end`` (one entry a village).

    Examples
    --------
    >>> from graph.store import Issue, Unit, Duty
    >>> d = dt.date(2024, 3, 1)
    >>> cause = {"rank": 1, "unit_id": "500101-civil_affairs", "unit_name": "万州区民政局", "level": "district",
    ...          "duty": "primary", "area_code": "500101", "area_name": "万州区", "category": "低保",
    ...          "confidence": 0.999, "score": 12.0, "responsible_units": [], "evidence": {}}
    >>> found = [Issue("Q1", "500101001001", "R1", d, "低保", "错评", "grave", 3000.0, "open", False, None, None, None)]
    >>> units = [Unit("500101001-civil_affairs", "高笋塘街道社会事务办", "township", "500101001", "civil_affairs")]
    >>> duties = [Duty("低保", "township", "civil_affairs", "primary")]
    >>> [p] = build_packages([cause], {1: found}, {"500101001001": "黄柏村", "500101001": "高笋塘街道"},
    ...                      units, duties, {}, as_of=dt.date(2024, 4, 1))
    >>> p["agency_end"]["due_on"], p["grassroots_end"][0]["due_on"], p["grassroots_end"][0]["overdue"]
    ('2024-06-30', '2024-05-31', False)
    >>> p["grassroots_end"][0]["responsible_units"][1]["unit_id"]
    '500101001-civil_affairs'
    """
    as_of = as_of or dt.date.today()
    bearers = township_bearers(township_units, duties)
    packages = []
    for cause in causes:
        found = issues.get(cause["rank"], [])
        category = categories.get(cause["category"])
        fix = (category.systemic_fix if category and category.systemic_fix else
               f"查找{cause['category']}问题在政策、资金和监管链条上的根源，建章立制")
        by_village = defaultdict(list)
        for issue in found:
            by_village[issue.village_code].append(issue)
        grassroots = []
        for village, village_issues in sorted(by_village.items()):
            township = village[:9]
            pending = [i for i in village_issues if i.status in OPEN_STATUSES]
            ledger_due = max((i.due_on for i in pending if i.due_on), default=None)
            overdue = ledger_due is not None and ledger_due < as_of
            due = ledger_due if ledger_due is not None and not overdue else as_of + dt.timedelta(days=GRASSROOTS_DAYS)
            units = bearers.get((township, cause["category"]), [])
            grassroots.append({
                "village_code": village, "village_name": names.get(village, village),
                "township_code": township, "township_name": names.get(township, township),
                "responsible_units": [{"unit_id": f"{village}-village_committee", "unit_name": "村(社区)“两委”",
                                       "duty": "primary", "duty_zh": DutyType.PRIMARY.zh}] + units,
                "due_on": due.isoformat(), "overdue": overdue,
                # the ledger's deadline that passed: a new one counts from the report's date
                "overdue_since": ledger_due.isoformat() if overdue else None,
                "issues": [{"issue_id": i.issue_id, "description": i.description, "severity": i.severity,
                            "severity_zh": Severity(i.severity).zh, "status": i.status, "status_zh": Status(i.status).zh,
                            "found_on": i.found_on.isoformat(), "due_on": i.due_on.isoformat() if i.due_on else None,
                            "amount_yuan": i.amount_yuan} for i in village_issues],
            })
        open_issues = sum(1 for i in found if i.status in OPEN_STATUSES)
        packages.append({
            # Stable across analyses (a rank changes with the data): the area and the category.
            "package_id": f"PKG-{cause['area_code']}-{cause['category']}",
            "root_cause": {k: cause[k] for k in ("rank", "unit_id", "unit_name", "level", "area_code", "area_name",
                                                 "category", "confidence", "score", "evidence") if k in cause},
            "agency_end": {
                "unit_id": cause["unit_id"], "unit_name": cause["unit_name"], "level": cause["level"],
                "duty": cause["duty"], "duty_zh": DutyType(cause["duty"]).zh,
                "task": fix, "co_responsible": [u for u in cause["responsible_units"] if u["unit_id"] != cause["unit_id"]],
                "due_on": (as_of + dt.timedelta(days=AGENCY_DAYS)).isoformat(),
            },
            "grassroots_end": grassroots,
            "totals": {"villages": len(grassroots), "issues": len(found), "open_issues": open_issues},
        })
    return packages
