#!/usr/bin/env python3
"""tests/bench/search_bench.py --cairn BUILD/cairn [--runs N] [--reps N]

runs/search over N runs (default 100,000) in one experiment, each with 10
metrics, 10 params and 5 tags (the issue's workload), through `cairn server`
over real HTTP, side by side with the same data in SQLite under MLflow's SQL
schema (runs, latest_metrics, params, tags and their indexes) answering the
SQL that MLflow's SqlAlchemyStore issues for the same searches (the filtered
and ordered run query with LIMIT/OFFSET, then the page's latest_metrics,
params and tags by run_uuid IN (...), as its selectin loading does).

Loading goes over HTTP (runs/create with the tags, then one runs/log-batch of
the metrics and params per run, 4 client threads) into a server started with
sync_writes off; the server is then restarted with defaults, so the first
search measures the cold load of the search cache. Prints p50/p99 per query,
the ratio to SQLite, the cold first-search time, and RSS idle and after
caching (bytes per run). Not a test: numbers vary by machine.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

NM, NP, NT = 10, 10, 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cairn:
    def __init__(self, binary, data, env=None):
        self.port = free_port()
        self.log = data + ".log"
        with open(self.log, "ab") as log:
            self.p = subprocess.Popen([binary, "server", "--port", str(self.port), "--data",
                                       data], env=dict(os.environ, **(env or {})),
                                      stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(400):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("cairn did not start")

    def rss(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        self.p.terminate()
        self.p.wait(30)


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path, body):
        self.c.request("POST", "/api/2.0/mlflow/" + path, json.dumps(body),
                       {"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError("%s: %d %s" % (path, r.status, data[:300]))
        return data


def run_data(i):
    rng = random.Random(i)
    metrics = {"m%d" % j: rng.random() for j in range(NM)}
    params = {"p%d" % j: "v%d" % rng.randrange(10) for j in range(NP)}
    tags = {"t0": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))}
    tags.update({"t%d" % j: "tag-%d" % rng.randrange(100) for j in range(1, NT)})
    return metrics, params, tags


def load_cairn(port, exp, n, threads=4):
    out = [None] * n
    nxt = [0]
    mu = threading.Lock()

    def worker():
        c = Client(port)
        while True:
            with mu:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            metrics, params, tags = run_data(i)
            st = 1_700_000_000_000 + i * 1000
            j = json.loads(c.post("runs/create", {
                "experiment_id": exp, "start_time": st, "user_id": "bench",
                "tags": [{"key": k, "value": v} for k, v in tags.items()]}))
            info = j["run"]["info"]
            c.post("runs/log-batch", {
                "run_id": info["run_id"],
                "metrics": [{"key": k, "value": v, "timestamp": st, "step": 0}
                            for k, v in metrics.items()],
                "params": [{"key": k, "value": v} for k, v in params.items()]})
            out[i] = (info["run_id"], st, info["run_name"], info["artifact_uri"])

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


SCHEMA = """
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256) NOT NULL UNIQUE,
  artifact_location VARCHAR(256), lifecycle_stage VARCHAR(32), creation_time BIGINT,
  last_update_time BIGINT);
CREATE TABLE runs (run_uuid VARCHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(250),
  source_type VARCHAR(20), source_name VARCHAR(500), entry_point_name VARCHAR(50),
  user_id VARCHAR(256), status VARCHAR(9), start_time BIGINT, end_time BIGINT,
  deleted_time BIGINT, source_version VARCHAR(50), lifecycle_stage VARCHAR(20),
  artifact_uri VARCHAR(200), experiment_id INTEGER REFERENCES experiments (experiment_id));
CREATE TABLE latest_metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL,
  timestamp BIGINT, step BIGINT NOT NULL, is_nan BOOLEAN NOT NULL,
  run_uuid VARCHAR(32) NOT NULL REFERENCES runs (run_uuid),
  CONSTRAINT latest_metric_pk PRIMARY KEY ("key", run_uuid));
CREATE INDEX index_latest_metrics_run_uuid ON latest_metrics (run_uuid);
CREATE TABLE params ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000) NOT NULL,
  run_uuid VARCHAR(32) NOT NULL REFERENCES runs (run_uuid),
  CONSTRAINT param_pk PRIMARY KEY ("key", run_uuid));
