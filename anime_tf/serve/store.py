"""Jobs on disk: SQLite from the standard library, so a killed server loses nothing.

One connection, shared by the event loop and the worker threads under a lock;
every statement is short (no inference or file work happens while it is
held). WAL journaling keeps a crash from corrupting the file, and a job moves
between states in single statements: queued -> running -> done | failed.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time

STATES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    batch TEXT NOT NULL,
    name TEXT NOT NULL,          -- the client's file name: shown and used in the zip, never a path
    client TEXT NOT NULL,
    style TEXT NOT NULL,
    options TEXT NOT NULL,       -- JSON of what changes the output (faces, max_side, format)
    cache_key TEXT,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT,
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,                 -- file name under results/
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);
CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs(batch, seq);
CREATE INDEX IF NOT EXISTS jobs_by_client ON jobs(client, state);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_by_use ON cache(used);
"""


class Database:
    """A SQLite file shared by threads; `with db.cursor() as c:` is one transaction."""

    def __init__(self, path):
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(SCHEMA)

    @contextlib.contextmanager
    def cursor(self):
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def close(self):
        with self._lock:
            self._connection.close()


class JobStore:
    """The jobs table: what the API reports and what the workers take."""

    def __init__(self, db: Database, on_change=None):
        self.db = db
        self.on_change = on_change  # called (from any thread) after a job changes state or progress

    def _changed(self):
        if self.on_change is not None:
            self.on_change()

    def add(self, jobs):
        """Insert jobs (dicts with id, batch, name, client, style, options, cache_key, state...)."""
        now = time.time()
        rows = [(j["id"], j["batch"], j["name"], j["client"], j["style"], json.dumps(j["options"]),
                 j.get("cache_key"), j["state"], j.get("error"), j.get("result"),
                 int(j.get("cached", False)), 1.0 if j["state"] == "done" else 0.0, now,
                 now if j["state"] in ("done", "failed") else None) for j in jobs]
        with self.db.cursor() as c:
            c.executemany(
                "INSERT INTO jobs (id, batch, name, client, style, options, cache_key, state, error,"
                " result, cached, progress, created, finished) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows)
        self._changed()

    def get(self, job_id):
        with self.db.cursor() as c:
            row = c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row)

    def batch(self, batch_id):
        with self.db.cursor() as c:
            rows = c.execute("SELECT * FROM jobs WHERE batch = ? ORDER BY seq", (batch_id,)).fetchall()
        return [_job(row) for row in rows]

    def queue_position(self, job):
        """1 for the next job to run, 2 after it...; None unless queued."""
        if job["state"] != "queued":
            return None
        with self.db.cursor() as c:
            ahead = c.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq < ?",
                              (job["seq"],)).fetchone()[0]
        return ahead + 1

    def claim(self):
        """The oldest queued job, now running; None when the queue is empty."""
        with self.db.cursor() as c:
            row = c.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            c.execute("UPDATE jobs SET state = 'running', started = ?, progress = 0, stage = NULL"
                      " WHERE seq = ?", (time.time(), row["seq"]))
        self._changed()
        return _job(row) | {"state": "running"}

    def mark_running(self, job_id):
        with self.db.cursor() as c:
            changed = c.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ?"
                                " AND state = 'queued'", (time.time(), job_id)).rowcount
        if changed:  # the Redis collector calls this on every poll of a started job
            self._changed()

    def set_progress(self, job_id, fraction, stage=None):
        with self.db.cursor() as c:
            changed = c.execute("UPDATE jobs SET progress = ?, stage = ? WHERE id = ? AND state = 'running'"
                                " AND (progress != ? OR stage IS NOT ?)",
                                (float(fraction), stage, job_id, float(fraction), stage)).rowcount
        if changed:
            self._changed()

    def finish(self, job_id, result, cached=False):
        with self.db.cursor() as c:
            c.execute("UPDATE jobs SET state = 'done', result = ?, cached = ?, progress = 1,"
                      " finished = ? WHERE id = ?", (result, int(cached), time.time(), job_id))
        self._changed()

    def fail(self, job_id, error):
        with self.db.cursor() as c:
            c.execute("UPDATE jobs SET state = 'failed', error = ?, finished = ? WHERE id = ?",
                      (str(error), time.time(), job_id))
        self._changed()

    def requeue_running(self):
        """After a restart: jobs that were running when the server died go back to the queue."""
        with self.db.cursor() as c:
            return c.execute("UPDATE jobs SET state = 'queued', progress = 0, stage = NULL"
                             " WHERE state = 'running'").rowcount

    def active(self):
        """Every queued or running job, oldest first."""
        with self.db.cursor() as c:
            rows = c.execute("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY seq")
            return [_job(row) for row in rows.fetchall()]

    def active_count(self, client=None):
        query = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        with self.db.cursor() as c:
            if client is None:
                return c.execute(query).fetchone()[0]
            return c.execute(query + " AND client = ?", (client,)).fetchone()[0]

    def mean_seconds(self, last=20):
        """Mean run time of the last finished model runs (for Retry-After); None if none yet."""
        with self.db.cursor() as c:
            row = c.execute("SELECT AVG(finished - started) FROM (SELECT finished, started FROM jobs"
                            " WHERE state = 'done' AND cached = 0 AND started IS NOT NULL"
                            " ORDER BY seq DESC LIMIT ?)", (last,)).fetchone()
        return row[0]

    def expire(self, before):
        """Delete jobs that ended before `before` (epoch seconds); returns their result files."""
        with self.db.cursor() as c:
            rows = c.execute("SELECT result FROM jobs WHERE state IN ('done', 'failed') AND finished < ?",
                             (before,)).fetchall()
            c.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished < ?", (before,))
        return [row["result"] for row in rows if row["result"]]

    def counts(self):
        with self.db.cursor() as c:
            rows = c.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in STATES} | {row["state"]: row["n"] for row in rows}


def _job(row):
    if row is None:
        return None
    job = dict(row)
    job["options"] = json.loads(job["options"])
    job["cached"] = bool(job["cached"])
    return job
