#!/usr/bin/env python3
"""tests/bench/trace_search_bench.py --cairn BUILD/cairn [--traces N] [--reps N]

The trace filter language and the dashboard endpoint over N traces (default
20,000) of one experiment through `cairn server` over real HTTP. Each trace
is agent -> LLM (token usage) -> tool, one tool call in ten failing, loaded
through Cairn's JSON span ingestion (500 traces a request) and finished by
MLflow's StartTraceV3 (state, duration, a tag). Prints p50/p99 of:
record-only filters, span filters (spans read per candidate), an order_by
other than timestamp (the sorted path, over at most 10,000 matches), and
GET cairn/traces/metrics over the whole window. Not a test: numbers vary
by machine.
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

T0 = 1735689600000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def req(conn, method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else None
    conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s %s -> %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else {}


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def load(conn, exp, n):
    usage = json.dumps(json.dumps({"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}))
    for start in range(0, n, 500):
        spans = []
        ids = []
        for i in range(start, min(n, start + 500)):
            h = "%032x" % (i + 1)
            ids.append(i)
            ts = (T0 + i * 1000) * 1000000
            for k, (name, typ) in enumerate([("agent", "AGENT"), ("llm", "CHAT_MODEL"),
                                             ("tool_%d" % (i % 5), "TOOL")]):
                err = typ == "TOOL" and i % 10 == 0
                attrs = '{"mlflow.spanType": "\\"%s\\""%s}' % (
                    typ, ', "mlflow.chat.tokenUsage": %s' % usage if typ == "CHAT_MODEL" else "")
                spans.append({"trace_id": h, "span_id": "%016x" % (k + 1),
                              "parent_span_id": "" if k == 0 else "%016x" % 1,
                              "name": name, "span_type": typ,
                              "start_time_unix_nano": ts + k, "end_time_unix_nano": ts + 10**6 * (10 + i % 90),
                              "status_code": "STATUS_CODE_ERROR" if err else "STATUS_CODE_OK",
                              "attributes": attrs})
        req(conn, "POST", "/api/2.0/cairn/traces/spans", {"experiment_id": exp, "spans": spans})
        for i in ids:
            info = {"trace_id": "tr-%032x" % (i + 1),
                    "trace_location": {"type": "MLFLOW_EXPERIMENT",
                                       "mlflow_experiment": {"experiment_id": exp}},
                    "request_time": rfc3339(T0 + i * 1000),
                    "execution_duration": "0.%03ds" % (10 + i % 90),
                    "state": "ERROR" if i % 10 == 0 else "OK",
                    "tags": {"mlflow.traceName": "agent_%d" % (i % 3), "shard": str(i % 100)}}
            req(conn, "POST", "/api/3.0/mlflow/traces", {"trace": {"trace_info": info}})


def timed(conn, reps, method, path, obj=None):
    ts = []
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = req(conn, method, path, obj)
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return ts[len(ts) // 2], ts[min(len(ts) - 1, int(len(ts) * 0.99))], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--traces", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    port, data = free_port(), tempfile.mkdtemp(prefix="cairn-tbench-")
    p = subprocess.Popen([a.cairn, "server", "--port", str(port), "--data", data],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                c.request("GET", "/health")
                if c.getresponse().read() == b"OK":
                    break
            except OSError:
                time.sleep(0.05)
        exp = req(c, "POST", "/api/2.0/mlflow/experiments/create", {"name": "b"})["experiment_id"]
        t = time.perf_counter()
        load(c, exp, a.traces)
        print("loaded %d traces (%d spans) in %.1f s" % (a.traces, 3 * a.traces,
                                                        time.perf_counter() - t))
        loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
        cases = [
            ("no filter, max 100", {}),
            ("status = 'ERROR', max 100", {"filter": "status = 'ERROR'"}),
            ("tags.shard = '42' (index), max 100", {"filter": "tags.shard = '42'"}),
            ("name = 'agent_1' AND execution_time_ms > 80", {"filter": "name = 'agent_1' AND execution_time_ms > 80"}),
            ("span.type = 'TOOL' AND span.status = 'ERROR'", {"filter": "span.type = 'TOOL' AND span.status = 'ERROR'"}),
            ("span.name = 'tool_3' (1 trace in 5 matches)", {"filter": "span.name = 'tool_3'"}),
            ("span.attributes.mlflow.spanType = 'TOOL'", {"filter": "span.attributes.`mlflow.spanType` = 'TOOL'"}),
            ("order_by execution_time DESC, tags.shard='7' AND span.name='tool_2'",
             {"filter": "tags.shard = '7' AND span.name = 'tool_2'", "order_by": ["execution_time_ms DESC"]}),
        ]
        if a.traces <= 10000:
            cases.append(("order_by execution_time DESC (all traces sorted)",
                          {"order_by": ["execution_time_ms DESC"]}))
        for name, extra in cases:
            body = dict({"locations": loc, "max_results": 100}, **extra)
            p50, p99, out = timed(c, a.reps, "POST", "/api/3.0/mlflow/traces/search", body)
            print("search %-62s p50 %7.1f ms  p99 %7.1f ms  (%d results)"
                  % (name, p50, p99, len(out.get("traces", []))))
        q = "/api/2.0/cairn/traces/metrics?experiment_id=%s&start_ms=%d&end_ms=%d&bucket_ms=%d" % (
            exp, T0, T0 + a.traces * 1000, max(1, a.traces * 1000 // 60))
        p50, p99, out = timed(c, max(3, a.reps // 4), "GET", q)
        print("metrics over %d traces, 60 buckets              p50 %7.1f ms  p99 %7.1f ms  "
              "(summary: %d traces, p50 %s ms, %d tools)"
              % (a.traces, p50, p99, out["summary"]["trace_count"],
                 out["summary"].get("latency_p50_ms"), len(out["summary"].get("tools", []))))
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
