"""Metric history of several runs over real HTTP: get-history-bulk-interval
(MLflow's step sampling, step ranges, limits and messages) and the UI's
get-history-bulk."""
from harness import Server, check, expect_error, run_tests

SRV = None
BULK = "metrics/get-history-bulk-interval"


def server():
    global SRV
    if SRV is None:
        SRV = Server().start()
    return SRV


def new_run(c):
    r = c.post("runs/create", {"experiment_id": "0"})
    check(r.status == 200, r)
    return r.json()["run"]["info"]["run_id"]


def log_steps(c, rid, key, steps, ts=1000):
    steps = list(steps)
    for i in range(0, len(steps), 1000):
        ms = [{"key": key, "value": float(s), "timestamp": ts + s, "step": s}
              for s in steps[i:i + 1000]]
        r = c.post("runs/log-batch", {"run_id": rid, "metrics": ms})
        check(r.status == 200, r)


def bulk(c, params, prefix="/api/2.0/mlflow/"):
    r = c.get(BULK, params, prefix=prefix)
    check(r.status == 200, r)
    return r.json().get("metrics", [])


def steps_of(ms, rid):
    return sorted({m["step"] for m in ms if m["run_id"] == rid})


def test_sampling_keeps_first_and_last():
    c = server().client()
    rid = new_run(c)
    log_steps(c, rid, "loss", range(0, 1000))
    ms = bulk(c, {"run_ids": [rid], "metric_key": "loss", "max_results": 10})
    st = steps_of(ms, rid)
    check(st[0] == 0 and st[-1] == 999, st)
    # max_results evenly spaced steps, plus the last one
    check(len(st) <= 11, st)
    check(st == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999], st)
    for m in ms:
        check(m["key"] == "loss" and m["run_id"] == rid and m["value"] == m["step"], m)
        check(m["timestamp"] == 1000 + m["step"], m)
    # default max_results is 2500: all 1000 steps, in step order
    ms = bulk(c, {"run_ids": [rid], "metric_key": "loss"},
              prefix="/ajax-api/2.0/mlflow/")
    check([m["step"] for m in ms] == list(range(1000)), len(ms))
    # unknown metric, unknown and malformed runs contribute nothing
    check(bulk(c, {"run_ids": [rid], "metric_key": "nope"}) == [], "unknown key")
    check(bulk(c, {"run_ids": ["0" * 32, "zz"], "metric_key": "loss"}) == [], "unknown run")


def test_all_points_at_sampled_steps_in_order():
    c = server().client()
    rid = new_run(c)
    pts = [{"key": "m", "value": v, "timestamp": ts, "step": s}
           for s, ts, v in [(5, 3, 1.0), (1, 9, 2.0), (5, 1, 3.0), (1, 2, 4.0), (3, 4, 5.0)]]
    r = c.post("runs/log-batch", {"run_id": rid, "metrics": pts})
    check(r.status == 200, r)
    ms = bulk(c, {"run_ids": [rid], "metric_key": "m"})
    got = [(m["step"], m["timestamp"], m["value"]) for m in ms]
    check(got == [(1, 2, 4.0), (1, 9, 2.0), (3, 4, 5.0), (5, 1, 3.0), (5, 3, 1.0)], got)
    # max_results=1: the first and last step of the run are still kept
    ms = bulk(c, {"run_ids": [rid], "metric_key": "m", "max_results": 1})
    check(steps_of(ms, rid) == [1, 5], ms)


def test_step_range():
    c = server().client()
    rid = new_run(c)
    log_steps(c, rid, "acc", range(0, 200, 2))
    ms = bulk(c, {"run_ids": [rid], "metric_key": "acc", "start_step": 10, "end_step": 51})
    check(steps_of(ms, rid) == list(range(10, 51, 2)), ms)
    ms = bulk(c, {"run_ids": [rid], "metric_key": "acc", "start_step": 10, "end_step": 100,
                  "max_results": 5})
    st = steps_of(ms, rid)
    check(st[0] == 10 and st[-1] == 100 and len(st) <= 6, st)
    check(all(10 <= s <= 100 for s in st), st)
    # a range with no steps
    check(bulk(c, {"run_ids": [rid], "metric_key": "acc", "start_step": 1001,
                   "end_step": 2000}) == [], "empty range")
    # without a range, MLflow starts at step 0: negative steps are left out
    rid2 = new_run(c)
    log_steps(c, rid2, "neg", [-5, -1, 0, 4])
    ms = bulk(c, {"run_ids": [rid2], "metric_key": "neg"})
    check(steps_of(ms, rid2) == [0, 4], ms)
    ms = bulk(c, {"run_ids": [rid2], "metric_key": "neg", "start_step": -10, "end_step": 10})
    check(steps_of(ms, rid2) == [-5, -1, 0, 4], ms)