CREATE INDEX index_params_run_uuid ON params (run_uuid);
CREATE TABLE tags ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000),
  run_uuid VARCHAR(32) NOT NULL REFERENCES runs (run_uuid),
  CONSTRAINT tag_pk PRIMARY KEY ("key", run_uuid));
CREATE INDEX index_tags_run_uuid ON tags (run_uuid);
"""


def load_sqlite(path, exp, runs):
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO experiments VALUES (?, 'bench', '', 'active', 0, 0)", (exp,))
    for i, (rid, st, name, uri) in enumerate(runs):
        metrics, params, tags = run_data(i)
        db.execute("INSERT INTO runs VALUES (?,?,'LOCAL','','', 'bench','RUNNING',?,NULL,NULL,"
                   "'', 'active', ?, ?)", (rid, name, st, uri, exp))
        db.executemany("INSERT INTO latest_metrics VALUES (?,?,?,0,0,?)",
                       [(k, v, st, rid) for k, v in metrics.items()])
        db.executemany("INSERT INTO params VALUES (?,?,?)", [(k, v, rid) for k, v in params.items()])
        tags = dict(tags, **{"mlflow.runName": name, "mlflow.user": "bench"})
        db.executemany("INSERT INTO tags VALUES (?,?,?)", [(k, v, rid) for k, v in tags.items()])
    db.commit()
    db.execute("ANALYZE")
    db.close()


def sql_search(db, exp, filters, order_metric, desc, limit, offset=0):
    """The statement SqlAlchemyStore._search_runs builds: one JOIN per filter,
    a LEFT OUTER JOIN per metric order_by key with MLflow's NaN/NULL-last CASE,
    then start_time DESC, run_uuid; then the selectin loads of the page."""
    joins, args = [], []
    for n, (table, key, op, val) in enumerate(filters):
        joins.append("JOIN (SELECT run_uuid FROM %s WHERE key = ? AND value %s ?) AS f%d "
                     "ON runs.run_uuid = f%d.run_uuid" % (table, op, n, n))
        args += [key, val]
    order = []
    if order_metric:
        joins.append("LEFT OUTER JOIN (SELECT key, value, is_nan, run_uuid FROM latest_metrics "
                     "WHERE key = ?) AS o0 ON runs.run_uuid = o0.run_uuid")
        args.append(order_metric)
        order += ["CASE WHEN o0.is_nan = 1 THEN 1 WHEN o0.value IS NULL THEN 2 ELSE 0 END",
                  "o0.value %s" % ("DESC" if desc else "ASC")]
    order += ["runs.start_time DESC", "runs.run_uuid"]
    q = ("SELECT runs.* FROM runs %s WHERE runs.experiment_id IN (?) AND "
         "runs.lifecycle_stage IN ('active') ORDER BY %s LIMIT ? OFFSET ?"
         % (" ".join(joins), ", ".join(order)))
    rows = db.execute(q, args + [exp, limit, offset]).fetchall()
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), 500):  # SQLAlchemy's selectin chunk
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for t in ("latest_metrics", "params", "tags"):
            db.execute("SELECT * FROM %s WHERE run_uuid IN (%s)" % (t, marks), chunk).fetchall()
    return rows


TOKEN = re.compile(rb'"next_page_token"\s*:\s*"([^"]+)"')


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def timeit(fn, reps):
    fn()  # warm
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return pct(ts, 50), pct(ts, 99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cairn-searchbench-")
    try:
        bench(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(a, work):
    data = os.path.join(work, "data")
    srv = Cairn(a.cairn, data, {"CAIRN_SYNC_WRITES": "false"})
    c = Client(srv.port)
    exp = json.loads(c.post("experiments/create", {"name": "bench"}))["experiment_id"]
    t0 = time.time()
    runs = load_cairn(srv.port, exp, a.runs)
    t_load = time.time() - t0
    srv.stop()
    t0 = time.time()
    sq = os.path.join(work, "mlflow.db")
    load_sqlite(sq, int(exp), runs)
    t_sq = time.time() - t0
    print("loaded %d runs (%d metrics, %d params, %d tags each): cairn over HTTP %.1f s "
          "(%.0f runs/s), sqlite %.1f s" % (a.runs, NM, NP, NT, t_load, a.runs / t_load, t_sq))

    srv = Cairn(a.cairn, data)  # defaults: synced writes, empty search cache
    c = Client(srv.port)
    time.sleep(1)
    rss_idle = srv.rss()
    t0 = time.perf_counter()
    c.post("runs/search", {"experiment_ids": [exp], "max_results": 100})
    cold = (time.perf_counter() - t0) * 1000
    rss_cached = srv.rss()
    print("cold first search (loads the cache): %.0f ms; RSS idle %.1f MB, after caching "
          "%.1f MB: %.0f bytes/run" % (cold, rss_idle / 2**20, rss_cached / 2**20,
                                      (rss_cached - rss_idle) / a.runs))
    with open(srv.log) as f:
        for m in re.finditer(r"SEARCH-CACHE-LOADED.*?runs=(\d+) bytes=(\d+) ms=(\d+)", f.read()):
            print("search cache: %s runs, %.1f MB accounted (%.0f bytes/run), loaded in %s ms"
                  % (m.group(1), int(m.group(2)) / 2**20,
                     int(m.group(2)) / max(1, int(m.group(1))), m.group(3)))
    db = sqlite3.connect(sq)

    def cs(body):
        return lambda: c.post("runs/search", dict(body, experiment_ids=[exp]))

    def page_cairn(body):
        def go():
            tok, n = None, 0
            while True:
                b = dict(body, experiment_ids=[exp])
                if tok:
                    b["page_token"] = tok
                r = c.post("runs/search", b)
                n += 1
                m = TOKEN.search(r)
                if not m:
                    return n
                tok = m.group(1).decode()
        return go

    def page_sql(filters, size, total):
        def go():
            for off in range(0, total + size, size):
                if not sql_search(db, int(exp), filters, None, False, size, off):
                    return
        return go

    n_page = len([1 for i in range(a.runs) if run_data(i)[0]["m4"] < 0.1])
    cases = [
        ("no filter, start_time DESC, max 100", cs({"max_results": 100}),
         lambda: sql_search(db, int(exp), [], None, False, 100)),
        ("no filter, first 1000 runs", cs({"max_results": 1000}),
         lambda: sql_search(db, int(exp), [], None, False, 1000)),
        ("metrics.m0 > 0.5 order by metrics.m1 DESC, max 1000",
         cs({"filter": "metrics.m0 > 0.5", "order_by": ["metrics.m1 DESC"],
             "max_results": 1000}),
         lambda: sql_search(db, int(exp), [("latest_metrics", "m0", ">", 0.5)], "m1", True,
                            1000)),
        ("metrics.m2 > 0.3 AND params.p1 = 'v5' order by metrics.m3, max 100",
         cs({"filter": "metrics.m2 > 0.3 AND params.p1 = 'v5'", "order_by": ["metrics.m3 DESC"],
             "max_results": 100}),
         lambda: sql_search(db, int(exp), [("latest_metrics", "m2", ">", 0.3),
                                           ("params", "p1", "=", "v5")], "m3", True, 100)),
        ("params.p0 = 'v3' AND tags.t0 LIKE '%z%', max 100",
         cs({"filter": "params.p0 = 'v3' AND tags.t0 LIKE '%z%'", "max_results": 100}),
         lambda: sql_search(db, int(exp), [("params", "p0", "=", "v3"),
                                           ("tags", "t0", "LIKE", "%z%")], None, False, 100)),
        ("paging metrics.m4 < 0.1 (%d runs), pages of 1000" % n_page,
         page_cairn({"filter": "metrics.m4 < 0.1", "max_results": 1000}),
         page_sql([("latest_metrics", "m4", "<", 0.1)], 1000, n_page)),
    ]
    print("%-66s %9s %9s %10s %10s %7s" % ("query", "p50 ms", "p99 ms", "sqlite p50",
                                            "sqlite p99", "ratio"))
    for name, f_c, f_s in cases:
        reps = a.reps if "paging" not in name else max(5, a.reps // 5)
        c50, c99 = timeit(f_c, reps)
        s50, s99 = timeit(f_s, max(3, reps // 3))
        print("%-66s %9.1f %9.1f %10.1f %10.1f %6.1fx" % (name, c50, c99, s50, s99, s50 / c50))
        sys.stdout.flush()
    print("RSS after the queries: %.1f MB" % (srv.rss() / 2**20))
    srv.stop()


if __name__ == "__main__":
    main()
