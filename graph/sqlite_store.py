"""The embedded default store: one SQLite file (WAL, one transaction per load), with networkx
projections for analysis. Only this module imports :mod:`sqlite3`."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import random
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import networkx as nx

from .errors import DiskFull, InputError, NotSupported, StoreBusy, StoreError, StoreMissing, StoreUnavailable
from .model import LEDGER_PARAMETERS, OPEN_STATUSES, TERM_HEADERS, TERM_SPACES, CategoryIn, Division, DutyIn, IssueIn, IssueRecord, UnitIn
from . import projection
from .store import (ApiToken, AuditEntry, Duty, Exposure, FollowUp, HintCount, Inspection, Issue, IssueQuery, LedgerCell, LedgerFacts,
                    Progress, StatusChange, Unit, VillageCount, WriteSummary, extra_json, extras_by_id)

SCHEMA_TABLES = {"division", "category", "unit", "duty", "issue", "issue_status", "ledger_cell", "api_token",
                 "audit", "meta", "package_end", "key_village_list"}
# The issue table's secondary indexes, by name. A big first load drops and rebuilds them inside its
# transaction: building an index from sorted rows is about twice as fast as growing it row by row.
ISSUE_INDEXES = {
    "issue_village": "ON issue(village_code, category)",
    "issue_area": "ON issue(category, township_code)",
    # Inspectors' hints are few: surfacing counts them from this index, not from the whole ledger.
    "issue_hint": "ON issue(township_code, category, root_unit_hint) WHERE root_unit_hint IS NOT NULL",
    # The ledger's latest round, read by every write (_latest) and every count of the ledger: a
    # scan of 454,000 problems took 37 ms of an editor's 75 ms.
    "issue_latest": "ON issue(found_on, round_id)",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS division (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent_code TEXT, kind TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS division_parent ON division(parent_code);
CREATE TABLE IF NOT EXISTS category (
    name TEXT PRIMARY KEY, key TEXT, grp TEXT, rate_village REAL, rate_community REAL,
    money INTEGER, systemic_fix TEXT, extra TEXT
);
CREATE TABLE IF NOT EXISTS unit (
    unit_id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, area_code TEXT NOT NULL,
    function TEXT NOT NULL, extra TEXT, leader TEXT
);
CREATE INDEX IF NOT EXISTS unit_area ON unit(area_code, function);
CREATE TABLE IF NOT EXISTS duty (
    category TEXT NOT NULL, level TEXT NOT NULL, function TEXT NOT NULL, duty TEXT NOT NULL, extra TEXT,
    PRIMARY KEY (category, level, function, duty)
);
CREATE TABLE IF NOT EXISTS issue (
    issue_id TEXT PRIMARY KEY, village_code TEXT NOT NULL, township_code TEXT NOT NULL,
    district_code TEXT NOT NULL, round_id TEXT NOT NULL, found_on TEXT NOT NULL, category TEXT NOT NULL,
    description TEXT, severity TEXT NOT NULL, amount_yuan REAL, status TEXT NOT NULL,
    immediate INTEGER NOT NULL, due_on TEXT, closed_on TEXT, root_unit_hint TEXT, extra TEXT
);
{issue_indexes}
CREATE TABLE IF NOT EXISTS issue_status (
    issue_id TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, closed_on TEXT,
    recorded_at TEXT NOT NULL, PRIMARY KEY (issue_id, seq)
);
-- Derived from issue and division (LEDGER_SQL), rebuilt in the transaction of every load that
-- changes them, so surfacing reads a small table instead of re-counting the ledger.
CREATE TABLE IF NOT EXISTS ledger_cell (
    township_code TEXT NOT NULL, district_code TEXT NOT NULL, village_kind TEXT, category TEXT NOT NULL,
    villages INTEGER, issues INTEGER, issues_sq INTEGER, issues_cross INTEGER, weight REAL, amount REAL,
    rectified INTEGER, recurred INTEGER
);
CREATE TABLE IF NOT EXISTS api_token (
    token_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, district_code TEXT,
    token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, token_id TEXT, token_name TEXT,
    action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT, district_code TEXT
);
CREATE TABLE IF NOT EXISTS package_end (
    package_id TEXT NOT NULL, end_kind TEXT NOT NULL, done_on TEXT NOT NULL, note TEXT, recorded_at TEXT NOT NULL,
    PRIMARY KEY (package_id, end_kind)
);
-- The district's key-village list as settled (proposed, adjusted, approved): one JSON record.
CREATE TABLE IF NOT EXISTS key_village_list (
    district_code TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at TEXT NOT NULL
);
-- The data version: one more on every committed write, so caches know when to forget.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
""".replace("{issue_indexes}", "\n".join(
    f"CREATE INDEX IF NOT EXISTS {name} {definition};" for name, definition in ISSUE_INDEXES.items()))
# A load at least this big, into a table no bigger than it, rebuilds the issue indexes.
BULK_ROWS = 20_000


def _upsert_rows(db: sqlite3.Connection, table: str, key: Sequence[str], columns: Sequence[str],
                 rows: Iterable[tuple], progress: Progress | None = None, batch: int = 50_000) -> WriteSummary:
    """INSERT ... ON CONFLICT DO UPDATE only where a value differs, so a repeat load writes nothing.
    Counts come from the row count before and after and from ``total_changes``."""
    others = [c for c in columns if c not in key]
    update = ", ".join(f"{c} = excluded.{c}" for c in others)
    changed = " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in others)
    conflict = f"DO UPDATE SET {update} WHERE {changed}" if others else "DO NOTHING"
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT ({', '.join(key)}) {conflict}")
    count = lambda: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
    before, changes_before = count(), db.total_changes
    total = _execute_in_batches(db, sql, rows, progress, batch)
    changes = db.total_changes - changes_before
    inserted = count() - before
    return WriteSummary(inserted=inserted, updated=changes - inserted, unchanged=total - changes)


