"""Cairn's dashboard data for traces over real HTTP
(GET /api/2.0/cairn/traces/metrics): per time bucket the trace count, error
rate, exact latency percentiles, token usage (trace metadata or span
attributes) and per-tool call and error counts; the window's edges; the
defaults; MLflow-shaped errors for bad parameters."""
import json

from harness import Server, check, expect_error, run_tests
from trace_feed import experiment, feed, ok, span

T0 = 1735689600000
MIN = 60000


def metrics(c, **params):
    return c.get("cairn/traces/metrics", params, prefix="/api/2.0/")


def usage(i, o):
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def test_buckets():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "m")
        # Bucket 0 (T0 .. T0+1min): latencies 100..1000 ms, two errors.
        for i in range(10):
            spans = [span("agent", "AGENT")]
            if i < 3:
                spans.append(span("get_weather", "TOOL", "ERROR" if i == 0 else "OK"))
            if i == 3:
                spans.append(span("search", "TOOL"))
                spans.append(span("llm", "CHAT_MODEL",
                                  attrs={"mlflow.chat.tokenUsage": usage(7, 3)}))
            meta = {"mlflow.trace.tokenUsage": json.dumps(usage(10, 5))} if i == 4 else None
            feed(c, e, T0 + i * 1000, (i + 1) * 100, "ERROR" if i in (1, 5) else "OK",
                 spans=spans, meta=meta)
        # Bucket 1: one finished, one still in progress.
        feed(c, e, T0 + MIN + 5, 50, "OK", spans=[span("search", "TOOL", "ERROR")])
        feed(c, e, T0 + MIN + 6, None, "IN_PROGRESS")
        # Outside the window on both sides.
        feed(c, e, T0 - 1, 1, "ERROR")
        feed(c, e, T0 + 3 * MIN, 1, "ERROR")
        # Another experiment's traces never count.
        feed(c, experiment(c, "other"), T0 + 10, 5, "ERROR")

        r = ok(metrics(c, experiment_id=e, start_ms=T0, end_ms=T0 + 3 * MIN, bucket_ms=MIN))
        check(r["experiment_id"] == e and r["bucket_ms"] == MIN, r)
        b = r["buckets"]
        check(len(b) == 3 and b[0]["start_ms"] == T0 and b[2]["end_ms"] == T0 + 3 * MIN, b)
        b0, b1, b2 = b
        check(b0["trace_count"] == 10 and b0["error_count"] == 2, b0)
        check(abs(b0["error_rate"] - 0.2) < 1e-9, b0)
        check((b0["latency_p50_ms"], b0["latency_p90_ms"], b0["latency_p99_ms"]) ==
              (500, 900, 1000), b0)
        check((b0["input_tokens"], b0["output_tokens"], b0["total_tokens"]) == (17, 8, 25), b0)
        tools = {t["name"]: t for t in b0["tools"]}
        check(tools["get_weather"]["call_count"] == 3 and tools["get_weather"]["error_count"] == 1,
              tools)
        check(abs(tools["get_weather"]["error_rate"] - 1 / 3) < 1e-9, tools)
        check(tools["search"]["call_count"] == 1 and tools["search"]["error_count"] == 0, tools)
        check(b0["tools"][0]["name"] == "get_weather", "most called first")
        check(b1["trace_count"] == 2 and b1["in_progress_count"] == 1, b1)
        check(b1["latency_p50_ms"] == 50 and b1["latency_p99_ms"] == 50, b1)
        check(b1["tools"][0]["error_rate"] == 1.0, b1)
        check(b2["trace_count"] == 0 and "latency_p50_ms" not in b2 and b2["error_rate"] == 0,
              b2)
        t = r["summary"]
        check(t["trace_count"] == 12 and t["error_count"] == 2, t)
        tools = {x["name"]: x for x in t["tools"]}
        check(tools["search"]["call_count"] == 2 and tools["search"]["error_count"] == 1, t)
        check(t["latency_p50_ms"] == 500 and t["latency_p99_ms"] == 1000, t)

        # Defaults: the last day, in 60 buckets.
        d = ok(metrics(c, experiment_id=e))
        check(len(d["buckets"]) == 60 and d["end_ms"] - d["start_ms"] == 24 * 3600 * 1000, d)
        check(d["summary"]["trace_count"] == 0, "nothing in the last day")
    finally:
        s.cleanup()


def test_errors():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "err")
        expect_error(metrics(c), 400, "INVALID_PARAMETER_VALUE", "experiment_id")
        expect_error(metrics(c, experiment_id=e, start_ms=T0, end_ms=T0), 400,
                     "INVALID_PARAMETER_VALUE", "start_ms")
        expect_error(metrics(c, experiment_id=e, start_ms=T0, end_ms=T0 + MIN, bucket_ms=0), 400,
                     "INVALID_PARAMETER_VALUE", "bucket_ms")
        expect_error(metrics(c, experiment_id=e, start_ms=0, end_ms=T0, bucket_ms=1), 400,
                     "INVALID_PARAMETER_VALUE", "at most")
        expect_error(metrics(c, experiment_id=e, start_ms="soon"), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(metrics(c, experiment_id="987654"), 404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        s.cleanup()


if __name__ == "__main__":
    run_tests([test_buckets, test_errors])