def test_several_runs():
    c = server().client()
    a, b = new_run(c), new_run(c)
    log_steps(c, a, "x", range(0, 100))
    log_steps(c, b, "x", range(50, 300, 5))
    ms = bulk(c, {"run_ids": [b, a], "metric_key": "x", "max_results": 20})
    # request order of runs, then step order within each run
    order = [m["run_id"] for m in ms]
    check(order == sorted(order, key=lambda x: 0 if x == b else 1), "run order")
    for rid in (a, b):
        rs = [m["step"] for m in ms if m["run_id"] == rid]
        check(rs == sorted(rs), rs)
    sa, sb = steps_of(ms, a), steps_of(ms, b)
    # every run keeps its own first and last step
    check(sa[0] == 0 and sa[-1] == 99, sa)
    check(sb[0] == 50 and sb[-1] == 295, sb)
    # steps are sampled over the runs' pooled steps: at most max_results + ends
    pooled = sorted(set(sa) | set(sb))
    check(len(pooled) <= 20 + 1 + 4, pooled)


def test_limits_and_errors():
    c = server().client()
    rid = new_run(c)
    e = expect_error(c.get(BULK, {"run_ids": ["%032x" % i for i in range(101)],
                                  "metric_key": "m"}), 400, "INVALID_PARAMETER_VALUE")
    check(e["message"] == "GetMetricHistoryBulkInterval request must specify at most 100 "
                          "run_ids. Received 101 run_ids.", e)
    # 100 run ids are fine
    bulk(c, {"run_ids": ["%032x" % i for i in range(100)], "metric_key": "m"})
    expect_error(c.get(BULK, {"metric_key": "m"}), 400, "INVALID_PARAMETER_VALUE", "run_ids")
    expect_error(c.get(BULK, {"run_ids": [rid]}), 400, "INVALID_PARAMETER_VALUE", "metric_key")
    msg = "If either start step or end step are specified, both must be specified."
    expect_error(c.get(BULK, {"run_ids": [rid], "metric_key": "m", "start_step": 1}), 400,
                 "INVALID_PARAMETER_VALUE", msg)
    expect_error(c.get(BULK, {"run_ids": [rid], "metric_key": "m", "end_step": 1}), 400,
                 "INVALID_PARAMETER_VALUE", msg)
    expect_error(c.get(BULK, {"run_ids": [rid], "metric_key": "m", "start_step": 5,
                              "end_step": 1}), 400, "INVALID_PARAMETER_VALUE",
                 "end_step must be greater than start_step. Found start_step=5 and end_step=1.")
    for bad in (0, 2501):
        expect_error(c.get(BULK, {"run_ids": [rid], "metric_key": "m", "max_results": bad}),
                     400, "INVALID_PARAMETER_VALUE", "max_results must be between 1 and 2500.")
    expect_error(c.get(BULK, {"run_ids": [rid], "metric_key": "m", "max_results": "x"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_history_bulk():
    c = server().client()
    a, b = sorted([new_run(c), new_run(c)])
    # logged out of timestamp order: the UI call orders by timestamp, step, value
    pts = [{"key": "k", "value": 1.0, "timestamp": 30, "step": 0},
           {"key": "k", "value": 2.0, "timestamp": 10, "step": 1},
           {"key": "k", "value": 3.0, "timestamp": 20, "step": 2}]
    for rid in (a, b):
        r = c.post("runs/log-batch", {"run_id": rid, "metrics": pts})
        check(r.status == 200, r)
    p = "/ajax-api/2.0/mlflow/"
    r = c.get("metrics/get-history-bulk", {"run_id": [b, a], "metric_key": "k"}, prefix=p)
    check(r.status == 200, r)
    ms = r.json()["metrics"]
    got = [(m["run_id"], m["timestamp"]) for m in ms]
    check(got == [(a, 10), (a, 20), (a, 30), (b, 10), (b, 20), (b, 30)], got)
    check(all(m["key"] == "k" for m in ms), ms)
    r = c.get("metrics/get-history-bulk", {"run_id": [a, b], "metric_key": "k",
                                           "max_results": 4}, prefix=p)
    check(len(r.json()["metrics"]) == 4, r)
    # over the cap is clamped, as in MLflow
    r = c.get("metrics/get-history-bulk", {"run_id": [a], "metric_key": "k",
                                           "max_results": 99999}, prefix=p)
    check(r.status == 200 and len(r.json()["metrics"]) == 3, r)
    expect_error(c.get("metrics/get-history-bulk", {"metric_key": "k"}, prefix=p), 400,
                 "INVALID_PARAMETER_VALUE",
                 "GetMetricHistoryBulk request must specify at least one run_id.")
    expect_error(c.get("metrics/get-history-bulk", {"run_id": ["%032x" % i for i in range(101)],
                                                    "metric_key": "k"}, prefix=p), 400,
                 "INVALID_PARAMETER_VALUE",
                 "GetMetricHistoryBulk request cannot specify more than 100 run_ids. "
                 "Received 101 run_ids.")
    expect_error(c.get("metrics/get-history-bulk", {"run_id": [a]}, prefix=p), 400,
                 "INVALID_PARAMETER_VALUE",
                 "GetMetricHistoryBulk request must specify a metric_key.")


if __name__ == "__main__":
    try:
        run_tests([test_sampling_keeps_first_and_last, test_all_points_at_sampled_steps_in_order,
                   test_step_range, test_several_runs, test_limits_and_errors,
                   test_history_bulk])
    finally:
        if SRV:
            SRV.cleanup()