def _insert_rows(db: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple],
                 progress: Progress | None = None, batch: int = 50_000) -> WriteSummary:
    """Plain INSERT of rows known to be new (a first load into an empty table)."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return WriteSummary(inserted=_execute_in_batches(db, sql, rows, progress, batch), updated=0, unchanged=0)


def _execute_in_batches(db: sqlite3.Connection, sql: str, rows: Iterable[tuple], progress: Progress | None,
                        batch: int) -> int:
    """``executemany`` over ``batch`` rows at a time (rows are made as they are written); the count."""
    total = 0
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, batch)):
        db.executemany(sql, chunk)
        total += len(chunk)
        if progress:
            progress(len(chunk))
    return total


ISSUE_COLUMNS = ("issue_id", "village_code", "township_code", "district_code", "round_id", "found_on",
                 "category", "description", "severity", "amount_yuan", "status", "immediate", "due_on",
                 "closed_on", "root_unit_hint", "extra")


def _refresh_ledger(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM ledger_cell")
    db.execute("INSERT INTO ledger_cell " + LEDGER_SQL, LEDGER_SQL_PARAMETERS)


# A write that touches at most this many townships re-derives their cells only. Rebuilt whole, a
# note on one problem held the file for 0.65 s at 204,000 problems (1 s at 455,000), and a few
# editors writing through the API kept a load of another process out past its wait.
LEDGER_PART_MAX = 300


# The ledger's problems latest first: the first one's round is the latest round, against which
# every cell's rectifications are counted (LEDGER_SQL, _latest).
LATEST_FIRST = "FROM issue ORDER BY found_on DESC, round_id DESC"


def _latest(db: sqlite3.Connection) -> tuple[str, str] | None:
    """The ledger's last problem, (found_on, round_id): its round is the latest, so a write that
    moves it re-derives every cell."""
    row = db.execute(f"SELECT found_on, round_id {LATEST_FIRST} LIMIT 1").fetchone()
    return None if row is None else (row[0], row[1])


def _refresh_ledger_part(db: sqlite3.Connection, townships: Iterable[str], latest_round: str) -> None:
    """The cells of ``townships`` derived again, the rest as they are: a cell reads only its
    township's villages (their counts, totals and recurrences), their kinds and the latest round."""
    codes = json.dumps(sorted(townships))
    db.execute("DELETE FROM ledger_cell WHERE township_code IN (SELECT value FROM json_each(?))", (codes,))
    db.execute("INSERT INTO ledger_cell " + LEDGER_PART_SQL,
               {**LEDGER_SQL_PARAMETERS, "townships": codes, "latest_round": latest_round})


class _Spelled(dict):
    """Dates to their ISO text, each spelled on first use; ``None`` stays ``None``."""

    def __missing__(self, day: dt.date | None) -> str | None:
        text = self[day] = None if day is None else day.isoformat()
        return text


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _where_in(db: sqlite3.Connection, query: str, keys: Iterable, batch: int = 900) -> Iterator[tuple]:
    """The rows of ``query`` for every key, its ``IN ({marks})`` filled 900 keys at a time: SQLite
    caps the parameters of one statement. Keys are de-duplicated and sorted."""
    keys = sorted(set(keys))
    for start in range(0, len(keys), batch):
        part = keys[start:start + batch]
        yield from db.execute(query.format(marks=",".join("?" * len(part))), part)


def _code_range(prefix: str) -> tuple[str, str]:
    """Bounds such that ``lo <= code < hi`` holds exactly for codes starting with ``prefix``."""
    return prefix, prefix + "\uffff"


class _Connection(sqlite3.Connection):
    """A connection a weak set can hold (sqlite3's own cannot be weakly referenced)."""


# How long a write waits for another writer of the file by default (Settings.sqlite_busy_s).
# SQLite's own default, 5 s, is about what a 200,000-problem load holds the file for: a write by
# the API beside a load in another process failed with "database is locked".
BUSY_SECONDS = 30.0
# How often a write waiting for another process's tries the file again (SQLiteStore._begin).
POLL_SECONDS = 0.002


def _connect(target, busy_seconds: float = BUSY_SECONDS, **uri) -> sqlite3.Connection:
    """A connection any thread may use, in autocommit (the store opens its transactions itself),
    that waits up to ``busy_seconds`` for another process's write to end."""
    return sqlite3.connect(target, timeout=busy_seconds, check_same_thread=False, isolation_level=None,
                           factory=_Connection, **uri)


def _busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Closer:
    """Held in a thread's locals beside its connection: it goes when the thread ends."""


