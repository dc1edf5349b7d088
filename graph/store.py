"""The storage interface. Every backend implements :class:`GraphStore`; analysis code sees only
this Protocol and the plain records below, never a driver.

Writes are idempotent upserts, each call one transaction. The ledger facts that root-cause
surfacing needs are aggregated *inside* the store (SQL ``GROUP BY`` or Cypher aggregation), so a
large store never ships raw rows to Python for counting, and both backends hand the pure analysis
functions the same numbers.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, ContextManager, Iterable, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

import networkx as nx

from .model import CategoryIn, Division, DutyIn, IssueIn, UnitIn

Progress = Callable[[int], None]  # called with the number of rows just written


@dataclass(frozen=True)
class WriteSummary:
    """What an upsert did: rows new, rows changed, rows already identical."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    source: dict | None = None  # how the input file was read (format, encoding, header row), when a file

    def __add__(self, other: "WriteSummary") -> "WriteSummary":
        return WriteSummary(self.inserted + other.inserted, self.updated + other.updated,
                            self.unchanged + other.unchanged)

    def as_dict(self) -> dict:
        out = {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    level: str
    area_code: str
    function: str
    leader: str = ""   # 分管领导, where the units table names one


@dataclass(frozen=True)
class Duty:
    category: str
    level: str
    function: str
    duty: str


@dataclass(frozen=True)
class Issue:
    issue_id: str
    village_code: str
    round_id: str
    found_on: dt.date
    category: str
    description: str
    severity: str
    amount_yuan: float | None
    status: str
    immediate: bool
    due_on: dt.date | None
    closed_on: dt.date | None
    root_unit_hint: str | None
    # Columns the ledger's format does not name, and notes written later (整改佐证, 复发重开).
    extra: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class IssueQuery:
    """A filtered list of problems, as the API's list and the explorer ask for it: within
    ``area`` (a district, township or village code; "" every one), each other field a filter
    when set. ``overdue`` reads :func:`graph.model.overdue` as of ``as_of``."""

    area: str = ""
    category: str | None = None
    status: str | None = None
    round_id: str | None = None
    severity: str | None = None
    overdue: bool | None = None
    as_of: dt.date | None = None


@dataclass(frozen=True)
class StatusChange:
    issue_id: str
    status: str
    closed_on: dt.date | None
    recorded_at: str


class LedgerCell(NamedTuple):
    """Problems of one category in the village-level units of one kind in one township.

    Every finding counts, in every round. The moments (``issues_sq``, ``issues_cross``) let the
    analysis measure how much a category clusters in villages (overdispersion) without shipping
    per-village rows: with ``X_v`` the village's problems of the category and ``N_v`` its problems
    of every category, ``issues = Σ X_v``, ``issues_sq = Σ X_v²``, ``issues_cross = Σ X_v N_v``.
    """

    township_code: str
    district_code: str
    village_kind: str
    category: str
    villages_affected: int     # villages with at least one problem of the category
    issues: int                # Σ X_v
    issues_sq: int             # Σ X_v²
    issues_cross: int          # Σ X_v · N_v
    severity_weight: float     # 一般 1, 较重 2, 严重 4, summed over the problems
    amount_yuan: float
    villages_rectified: int    # villages with a rectified/closed problem of the category before the latest round
    villages_recurred: int     # of those, villages where the category was found again in a later round


class VillageCount(NamedTuple):
    """Problems of one category found in one village-level unit, every round counted: the
    per-village evidence a township cause leaves (a cause raises its category in most of the
    township's villages, not in one). A plain tuple: a province's ledger has hundreds of thousands."""

    village_code: str
    village_kind: str
    category: str
    issues: int


class Exposure(NamedTuple):
    """Village-level units of one kind in one township: loaded, inspected (a problem was found),
    and the moments of their problem totals ``N_v``: ``issues = Σ N_v``, ``issues_sq = Σ N_v²``."""

    township_code: str
    district_code: str
    village_kind: str
    villages: int
    inspected: int
    issues: int
    issues_sq: int


@dataclass(frozen=True)
class ApiToken:
    """An API token as stored: its hash only, never the token itself."""

    token_id: str
    name: str
    role: str
    district_code: str | None
    token_hash: str
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One write through the API: who (token id and name), when, what, and the object before and after."""

    at: str
    token_id: str | None
    token_name: str | None
    action: str
    target: str
    before: str | None   # JSON
    after: str | None    # JSON
    district_code: str | None = None  # the district the change (or refusal) concerns; None: several or all
    seq: int | None = None


@dataclass(frozen=True)
class HintCount:
    township_code: str
    category: str
    unit_id: str
    issues: int


@dataclass(frozen=True)
class LedgerFacts:
    cells: list[LedgerCell]
    exposure: list[Exposure]
    hints: list[HintCount]
    units: list[Unit]
    duties: list[Duty]
    categories: list[CategoryIn]
    names: dict[str, str] = field(default_factory=dict)  # division code -> name, for the areas in facts
    # Per village and category, for the townships asked (sorted by village, then category): the
    # store's ``village_counts``, asked only for the few townships the sums single out. None in
    # hand-made facts, where township tests use the sums alone.
    village_counts: Callable[[Sequence[str]], list[VillageCount]] | None = field(default=None, compare=False)


def extra_json(extra: dict) -> str | None:
    """Columns a format does not name, kept as one JSON property (same text in every store)."""
    return json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None


def extras_by_id(rows: Iterable[tuple[str, str]]) -> dict[str, Mapping[str, str]]:
    """(issue id, extra JSON) rows as each problem's extra columns, read-only: a ledger holds a
    few distinct texts (its terms), each parsed once and shared (a term's 200,000 problems
    were 200,000 parses, the most of an update's reading of them)."""
    parsed: dict[str, Mapping[str, str]] = {}
    found = {}
    for issue_id, text in rows:
        extra = parsed.get(text)
        if extra is None:
            extra = parsed[text] = MappingProxyType(json.loads(text))
        found[issue_id] = extra
    return found


def issue_row(issue: IssueIn, township: str, district: str) -> dict:
    """An issue as every store writes it: the record's fields plus its township and district."""
    return {"issue_id": issue.issue_id, "village_code": issue.village_code, "township_code": township,
            "district_code": district, "round_id": issue.round_id, "found_on": issue.found_on,
            "category": issue.category, "description": issue.description, "severity": issue.severity.value,
            "amount_yuan": issue.amount_yuan, "status": issue.status.value, "immediate": issue.immediate,
            "due_on": issue.due_on, "closed_on": issue.closed_on, "root_unit_hint": issue.root_unit_hint,
            "extra": extra_json(issue.extra)}


@dataclass(frozen=True)
class Inspection:
    """A round's visit to a village or a township (巡察记录), whether or not it found problems."""

    area_code: str          # 12-digit village or 9-digit township
    round_id: str
    started_on: dt.date
    ended_on: dt.date | None = None
    team: str = ""
    mode: str = ""          # 直接巡村 / 乡村一体巡


@dataclass(frozen=True)
class FollowUp:
    """Who did what on which day in following up rectification: a back-check's result on a problem
    (kind ``backcheck``), a package's end done, closure or reopening (kind ``package``). Kept as a
    history: a new record never overwrites an earlier one of another day or result."""

    kind: str
    target: str             # issue id or package id
    district: str
    on: dt.date
    by: str
    result: str             # 整改到位 / 未整改到位, or agency / closed / reopened
    note: str = ""


@runtime_checkable
class GraphStore(Protocol):
    url: str
    # Reads are calls into this process (SQLite), not round trips to a server (Neo4j): the API
    # answers them on its event loop rather than in its thread pool.
    in_process: bool

    def close(self) -> None: ...

    # -- writes: one transaction per call, idempotent --------------------------------------------
    def upsert_divisions(self, divisions: Sequence[Division], progress: Progress | None = None) -> WriteSummary: ...
    def upsert_categories(self, categories: Sequence[CategoryIn]) -> WriteSummary: ...
    def upsert_units(self, units: Sequence[UnitIn]) -> WriteSummary: ...
    def upsert_duties(self, duties: Sequence[DutyIn]) -> WriteSummary: ...
    def upsert_issues(self, issues: Sequence[IssueIn], recorded_at: str,
                      progress: Progress | None = None) -> WriteSummary: ...
    def repair(self) -> dict:
        """Remove what a write that died left behind (never visible to reads); what was found."""
        ...

    def atomic(self) -> ContextManager[None]:
        """Every write of the calling thread inside the block, this store's and its
        :class:`AccessStore`'s and :class:`WorkflowStore`'s, in one transaction: committed together or
        not at all."""
        ...

    def lock_issues(self, issue_ids: Iterable[str]) -> None:
        """Inside :meth:`atomic`: hold these problems against every other writer until the block
        ends, so that what the block reads of them next is what it changes (two editors' updates
        of one problem at once both kept, not the second's read from before the first's write)."""
        ...

    # -- reads ------------------------------------------------------------------------------------
    def data_version(self) -> int: ...
    def cypher(self, query: str, parameters: dict, limit: int, timeout: float,
               max_bytes: int = 8 * 2**20) -> tuple[list[str], list[dict], bool]:
        """A read-only Cypher query (columns, rows up to ``limit`` and ``max_bytes`` of JSON,
        whether more were cut off); :class:`NotSupported` on a store without Cypher."""
        ...
    def existing_codes(self, codes: Iterable[str]) -> set[str]: ...
    def division(self, code: str) -> Division | None: ...
    def division_names(self, codes: Iterable[str]) -> dict[str, str]: ...
    def children_counts(self, code: str) -> dict[str, int]: ...
    def divisions(self, level: str, within: str | None = None) -> list[Division]: ...
    def villages_named(self, village: str, township: str | None) -> list[Division]: ...
    def find_divisions(self, text: str, limit: int = 20) -> list[Division]: ...
    def counts(self, district: str | None = None) -> dict: ...
    def units(self, area_codes: Iterable[str] | None = None) -> list[Unit]: ...
    def duties(self) -> list[Duty]: ...
    def categories(self) -> list[CategoryIn]: ...
    def issue(self, issue_id: str) -> Issue | None: ...
    def issue_history(self, issue_id: str) -> list[StatusChange]: ...
    def issue_statuses(self, issue_ids: Iterable[str]) -> dict[str, str]: ...
    def issue_extras(self, issue_ids: Iterable[str]) -> dict[str, Mapping[str, str]]:
        """The extra columns (届次 and the office's own) stored with those of these problems that
        have any, by id: an update that does not carry a column keeps its value."""
        ...
    def issues_by_id(self, issue_ids: Iterable[str]) -> dict[str, Issue]:
        """Those of these problems that exist, by id (ownership and the audit's before and after)."""
        ...
    def issues_in(self, area_code: str, category: str) -> list[Issue]: ...
    def issues(self, district: str | None = None) -> list[Issue]: ...
    def find_issues(self, text: str, area: str = "", limit: int = 20) -> list[Issue]:
        """Problems within ``area`` whose description contains ``text`` or whose id starts with
        it (as typed: letters' case kept), in id order, the first ``limit``: the search box."""
        ...
    def issue_ids(self, query: IssueQuery) -> list[str]:
        """The ids of the problems ``query`` selects, in id order: a list's total and its pages
        (:meth:`issues_by_id`) without reading every problem of the district."""
        ...
    def term_dates(self) -> dict[str, dict[dt.date, int]]:
        """The ledger's terms (its 届次 column, ``graph.model.term_of``) and each one's problems by
        发现日期 (ordered and checked by ``graph.analysis.root_causes.terms``); empty where the ledger
        has no such column."""
        ...

    # -- analysis inputs --------------------------------------------------------------------------
    def ledger_facts(self) -> LedgerFacts: ...
    def village_counts(self, townships: Sequence[str]) -> list[VillageCount]: ...
    def chain_graph(self, issue_id: str) -> nx.MultiDiGraph: ...
    def projection(self, district: str | None = None) -> nx.MultiDiGraph: ...


@runtime_checkable
class WorkflowStore(Protocol):
    """The office's workflow records, kept beside the graph (:func:`graph.open_workflow` gives the
    one beside a graph store, in the same file or database, so a record commits with the change it
    belongs to inside ``GraphStore.atomic``). The graph store is the graph; these are what the office
    decided and did about it."""

    # Ends of joint packages: "agency" (机关端完成), "closed" (销号), "reopened", each with its date and note.
    def mark_package_end(self, package_id: str, end: str, done_on: dt.date, note: str, recorded_at: str) -> None: ...
    def package_ends(self, package_ids: Iterable[str]) -> dict[str, dict[str, dict]]: ...
    # A district's key-village list as settled (proposed, adjusted, approved): one record.
    def save_key_villages(self, district: str, record: dict, updated_at: str) -> None: ...
    def key_villages(self, district: str) -> dict | None: ...
    # Inspections done (a round's visit to a village or township, found problems or not).
    def save_inspections(self, inspections: Sequence[Inspection]) -> WriteSummary: ...
    def inspections(self, district: str) -> list[Inspection]: ...
    # The follow-up history: back-check results and who recorded them.
    def save_follow_ups(self, records: Sequence[FollowUp]) -> WriteSummary: ...
    def follow_ups(self, district: str, kind: str) -> list[FollowUp]: ...
    # Villages' base data for the classification (人口、集体资金 … 软弱涣散): indicator → value per village.
    def save_base_data(self, district: str, indicators: dict[str, dict[str, float]]) -> WriteSummary: ...
    def base_data(self, district: str) -> dict[str, dict[str, float]]: ...


@runtime_checkable
class AccessStore(Protocol):
    """API tokens and the audit log: who may call, and what was done. Kept apart from the graph
    (:func:`graph.open_access` gives the one beside a graph store, in the same file or database, so
    an audit entry commits with the change it records inside ``GraphStore.atomic``). ``district``
    filters: a district's tokens, or the entries concerning a district; None, all of them."""

    def save_token(self, token: ApiToken) -> None: ...
    def tokens(self, district: str | None = None) -> list[ApiToken]: ...
    def token_by_hash(self, token_hash: str) -> ApiToken | None: ...
    def revoke_token(self, token_id: str, at: str) -> bool: ...
    def add_audit(self, entry: AuditEntry) -> None: ...
    def audit(self, limit: int = 100, offset: int = 0, district: str | None = None) -> tuple[list[AuditEntry], int]: ...
