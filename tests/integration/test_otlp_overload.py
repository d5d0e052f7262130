"""Overload at POST /v1/traces: when span ingestion outpaces storage the
traces service refuses past its budget (trace_ingest_budget_mb, here 1 MiB)
and the gateway answers 503 TEMPORARILY_UNAVAILABLE with Retry-After, which
OTLP exporters retry; nothing queues in memory. Eight exporters post ~2 MB
batches at once and retry on 503 as an exporter would: some are refused,
every batch lands in the end, each trace is whole, and the server's memory
stays bounded."""
import json
import os
import threading
import time

from harness import Client, Server, check, run_tests

EXPORTERS = 8
ROUNDS = 3
TRACES_PER_BATCH = 4
SPANS_PER_TRACE = 100
PAYLOAD = "x" * 4000  # input.value of every span: ~2 MB of span data per batch


def batch(exporter, rnd):
    spans = []
    for t in range(TRACES_PER_BATCH):
        trace = "%08x%08x%08x%08x" % (0xc0ffee, exporter, rnd, t)
        for s in range(SPANS_PER_TRACE):
            spans.append({
                "traceId": trace, "spanId": "%016x" % (s + 1),
                "parentSpanId": "" if s == 0 else "%016x" % 1,
                "name": "step-%d" % s, "kind": 1,
                "startTimeUnixNano": str(1700000000000000000 + s * 1000),
                "endTimeUnixNano": str(1700000000000000000 + s * 1000 + 500),
                "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
                               {"key": "input.value", "value": {"stringValue": PAYLOAD}}],
                "status": {"code": 1}})
    doc = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "overload"}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    return json.dumps(doc).encode()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_overload_503_and_retry():
    srv = Server(env={"CAIRN_TRACE_INGEST_BUDGET_MB": "1"}).start()
    try:
        c = srv.client()
        exp = c.post("experiments/create", {"name": "overload"}).json()["experiment_id"]
        refused = []
        errors = []
        lock = threading.Lock()
        rss0 = rss_kb(srv.proc.p.pid)

        def exporter(i):
            cl = Client(srv.port, timeout=120)
            for rnd in range(ROUNDS):
                body = batch(i, rnd)
                for attempt in range(2000):
                    r = cl.raw("POST", "/v1/traces", body,
                               {"Content-Type": "application/json",
                                "x-mlflow-experiment-id": exp})
                    if r.status == 200:
                        break
                    ok = (r.status == 503 and r.headers.get("Retry-After") == "1"
                          and r.json().get("error_code") == "TEMPORARILY_UNAVAILABLE")
                    with lock:
                        (refused if ok else errors).append(r)
                    if not ok:
                        return
                    time.sleep(0.01)  # an exporter would wait Retry-After; kept short here
                else:
                    with lock:
                        errors.append("batch %d/%d never accepted" % (i, rnd))

        threads = [threading.Thread(target=exporter, args=(i,)) for i in range(EXPORTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, errors[:3])
        check(refused, "no 503: the 1 MiB budget never refused a concurrent batch")
        # Every batch landed whole.
        for i, rnd, t in [(0, 0, 0), (EXPORTERS - 1, ROUNDS - 1, TRACES_PER_BATCH - 1)]:
            tid = "tr-%08x%08x%08x%08x" % (0xc0ffee, i, rnd, t)
            r = c.get("traces/get", {"trace_id": tid}, prefix="/api/3.0/mlflow/")
            check(r.status == 200, r)
            check(len(r.json()["trace"]["spans"]) == SPANS_PER_TRACE, tid)
        r = c.raw("POST", "/api/3.0/mlflow/traces/search",
                  json.dumps({"locations": [{"type": "MLFLOW_EXPERIMENT",
                                             "mlflow_experiment": {"experiment_id": exp}}],
                              "max_results": 500}).encode(),
                  {"Content-Type": "application/json"})
        check(r.status == 200, r)
        check(len(r.json().get("traces", [])) == EXPORTERS * ROUNDS * TRACES_PER_BATCH, r)
        # Refusing kept memory bounded: far below what 32 queued batches would take.
        grew_mb = (rss_kb(srv.proc.p.pid) - rss0) / 1024
        check(grew_mb < 1024, "RSS grew by %.0f MiB" % grew_mb)
        print("refused %d times, RSS grew %.0f MiB" % (len(refused), grew_mb))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_overload_503_and_retry])