class SQLiteStore:
    in_process = True

    def __init__(self, path: str | Path, create: bool = True, read_only: bool | None = None,
                 busy_seconds: float = BUSY_SECONDS):
        """Open the store at ``path``. ``create=False`` (reading commands): a missing file is an
        error and nothing is created, not even its folder; an up-to-date file is opened read-only,
        so reads work on a read-only file system too. A write waits up to ``busy_seconds`` for
        another process's write to end, then fails with :class:`StoreBusy`, nothing written."""
        self.path = Path(path)
        self.busy_seconds = busy_seconds
        self.url = f"sqlite:///{self.path}"
        self._write_lock = threading.RLock()
        self._in_atomic = False  # set, under the write lock, by the thread inside atomic()
        # One connection per thread. The API's threads, and the analysis it warms at start, share
        # this store: on one shared connection, a thread's unfinished read held every other thread
        # in its snapshot (a write by another process went unseen), and a thread's write
        # transaction was read, uncommitted, by the others.
        self._local = threading.local()
        self._connections: weakref.WeakSet = weakref.WeakSet()  # closed by close(); a dead thread's goes with it
        self._closed = False
        if not create and not self.path.is_file():
            raise StoreMissing(f"没有存储：{self.path} 不存在 (no store at {self.path})；"
                               "先加载区划 (xuncha load divisions)")
        try:
            if (not create if read_only is None else read_only) and self._open_read_only():
                return
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connect = self._connect_writable
            db = self._adopt(self._connect())
            # A 12 MB page cache (default 2 MB) for the opening thread's connection, the one a load
            # writes through: a large load updates four B-trees of the issue table at once. Other
            # threads (the API's) keep the default, so forty of them do not hold half a gigabyte.
            db.execute("PRAGMA cache_size=-12288")
            db.execute("PRAGMA journal_mode=WAL")
            columns = {r[1] for r in db.execute("PRAGMA table_info(ledger_cell)")}
            if columns and "issues_sq" not in columns:  # derived table of an older version: rebuilt below
                db.execute("DROP TABLE ledger_cell")
            db.executescript(SCHEMA)
            if "district_code" not in {r[1] for r in db.execute("PRAGMA table_info(audit)")}:
                db.execute("ALTER TABLE audit ADD COLUMN district_code TEXT")  # an older file
            if "leader" not in {r[1] for r in db.execute("PRAGMA table_info(unit)")}:  # an older file
                db.execute("ALTER TABLE unit ADD COLUMN leader TEXT")
            if (db.execute("SELECT EXISTS (SELECT 1 FROM issue)").fetchone()[0]
                    and not db.execute("SELECT EXISTS (SELECT 1 FROM ledger_cell)").fetchone()[0]):
                with self._transaction() as db:  # a file written before ledger_cell existed
                    _refresh_ledger(db)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreUnavailable(f"无法打开 SQLite 存储 {self.path} (cannot open): {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on its first use."""
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise StoreUnavailable(f"存储已关闭 {self.path} (store closed)")
            try:
                db = self._adopt(self._connect())
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"无法打开 SQLite 存储 {self.path} (cannot open): {exc}") from exc
        return db

    def _adopt(self, db: sqlite3.Connection) -> sqlite3.Connection:
        self._local.db = db
        # Closed when its thread ends (the thread's locals go at once; the connection itself, held
        # in a cycle inside sqlite3, would wait for the garbage collector, its file open).
        self._local.closer = _Closer()
        weakref.finalize(self._local.closer, db.close)
        self._connections.add(db)
        return db

    def _connect_writable(self) -> sqlite3.Connection:
        db = _connect(self.path, self.busy_seconds)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=OFF")
        return db

    def _open_read_only(self) -> bool:
        """A read-only connection when the file's schema is current; False when it must be migrated."""
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            db = _connect(uri, self.busy_seconds, uri=True)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError:
            # A WAL file on a read-only file system without its -shm: read it as immutable.
            uri = f"{self.path.resolve().as_uri()}?immutable=1"
            db = _connect(uri, self.busy_seconds, uri=True)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not SCHEMA_TABLES <= tables or "issues_sq" not in {
                r[1] for r in db.execute("PRAGMA table_info(ledger_cell)")} or "district_code" not in {
                r[1] for r in db.execute("PRAGMA table_info(audit)")} or "leader" not in {
                r[1] for r in db.execute("PRAGMA table_info(unit)")}:
            db.close()
            return False
        if (db.execute("SELECT EXISTS (SELECT 1 FROM issue)").fetchone()[0]
                and not db.execute("SELECT EXISTS (SELECT 1 FROM ledger_cell)").fetchone()[0]):
            db.close()
            return False
        self._connect = lambda: _connect(uri, self.busy_seconds, uri=True)
        self._adopt(db)
        return True

    def close(self) -> None:
        self._closed = True
        for db in list(self._connections):
            db.close()

    def repair(self) -> dict:
        # A write that died is rolled back from SQLite's journal when the file is next opened.
        return {"integrity": self.db.execute("PRAGMA integrity_check").fetchone()[0]}

    @contextmanager
    def _turn(self) -> Iterator[float]:
        """This thread's turn to write. The API's threads share this store: one write transaction
        at a time in this process (another process's waits on SQLite's lock), each write's wait
        for its turn and for that lock within the one ``busy_seconds`` (a queue of editors, each
        given the whole wait once at the front, waited n times it). Yields the seconds left."""
        started = time.monotonic()
        if not self._write_lock.acquire(timeout=self.busy_seconds):
            raise self._busy_error()
        try:
            yield max(0.0, self.busy_seconds - (time.monotonic() - started))
        finally:
            self._write_lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._turn() as left:
            if self._in_atomic:  # this thread's atomic() holds the transaction: join it
                yield self.db
                return
            with self._transaction_unlocked(left) as db:
                yield db

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write of this thread inside the block (graph and audit alike) in one transaction:
        all committed together, or none."""
        with self._turn() as left:
            if self._in_atomic:
                yield
                return
            with self._transaction_unlocked(left):
                self._in_atomic = True
                try:
                    yield
                finally:
                    self._in_atomic = False

    def lock_issues(self, issue_ids: Iterable[str]) -> None:
        # Inside atomic() this thread already holds SQLite's write lock (BEGIN IMMEDIATE): no other
        # writer, of this process or another, runs until the block ends.
        pass

    def _begin(self, wait: float) -> None:
        """``BEGIN IMMEDIATE`` within ``wait`` seconds, trying again every few milliseconds.
        SQLite's own wait tries less and less often (every 100 ms after its first tries), and the
        API's threads pass the file from one write to the next: a load of another process, 2.3 s
        alone, waited out its 30 s beside six editors writing without pause, landing in none of
        the moments the file was free."""
        deadline = time.monotonic() + wait
        self.db.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _busy(exc) or time.monotonic() >= deadline:
                        raise
                    time.sleep(random.uniform(0.5, 1.5) * POLL_SECONDS)
        finally:
            # statements inside the transaction (a checkpoint after it) wait as SQLite does
            self.db.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")

    @contextmanager
    def _transaction_unlocked(self, wait: float) -> Iterator[sqlite3.Connection]:
        try:
            self._begin(wait)
        except sqlite3.Error as exc:
            if _busy(exc):
                raise self._busy_error() from exc
            raise StoreUnavailable(f"无法写入 SQLite 存储 {self.path} (cannot write): {exc}") from exc
        try:
            yield self.db
        except BaseException as exc:
            # SQLite has already rolled back after some errors (disk full): a second ROLLBACK would
            # fail with "no transaction is active" and hide the real cause.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            raise
        else:
            try:
                self.db.execute("INSERT INTO meta (key, value) VALUES ('version', 1) "
                                "ON CONFLICT (key) DO UPDATE SET value = value + 1")
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise self._translate(exc) from exc

    def _busy_error(self) -> StoreBusy:
        # No path: the API shows this message to its callers as it stands.
        return StoreBusy(f"存储正忙：其他写入（如另一进程中的加载）占用存储超过 {self.busy_seconds:g} 秒，"
                         "本次写入未执行，请稍后重试 (the store was busy with other writes; nothing written)")

    def _translate(self, exc: sqlite3.Error) -> StoreError | StoreBusy:
        if _busy(exc):
            return self._busy_error()
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL:
            return DiskFull(f"磁盘已满，写入 {self.path} 未完成，存储保持写入前的状态 (disk full; nothing written)")
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            return StoreError(f"无法写入 {self.path} (read-only or not permitted): {exc}")
        return StoreError(f"写入 {self.path} 失败 (write failed): {exc}")

    def _count(self, table: str) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def _upsert(self, table: str, key: Sequence[str], columns: Sequence[str], rows: Iterable[tuple],
                progress: Progress | None = None) -> WriteSummary:
        try:
            with self._transaction() as db:
                return _upsert_rows(db, table, key, columns, rows, progress)
        except sqlite3.Error as exc:
            raise StoreError(f"writing {table} to {self.path} failed: {exc}") from exc

    # -- writes -----------------------------------------------------------------------------------
    def upsert_divisions(self, divisions: Sequence[Division], progress: Progress | None = None) -> WriteSummary:
        rows = ((d.code, d.name, d.level, d.parent_code, d.kind) for d in divisions)
        try:
            with self._transaction() as db:
                summary = _upsert_rows(db, "division", ("code",), ("code", "name", "level", "parent_code", "kind"),
                                       rows, progress)
                if summary.updated and db.execute("SELECT EXISTS (SELECT 1 FROM issue)").fetchone()[0]:
                    _refresh_ledger(db)  # a village's kind may have changed
                return summary
        except sqlite3.Error as exc:
            raise StoreError(f"writing divisions to {self.path} failed: {exc}") from exc

    def upsert_categories(self, categories: Sequence[CategoryIn]) -> WriteSummary:
        rows = ((c.name, c.key, c.group, c.rate_village, c.rate_community, int(c.money), c.systemic_fix,
                 extra_json(c.extra)) for c in categories)
        return self._upsert("category", ("name",), ("name", "key", "grp", "rate_village", "rate_community",
                                                    "money", "systemic_fix", "extra"), rows)

    def upsert_units(self, units: Sequence[UnitIn]) -> WriteSummary:
        rows = ((u.unit_id, u.name, u.level.value, u.area_code, u.function, extra_json(u.extra), u.leader or None)
                for u in units)
        return self._upsert("unit", ("unit_id",), ("unit_id", "name", "level", "area_code", "function", "extra", "leader"),
                            rows)

    def upsert_duties(self, duties: Sequence[DutyIn]) -> WriteSummary:
        """The categories a duties table names are the taxonomy: new ones are added, without
        reference rates, in the same transaction."""
        rows = [(d.category, d.level.value, d.function, d.duty.value, extra_json(d.extra)) for d in duties]
        try:
            with self._transaction() as db:
                db.executemany("INSERT INTO category (name, grp, rate_village, rate_community, money, systemic_fix) "
                               "VALUES (?, '', NULL, NULL, 0, '') ON CONFLICT (name) DO NOTHING",
                               [(c,) for c in sorted({r[0] for r in rows})])
                return _upsert_rows(db, "duty", ("category", "level", "function", "duty"),
                                    ("category", "level", "function", "duty", "extra"), rows)
        except sqlite3.Error as exc:
            raise StoreError(f"writing duties to {self.path} failed: {exc}") from exc

    def upsert_issues(self, issues: Sequence[IssueIn], recorded_at: str,
                      progress: Progress | None = None) -> WriteSummary:
        parents = self._village_parents({i.village_code for i in issues})

        # Rows are made as they are written, not all at once: a 200,000-row ledger stays small.
        # Enumerations are str subclasses, which sqlite3 binds as their value, and a bool binds as
        # 0 or 1. A ledger has a few hundred distinct dates: each is spelled once (isoformat was
        # half of making the rows), looked up by subscript (a function call per date cost more).
        iso = _Spelled()

        def rows():
            for i in issues:
                if i.__class__ is IssueRecord:  # a loader's compact record: unpacked at once
                    (issue_id, village, round_id, found_on, category, description, severity, amount, status,
                     immediate, due_on, closed_on, hint, extra) = i
                else:
                    issue_id, village, round_id, found_on = i.issue_id, i.village_code, i.round_id, i.found_on
                    category, description, severity, amount = i.category, i.description, i.severity, i.amount_yuan
                    status, immediate, due_on, closed_on = i.status, i.immediate, i.due_on, i.closed_on
                    hint, extra = i.root_unit_hint, i.extra
                township, district = parents[village]
                yield (issue_id, village, township, district, round_id, iso[found_on], category, description,
                       severity, amount, status, immediate, iso[due_on], iso[closed_on], hint,
                       extra_json(extra) if extra else None)
        try:
            with self._transaction() as db:
                existing = db.execute("SELECT COUNT(*) FROM issue").fetchone()[0]
                history = db.execute("SELECT EXISTS (SELECT 1 FROM issue_status)").fetchone()[0]
                ids = [i.issue_id for i in issues]
                stored = [] if not existing else list(_where_in(
                    db, "SELECT issue_id, status, closed_on, township_code, found_on, round_id FROM issue "
                        "WHERE issue_id IN ({marks})", ids))
                previous = {r[0]: (r[1], r[2]) for r in stored}
                latest = _latest(db) if existing and len(issues) < BULK_ROWS else None
                bulk = len(issues) >= max(BULK_ROWS, existing)
                if bulk:
                    for name in ISSUE_INDEXES:
                        db.execute(f"DROP INDEX IF EXISTS {name}")
                if existing:
                    summary = _upsert_rows(db, "issue", ("issue_id",), ISSUE_COLUMNS, rows(), progress)
                else:
                    # An empty table: every row is new (the loaders refuse an id twice in one file).
                    summary = _insert_rows(db, "issue", ISSUE_COLUMNS, rows(), progress)
                if bulk:
                    for name, definition in ISSUE_INDEXES.items():
                        db.execute(f"CREATE INDEX {name} {definition}")
                if summary.inserted or summary.updated:
                    # the townships the problems were in and are in now
                    touched = {r[3] for r in stored} | {parents[i.village_code][0] for i in issues}
                    now = None if latest is None else max([latest] + [(iso[i.found_on], i.round_id) for i in issues])
                    if latest is not None and any((r[4], r[5]) == latest for r in stored):
                        now = _latest(db)  # the last problem itself was changed: read it again
                    if bulk or now is None or now[1] != latest[1] or len(touched) > LEDGER_PART_MAX:
                        _refresh_ledger(db)
                    else:
                        _refresh_ledger_part(db, touched, now[1])
                # The history keeps every status an issue has had, in the order loads reported it.
                # The next sequence number of each issue, read in batches (a per-row sub-query is
                # slower), so an issue whose row was deleted but whose history stays appends to it.
                if not existing and not history:
                    # A first load: every issue starts its history, copied inside SQLite.
                    db.execute("INSERT INTO issue_status (issue_id, seq, status, closed_on, recorded_at) "
                               "SELECT issue_id, 0, status, closed_on, ? FROM issue", (recorded_at,))
                    return summary
                changed = [i for i in issues if previous.get(i.issue_id) != (i.status, _iso(i.closed_on))]
                last = {} if not history else dict(_where_in(
                    db, "SELECT issue_id, MAX(seq) FROM issue_status WHERE issue_id IN ({marks}) GROUP BY issue_id",
                    [i.issue_id for i in changed]))
                db.executemany("INSERT INTO issue_status (issue_id, seq, status, closed_on, recorded_at) "
                               "VALUES (?, ?, ?, ?, ?)",
                               ((i.issue_id, last.get(i.issue_id, -1) + 1, i.status, _iso(i.closed_on),
                                 recorded_at) for i in changed))
        except sqlite3.Error as exc:
            raise StoreError(f"writing issues to {self.path} failed: {exc}") from exc
        return summary

    def _village_parents(self, villages: set[str]) -> dict[str, tuple[str, str]]:
        found = {code: (township, district) for code, township, district in _where_in(
            self.db, "SELECT v.code, t.code, t.parent_code FROM division v JOIN division t ON t.code = v.parent_code "
                     "WHERE v.code IN ({marks})", sorted(villages))}
        missing = villages - found.keys()
        if missing:
            raise InputError(f"village codes not in the loaded divisions: {', '.join(sorted(missing)[:10])}")
        return found

    # -- reads ------------------------------------------------------------------------------------
    def existing_codes(self, codes: Iterable[str]) -> set[str]:
        return {r[0] for r in _where_in(self.db, "SELECT code FROM division WHERE code IN ({marks})", set(codes))}

    def cypher(self, query: str, parameters: dict, limit: int, timeout: float, max_bytes: int = 0):
        raise NotSupported("Cypher 查询需要 Neo4j 存储；嵌入式 SQLite 存储不支持 (Cypher needs the Neo4j store)")

    def data_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return 0 if row is None else row[0]

    def issue_statuses(self, issue_ids: Iterable[str]) -> dict[str, str]:
        if not self.db.execute("SELECT EXISTS (SELECT 1 FROM issue)").fetchone()[0]:
            return {}  # a first load: 200,000 ids need not be looked up in an empty table
        return dict(_where_in(self.db, "SELECT issue_id, status FROM issue WHERE issue_id IN ({marks})",
                              set(issue_ids)))

    def issue_extras(self, issue_ids: Iterable[str]) -> dict[str, Mapping[str, str]]:
        if not self.db.execute("SELECT EXISTS (SELECT 1 FROM issue WHERE extra IS NOT NULL)").fetchone()[0]:
            return {}
        return extras_by_id(_where_in(
            self.db, "SELECT issue_id, extra FROM issue WHERE extra IS NOT NULL AND issue_id IN ({marks})",
            set(issue_ids)))

    def issues_by_id(self, issue_ids: Iterable[str]) -> dict[str, Issue]:
        return {row[0]: self._issue(row) for row in _where_in(
            self.db, self._ISSUE_SELECT + "WHERE issue_id IN ({marks})", set(issue_ids))}

    def division(self, code: str) -> Division | None:
        row = self.db.execute("SELECT code, name, level, parent_code, kind FROM division WHERE code = ?",
                              (code,)).fetchone()
        return None if row is None else Division(code=row[0], name=row[1], level=row[2], parent_code=row[3], kind=row[4])

    def division_names(self, codes: Iterable[str]) -> dict[str, str]:
        return dict(_where_in(self.db, "SELECT code, name FROM division WHERE code IN ({marks})", set(codes)))

    def children_counts(self, code: str) -> dict[str, int]:
        lo, hi = _code_range(code)
        rows = self.db.execute("SELECT level, COUNT(*) FROM division WHERE code > ? AND code < ? GROUP BY level",
                               (lo, hi)).fetchall()
        return dict(rows)

    def divisions(self, level: str, within: str | None = None) -> list[Division]:
        lo, hi = _code_range(within or "")
        rows = self.db.execute("SELECT code, name, level, parent_code, kind FROM division "
                               "WHERE level = ? AND code >= ? AND code < ? ORDER BY code", (level, lo, hi))
        return [Division(code=r[0], name=r[1], level=r[2], parent_code=r[3], kind=r[4]) for r in rows]

    def villages_named(self, village: str, township: str | None) -> list[Division]:
        q = ("SELECT v.code, v.name, v.level, v.parent_code, v.kind FROM division v "
             "JOIN division t ON t.code = v.parent_code WHERE v.level = 'village' AND "
             "(v.name = ?1 OR v.name = ?1 || '村民委员会' OR v.name = ?1 || '居民委员会' OR v.name = ?1 || '村委会' "
             "OR v.name = ?1 || '居委会')")
        args: list = [village]
        if township:
            q += " AND (t.name = ?2 OR t.name = ?2 || '街道' OR t.name = ?2 || '镇' OR t.name = ?2 || '乡')"
            args.append(township)
        rows = self.db.execute(q + " ORDER BY v.code", args)
        return [Division(code=r[0], name=r[1], level=r[2], parent_code=r[3], kind=r[4]) for r in rows]

    def find_divisions(self, text: str, limit: int = 20) -> list[Division]:
        """Divisions whose code starts with ``text`` or whose name contains it: exact names first,
        then names starting with it, shorter names first."""
        text = text.strip()
        like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(
            "SELECT code, name, level, parent_code, kind FROM division "
            "WHERE name LIKE ?2 ESCAPE '\\' OR (?4 AND code LIKE ?3 ESCAPE '\\') "
            "ORDER BY name = ?1 DESC, code = ?1 DESC, name LIKE ?3 ESCAPE '\\' DESC, length(name), code LIMIT ?5",
            (text, f"%{like}%", f"{like}%", text.isdigit(), limit))
        return [Division(code=r[0], name=r[1], level=r[2], parent_code=r[3], kind=r[4]) for r in rows]

    def counts(self, district: str | None = None) -> dict:
        lo, hi = _code_range(district or "")
        by_level = dict(self.db.execute("SELECT level, COUNT(*) FROM division WHERE code >= ? AND code < ? "
                                        "GROUP BY level", (lo, hi)).fetchall())
        by_kind = dict(self.db.execute("SELECT kind, COUNT(*) FROM division WHERE level = 'village' "
                                       "AND code >= ? AND code < ? GROUP BY kind", (lo, hi)).fetchall())
        per_district = self.db.execute(
            "SELECT d.code, d.name, "
            " (SELECT COUNT(*) FROM division t WHERE t.parent_code = d.code), "
            " SUM(v.kind = 'village'), SUM(v.kind = 'community'), SUM(v.kind = 'other'), COUNT(v.code) "
            "FROM division d LEFT JOIN division t2 ON t2.parent_code = d.code "
            "LEFT JOIN division v ON v.parent_code = t2.code "
            "WHERE d.level = 'district' AND d.code >= ? AND d.code < ? GROUP BY d.code ORDER BY d.code",
            (lo, hi)).fetchall()
        if district:
            units = self.db.execute("SELECT COUNT(*) FROM unit WHERE area_code >= ? AND area_code < ?", (lo, hi)).fetchone()[0]
            issues = self.db.execute("SELECT COUNT(*) FROM issue WHERE district_code = ?", (district,)).fetchone()[0]
        else:
            units, issues = self._count("unit"), self._count("issue")
        return {
            "by_level": {k: by_level.get(k, 0) for k in ("province", "city", "district", "township", "village")},
            "villages_by_kind": {k: by_kind.get(k, 0) for k in ("village", "community", "other")},
            "units": units,
            "categories": self._count("category"),
            "duties": self._count("duty"),
            "issues": issues,
            "districts": [{"code": r[0], "name": r[1], "townships": r[2], "villages": r[3] or 0,
                           "communities": r[4] or 0, "other": r[5] or 0, "village_level_units": r[6]}
                          for r in per_district],
        }

    def units(self, area_codes: Iterable[str] | None = None) -> list[Unit]:
        if area_codes is None:
            rows = self.db.execute("SELECT unit_id, name, level, area_code, function, COALESCE(leader, '') FROM unit "
                                   "ORDER BY unit_id")
        else:
            rows = sorted(_where_in(self.db, "SELECT unit_id, name, level, area_code, function, COALESCE(leader, '') "
                                             "FROM unit WHERE area_code IN ({marks})", set(area_codes)))
        return [Unit(*r) for r in rows]

    def duties(self) -> list[Duty]:
        return [Duty(*r) for r in self.db.execute(
            "SELECT category, level, function, duty FROM duty ORDER BY category, level, function, duty")]

    def categories(self) -> list[CategoryIn]:
        rows = self.db.execute("SELECT name, key, grp, rate_village, rate_community, money, systemic_fix, extra "
                               "FROM category ORDER BY name")
        return [CategoryIn(name=r[0], key=r[1], group=r[2] or "", rate_village=r[3], rate_community=r[4],
                           money=bool(r[5]), systemic_fix=r[6] or "", extra=json.loads(r[7]) if r[7] else {})
                for r in rows]

    _ISSUE_SELECT = ("SELECT issue_id, village_code, round_id, found_on, category, description, severity, "
                     "amount_yuan, status, immediate, due_on, closed_on, root_unit_hint, extra FROM issue ")

    @staticmethod
    def _issue(r) -> Issue:
        return Issue(r[0], r[1], r[2], _date(r[3]), r[4], r[5] or "", r[6], r[7], r[8], bool(r[9]),
                     _date(r[10]), _date(r[11]), r[12], json.loads(r[13]) if r[13] else {})

    def issue(self, issue_id: str) -> Issue | None:
        row = self.db.execute(self._ISSUE_SELECT + "WHERE issue_id = ?", (issue_id,)).fetchone()
        return None if row is None else self._issue(row)

    def issue_history(self, issue_id: str) -> list[StatusChange]:
        return [StatusChange(r[0], r[1], _date(r[2]), r[3]) for r in self.db.execute(
            "SELECT issue_id, status, closed_on, recorded_at FROM issue_status WHERE issue_id = ? ORDER BY seq",
            (issue_id,))]

    def issues_in(self, area_code: str, category: str) -> list[Issue]:
        column = "township_code" if len(area_code) == 9 else "district_code"
        rows = self.db.execute(self._ISSUE_SELECT + f"WHERE category = ? AND {column} = ? "
                               "ORDER BY village_code, found_on, issue_id", (category, area_code))
        return [self._issue(r) for r in rows]

    # -- analysis inputs --------------------------------------------------------------------------
    def ledger_facts(self) -> LedgerFacts:
        cells = [LedgerCell(*r[:8], float(r[8]), round(float(r[9]), 2), r[10], r[11])
                 for r in self.db.execute("SELECT * FROM ledger_cell ORDER BY rowid")]  # inserted in order
        exposure = [Exposure(*r) for r in self.db.execute(EXPOSURE_SQL)]
        hints = [HintCount(*r) for r in self.db.execute(
            "SELECT township_code, category, root_unit_hint, COUNT(*) FROM issue WHERE root_unit_hint IS NOT NULL "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")]
        names = dict(self.db.execute("SELECT code, name FROM division WHERE level IN ('district', 'township')"))
        return LedgerFacts(cells=cells, exposure=exposure, hints=hints, units=self.units(),
                           duties=self.duties(), categories=self.categories(), names=names,
                           village_counts=self.village_counts)

    def village_counts(self, townships: Sequence[str]) -> list[VillageCount]:
        out: list[VillageCount] = []
        for township in sorted(set(townships)):  # a range of the (village_code, category) index each
            lo, hi = _code_range(township)
            out += map(VillageCount._make, self.db.execute(
                "SELECT i.village_code, v.kind, i.category, COUNT(*) FROM issue i JOIN division v ON v.code = i.village_code "
                "WHERE i.village_code >= ? AND i.village_code < ? GROUP BY i.village_code, i.category "
                "ORDER BY i.village_code, i.category", (lo, hi)))
        return out

    def issues(self, district: str | None = None) -> list[Issue]:
        lo, hi = _code_range(district or "")
        rows = self.db.execute(self._ISSUE_SELECT + "WHERE village_code >= ? AND village_code < ? ORDER BY issue_id",
                               (lo, hi))
        return [self._issue(r) for r in rows]

    def find_issues(self, text: str, area: str = "", limit: int = 20) -> list[Issue]:
        # instr and substr, not LIKE: no wildcard in what was typed, and case as typed.
        where, args = "(instr(description, ?) > 0 OR substr(issue_id, 1, length(?)) = ?)", [text, text, text]
        if area:
            lo, hi = _code_range(area)
            where += " AND village_code >= ? AND village_code < ?"
            args += [lo, hi]
        return [self._issue(r) for r in self.db.execute(
            self._ISSUE_SELECT + f"WHERE {where} ORDER BY issue_id LIMIT ?", (*args, limit))]

    def issue_ids(self, query: IssueQuery) -> list[str]:
        # Every district's: read in id order from the key's index, no sort. An area: its rows from
        # the village index (a township's of a category from the category index), then sorted.
        where, args = ([], []) if not query.area else (["village_code >= ?", "village_code < ?"],
                                                       list(_code_range(query.area)))
        if len(query.area) == 9:
            where.append("township_code = ?")
            args.append(query.area)
        for column, value in (("category", query.category), ("status", query.status),
                              ("round_id", query.round_id), ("severity", query.severity)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.overdue is not None:  # graph.model.overdue
            rule = (f"(status IN ({', '.join('?' * len(OPEN_STATUSES))}) "
                    "AND due_on IS NOT NULL AND due_on < ?)")
            where.append(rule if query.overdue else f"NOT {rule}")
            args += [*OPEN_STATUSES, (query.as_of or dt.date.today()).isoformat()]
        return [r[0] for r in self.db.execute(
            f"SELECT issue_id FROM issue {'WHERE ' if where else ''}{' AND '.join(where)} ORDER BY issue_id", args)]

    def term_dates(self) -> dict[str, dict[dt.date, int]]:
        # The term rule (graph.model.term_of): its headers in its order, its spaces left out.
        def label(header: str) -> str:
            text = f"json_extract(extra, '$.\"{header}\"')"
            for space in TERM_SPACES:
                text = f"REPLACE({text}, char({ord(space)}), '')"
            return f"NULLIF({text}, '')"
        term = "COALESCE(" + ", ".join(label(h) for h in TERM_HEADERS) + ")"
        rows = self.db.execute(f"SELECT {term} AS term, found_on, COUNT(*) FROM issue WHERE extra IS NOT NULL "
                               "GROUP BY term, found_on HAVING term IS NOT NULL")
        out: dict[str, dict[dt.date, int]] = {}
        for term, found_on, count in rows:
            out.setdefault(str(term), {})[dt.date.fromisoformat(found_on)] = count
        return out

    def chain_graph(self, issue_id: str) -> nx.MultiDiGraph:
        return projection.chain_graph(self, issue_id)

    def projection(self, district: str | None = None) -> nx.MultiDiGraph:
        return projection.projection(self, district)


# The ledger rules of graph/analysis/ledger.py (the reference this is tested against): per village
# and category first, then per township, village kind and category, with the moments of the
# village counts. Recurrence and rectification are per village. Two versions of one query (slots
# below): every cell, and the cells of the townships a small write touched.
_LEDGER_TEMPLATE = """
WITH latest AS ({latest}),
vc AS (
    SELECT village_code, township_code, district_code, category, COUNT(*) AS n,
           SUM({weight}) AS w,
           SUM(COALESCE(amount_yuan, 0)) AS amount,
           MAX(status IN ({once_rectified}) AND round_id <> (SELECT round_id FROM latest)) AS rectified,
           MIN(CASE WHEN status IN ({once_rectified}) THEN found_on || '|' || round_id END) AS first_done
    FROM issue {rows} GROUP BY village_code, category
),
-- Found again after its first rectification, in another round. A second pass over the ledger
-- against the cells' first rectification is faster than a window over every row.
recurred AS (
    SELECT DISTINCT i.village_code, i.category
    FROM vc {join} issue i INDEXED BY issue_village ON i.village_code = vc.village_code AND i.category = vc.category
    WHERE vc.rectified AND i.found_on > substr(vc.first_done, 1, 10) AND i.round_id <> substr(vc.first_done, 12)
),
vt AS (SELECT village_code, SUM(n) AS total FROM vc GROUP BY village_code)
SELECT vc.township_code, vc.district_code, v.kind, vc.category, COUNT(*), SUM(vc.n), SUM(vc.n * vc.n),
       SUM(vc.n * vt.total), SUM(vc.w), SUM(vc.amount), SUM(vc.rectified), COUNT(r.village_code)
