"""The Neo4j 5 store, with the official ``neo4j`` driver. Only this module imports it.

Writes of categories, units and duties: one managed write transaction per call (all or nothing, as
the Protocol promises), with ``UNWIND $rows`` batches inside it; every batch is idempotent (MERGE,
and only rows that differ are written). Divisions, reference data up to the country's 665,000 rows,
are written a batch per transaction (a load that died is completed by running it again).

Loads of problems, which grow with the ledger (a province's term, several terms), are staged so that
their memory does not grow with them: each batch is written in a transaction of its own as new
*versions* of the problems, numbered by the load (``since``; the version a changed problem replaces
gets ``until``). Readers see a version when ``since <= published < until`` (``published``: the
number of the last finished load, on the ``Meta {key: 'published'}`` node), so a load becomes visible
all at once in one small transaction that sets that number. A load that dies leaves versions beyond
``published`` that the next load, or ``xuncha repair``, deletes; replaced versions are deleted after
publication. Loads hold a lease (a write lock in an open transaction, released by the server when
the loading process's connection ends) so two never interleave.
Reads: managed read transactions, routed to followers on a cluster or Aura. The counting behind
root-cause surfacing runs as Cypher aggregation inside Neo4j.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping, Sequence

import networkx as nx
import neo4j
import neo4j.graph
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from . import projection
from .errors import Forbidden, InputError, StoreError, StoreOutOfMemory, StoreUnavailable
from .model import KIND_BY_LEVEL, LEDGER_PARAMETERS, OPEN_STATUSES, TERM_HEADERS, CategoryIn, Division, DutyIn, IssueIn, UnitIn, term_of
from .store import (ApiToken, AuditEntry, Duty, Exposure, FollowUp, HintCount, Inspection, Issue, IssueQuery, LedgerCell, LedgerFacts, Progress, StatusChange, Unit,
                    VillageCount, WriteSummary, extra_json, extras_by_id, issue_row)

BATCH = 5_000
FIRST_LOAD_BATCH = 20_000

SCHEMA = [
    "CREATE CONSTRAINT division_code IF NOT EXISTS FOR (d:Division) REQUIRE d.code IS UNIQUE",
    "CREATE CONSTRAINT unit_id IF NOT EXISTS FOR (u:Unit) REQUIRE u.unit_id IS UNIQUE",
    "CREATE CONSTRAINT category_name IF NOT EXISTS FOR (c:Category) REQUIRE c.name IS UNIQUE",
    # A problem has one node per version while a load is staged (see the module's docstring): its
    # id is indexed, not unique. A store made before versions had the constraint: it is dropped.
    "DROP CONSTRAINT issue_id IF EXISTS",
    "CREATE INDEX issue_id_version IF NOT EXISTS FOR (i:Issue) ON (i.issue_id)",
    "CREATE INDEX issue_since IF NOT EXISTS FOR (i:Issue) ON (i.since)",
    "CREATE INDEX issue_until IF NOT EXISTS FOR (i:Issue) ON (i.until)",
    "CREATE INDEX status_since IF NOT EXISTS FOR (s:StatusChange) ON (s.since)",
    "CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (m:Meta) REQUIRE m.key IS UNIQUE",
    "CREATE CONSTRAINT round_id IF NOT EXISTS FOR (r:InspectionRound) REQUIRE r.round_id IS UNIQUE",
    "CREATE CONSTRAINT duty_rule IF NOT EXISTS FOR (r:DutyRule) REQUIRE (r.category, r.level, r.function, r.duty) IS UNIQUE",
    "CREATE INDEX division_level IF NOT EXISTS FOR (d:Division) ON (d.level)",
    "CREATE INDEX division_name IF NOT EXISTS FOR (d:Division) ON (d.name)",
    "CREATE INDEX unit_area IF NOT EXISTS FOR (u:Unit) ON (u.area_code)",
    "CREATE INDEX unit_function IF NOT EXISTS FOR (u:Unit) ON (u.level, u.function)",
    "CREATE INDEX issue_category IF NOT EXISTS FOR (i:Issue) ON (i.category)",
    "CREATE INDEX issue_township IF NOT EXISTS FOR (i:Issue) ON (i.township_code)",
    "CREATE INDEX issue_district IF NOT EXISTS FOR (i:Issue) ON (i.district_code)",
    "CREATE INDEX issue_village IF NOT EXISTS FOR (i:Issue) ON (i.village_code)",
    "CREATE CONSTRAINT village_base IF NOT EXISTS FOR (b:VillageBase) REQUIRE b.village_code IS UNIQUE",
    "CREATE INDEX village_base_district IF NOT EXISTS FOR (b:VillageBase) ON (b.district_code)",
    "CREATE CONSTRAINT key_village_list IF NOT EXISTS FOR (k:KeyVillageList) REQUIRE k.district_code IS UNIQUE",
    "CREATE CONSTRAINT api_token_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.token_id IS UNIQUE",
    "CREATE CONSTRAINT api_token_hash IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.token_hash IS UNIQUE",
    "CREATE INDEX audit_seq IF NOT EXISTS FOR (a:AuditEntry) ON (a.seq)",
]
# What the engine answers when a transaction would pass its memory limits (total, or per transaction).
OUT_OF_MEMORY = {"Neo.TransientError.General.MemoryPoolOutOfMemoryError",
                 "Neo.TransientError.General.TransactionMemoryLimit", "Neo.TransientError.General.OutOfMemoryError"}
# One more on every committed write, in the write's own transaction: caches key on it.
BUMP_VERSION = "MERGE (m:Meta {key: 'version'}) SET m.value = coalesce(m.value, 0) + 1"
# The number of the last published load, bound as ``published`` for the visibility test below.
PUBLISHED = "OPTIONAL MATCH (pub:Meta {key: 'published'}) WITH coalesce(pub.value, 0) AS published "


def visible(node: str) -> str:
    """The Cypher test that a version of a problem is the published one (``published`` in scope)."""
    return f"(coalesce({node}.since, 0) <= published AND coalesce({node}.until, published + 1) > published)"


# What the problems' batches compare with the row, and what they write.
ISSUE_PROPS = (".village_code, .township_code, .district_code, .round_id, .found_on, .category, .description, "
               ".severity, .amount_yuan, .status, .immediate, .due_on, .closed_on, .root_unit_hint, .extra")
# The current version of each problem of a batch; stale versions were removed when the lease was taken.
STAGE_FETCH = ("MATCH (i:Issue) WHERE i.issue_id IN $keys AND i.until IS NULL AND coalesce(i.since, 0) < $load "
               f"RETURN i.issue_id AS key, i {{{ISSUE_PROPS}}} AS props, COUNT {{ (i)-[:HAS_STATUS]->() }} AS history")
STAGE_VERSIONS = (
    "UNWIND $rows AS r "
    "CREATE (i:Issue) SET i = r, i.since = $load "
    "WITH i, r MATCH (v:Division {code: r.village_code}) CREATE (i)-[:FOUND_IN]->(v) "
    "MERGE (c:Category {name: r.category}) CREATE (i)-[:OF_CATEGORY]->(c) "
    "MERGE (round:InspectionRound {round_id: r.round_id}) CREATE (i)-[:IN_ROUND]->(round) "
    "WITH i, r OPTIONAL MATCH (hint:Unit {unit_id: r.root_unit_hint}) "
    "FOREACH (_ IN CASE WHEN hint IS NULL THEN [] ELSE [1] END | CREATE (i)-[:ROOT_CAUSE_AT {source: 'hint'}]->(hint))")
# A changed problem: its current version ends where the new one begins, and the new one carries its history.
STAGE_REPLACED = (
    "UNWIND $ids AS id "
    "MATCH (old:Issue {issue_id: id}) WHERE old.until IS NULL AND coalesce(old.since, 0) < $load "
    "MATCH (new:Issue {issue_id: id}) WHERE new.since = $load "
    "SET old.until = $load "
    "WITH old, new MATCH (old)-[:HAS_STATUS]->(s:StatusChange) CREATE (new)-[:HAS_STATUS]->(s)")
STAGE_STATUS = (
    "UNWIND $rows AS r MATCH (i:Issue {issue_id: r.issue_id}) WHERE i.since = $load "
    "CREATE (i)-[:HAS_STATUS]->(:StatusChange {issue_id: r.issue_id, seq: r.seq, status: r.status, "
    "closed_on: r.closed_on, recorded_at: $recorded_at, since: $load})")
# Clearing, in bounded transactions: what a dead load staged, and versions a published load replaced.
UNPUBLISHED = [
    "MATCH (i:Issue) WHERE i.since > $published WITH i LIMIT $limit DETACH DELETE i RETURN count(*) AS n",
    "MATCH (s:StatusChange) WHERE s.since > $published WITH s LIMIT $limit DETACH DELETE s RETURN count(*) AS n",
    "MATCH (i:Issue) WHERE i.until > $published WITH i LIMIT $limit REMOVE i.until RETURN count(*) AS n",
]
REPLACED = "MATCH (i:Issue) WHERE i.until <= $published WITH i LIMIT $limit DETACH DELETE i RETURN count(*) AS n"
TOKEN_FIELDS = ("token_id", "name", "role", "district_code", "token_hash", "created_at", "revoked_at")


# Tokens and audit entries are nodes without relationships, in labels of their own: nothing in the
# graph leads to them, and the Cypher guard refuses every way to reach an unlinked node (all-node
# scans, lookups by id, dynamic labels) and every query naming these labels.
ACCESS_LABELS = ("ApiToken", "AuditEntry")
# Procedures an analyst may call: the schema's names, nothing that reads files, URLs or other
# transactions.
ALLOWED_PROCEDURES = ("db.labels", "db.relationshipTypes", "db.propertyKeys", "db.schema.")
_DYNAMIC_LABEL = re.compile(r"\$\s*\(")
# Plan operators that reach nodes without a label or by id (a token is reachable no other way),
# read files or URLs, or list what other sessions do.
_UNLABELLED = ("AllNodesScan", "PartitionedAllNodesScan", "NodeByIdSeek", "NodeByElementIdSeek",
               "DirectedRelationshipByIdSeek", "UndirectedRelationshipByIdSeek",
               "DirectedRelationshipByElementIdSeek", "UndirectedRelationshipByElementIdSeek")
_SHOWN = ("ShowIndexes", "ShowConstraints", "ShowFunctions", "ShowProcedures")


def _refusal(plan: dict | None) -> str | None:
    """Why a query's plan may not run for an analyst, or None: every operator of the plan tree."""
    if plan is None:
        return None
    operator = plan.get("operatorType", "").split("@")[0]
    details = str((plan.get("args") or {}).get("Details", ""))
    if "LoadCSV" in operator:
        return "不允许 LOAD CSV：分析查询不能读取文件或网址 (LOAD CSV is not allowed)"
    if operator in _UNLABELLED:
        return "请为每个节点指明标签（如 (i:Issue)），不能扫描所有节点或按 id 查找 (name a label for every node)"
    if operator.startswith("Show") and operator not in _SHOWN or operator.startswith("Terminate"):
        return f"不允许 {operator} (not allowed)"
    if operator == "ProcedureCall":
        name = details.split("(")[0].strip()
        if not name.startswith(ALLOWED_PROCEDURES):
            return (f"不允许调用过程 {name}；可用：db.labels、db.relationshipTypes、db.propertyKeys、db.schema.* "
                    "(procedure not allowed)")
    if any(f":{label}" in details for label in ACCESS_LABELS):
        return "令牌和审计记录不在分析图中 (tokens and audit are not in the graph)"
    for child in plan.get("children") or ():
        if found := _refusal(child):
            return found
    return None


