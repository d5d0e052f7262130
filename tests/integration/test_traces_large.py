"""One trace with 50,000 spans (MLflow issue #24314: a 32,843-span trace
hangs MLflow's UI and times its API out): ingested in batches, read back in
pages of spans (Cairn's max_spans/span_page_token on traces/get) with every
span exactly once, while the server's resident memory is sampled: reading
the trace page by page must not grow it by more than the trace's own size,
and reading it whole (MLflow's call, one answer of the whole trace) by no
more than a few times that (the answer is built, then encoded as JSON).

CAIRN_TEST_TRACE_SPANS scales the trace down (the sanitizer build does);
under the sanitizers (CAIRN_TEST_NO_RSS) memory is not judged, since
ASan's quarantine keeps freed memory resident on purpose."""
import json
import os
import threading
import time

from harness import Server, check, run_tests

NSPANS = int(os.environ.get("CAIRN_TEST_TRACE_SPANS", "50000"))
JUDGE_RSS = not os.environ.get("CAIRN_TEST_NO_RSS")
BATCH = 1000


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Peak RSS of a process while a block runs (sampled every 2 ms)."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False

    def __enter__(self):
        self.peak = rss_bytes(self.pid)
        self.t = threading.Thread(target=self.run)
        self.t.start()
        return self

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.002)

    def __exit__(self, *a):
        self.stop = True
        self.t.join()


def span(i):
    attrs = {"mlflow.spanType": json.dumps("TOOL" if i % 3 else "LLM"),
             "mlflow.spanInputs": json.dumps({"query": "question %d " % i + "q" * 150}),
             "mlflow.spanOutputs": json.dumps({"answer": "answer %d " % i + "a" * 150})}
    s = {"trace_id": "ab" * 16, "span_id": "%016x" % (i + 1), "name": "step-%d" % i,
         "span_type": "TOOL", "start_time_unix_nano": 1700000000000000000 + i * 1000,
         "end_time_unix_nano": 1700000000000000000 + i * 1000 + 500,
         "status_code": "STATUS_CODE_OK", "attributes": json.dumps(attrs)}
    if i:
        s["parent_span_id"] = "%016x" % 1
    return s


def test_large_trace_paged():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.post("experiments/create", {"name": "big"})
        check(r.status == 200, r)
        exp = r.json()["experiment_id"]
        trace_bytes = 0
        t0 = time.time()
        for start in range(0, NSPANS, BATCH):
            spans = [span(i) for i in range(start, min(NSPANS, start + BATCH))]
            body = json.dumps({"experiment_id": exp, "spans": spans}).encode()
            trace_bytes += len(body)
            r = c.raw("POST", "/api/2.0/cairn/traces/spans", body,
                      {"Content-Type": "application/json"})
            check(r.status == 200, r)
        tid = "tr-" + "ab" * 16
        print("ingested in %.1f s" % (time.time() - t0), flush=True)
        pid = srv.proc.p.pid
        # Warm up (caches, thread stacks) with one page, then measure.
        r = c.get("traces/get", {"trace_id": tid, "max_spans": BATCH}, prefix="/api/3.0/mlflow/")
        check(r.status == 200, r)
        base = rss_bytes(pid)
        t0 = time.time()
        seen, token, pages = set(), None, 0
        with Sampler(pid) as paged:
            while True:
                params = {"trace_id": tid, "max_spans": BATCH}
                if token:
                    params["span_page_token"] = token
                r = c.get("traces/get", params, prefix="/api/3.0/mlflow/")
                check(r.status == 200, r)
                j = r.json()
                for s in j["trace"]["spans"]:
                    seen.add(s["span_id"])
                pages += 1
                token = j.get("next_span_page_token")
                if not token:
                    break
        check(len(seen) == NSPANS and pages == (NSPANS + BATCH - 1) // BATCH,
              (len(seen), pages))
        info = j["trace"]["trace_info"]
        check(info["state"] == "OK" and info["tags"]["mlflow.traceName"] == "step-0", info)
        paged_growth = paged.peak - base
        print("paged read in %.1f s" % (time.time() - t0), flush=True)
        t0 = time.time()
        with Sampler(pid) as whole:
            r = c.get("traces/get", {"trace_id": tid}, prefix="/api/3.0/mlflow/")
            check(r.status == 200, r.status)
            n = len(json.loads(r.body)["trace"]["spans"])
        check(n == NSPANS, n)
        whole_growth = whole.peak - base
        print("trace: %d spans, %.1f MB sent; RSS before reads %.1f MB; peak growth paged "
              "(%d pages) %.1f MB (%.2fx), whole %.1f MB (%.2fx); answer %.1f MB"
              % (NSPANS, trace_bytes / 1e6, base / 1e6, pages, paged_growth / 1e6,
                 paged_growth / trace_bytes, whole_growth / 1e6, whole_growth / trace_bytes,
                 len(r.body) / 1e6), flush=True)
        with Sampler(pid) as again:
            token = None
            while True:
                params = {"trace_id": tid, "max_spans": BATCH}
                if token:
                    params["span_page_token"] = token
                j = c.get("traces/get", params, prefix="/api/3.0/mlflow/").json()
                token = j.get("next_span_page_token")
                if not token:
                    break
        print("second paged pass after the whole read: peak %.1f MB over the first base"
              % ((again.peak - base) / 1e6), flush=True)
        if JUDGE_RSS:
            # Paged: bounded by pages in flight and what each worker thread's
            # allocator keeps (about one page each), not by the trace.
            check(paged_growth < 1.5 * trace_bytes, "paged read grew RSS by %d for a %d-byte "
                  "trace" % (paged_growth, trace_bytes))
            check(whole_growth < 5 * trace_bytes, "whole read grew RSS by %d for a %d-byte "
                  "trace" % (whole_growth, trace_bytes))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_large_trace_paged])