FROM vc JOIN vt ON vt.village_code = vc.village_code JOIN division v ON v.code = vc.village_code
LEFT JOIN recurred r ON r.village_code = vc.village_code AND r.category = vc.category
GROUP BY vc.township_code, vc.district_code, v.kind, vc.category
ORDER BY vc.township_code, v.kind, vc.category
"""
_LEDGER_RULES = dict(
    weight="CASE severity " + " ".join(f"WHEN :severity{i} THEN :weight{i}" for i in range(len(LEDGER_PARAMETERS["severity_weight"])))
           + " ELSE :unknown_severity_weight END",
    once_rectified=", ".join(f":once_rectified{i}" for i in range(len(LEDGER_PARAMETERS["once_rectified"]))))
LEDGER_SQL = _LEDGER_TEMPLATE.format(latest=f"SELECT round_id {LATEST_FIRST} LIMIT 1", rows="NOT INDEXED", join="JOIN",
                                     **_LEDGER_RULES)
# The cells of the townships a JSON list names (:func:`_refresh_ledger_part`), the latest round
# given: their recurrences read from their own cells outward (CROSS JOIN keeps that order; joined
# as the whole ledger's are, the planner read the whole index, 30–60 ms).
LEDGER_PART_SQL = _LEDGER_TEMPLATE.format(
    latest="SELECT :latest_round AS round_id", join="CROSS JOIN",
    rows="WHERE village_code IN (SELECT code FROM division WHERE parent_code IN (SELECT value FROM json_each(:townships))) "
         "AND township_code IN (SELECT value FROM json_each(:townships))", **_LEDGER_RULES)
# The rule's statuses and weights (graph.analysis.ledger.LEDGER_PARAMETERS), bound by name.
LEDGER_SQL_PARAMETERS = {
    **{f"severity{i}": severity for i, severity in enumerate(LEDGER_PARAMETERS["severity_weight"])},
    **{f"weight{i}": weight for i, weight in enumerate(LEDGER_PARAMETERS["severity_weight"].values())},
    **{f"once_rectified{i}": status for i, status in enumerate(LEDGER_PARAMETERS["once_rectified"])},
    "unknown_severity_weight": LEDGER_PARAMETERS["unknown_severity_weight"]}

EXPOSURE_SQL = """
SELECT t.code, t.parent_code, v.kind, COUNT(*), COUNT(n.village_code),
       COALESCE(SUM(n.total), 0), COALESCE(SUM(n.total * n.total), 0)
