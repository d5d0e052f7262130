#!/usr/bin/env python3
"""SearchTracesV3 over HTTP against a running `cairn server`, for the data
`cn_traces_bench N DIR` loaded (experiment "1"): p50/p99 of each query with
max_results 100, answers encoded as MLflow JSON and read back by the client.

    ./build/core/traces/cn_traces_bench 1000000 /tmp/tb1m
    ./build/cairn server --data /tmp/tb1m --port 5055 &
    python3 tests/bench/traces_bench_http.py --port 5055

Not a test: numbers depend on the machine and its other users."""
import argparse
import http.client
import json
import time

QUERIES = [
    ("no filter (newest 100)", ""),
    ("tags.mlflow.traceName = 'agent-42' (1%)", "tags.mlflow.traceName = 'agent-42'"),
    ("tags.mlflow.traceName = 'rare' (0.01%)", "tags.mlflow.traceName = 'rare'"),
    ("tags.mlflow.trace.spansLocation = 'TRACKING_STORE'",
     "tags.mlflow.trace.spansLocation = 'TRACKING_STORE'"),
    ("trace.status = 'ERROR' (10%, no index)", "trace.status = 'ERROR'"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=100)
    a = ap.parse_args()
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    for label, flt in QUERIES:
        body = json.dumps({"locations": [{"type": "MLFLOW_EXPERIMENT",
                                          "mlflow_experiment": {"experiment_id": "1"}}],
                           "filter": flt, "max_results": 100}).encode()
        times, n = [], 0
        for _ in range(a.reps):
            t0 = time.perf_counter()
            c.request("POST", "/api/3.0/mlflow/traces/search", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            times.append((time.perf_counter() - t0) * 1000)
            if r.status != 200:
                raise SystemExit("%s: %d %s" % (label, r.status, data[:200]))
            n = len(json.loads(data).get("traces", []))
        times.sort()
        print("%-52s p50 %7.2f ms  p99 %7.2f ms  (%d traces per answer, %d runs)"
              % (label, times[len(times) // 2], times[(len(times) * 99) // 100], n, a.reps))


if __name__ == "__main__":
    main()