def _native(value):
    """neo4j.time.Date -> datetime.date; everything else as it is."""
    return value.to_native() if hasattr(value, "to_native") else value


def _plain(value):
    """A Cypher value as JSON can carry it: nodes and relationships as their properties with labels
    or type, temporal values as ISO text."""
    if isinstance(value, neo4j.graph.Node):
        return {"labels": sorted(value.labels), **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Relationship):
        return {"type": value.type, **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Path):
        return [_plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


def _upsert_in(tx, rows: list[dict], key: str, fetch: str, write: str, progress: Progress | None = None,
               **params) -> WriteSummary:
    """Per batch, inside the caller's transaction: read what exists, then write only new or changed rows."""
    inserted = updated = unchanged = 0
    for batch in _batches(rows):
        keys = [r[key] for r in batch]
        existing = {rec["key"]: rec["props"] for rec in tx.run(fetch, keys=keys)}
        new, changed = [], []
        for row in batch:
            old = existing.get(row[key])
            if old is None:
                new.append(row)
            elif any(_native(old.get(c)) != row.get(c) for c in row if c != key):
                changed.append(row)
        if new or changed:
            tx.run(write, rows=new + changed, changed=[r[key] for r in changed], **params).consume()
        inserted, updated = inserted + len(new), updated + len(changed)
        unchanged += len(batch) - len(new) - len(changed)
        if progress:
            progress(len(batch))
    return WriteSummary(inserted, updated, unchanged)


def _stage_issues(tx, rows: list[dict], load: int, recorded_at: str) -> WriteSummary:
    """One batch of a load, in its own transaction: new versions of the new and changed problems
    (``since = load``), invisible until the load is published; unchanged rows write nothing."""
    existing = {r["key"]: (r["props"], r["history"]) for r in tx.run(STAGE_FETCH, keys=[r["issue_id"] for r in rows],
                                                                      load=load)}
    written, replaced, statuses = [], [], []
    for row in rows:
        found = existing.get(row["issue_id"])
        if found is None:
            written.append(row)
            statuses.append({**row, "seq": 0})
            continue
        old, history = found
        if all(_native(old.get(c)) == row.get(c) for c in row if c != "issue_id"):
            continue
        written.append(row)
        replaced.append(row["issue_id"])
        if old.get("status") != row["status"] or _native(old.get("closed_on")) != row["closed_on"]:
            statuses.append({**row, "seq": history})
    if written:
        tx.run(STAGE_VERSIONS, rows=written, load=load).consume()
    if replaced:
        tx.run(STAGE_REPLACED, ids=replaced, load=load).consume()
    if statuses:
        tx.run(STAGE_STATUS, rows=statuses, load=load, recorded_at=recorded_at).consume()
    return WriteSummary(len(written) - len(replaced), len(replaced), len(rows) - len(written))


def _batches(rows: list, size: int = BATCH):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


class Neo4jStore:
    in_process = False

    def __init__(self, uri: str, *, user: str = "neo4j", password: str = "", database: str = "neo4j"):
        self.url = uri
        self.database = database
        # This thread's transaction inside atomic(): the API shares one store between its worker
        # threads, and a transaction must never be used from another thread.
        self._local = threading.local()
        try:
            # Notifications (e.g. "property key does not exist" on a fresh database) are not for users.
            self.driver = GraphDatabase.driver(uri, auth=(user, password), notifications_min_severity="OFF")
            self.driver.verify_connectivity()
            for statement in SCHEMA:
                self.driver.execute_query(statement, database_=database)
        except AuthError as exc:
            raise StoreUnavailable(f"Neo4j {uri} 拒绝了用户名或密码，请检查 NEO4J_USER、NEO4J_PASSWORD "
                                   f"(refused the credentials): {exc.message}") from exc
        except (ServiceUnavailable, SessionExpired, OSError, ValueError) as exc:
            raise StoreUnavailable(f"无法连接 Neo4j {uri} (cannot reach): {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j at {uri}: {exc.message}") from exc

    def close(self) -> None:
        self.driver.close()

    # -- transactions ------------------------------------------------------------------------------
    def _read(self, query: str, **params) -> list[neo4j.Record]:
        tx = getattr(self._local, "tx", None)
        if tx is not None:  # inside this thread's atomic(): read what it wrote
            return list(tx.run(query, **params))

        def work(tx):
            return list(tx.run(query, **params))
        return self._run(neo4j.READ_ACCESS, work)

    def _write(self, work):
        tx = getattr(self._local, "write_tx", None)
        if tx is not None:  # inside this thread's atomic(): one transaction, versioned at its commit
            return work(tx)

        def versioned(tx):
            result = work(tx)
            tx.run(BUMP_VERSION).consume()
            return result
        return self._run(neo4j.WRITE_ACCESS, versioned)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write (and read) of this thread inside the block in one explicit write transaction:
        the graph's change and its audit entry commit together, or neither does."""
        if getattr(self._local, "write_tx", None) is not None:
            yield
            return
        try:
            with self.driver.session(database=self.database, default_access_mode=neo4j.WRITE_ACCESS) as session:
                with session.begin_transaction() as tx:
                    self._local.write_tx = self._local.tx = tx
                    try:
                        yield
                        tx.run(BUMP_VERSION).consume()
                        tx.commit()
                    finally:
                        self._local.write_tx = self._local.tx = None
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailable(f"Neo4j {self.url} 不可用 (unavailable): {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.url}: {exc.message}") from exc

    def lock_issues(self, issue_ids: Iterable[str]) -> None:
        tx = getattr(self._local, "write_tx", None)
        if tx is None:
            raise RuntimeError("lock_issues() is for use inside atomic()")
        # Setting a property takes the node's write lock for the rest of the transaction (Neo4j has
        # no lock statement without APOC); removing it again leaves the node as it was.
        try:
            # Every stored version of each: the one a concurrent write replaces is among them.
            tx.run("UNWIND $ids AS id MATCH (i:Issue {issue_id: id}) SET i._lock = true REMOVE i._lock",
                   ids=sorted(set(issue_ids))).consume()
        except Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.url}: {exc.message}") from exc

    def _run(self, mode, work):
        def refused_at_once(tx):
            # A transaction refused for memory is refused again: not one for the driver to retry.
            try:
                return work(tx)
            except Neo4jError as exc:
                if exc.code in OUT_OF_MEMORY:
                    raise self._out_of_memory(exc) from exc
                raise
        try:
            with self.driver.session(database=self.database, default_access_mode=mode) as session:
                if mode == neo4j.READ_ACCESS:
                    return session.execute_read(refused_at_once)
                return session.execute_write(refused_at_once)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailable(f"Neo4j {self.url} 不可用 (unavailable): {exc}") from exc
        except Neo4jError as exc:
            if exc.code in OUT_OF_MEMORY:
                raise self._out_of_memory(exc) from exc
            raise StoreError(f"Neo4j at {self.url}: {exc.message}") from exc

    def _out_of_memory(self, exc: Neo4jError) -> StoreOutOfMemory:
        return StoreOutOfMemory(f"Neo4j ({self.url})", exc.message)

    def _upsert(self, rows: list[dict], key: str, fetch: str, write: str,
                progress: Progress | None = None, **params) -> WriteSummary:
        """One call, one transaction: all or nothing, as the GraphStore Protocol promises."""
        return self._write(lambda tx: _upsert_in(tx, rows, key, fetch, write, progress, **params))

    # -- writes -----------------------------------------------------------------------------------
    def upsert_divisions(self, divisions: Sequence[Division], progress: Progress | None = None) -> WriteSummary:
        """Each batch in a transaction of its own, parents' levels first (so PART_OF finds them): the
        country's 665,000 divisions in one transaction outgrow a 1 GB heap. Divisions are reference
        data and every batch is idempotent: a load that died is completed by running it again."""
        # Into a store without divisions (a first load) every row is new: created, not compared.
        first = not self._read("MATCH (d:Division) RETURN count(d) > 0 AS found")[0]["found"]
        total = WriteSummary()
        for level in ("province", "city", "district", "township", "village"):
            rows = [{"code": d.code, "name": d.name, "level": d.level, "parent_code": d.parent_code, "kind": d.kind}
                    for d in divisions if d.level == level]
            label = KIND_BY_LEVEL[level].value
            for batch in _batches(rows, FIRST_LOAD_BATCH if first else BATCH):
                if first:
                    self._write(lambda tx: tx.run(
                        f"UNWIND $rows AS r CREATE (d:Division:{label}) SET d = r "
                        "WITH d, r MATCH (p:Division {code: r.parent_code}) CREATE (d)-[:PART_OF]->(p)",
                        rows=batch).consume())
                    total += WriteSummary(inserted=len(batch))
                    if progress:
                        progress(len(batch))
                    continue
                total += self._write(lambda tx: _upsert_in(
                    tx, batch, "code",
                    "MATCH (d:Division) WHERE d.code IN $keys "
                    "RETURN d.code AS key, d {.name, .level, .parent_code, .kind} AS props",
                    f"UNWIND $rows AS r MERGE (d:Division {{code: r.code}}) "
                    f"SET d:{label}, d.name = r.name, d.level = r.level, d.parent_code = r.parent_code, d.kind = r.kind "
                    "WITH d, r OPTIONAL MATCH (d)-[old:PART_OF]->() DELETE old "
                    "WITH DISTINCT d, r MATCH (p:Division {code: r.parent_code}) MERGE (d)-[:PART_OF]->(p)",
                    progress))
        return total

    def upsert_categories(self, categories: Sequence[CategoryIn]) -> WriteSummary:
        rows = [{"name": c.name, "key": c.key, "grp": c.group, "rate_village": c.rate_village,
                 "rate_community": c.rate_community, "money": c.money, "systemic_fix": c.systemic_fix,
                 "extra": extra_json(c.extra)} for c in categories]
        return self._upsert(
            rows, "name",
            "MATCH (c:Category) WHERE c.name IN $keys RETURN c.name AS key, "
            "c {.key, .grp, .rate_village, .rate_community, .money, .systemic_fix, .extra} AS props",
            "UNWIND $rows AS r MERGE (c:Category {name: r.name}) SET c += r")

    def upsert_units(self, units: Sequence[UnitIn]) -> WriteSummary:
        rows = [{"unit_id": u.unit_id, "name": u.name, "level": u.level.value, "area_code": u.area_code,
                 "function": u.function, "extra": extra_json(u.extra), "leader": u.leader or None} for u in units]
        return self._upsert(
            rows, "unit_id",
            "MATCH (u:Unit) WHERE u.unit_id IN $keys RETURN u.unit_id AS key, "
            "u {.name, .level, .area_code, .function, .extra, .leader} AS props",
            "UNWIND $rows AS r MERGE (u:Unit {unit_id: r.unit_id}) SET u += r "
            "WITH u, r OPTIONAL MATCH (u)-[old:BELONGS_TO|DUTY]->() DELETE old "
            "WITH DISTINCT u, r MATCH (a:Division {code: r.area_code}) MERGE (u)-[:BELONGS_TO]->(a) "
            "WITH u OPTIONAL MATCH (rule:DutyRule {level: u.level, function: u.function}) "
            "OPTIONAL MATCH (c:Category {name: rule.category}) "
            "FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | MERGE (u)-[:DUTY {duty: rule.duty}]->(c))")

    def upsert_duties(self, duties: Sequence[DutyIn]) -> WriteSummary:
        rows = [{"rule": f"{d.category}\x1f{d.level.value}\x1f{d.function}\x1f{d.duty.value}", "category": d.category,
                 "level": d.level.value, "function": d.function, "duty": d.duty.value, "extra": extra_json(d.extra)}
                for d in duties]
        return self._upsert(
            rows, "rule",
            "MATCH (r:DutyRule) WHERE r.rule IN $keys RETURN r.rule AS key, "
            "r {.category, .level, .function, .duty, .extra} AS props",
            "UNWIND $rows AS r "
            "MERGE (c:Category {name: r.category}) "
            "ON CREATE SET c.grp = '', c.money = false, c.systemic_fix = '' "
            "MERGE (rule:DutyRule {category: r.category, level: r.level, function: r.function, duty: r.duty}) "
            "SET rule.rule = r.rule, rule.extra = r.extra "
            "WITH r, c MATCH (u:Unit {level: r.level, function: r.function}) "
            "MERGE (u)-[:DUTY {duty: r.duty}]->(c)")

    def upsert_issues(self, issues: Sequence[IssueIn], recorded_at: str,
                      progress: Progress | None = None) -> WriteSummary:
        """Staged (see the module's docstring): batches in transactions of their own, published at once."""
        parents = self._village_parents({i.village_code for i in issues})
        atomic = getattr(self._local, "write_tx", None)
        if atomic is not None:
            return self._upsert_issues_in(atomic, issues, parents, recorded_at, progress)
        total = WriteSummary()
        with self._load_lease() as load:
            for batch in _batches(issues):
                rows = [issue_row(i, *parents[i.village_code]) for i in batch]
                total += self._run(neo4j.WRITE_ACCESS, lambda tx: _stage_issues(tx, rows, load, recorded_at))
                if progress:
                    progress(len(batch))
            if total.inserted or total.updated:
                self._write(lambda tx: tx.run("MERGE (m:Meta {key: 'published'}) SET m.value = $load",
                                              load=load).consume())
                self._clear(REPLACED, load)
        return total

    @staticmethod
    def _upsert_issues_in(tx, issues: Sequence[IssueIn], parents: dict, recorded_at: str,
                          progress: Progress | None) -> WriteSummary:
        """Inside atomic() (an API write and its audit entry, bounded by the upload's size): the same
        versions staged, published and tidied in that one transaction, whose lock on the lease
        node keeps other loads out until it commits."""
        def clear(query: str, published: int) -> None:
            while tx.run(query, published=published, limit=10_000).single()["n"] == 10_000:
                pass
        tx.run("MERGE (m:Meta {key: 'load'}) SET m.taken = coalesce(m.taken, 0) + 1").consume()
        published = tx.run(PUBLISHED + "RETURN published").single()["published"]
        for query in [*UNPUBLISHED, REPLACED]:
            clear(query, published)
        load, total = published + 1, WriteSummary()
        for batch in _batches(issues):
            total += _stage_issues(tx, [issue_row(i, *parents[i.village_code]) for i in batch], load, recorded_at)
            if progress:
                progress(len(batch))
        if total.inserted or total.updated:
            tx.run("MERGE (m:Meta {key: 'published'}) SET m.value = $load", load=load).consume()
            clear(REPLACED, load)
        return total

    @contextmanager
    def _load_lease(self):
        """The number of a new load, with the lease that keeps other loads out until it is published.

        The lease is a write lock on the ``Meta {key: 'load'}`` node, held by a transaction left
        open: a second load waits for it, and when the loading process dies its connection closes and
        the server releases the lock. Taking it clears what a dead load left (all of it unpublished,
        or published and not yet tidied)."""
        self._write(lambda tx: tx.run("MERGE (:Meta {key: 'load'})").consume())
        try:
            session = self.driver.session(database=self.database)
            lease = session.begin_transaction()
            lease.run("MATCH (m:Meta {key: 'load'}) SET m.taken = coalesce(m.taken, 0) + 1").consume()
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailable(f"Neo4j {self.url} 不可用 (unavailable): {exc}") from exc
        try:
            published = self._tidy()
            yield published + 1
        finally:
            try:
                lease.rollback()
            finally:
                session.close()

    def _tidy(self) -> int:
        """Delete what a dead load staged and the versions a published load replaced, in bounded
        transactions; the published load's number. Only under the lease (loads, ``repair``)."""
        published = self._read(PUBLISHED + "RETURN published")[0]["published"]
        for query in UNPUBLISHED:
            self._clear(query, published)
        self._clear(REPLACED, published)
        return published

    def _clear(self, query: str, published: int, limit: int = 10_000) -> int:
        cleared = 0
        while True:
            n = self._run(neo4j.WRITE_ACCESS,
                          lambda tx: tx.run(query, published=published, limit=limit).single()["n"])
            cleared += n
            if n < limit:
                return cleared

    def repair(self) -> dict:
        """What a load that died left behind, removed (it was never visible)."""
        with self._load_lease() as load:
            return {"published_load": load - 1}

    def _village_parents(self, villages: set[str]) -> dict[str, tuple[str, str]]:
        found = {}
        for batch in _batches(sorted(villages), 20_000):
            for r in self._read("MATCH (v:Division) WHERE v.code IN $codes AND v.level = 'village' "
                                "RETURN v.code AS code, v.parent_code AS township, "
                                "substring(v.parent_code, 0, 6) AS district", codes=batch):
                found[r["code"]] = (r["township"], r["district"])
        # The district is the township's parent; read it rather than assume the code prefix.
        townships = sorted({t for t, _ in found.values()})
        district_of = {r["code"]: r["parent"] for r in self._read(
            "MATCH (t:Division) WHERE t.code IN $codes RETURN t.code AS code, t.parent_code AS parent", codes=townships)}
        missing = villages - found.keys()
        if missing:
            raise InputError(f"已加载区划中的村(社区)代码；这些不是：{'、'.join(sorted(missing)[:10])}")
        return {v: (t, district_of.get(t, d)) for v, (t, d) in found.items()}

    # -- reads ------------------------------------------------------------------------------------
    def existing_codes(self, codes: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for batch in _batches(sorted(set(codes)), 20_000):
            found |= {r["code"] for r in self._read(
                "MATCH (d:Division) WHERE d.code IN $codes RETURN d.code AS code", codes=batch)}
        return found

    def cypher(self, query: str, parameters: dict, limit: int, timeout: float, max_bytes: int = 8 * 2**20):
        """Analysts' Cypher, safe by construction. Neo4j plans it first (``EXPLAIN``, nothing runs)
        and the plan decides (:func:`_refusal`): read-only, no LOAD CSV, procedures from an
        allow-list only, nothing that could reach the tokens and audit entries. It then runs
        wrapped as ``CALL { query } RETURN columns LIMIT limit + 1`` (the row cap is the engine's),
        in a read transaction with a server-side timeout, and the answer is cut off at ``max_bytes``
        of JSON."""
        if query.lstrip().upper().startswith(("EXPLAIN", "PROFILE")):
            raise InputError("不带 EXPLAIN/PROFILE 的查询 (a plain query)")
        if _DYNAMIC_LABEL.search(query):
            raise Forbidden("分析查询不能使用动态标签或类型 $(…) (dynamic labels are not allowed)")
        named = [label for label in ACCESS_LABELS if label.lower() in query.lower()]
        if named:
            raise Forbidden(f"令牌和审计记录不在分析图中：不能查询 {named[0]} (tokens and audit are not in the graph)")
        try:
            with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
                explained = session.run("EXPLAIN " + query, parameters)
                columns = list(explained.keys())
                plan = explained.consume()
                if plan.query_type != "r":
                    raise Forbidden(f"只读查询；该查询的类型是 {plan.query_type!r}，会写入或修改结构 (read-only Cypher only)")
                refused = _refusal(plan.plan)
                if refused:
                    raise Forbidden(refused)
                returned = ", ".join(f"`{c.replace('`', '``')}`" for c in columns)
                capped = f"CALL {{\n{query.rstrip().rstrip(';')}\n}}\nRETURN {returned} LIMIT $__xuncha_limit"
                try:
                    session.run("EXPLAIN " + capped, {**parameters, "__xuncha_limit": limit + 1}).consume()
                except Neo4jError as exc:
                    raise InputError("这个查询不能加行数上限：请写成 MATCH/CALL … YIELD … RETURN … 的形式 "
                                     f"(the query cannot be capped): {exc.message}") from exc

                @neo4j.unit_of_work(timeout=timeout)
                def work(tx):
                    result = tx.run(capped, {**parameters, "__xuncha_limit": limit + 1})
                    rows, size, cut = [], 0, False
                    for record in result:
                        row = {k: _plain(v) for k, v in record.items()}
                        size += len(json.dumps(row, ensure_ascii=False, default=str))
                        if len(rows) >= limit or size > max_bytes:
                            cut = True
                            break
                        rows.append(row)
                    return columns, rows, cut
                return session.execute_read(work)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailable("Neo4j 不可用 (Neo4j is unavailable)") from exc
        except Neo4jError as exc:
            if "TransactionTimedOut" in (exc.code or ""):
                raise InputError(f"查询超过 {timeout:g} 秒，已中止 (the query timed out)") from exc
            raise InputError(f"Cypher 查询有误 (Cypher error): {exc.message}") from exc

    def data_version(self) -> int:
        rows = self._read("MATCH (m:Meta {key: 'version'}) RETURN m.value AS v")
        return rows[0]["v"] if rows else 0

    def issue_statuses(self, issue_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for batch in _batches(sorted(set(issue_ids)), 20_000):
            found.update({r["id"]: r["status"] for r in self._read(
                PUBLISHED + f"MATCH (i:Issue) WHERE i.issue_id IN $ids AND {visible('i')} "
                "RETURN i.issue_id AS id, i.status AS status", ids=batch)})
        return found

    def issue_extras(self, issue_ids: Iterable[str]) -> dict[str, Mapping[str, str]]:
        return extras_by_id((r["id"], r["extra"]) for batch in _batches(sorted(set(issue_ids)), 20_000)
                            for r in self._read(
            PUBLISHED + f"MATCH (i:Issue) WHERE i.issue_id IN $ids AND i.extra IS NOT NULL AND {visible('i')} "
            "RETURN i.issue_id AS id, i.extra AS extra", ids=batch))

    def issues_by_id(self, issue_ids: Iterable[str]) -> dict[str, Issue]:
        found: dict[str, Issue] = {}
        for batch in _batches(sorted(set(issue_ids)), 20_000):
            found.update((issue.issue_id, issue) for issue in (self._issue(r["i"]) for r in self._read(
                PUBLISHED + f"MATCH (i:Issue) WHERE i.issue_id IN $ids AND {visible('i')} RETURN {self._ISSUE}",
                ids=batch)))
        return found

    @staticmethod
    def _division(r) -> Division:
        return Division(r["code"], r["name"], r["level"], r["parent_code"], r["kind"])

    _DIVISION = "d.code AS code, d.name AS name, d.level AS level, d.parent_code AS parent_code, d.kind AS kind"

    def division(self, code: str) -> Division | None:
        rows = self._read(f"MATCH (d:Division {{code: $code}}) RETURN {self._DIVISION}", code=code)
        return self._division(rows[0]) if rows else None

    def division_names(self, codes: Iterable[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for batch in _batches(sorted(set(codes)), 20_000):
            names.update({r["code"]: r["name"] for r in self._read(
                "MATCH (d:Division) WHERE d.code IN $codes RETURN d.code AS code, d.name AS name", codes=batch)})
        return names

    def children_counts(self, code: str) -> dict[str, int]:
        rows = self._read("MATCH (d:Division) WHERE d.code STARTS WITH $code AND d.code <> $code "
                          "RETURN d.level AS level, count(*) AS n", code=code)
        return {r["level"]: r["n"] for r in rows}

    def divisions(self, level: str, within: str | None = None) -> list[Division]:
        rows = self._read(f"MATCH (d:Division {{level: $level}}) WHERE d.code STARTS WITH $within "
                          f"RETURN {self._DIVISION} ORDER BY d.code", level=level, within=within or "")
        return [self._division(r) for r in rows]

    def villages_named(self, village: str, township: str | None) -> list[Division]:
        rows = self._read(
            "MATCH (d:Village)-[:PART_OF]->(t:Township) "
            "WHERE d.name IN [$v, $v + '村民委员会', $v + '居民委员会', $v + '村委会', $v + '居委会'] "
            "AND ($t IS NULL OR t.name IN [$t, $t + '街道', $t + '镇', $t + '乡']) "
            f"RETURN {self._DIVISION} ORDER BY d.code", v=village, t=township)
        return [self._division(r) for r in rows]

    def find_divisions(self, text: str, limit: int = 20) -> list[Division]:
        text = text.strip()
        rows = self._read(
            "MATCH (d:Division) WHERE d.name CONTAINS $q OR ($digits AND d.code STARTS WITH $q) "
            f"RETURN {self._DIVISION} ORDER BY d.name = $q DESC, d.code = $q DESC, d.name STARTS WITH $q DESC, "
            "size(d.name), d.code LIMIT $limit", q=text, digits=text.isdigit(), limit=limit)
        return [self._division(r) for r in rows]

    def counts(self, district: str | None = None) -> dict:
        prefix = district or ""
        by_level = {r["level"]: r["n"] for r in self._read(
            "MATCH (d:Division) WHERE d.code STARTS WITH $p RETURN d.level AS level, count(*) AS n", p=prefix)}
        by_kind = {r["kind"]: r["n"] for r in self._read(
            "MATCH (d:Village) WHERE d.code STARTS WITH $p RETURN d.kind AS kind, count(*) AS n", p=prefix)}
        per_district = self._read(
            "MATCH (d:District) WHERE d.code STARTS WITH $p "
            "CALL (d) { OPTIONAL MATCH (t:Township)-[:PART_OF]->(d) RETURN count(t) AS townships } "
            "CALL (d) { OPTIONAL MATCH (v:Village)-[:PART_OF]->(:Township)-[:PART_OF]->(d) "
            "  RETURN sum(CASE v.kind WHEN 'village' THEN 1 ELSE 0 END) AS villages, "
            "         sum(CASE v.kind WHEN 'community' THEN 1 ELSE 0 END) AS communities, "
            "         sum(CASE v.kind WHEN 'other' THEN 1 ELSE 0 END) AS other, count(v) AS total } "
            "RETURN d.code AS code, d.name AS name, townships, villages, communities, other, total ORDER BY code",
            p=prefix)
        if district:
            units = self._read("MATCH (u:Unit) WHERE u.area_code STARTS WITH $p RETURN count(u) AS n", p=prefix)[0]["n"]
            issues = self._read(PUBLISHED + f"MATCH (i:Issue {{district_code: $d}}) WHERE {visible('i')} "
                                "RETURN count(i) AS n", d=district)[0]["n"]
        else:
            units = self._read("MATCH (u:Unit) RETURN count(u) AS n")[0]["n"]
            issues = self._read(PUBLISHED + f"MATCH (i:Issue) WHERE {visible('i')} RETURN count(i) AS n")[0]["n"]
        categories = self._read("MATCH (c:Category) RETURN count(c) AS n")[0]["n"]
        duties = self._read("MATCH (r:DutyRule) RETURN count(r) AS n")[0]["n"]
        return {
            "by_level": {k: by_level.get(k, 0) for k in ("province", "city", "district", "township", "village")},
            "villages_by_kind": {k: by_kind.get(k, 0) for k in ("village", "community", "other")},
            "units": units, "categories": categories, "duties": duties, "issues": issues,
            "districts": [{"code": r["code"], "name": r["name"], "townships": r["townships"], "villages": r["villages"],
                           "communities": r["communities"], "other": r["other"], "village_level_units": r["total"]}
                          for r in per_district],
        }

    def units(self, area_codes: Iterable[str] | None = None) -> list[Unit]:
        collected = ("WITH u ORDER BY u.unit_id "
                     "RETURN collect([u.unit_id, u.name, u.level, u.area_code, u.function, coalesce(u.leader, '')]) AS rows")
        if area_codes is None:
            rows = self._table(f"MATCH (u:Unit) {collected}")
        else:
            rows = self._table(f"MATCH (u:Unit) WHERE u.area_code IN $codes {collected}", codes=sorted(set(area_codes)))
        return [Unit(*r) for r in rows]

    def duties(self) -> list[Duty]:
        rows = self._read("MATCH (r:DutyRule) RETURN r.category AS c, r.level AS l, r.function AS f, r.duty AS d "
                          "ORDER BY c, l, f, d")
        return [Duty(r["c"], r["l"], r["f"], r["d"]) for r in rows]

    def categories(self) -> list[CategoryIn]:
        rows = self._read("MATCH (c:Category) RETURN c {.*} AS c ORDER BY c.name")
        return [CategoryIn(name=c["name"], key=c.get("key"), group=c.get("grp") or "",
                           rate_village=c.get("rate_village"), rate_community=c.get("rate_community"),
                           money=bool(c.get("money")), systemic_fix=c.get("systemic_fix") or "",
                           extra=json.loads(c["extra"]) if c.get("extra") else {})
                for c in (r["c"] for r in rows)]

    _ISSUE = ("i {.issue_id, .village_code, .round_id, .found_on, .category, .description, .severity, .amount_yuan, "
              ".status, .immediate, .due_on, .closed_on, .root_unit_hint, .extra} AS i")

    @staticmethod
    def _issue(i: dict) -> Issue:
        return Issue(i["issue_id"], i["village_code"], i["round_id"], _native(i["found_on"]), i["category"],
                     i.get("description") or "", i["severity"], i.get("amount_yuan"), i["status"],
                     bool(i.get("immediate")), _native(i.get("due_on")), _native(i.get("closed_on")),
                     i.get("root_unit_hint"), json.loads(i["extra"]) if i.get("extra") else {})

    def issue(self, issue_id: str) -> Issue | None:
        rows = self._read(PUBLISHED + f"MATCH (i:Issue {{issue_id: $id}}) WHERE {visible('i')} RETURN {self._ISSUE}",
                          id=issue_id)
        return self._issue(rows[0]["i"]) if rows else None

    def issue_history(self, issue_id: str) -> list[StatusChange]:
        rows = self._read(PUBLISHED + f"MATCH (i:Issue {{issue_id: $id}}) WHERE {visible('i')} "
                          "MATCH (i)-[:HAS_STATUS]->(s:StatusChange) "
                          "RETURN s.status AS status, s.closed_on AS closed_on, s.recorded_at AS at ORDER BY s.seq",
                          id=issue_id)
        return [StatusChange(issue_id, r["status"], _native(r["closed_on"]), r["at"]) for r in rows]

    def issues_in(self, area_code: str, category: str) -> list[Issue]:
        field = "township_code" if len(area_code) == 9 else "district_code"
        rows = self._read(PUBLISHED + f"MATCH (i:Issue {{category: $category, {field}: $area}}) "
                          f"WHERE {visible('i')} RETURN {self._ISSUE} "
                          "ORDER BY i.village_code, i.found_on, i.issue_id", category=category, area=area_code)
        return [self._issue(r["i"]) for r in rows]

    def issues(self, district: str | None = None) -> list[Issue]:
        rows = self._read(PUBLISHED + f"MATCH (i:Issue) WHERE i.village_code STARTS WITH $p AND {visible('i')} "
                          f"RETURN {self._ISSUE} "
                          "ORDER BY i.issue_id", p=district or "")
        return [self._issue(r["i"]) for r in rows]

    def find_issues(self, text: str, area: str = "", limit: int = 20) -> list[Issue]:
        rows = self._read(PUBLISHED + f"MATCH (i:Issue) WHERE i.village_code STARTS WITH $area AND {visible('i')} "
                          "AND (i.description CONTAINS $text OR i.issue_id STARTS WITH $text) "
                          f"RETURN {self._ISSUE} ORDER BY i.issue_id LIMIT $limit", area=area, text=text, limit=limit)
        return [self._issue(r["i"]) for r in rows]

    def issue_ids(self, query: IssueQuery) -> list[str]:
        where = ["i.village_code STARTS WITH $area", visible("i")]
        for field in ("category", "status", "round_id", "severity"):
            if getattr(query, field) is not None:
                where.append(f"i.{field} = ${field}")
        if query.overdue is not None:  # graph.model.overdue
            rule = "(i.status IN $open AND i.due_on IS NOT NULL AND i.due_on < $as_of)"
            where.append(rule if query.overdue else f"NOT {rule}")
        rows = self._table(PUBLISHED + f"MATCH (i:Issue) WHERE {' AND '.join(where)} "
                           "WITH i.issue_id AS id ORDER BY id RETURN collect(id) AS rows",
                           area=query.area, category=query.category, status=query.status,
                           round_id=query.round_id, severity=query.severity, open=list(OPEN_STATUSES),
                           as_of=query.as_of or dt.date.today())
        return list(rows)

    def term_dates(self) -> dict[str, dict[dt.date, int]]:
        # Extra columns are one JSON text (as in SQLite): the few issues naming a term header are
        # read, and the rule (graph.model.term_of) reads their label.
        rows = self._table(PUBLISHED + f"MATCH (i:Issue) WHERE i.extra IS NOT NULL AND {visible('i')} "
                           "AND any(h IN $headers WHERE i.extra CONTAINS h) "
                           "WITH i.extra AS extra, i.found_on AS found_on, count(*) AS n "
                           "RETURN collect([extra, found_on, n]) AS rows", headers=[f'"{h}"' for h in TERM_HEADERS])
        out: dict[str, dict[dt.date, int]] = {}
        labels: dict[str, str | None] = {}
        for extra, found_on, count in rows:
            if extra not in labels:
                labels[extra] = term_of(json.loads(extra))
            term = labels[extra]
            if term is not None:
                day = _native(found_on)
                dates = out.setdefault(term, {})
                dates[day] = dates.get(day, 0) + count
        return out

    # -- analysis inputs --------------------------------------------------------------------------
    def _table(self, query: str, **params) -> list[list]:
        """The rows of a query that returns them collected in one record (``rows``): the driver
        spends far longer per record than per value, so tens of thousands of rows come 2-6× faster."""
        found = self._read(query, **params)
        return found[0]["rows"] if found else []

    def ledger_facts(self) -> LedgerFacts:
        cells = [LedgerCell(*r[:8], float(r[8]), round(float(r[9]), 2), r[10], r[11]) for r in self._table(LEDGER_CYPHER, **LEDGER_PARAMETERS)]
        exposure = [Exposure._make(r) for r in self._table(EXPOSURE_CYPHER)]
        hints = [HintCount(*r) for r in self._table(
            PUBLISHED + f"MATCH (i:Issue) WHERE i.root_unit_hint IS NOT NULL AND {visible('i')} "
            "WITH i.township_code AS township, i.category AS category, i.root_unit_hint AS unit, count(*) AS n "
            "ORDER BY township, category, unit RETURN collect([township, category, unit, n]) AS rows")]
        names = dict(self._table(
            "MATCH (d:Division) WHERE d.level IN ['district', 'township'] RETURN collect([d.code, d.name]) AS rows"))
        return LedgerFacts(cells=cells, exposure=exposure, hints=hints, units=self.units(), duties=self.duties(),
                           categories=self.categories(), names=names, village_counts=self.village_counts)

    def village_counts(self, townships: Sequence[str]) -> list[VillageCount]:
        return [VillageCount._make(r) for r in self._table(
            PUBLISHED + f"MATCH (i:Issue) WHERE i.township_code IN $townships AND {visible('i')} "
            "WITH i.village_code AS village, i.category AS category, count(*) AS n "
            "MATCH (v:Division {code: village}) "
            "WITH village, v.kind AS kind, category, n ORDER BY village, category "
            "RETURN collect([village, kind, category, n]) AS rows", townships=sorted(set(townships)))]

    def chain_graph(self, issue_id: str) -> nx.MultiDiGraph:
        """One query for all the parts :func:`projection.chain_graph` reads one by one."""
        rows = self._read(CHAIN_CYPHER, id=issue_id)
        if not rows:
            return nx.MultiDiGraph()
        found = rows[0]
        issue = self._issue(found["i"])
        units = [Unit(*u) for u in found["units"]]
        if found["hint"] and all(u.unit_id != issue.root_unit_hint for u in units):
            units.append(Unit(*found["hint"]))
        return projection.chain_of(issue, [self._division(a) for a in found["areas"]], units,
                                   [CategoryIn(name=issue.category)] if found["category"] else [],
                                   [Duty(*d) for d in found["duties"]])

    def projection(self, district: str | None = None) -> nx.MultiDiGraph:
        return projection.projection(self, district)


# A problem's chain: the village and its ancestors by parent code (a division has at most four),
# the units of those areas by id, the hinted unit, the category and its duties.
CHAIN_CYPHER = PUBLISHED + f"""
MATCH (i:Issue {{issue_id: $id}}) WHERE {visible('i')}
OPTIONAL MATCH (a0:Division {{code: i.village_code}})
OPTIONAL MATCH (a1:Division {{code: a0.parent_code}})
OPTIONAL MATCH (a2:Division {{code: a1.parent_code}})
OPTIONAL MATCH (a3:Division {{code: a2.parent_code}})
OPTIONAL MATCH (a4:Division {{code: a3.parent_code}})
WITH i, [a IN [a0, a1, a2, a3, a4] WHERE a IS NOT NULL | a {{.code, .name, .level, .parent_code, .kind}}] AS areas
CALL (areas) {{
  MATCH (u:Unit) WHERE u.area_code IN [a IN areas | a.code]
  WITH u ORDER BY u.unit_id
  RETURN collect([u.unit_id, u.name, u.level, u.area_code, u.function]) AS units
}}
CALL (i) {{
  MATCH (r:DutyRule {{category: i.category}})
  WITH r ORDER BY r.level, r.function, r.duty
  RETURN collect([r.category, r.level, r.function, r.duty]) AS duties
}}
OPTIONAL MATCH (hint:Unit {{unit_id: i.root_unit_hint}})
RETURN {Neo4jStore._ISSUE}, areas, units, duties,
       CASE WHEN hint IS NULL THEN null ELSE [hint.unit_id, hint.name, hint.level, hint.area_code, hint.function] END AS hint,
       EXISTS {{ (:Category {{name: i.category}}) }} AS category
"""

# The ledger rules of graph/analysis/ledger.py, as the SQLite store's LEDGER_SQL computes them:
# per village and category first, then per township, village kind and category.
LEDGER_CYPHER = PUBLISHED + f"""
MATCH (last:Issue) WHERE {visible('last')}
WITH published, last ORDER BY last.found_on DESC, last.round_id DESC LIMIT 1
WITH published, last.round_id AS latest
MATCH (i:Issue) WHERE {visible('i')}
WITH latest, i.village_code AS village, i.township_code AS township, i.district_code AS district,
     i.category AS category, count(*) AS n,
     sum(coalesce($severity_weight[i.severity], $unknown_severity_weight)) AS w,
     sum(coalesce(i.amount_yuan, 0.0)) AS amount,
     max(CASE WHEN i.status IN $once_rectified AND i.round_id <> latest THEN 1 ELSE 0 END) AS rectified,
     min(CASE WHEN i.status IN $once_rectified THEN toString(i.found_on) + '|' + i.round_id END) AS first_done,
     collect([toString(i.found_on), i.round_id]) AS findings
WITH village, township, district, category, n, w, amount, rectified,
     CASE WHEN first_done IS NULL THEN 0 WHEN any(f IN findings WHERE f[0] > substring(first_done, 0, 10)
          AND f[1] <> substring(first_done, 11)) THEN 1 ELSE 0 END AS recurred
WITH village, collect({{township: township, district: district, category: category, n: n, w: w, amount: amount,
                       rectified: rectified, recurred: recurred}}) AS cells, sum(n) AS total
MATCH (v:Division {{code: village}})
UNWIND cells AS c
WITH c.township AS township, c.district AS district, v.kind AS kind, c.category AS category,
     count(*) AS villages, sum(c.n) AS issues, sum(c.n * c.n) AS issues_sq, sum(c.n * total) AS issues_cross,
     sum(c.w) AS weight, sum(c.amount) AS amount, sum(c.rectified) AS rectified,
     sum(c.rectified * c.recurred) AS recurred
ORDER BY township, kind, category
RETURN collect([township, district, kind, category, villages, issues, issues_sq, issues_cross, weight, amount,
                rectified, recurred]) AS rows
"""

EXPOSURE_CYPHER = PUBLISHED + f"""
MATCH (v:Village)-[:PART_OF]->(t:Township)
WITH t, v, COUNT {{ (i:Issue)-[:FOUND_IN]->(v) WHERE {visible('i')} }} AS total
WITH t.code AS township, t.parent_code AS district, v.kind AS kind, count(v) AS villages,
     sum(CASE WHEN total > 0 THEN 1 ELSE 0 END) AS inspected, sum(total) AS issues, sum(total * total) AS issues_sq
ORDER BY township, kind
RETURN collect([township, district, kind, villages, inspected, issues, issues_sq]) AS rows
"""


class Neo4jWorkflow:
    """The office's workflow records beside the graph, as nodes of their own linked to the divisions
    they concern: packages' ends, key-village lists, inspections done, follow-ups, villages' base
    data. Written inside :meth:`Neo4jStore.atomic` they commit with the rest."""

    def __init__(self, store: Neo4jStore):
        self.store = store

    def mark_package_end(self, package_id: str, end: str, done_on, note: str, recorded_at: str) -> None:
        self.store._write(lambda tx: tx.run(
            "MERGE (e:PackageEnd {package_id: $id, end_kind: $end}) "
            "SET e.done_on = $done_on, e.note = $note, e.recorded_at = $at",
            id=package_id, end=end, done_on=done_on, note=note, at=recorded_at).consume())

    def package_ends(self, package_ids: Iterable[str]) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        for r in self.store._read("MATCH (e:PackageEnd) WHERE e.package_id IN $ids RETURN e.package_id AS id, "
                                  "e.end_kind AS end, e.done_on AS done_on, e.note AS note, e.recorded_at AS at",
                                  ids=sorted(set(package_ids))):
            out.setdefault(r["id"], {})[r["end"]] = {"done_on": _native(r["done_on"]), "note": r["note"],
                                                     "recorded_at": r["at"]}
        return out

    def save_key_villages(self, district: str, record: dict, updated_at: str) -> None:
        # One node per district with the record as JSON (the same text as the embedded store), linked
        # to the district and to the villages on the list, so Cypher can follow it.
        body = json.dumps(record, ensure_ascii=False, sort_keys=True)
        self.store._write(lambda tx: tx.run(
            "MERGE (k:KeyVillageList {district_code: $district}) SET k.record = $body, k.updated_at = $at, "
            "k.status = $status "
            "WITH k OPTIONAL MATCH (k)-[old:LISTS|FOR_DISTRICT]->() DELETE old "
            "WITH DISTINCT k MATCH (d:Division {code: $district}) MERGE (k)-[:FOR_DISTRICT]->(d) "
            "WITH k UNWIND $villages AS code MATCH (v:Division {code: code}) MERGE (k)-[:LISTS]->(v)",
            district=district, body=body, at=updated_at, status=record.get("status"),
            villages=sorted(record.get("villages", {}))).consume())

    def key_villages(self, district: str) -> dict | None:
        rows = self.store._read("MATCH (k:KeyVillageList {district_code: $district}) RETURN k.record AS record",
                                district=district)
        return json.loads(rows[0]["record"]) if rows else None

    def save_inspections(self, inspections: Sequence[Inspection]) -> WriteSummary:
        # One node per (area, round), linked to its village or township.
        rows = [{"key": f"{r.area_code}|{r.round_id}", "area_code": r.area_code, "round_id": r.round_id,
                 "district_code": r.area_code[:6], "started_on": r.started_on, "ended_on": r.ended_on,
                 "team": r.team, "mode": r.mode} for r in inspections]
        return self.store._upsert(
            rows, "key", "MATCH (n:Inspection) WHERE n.key IN $keys RETURN n.key AS key, n {.*} AS props",
            "UNWIND $rows AS r MERGE (n:Inspection {key: r.key}) SET n += r "
            "WITH n, r MATCH (d:Division {code: r.area_code}) MERGE (n)-[:INSPECTED]->(d)")

    def inspections(self, district: str) -> list[Inspection]:
        rows = self.store._read("MATCH (n:Inspection {district_code: $district}) RETURN n ORDER BY n.started_on, n.area_code",
                                district=district)
        return [Inspection(n["area_code"], n["round_id"], _native(n["started_on"]), _native(n.get("ended_on")),
                           n.get("team") or "", n.get("mode") or "") for n in (r["n"] for r in rows)]

    def save_follow_ups(self, records: Sequence[FollowUp]) -> WriteSummary:
        rows = [{"key": f"{r.kind}|{r.target}|{r.on.isoformat()}|{r.result}", "kind": r.kind, "target": r.target,
                 "district_code": r.district, "done_on": r.on, "done_by": r.by, "result": r.result, "note": r.note}
                for r in records]
        return self.store._upsert(
            rows, "key", "MATCH (n:FollowUp) WHERE n.key IN $keys RETURN n.key AS key, n {.*} AS props",
            "UNWIND $rows AS r MERGE (n:FollowUp {key: r.key}) SET n += r")

    def follow_ups(self, district: str, kind: str) -> list[FollowUp]:
        rows = self.store._read("MATCH (n:FollowUp {district_code: $district, kind: $kind}) RETURN n "
                                "ORDER BY n.done_on, n.target, n.result", district=district, kind=kind)
        return [FollowUp(n["kind"], n["target"], n["district_code"], _native(n["done_on"]), n["done_by"], n["result"],
                         n.get("note") or "") for n in (r["n"] for r in rows)]

    def save_base_data(self, district: str, indicators: dict[str, dict[str, float]]) -> WriteSummary:
        # The indicators as the same JSON text as the embedded store's, the node linked to its village.
        rows = [{"village_code": code, "district_code": district, "indicators": json.dumps(values, sort_keys=True)}
                for code, values in sorted(indicators.items())]
        return self.store._upsert(
            rows, "village_code", "MATCH (b:VillageBase) WHERE b.village_code IN $keys "
                                  "RETURN b.village_code AS key, b {.*} AS props",
            "UNWIND $rows AS r MERGE (b:VillageBase {village_code: r.village_code}) SET b += r "
            "WITH b, r MATCH (v:Division {code: r.village_code}) MERGE (b)-[:BASE_OF]->(v)")

    def base_data(self, district: str) -> dict[str, dict[str, float]]:
        rows = self.store._read("MATCH (b:VillageBase {district_code: $district}) RETURN b.village_code AS code, "
                                "b.indicators AS indicators", district=district)
        return {r["code"]: json.loads(r["indicators"]) for r in rows}


class Neo4jAccess:
    """API tokens and the audit log in the store's database, beside the graph but not linked to it;
    written inside :meth:`Neo4jStore.atomic`, an audit entry commits with the change it records."""

    def __init__(self, store: Neo4jStore):
        self.store = store

    def save_token(self, token: ApiToken) -> None:
        self.store._write(lambda tx: tx.run("CREATE (t:ApiToken) SET t = $t", t=dataclasses.asdict(token)).consume())

    def tokens(self, district: str | None = None) -> list[ApiToken]:
        rows = self.store._read("MATCH (t:ApiToken) WHERE $district IS NULL OR t.district_code = $district "
                                "RETURN t ORDER BY t.created_at, t.token_id", district=district)
        return [ApiToken(**{f: r["t"].get(f) for f in TOKEN_FIELDS}) for r in rows]

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        rows = self.store._read("MATCH (t:ApiToken {token_hash: $h}) RETURN t", h=token_hash)
        return ApiToken(**{f: rows[0]["t"].get(f) for f in TOKEN_FIELDS}) if rows else None

    def revoke_token(self, token_id: str, at: str) -> bool:
        def work(tx):
            return tx.run("MATCH (t:ApiToken {token_id: $id}) WHERE t.revoked_at IS NULL SET t.revoked_at = $at "
                          "RETURN count(t) AS n", id=token_id, at=at).single()["n"]
        return self.store._write(work) == 1

    def add_audit(self, entry: AuditEntry) -> None:
        fields = {k: v for k, v in dataclasses.asdict(entry).items() if k != "seq"}
        self.store._write(lambda tx: tx.run(
            "MERGE (m:Meta {key: 'audit'}) SET m.value = coalesce(m.value, 0) + 1 "
            "CREATE (a:AuditEntry) SET a = $a, a.seq = m.value", a=fields).consume())

    def audit(self, limit: int = 100, offset: int = 0, district: str | None = None) -> tuple[list[AuditEntry], int]:
        where = "WHERE $district IS NULL OR a.district_code = $district"
        rows = self.store._read(f"MATCH (a:AuditEntry) {where} RETURN a ORDER BY a.seq DESC SKIP $offset LIMIT $limit",
                                offset=offset, limit=limit, district=district)
        total = self.store._read(f"MATCH (a:AuditEntry) {where} RETURN count(a) AS n", district=district)[0]["n"]
        names = [f.name for f in dataclasses.fields(AuditEntry)]
        return [AuditEntry(**{f: r["a"].get(f) for f in names}) for r in rows], total
