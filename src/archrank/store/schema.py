"""The one schema of an archrank results file, its version, and the forward migrations from older files.

Version 2 (this one) keeps every result of every method in a few shared tables:

- ``measurements``: every value any method produces about one subject (an architecture, an Eproxy
  configuration, an EZNAS program) keyed by (space, arch_key, method, config_hash, seed, input_hash, device),
  with value, seconds, status (``ok``/``nan``/``failed``), reason and method-specific ``extra`` JSON;
- ``configs``: the JSON configuration behind a config hash; ``inputs``: what an input (batch) hash is (data kind
  and spec);
- ``runs``: one row per run of any kind (score, search, dps, evolve, train, consistency) with configuration,
  environment, start/end and status; ``trials``: the ordered steps of iterative runs (search queries, DPS
  steps, GP generations), from which a resumed run replays;
- ``claims``: short leases that let concurrent scoring processes share out the work;
- ``ground_truth``: (source, space, arch_key, metric) -> value.

Version 0/1 files (no ``user_version``) are the files written before: a ``scores`` table plus one set of tables
per feature (``eproxy_*``, ``eznas_*``, ``econas_trainings``, ``search_*``). :func:`migrate` moves their rows into
the version-2 tables in one transaction and drops the old tables.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

# Every table name archrank has ever written: a file holding tables but none of these is someone else's file.
KNOWN_TABLES = frozenset({
    "measurements", "configs", "inputs", "runs", "trials", "claims", "ground_truth",
    "scores", "proxy_configs",
    "eproxy_configs", "eproxy_scores", "eproxy_dps_runs", "eproxy_dps_history",
    "eznas_fitness_defs", "eznas_programs", "eznas_runs", "eznas_generations",
    "econas_trainings", "search_runs", "search_queries",
})

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL DEFAULT 'score',
    name TEXT,
    space TEXT,
    config TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    started_at REAL NOT NULL,
    ended_at REAL,
    command TEXT,
    archrank_version TEXT,
    torch_version TEXT,
    python_version TEXT,
    device TEXT,
    host TEXT,
    extra TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_name ON runs (kind, name) WHERE name IS NOT NULL;
CREATE TABLE IF NOT EXISTS measurements (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    method TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    input_hash TEXT NOT NULL,
    device TEXT NOT NULL,
    value REAL,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'nan', 'failed')),
    reason TEXT,
    extra TEXT,
    run_id INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, method, config_hash, seed, input_hash, device)
);
CREATE INDEX IF NOT EXISTS measurements_by_method ON measurements (space, method, config_hash, seed, input_hash);
CREATE TABLE IF NOT EXISTS configs (
    config_hash TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inputs (
    input_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    run_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    payload TEXT NOT NULL,
    value REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS claims (
    space TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (space, fingerprint, arch_key)
);
CREATE TABLE IF NOT EXISTS ground_truth (
    source TEXT NOT NULL,
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (source, space, arch_key, metric)
);
"""