FROM division v JOIN division t ON t.code = v.parent_code
LEFT JOIN (SELECT village_code, COUNT(*) AS total FROM issue GROUP BY village_code) n ON n.village_code = v.code
WHERE v.level = 'village'
GROUP BY t.code, t.parent_code, v.kind
ORDER BY t.code, v.kind
"""


class SQLiteWorkflow:
    """The office's workflow records beside the graph, in tables of their own in the store's file and
    on its connection: packages' ends, key-village lists, inspections done, follow-ups, villages'
    base data. Written inside :meth:`SQLiteStore.atomic` they commit with the rest."""

    def __init__(self, store: SQLiteStore):
        self.store = store

    def mark_package_end(self, package_id: str, end: str, done_on: dt.date, note: str, recorded_at: str) -> None:
        with self.store._transaction() as db:
            db.execute("INSERT INTO package_end (package_id, end_kind, done_on, note, recorded_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (package_id, end_kind) DO UPDATE SET done_on = excluded.done_on, "
                       "note = excluded.note, recorded_at = excluded.recorded_at",
                       (package_id, end, done_on.isoformat(), note, recorded_at))

    def package_ends(self, package_ids: Iterable[str]) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        for pid, end, done_on, note, at in _where_in(
                self.store.db, "SELECT package_id, end_kind, done_on, note, recorded_at FROM package_end "
                               "WHERE package_id IN ({marks})", set(package_ids)):
            out.setdefault(pid, {})[end] = {"done_on": dt.date.fromisoformat(done_on), "note": note,
                                            "recorded_at": at}
        return out

    def save_key_villages(self, district: str, record: dict, updated_at: str) -> None:
        with self.store._transaction() as db:
            db.execute("INSERT INTO key_village_list (district_code, record, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (district_code) DO UPDATE SET record = excluded.record, "
                       "updated_at = excluded.updated_at",
                       (district, json.dumps(record, ensure_ascii=False, sort_keys=True), updated_at))

    def key_villages(self, district: str) -> dict | None:
        row = self.store.db.execute("SELECT record FROM key_village_list WHERE district_code = ?", (district,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_inspections(self, inspections: Sequence[Inspection]) -> WriteSummary:
        rows = ((r.area_code, r.round_id, r.area_code[:6], _iso(r.started_on), _iso(r.ended_on), r.team, r.mode)
                for r in inspections)
        return self.store._upsert("inspection", ("area_code", "round_id"),
                                  ("area_code", "round_id", "district_code", "started_on", "ended_on", "team", "mode"), rows)

    def inspections(self, district: str) -> list[Inspection]:
        rows = self.store.db.execute("SELECT area_code, round_id, started_on, ended_on, team, mode FROM inspection "
                                     "WHERE district_code = ? ORDER BY started_on, area_code", (district,))
        return [Inspection(a, r, _date(s), _date(e), t, m) for a, r, s, e, t, m in rows]

    def save_follow_ups(self, records: Sequence[FollowUp]) -> WriteSummary:
        rows = ((r.kind, r.target, r.district, _iso(r.on), r.by, r.result, r.note) for r in records)
        return self.store._upsert("follow_up", ("kind", "target", "done_on", "result"),
                                  ("kind", "target", "district_code", "done_on", "done_by", "result", "note"), rows)

    def follow_ups(self, district: str, kind: str) -> list[FollowUp]:
        rows = self.store.db.execute("SELECT kind, target, district_code, done_on, done_by, result, note FROM follow_up "
                                     "WHERE district_code = ? AND kind = ? ORDER BY done_on, target, result", (district, kind))
        return [FollowUp(k, t, d, _date(on), by, result, note or "") for k, t, d, on, by, result, note in rows]

    def save_base_data(self, district: str, indicators: dict[str, dict[str, float]]) -> WriteSummary:
        rows = ((code, district, json.dumps(values, sort_keys=True)) for code, values in sorted(indicators.items()))
        return self.store._upsert("village_base", ("village_code",), ("village_code", "district_code", "indicators"), rows)

    def base_data(self, district: str) -> dict[str, dict[str, float]]:
        rows = self.store.db.execute("SELECT village_code, indicators FROM village_base WHERE district_code = ?", (district,))
        return {code: json.loads(values) for code, values in rows}


TOKEN_COLUMNS = "token_id, name, role, district_code, token_hash, created_at, revoked_at"
AUDIT_COLUMNS = "at, token_id, token_name, action, target, before, after, district_code"


class SQLiteAccess:
    """API tokens and the audit log, in tables of their own in the store's file and on its
    connection: an audit entry written inside :meth:`SQLiteStore.atomic` commits with the change it
    records, or not at all."""

    def __init__(self, store: SQLiteStore):
        self.store = store

    def save_token(self, token: ApiToken) -> None:
        with self.store._transaction() as db:
            db.execute(f"INSERT INTO api_token ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       dataclasses.astuple(token))

    def tokens(self, district: str | None = None) -> list[ApiToken]:
        where, args = ("WHERE district_code = ?", (district,)) if district else ("", ())
        rows = self.store.db.execute(f"SELECT {TOKEN_COLUMNS} FROM api_token {where} ORDER BY created_at, token_id",
                                     args)
        return [ApiToken(*r) for r in rows]

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        row = self.store.db.execute(f"SELECT {TOKEN_COLUMNS} FROM api_token WHERE token_hash = ?",
                                    (token_hash,)).fetchone()
        return None if row is None else ApiToken(*row)

    def revoke_token(self, token_id: str, at: str) -> bool:
        with self.store._transaction() as db:
            return db.execute("UPDATE api_token SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                              (at, token_id)).rowcount == 1

    def add_audit(self, entry: AuditEntry) -> None:
        with self.store._transaction() as db:
            db.execute(f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       dataclasses.astuple(entry)[:8])

    def audit(self, limit: int = 100, offset: int = 0, district: str | None = None) -> tuple[list[AuditEntry], int]:
        where, args = ("WHERE district_code = ?", (district,)) if district else ("", ())
        rows = self.store.db.execute(f"SELECT {AUDIT_COLUMNS}, seq FROM audit {where} ORDER BY seq DESC "
                                     "LIMIT ? OFFSET ?", (*args, limit, offset))
        total = self.store.db.execute(f"SELECT COUNT(*) FROM audit {where}", args).fetchone()[0]
        return [AuditEntry(*r) for r in rows], total


# Planning records: inspections done (a round's visit to a village or township, with or without
# findings) and the follow-up history (back-check results, package ends, who and when), part of
# the schema every store file gets.
PLANNING_SCHEMA = """
CREATE TABLE IF NOT EXISTS inspection (
    area_code TEXT NOT NULL, round_id TEXT NOT NULL, district_code TEXT NOT NULL, started_on TEXT NOT NULL,
    ended_on TEXT, team TEXT, mode TEXT, PRIMARY KEY (area_code, round_id)
);
CREATE INDEX IF NOT EXISTS inspection_district ON inspection(district_code);
CREATE TABLE IF NOT EXISTS follow_up (
    kind TEXT NOT NULL, target TEXT NOT NULL, district_code TEXT NOT NULL, done_on TEXT NOT NULL,
    done_by TEXT NOT NULL, result TEXT NOT NULL, note TEXT, PRIMARY KEY (kind, target, done_on, result)
);
CREATE INDEX IF NOT EXISTS follow_up_district ON follow_up(district_code, kind);
-- Each village's base data (人口、集体资金、项目数 …) as the office loaded it: the classification
-- reads it from here, so the CLI and the API score alike.
CREATE TABLE IF NOT EXISTS village_base (
    village_code TEXT PRIMARY KEY, district_code TEXT NOT NULL, indicators TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS village_base_district ON village_base(district_code);
"""
SCHEMA += PLANNING_SCHEMA
SCHEMA_TABLES |= {"inspection", "follow_up", "village_base"}