def _tables(db: sqlite3.Connection) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def create_or_migrate(db: sqlite3.Connection) -> None:
    """Bring an open file (inside a write transaction) to :data:`SCHEMA_VERSION`."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    tables = _tables(db)
    if "runs" in tables and "kind" not in _columns(db, "runs"):
        _migrate_runs_v1(db)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    migrate(db, tables)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate_runs_v1(db: sqlite3.Connection) -> None:
    """Version-1 ``runs`` rows were scoring runs: add the version-2 columns."""
    for column, kind in (("kind", "TEXT NOT NULL DEFAULT 'score'"), ("name", "TEXT"), ("space", "TEXT"),
                         ("config", "TEXT"), ("status", "TEXT NOT NULL DEFAULT 'unknown'"), ("ended_at", "REAL")):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")


def migrate(db: sqlite3.Connection, tables: set[str]) -> None:
    """Move the rows of every older table present in ``tables`` into the version-2 tables, then drop it."""
    if "scores" in tables:
        db.execute(
            "INSERT OR IGNORE INTO measurements (space, arch_key, method, config_hash, seed, input_hash, device,"
            " value, seconds, status, reason, run_id, created_at)"
            " SELECT space, arch_key, proxy, config_hash, seed, batch_hash, device, score, seconds, status, error,"
            " run_id, created_at FROM scores"
        )
        # A v1 scoring run recorded its --data spec in runs.extra: that names the kind of each batch. ``auto``
        # named no data set (it depended on the machine): such batches stay of unknown kind.
        db.execute(
            "INSERT OR IGNORE INTO inputs (input_hash, kind, spec)"
            " SELECT DISTINCT s.batch_hash,"
            "  lower(substr(json_extract(r.extra, '$.data'), 1,"
            "   CASE WHEN instr(json_extract(r.extra, '$.data'), ':') > 0"
            "   THEN instr(json_extract(r.extra, '$.data'), ':') - 1 ELSE 1000 END)),"
            "  json_object('data', json_extract(r.extra, '$.data'), 'migrated', 1)"
            " FROM scores s JOIN runs r ON r.run_id = s.run_id"
            " WHERE json_valid(r.extra) AND json_extract(r.extra, '$.data') IS NOT NULL"
            " AND json_extract(r.extra, '$.data') NOT LIKE 'auto' AND json_extract(r.extra, '$.data') NOT LIKE 'auto:%'"
        )
        db.execute("DROP TABLE scores")
    if "proxy_configs" in tables:
        db.execute("INSERT OR IGNORE INTO configs (config_hash, method, config, created_at)"
                   " SELECT config_hash, proxy, config, 0 FROM proxy_configs")
        db.execute("DROP TABLE proxy_configs")
    _migrate_eproxy(db, tables)
    _migrate_econas(db, tables)
    _migrate_eznas(db, tables)
    _migrate_search(db, tables)


def _migrate_eproxy(db: sqlite3.Connection, tables: set[str]) -> None:
    if "eproxy_configs" in tables:
        db.execute("INSERT OR IGNORE INTO configs (config_hash, method, config, created_at)"
                   " SELECT config_key, 'eproxy', config, 0 FROM eproxy_configs")
        db.execute("DROP TABLE eproxy_configs")
    if "eproxy_scores" in tables:
        db.execute(
            "INSERT OR IGNORE INTO measurements (space, arch_key, method, config_hash, seed, input_hash, device,"
            " value, seconds, status, reason, extra, created_at)"
            " SELECT space, arch_key, 'eproxy', config_key, seed, batch_hash, device, value, seconds, status, error,"
            " json_object('score', score, 'loss', loss, 'macs', macs), created_at FROM eproxy_scores"
        )
        db.execute("DROP TABLE eproxy_scores")
    if "eproxy_dps_runs" in tables:
        db.execute(
            "INSERT OR IGNORE INTO runs (kind, name, space, config, status, started_at, ended_at, extra)"
            " SELECT 'dps', run_name, space, json_object('settings', json(settings), 'labelled', json(labelled)),"
            " 'unknown', created_at, updated_at, json_object('best_key', best_key, 'best_fitness', best_fitness)"
            " FROM eproxy_dps_runs"
        )
        db.execute("DROP TABLE eproxy_dps_runs")
    if "eproxy_dps_history" in tables:
        db.execute(
            "INSERT OR IGNORE INTO trials (run_id, step, payload, value, created_at)"
            " SELECT r.run_id, h.step, json_object('config_key', h.config_key, 'parent_key', h.parent_key,"
            " 'genotype', json(h.genotype), 'seconds', h.seconds), h.fitness, h.created_at"
            " FROM eproxy_dps_history h JOIN runs r ON r.kind = 'dps' AND r.name = h.run_name"
        )
        db.execute("DROP TABLE eproxy_dps_history")


def _migrate_econas(db: sqlite3.Connection, tables: set[str]) -> None:
    if "econas_trainings" not in tables:
        return
    db.execute(
        "INSERT OR IGNORE INTO measurements (space, arch_key, method, config_hash, seed, input_hash, device,"
        " value, seconds, status, extra, created_at)"
        " SELECT space, arch_key, 'econas', setting, seed, data, device, accuracy, seconds,"
        " CASE WHEN accuracy IS NULL THEN 'nan' ELSE 'ok' END,"
        " json_object('cpu_seconds', cpu_seconds, 'epochs', epochs, 'iterations', iterations,"
        "  'final_train_loss', final_train_loss, 'final_train_accuracy', final_train_accuracy,"
        "  'num_params', num_params, 'resolution', resolution, 'train_samples', train_samples,"
        "  'test_samples', test_samples, 'threads', threads, 'extra', json(extra)), created_at"
        " FROM econas_trainings"
    )
    db.execute("DROP TABLE econas_trainings")


def _migrate_eznas(db: sqlite3.Connection, tables: set[str]) -> None:
    if "eznas_fitness_defs" in tables:
        db.execute("INSERT OR IGNORE INTO configs (config_hash, method, config, created_at)"
                   " SELECT fitness_key, 'eznas_fitness', spec, created_at FROM eznas_fitness_defs")
        db.execute("DROP TABLE eznas_fitness_defs")
    if "eznas_programs" in tables:
        db.execute(
            "INSERT OR IGNORE INTO measurements (space, arch_key, method, config_hash, seed, input_hash, device,"
            " value, seconds, status, reason, extra, created_at)"
            " SELECT 'eznas-programs', program, 'eznas_fitness', fitness_key, 0, 'none', 'any', fitness, seconds,"
            " CASE WHEN status = 'ok' AND fitness IS NOT NULL THEN 'ok' ELSE 'nan' END,"
            " CASE WHEN status = 'ok' THEN NULL ELSE 'invalid program' END,"
            " json_object('status', status, 'per_task', json(per_task), 'size', size, 'height', height),"
            " created_at"
            " FROM eznas_programs"
        )
        db.execute("DROP TABLE eznas_programs")
    if "eznas_runs" in tables:
        db.execute(
            "INSERT OR IGNORE INTO runs (kind, name, config, status, started_at, extra)"
            " SELECT 'evolve', run_id, json_object('fitness_key', fitness_key, 'gp', json(config)), 'unknown',"
            " created_at, json_object('fitness_key', fitness_key)"
            " FROM eznas_runs"
        )
        db.execute("DROP TABLE eznas_runs")
    if "eznas_generations" in tables:
        db.execute(
            "INSERT OR IGNORE INTO trials (run_id, step, payload, value, created_at)"
            " SELECT r.run_id, g.generation, json_object('population', json(g.population),"
            " 'rng_state', g.rng_state, 'best_program', g.best_program, 'n_evaluated', g.n_evaluated,"
            " 'seconds', g.seconds), g.best_fitness, g.created_at"
            " FROM eznas_generations g JOIN runs r ON r.kind = 'evolve' AND r.name = g.run_id"
        )
        db.execute("DROP TABLE eznas_generations")


def _migrate_search(db: sqlite3.Connection, tables: set[str]) -> None:
    if "search_runs" in tables:
        db.execute(
            "INSERT OR IGNORE INTO runs (kind, name, space, config, status, started_at, ended_at, extra)"
            " SELECT 'search', run_name || '#seed=' || seed, space, json_object('run_name', run_name, 'seed', seed,"
            " 'space', space, 'algorithm', algorithm, 'config', json(config)), 'unknown', created_at, updated_at,"
            " json_object('run_name', run_name, 'seed', seed, 'algorithm', algorithm) FROM search_runs"
        )
        db.execute("DROP TABLE search_runs")
    if "search_queries" in tables:
        db.execute(
            "INSERT OR IGNORE INTO trials (run_id, step, payload, value, created_at)"
            " SELECT r.run_id, q.step, json_object('arch_key', q.arch_key, 'valid', q.valid, 'test', q.test,"
            " 'cost_s', q.cost_s, 'proxy_s', q.proxy_s, 'cumulative_cost_s', q.cumulative_cost_s), q.valid,"
            " q.created_at FROM search_queries q"
            " JOIN runs r ON r.kind = 'search' AND r.name = q.run_name || '#seed=' || q.seed"
        )
        db.execute("DROP TABLE search_queries")
