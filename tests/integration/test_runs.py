"""Runs API end to end against `cairn server`: create/get/update/delete/restore,
tags, params, metrics, log-batch, metric history, persistence, concurrency."""
import threading

from harness import Server, check, expect_error, run_tests

SRV = None


def server():
    global SRV
    if SRV is None:
        SRV = Server().start()
    return SRV


def new_run(c, **kw):
    body = {"experiment_id": "0"}
    body.update(kw)
    r = c.post("runs/create", body)
    check(r.status == 200, r)
    return r.json()["run"]


def get_run(c, rid):
    r = c.get("runs/get", {"run_id": rid})
    check(r.status == 200, r)
    return r.json()["run"]


def history(c, rid, key, **kw):
    out, tok = [], None
    while True:
        q = {"run_id": rid, "metric_key": key}
        q.update(kw)
        if tok:
            q["page_token"] = tok
        r = c.get("metrics/get-history", q)
        check(r.status == 200, r)
        j = r.json()
        out += j.get("metrics", [])
        tok = j.get("next_page_token")
        if not tok:
            return out


def test_create_get():
    c = server().client()
    run = new_run(c, user_id="ann", start_time=1234,
                  tags=[{"key": "t", "value": "v"}])
    info = run["info"]
    check(len(info["run_id"]) == 32 and info["run_uuid"] == info["run_id"], info)
    check(info["status"] == "RUNNING" and info["lifecycle_stage"] == "active", info)
    check(info["user_id"] == "ann" and info["start_time"] == 1234, info)
    check(info["artifact_uri"] == "mlflow-artifacts:/0/%s/artifacts" % info["run_id"], info)
    name = info["run_name"]
    parts = name.split("-")
    check(len(parts) == 3 and parts[2].isdigit(), name)
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    check(tags == {"t": "v", "mlflow.runName": name}, tags)
    check(run["inputs"] == {}, run)
    got = get_run(c, info["run_id"])
    check(got["info"] == info, got)
    # legacy run_uuid, and the ajax alias
    r = c.get("runs/get", {"run_uuid": info["run_id"]}, prefix="/ajax-api/2.0/mlflow/")
    check(r.status == 200 and r.json()["run"]["info"]["run_id"] == info["run_id"], r)
    r = c.post("runs/create", {"experiment_id": "0", "run_name": "named"},
               prefix="/ajax-api/2.0/mlflow/")
    check(r.json()["run"]["info"]["run_name"] == "named", r)
    run = new_run(c, tags=[{"key": "mlflow.runName", "value": "fromtag"}])
    check(run["info"]["run_name"] == "fromtag", run)


def test_create_errors():
    c = server().client()
    expect_error(c.post("runs/create", {"experiment_id": "0", "run_name": "a",
                                        "tags": [{"key": "mlflow.runName", "value": "b"}]}),
                 400, "INVALID_PARAMETER_VALUE", "Both 'run_name' argument and 'mlflow.runName'")
    expect_error(c.post("runs/create", {"experiment_id": "99999"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=99999 exists")
    eid = c.post("experiments/create", {"name": "runs-deleted-exp"}).json()["experiment_id"]
    c.post("experiments/delete", {"experiment_id": eid})
    expect_error(c.post("runs/create", {"experiment_id": eid}), 400,
                 "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
    expect_error(c.post("runs/create", {"experiment_id": "0",
                                        "tags": [{"key": "../x", "value": "v"}]}),
                 400, "INVALID_PARAMETER_VALUE")


def test_get_errors():
    c = server().client()
    expect_error(c.get("runs/get", {"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST",
                 "Run with id=%s not found" % ("0" * 32))
    expect_error(c.get("runs/get", {"run_id": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST",
                 "Run with id=nope not found")
    expect_error(c.get("runs/get"), 400, "INVALID_PARAMETER_VALUE", "run_id")


def test_update_delete_restore():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    r = c.post("runs/update", {"run_id": rid, "status": "FINISHED", "end_time": 99,
                               "run_name": "renamed"})
    check(r.status == 200, r)
    ri = r.json()["run_info"]
    check(ri["status"] == "FINISHED" and ri["end_time"] == 99 and ri["run_name"] == "renamed", ri)
    run = get_run(c, rid)
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    check(tags["mlflow.runName"] == "renamed" and run["info"]["run_name"] == "renamed", run)
    for st in ["RUNNING", "SCHEDULED", "FAILED", "KILLED"]:
        r = c.post("runs/update", {"run_uuid": rid, "status": st})
        check(r.status == 200 and r.json()["run_info"]["status"] == st, r)
    expect_error(c.post("runs/update", {"run_id": rid, "status": "BOGUS"}), 400,
                 "INVALID_PARAMETER_VALUE")
    expect_error(c.post("runs/update", {"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    check(c.post("runs/delete", {"run_id": rid}).status == 200)
    check(get_run(c, rid)["info"]["lifecycle_stage"] == "deleted")
    msg = "The run %s must be in the 'active' state. Current state is deleted." % rid
    expect_error(c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": 1,
                                            "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE", msg)
    expect_error(c.post("runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"}), 400,
                 "INVALID_PARAMETER_VALUE", msg)
    expect_error(c.post("runs/set-tag", {"run_id": rid, "key": "k", "value": "1"}), 400,
                 "INVALID_PARAMETER_VALUE", msg)
    expect_error(c.post("runs/log-batch", {"run_id": rid, "params": [{"key": "a", "value": "b"}]}),
                 400, "INVALID_PARAMETER_VALUE", msg)
    check(c.post("runs/restore", {"run_id": rid}).status == 200)
    check(get_run(c, rid)["info"]["lifecycle_stage"] == "active")
    expect_error(c.post("runs/delete", {"run_id": "a" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.post("runs/restore", {"run_id": "a" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.post("runs/delete", {}), 400, "INVALID_PARAMETER_VALUE", "run_id")


def test_tags():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    check(c.post("runs/set-tag", {"run_id": rid, "key": "k", "value": "v1"}).status == 200)
    check(c.post("runs/set-tag", {"run_uuid": rid, "key": "k", "value": "v2"}).status == 200)
    check(c.post("runs/set-tag", {"run_id": rid, "key": "mlflow.runName",
                                  "value": "via-tag"}).status == 200)
    run = get_run(c, rid)
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    check(tags["k"] == "v2" and run["info"]["run_name"] == "via-tag", run)
    check(c.post("runs/delete-tag", {"run_id": rid, "key": "k"}).status == 200)
    tags = {t["key"] for t in get_run(c, rid)["data"]["tags"]}
    check("k" not in tags, tags)
    expect_error(c.post("runs/delete-tag", {"run_id": rid, "key": "k"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", "No tag with name: k in run with id %s" % rid)
    expect_error(c.post("runs/set-tag", {"run_id": rid, "key": "x", "value": "v" * 8001}), 400,
                 "INVALID_PARAMETER_VALUE", "exceeded length limit of 8000")
    check(c.post("runs/set-tag", {"run_id": rid, "key": "x", "value": "v" * 8000}).status == 200)
    expect_error(c.post("runs/set-tag", {"run_id": rid, "value": "v"}), 400,
                 "INVALID_PARAMETER_VALUE", "key")
    expect_error(c.post("runs/set-tag", {"run_id": "b" * 32, "key": "a", "value": "v"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_params_immutable():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    check(c.post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.1"}).status == 200)
    check(c.post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.1"}).status == 200)
    expect_error(c.post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.2"}), 400,
                 "INVALID_PARAMETER_VALUE",
                 "Changing param values is not allowed. Param with key='lr' was already logged "
                 "with value='0.1' for run ID='%s'. Attempted logging new value '0.2'." % rid)
    expect_error(c.post("runs/log-parameter", {"run_id": rid, "key": "big", "value": "x" * 6001}),
                 400, "INVALID_PARAMETER_VALUE", "exceeded length limit of 6000")
    expect_error(c.post("runs/log-parameter", {"run_id": rid, "key": "k" * 251, "value": "x"}),
                 400, "INVALID_PARAMETER_VALUE", "exceeded length limit of 250")
    expect_error(c.post("runs/log-parameter", {"run_id": rid, "key": "a"}), 400,
                 "INVALID_PARAMETER_VALUE", "value")
    params = {p["key"]: p["value"] for p in get_run(c, rid)["data"]["params"]}
    check(params == {"lr": "0.1"}, params)


def test_metrics_nan_inf_and_latest():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    for v, ts, step in [("NaN", 1, 0), ("Infinity", 2, 0), ("-Infinity", 3, 0), (1.5, 4, 2),
                        (9.0, 1, 1)]:
        r = c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": v, "timestamp": ts,
                                       "step": step})
        check(r.status == 200, r)
    h = history(c, rid, "m")
    check([(p["value"], p["step"]) for p in h] ==
          [("NaN", 0), ("Infinity", 0), ("-Infinity", 0), (9.0, 1), (1.5, 2)], h)
    latest = {m["key"]: m for m in get_run(c, rid)["data"]["metrics"]}
    check(latest["m"]["value"] == 1.5 and latest["m"]["step"] == 2, latest)
    # step defaults to 0; optional model/dataset fields come back in history
    c.post("runs/log-metric", {"run_id": rid, "key": "d", "value": 1, "timestamp": 5,
                               "model_id": "m-1", "dataset_name": "ds", "dataset_digest": "abc"})
    h = history(c, rid, "d")
    check(h[0]["step"] == 0 and h[0]["model_id"] == "m-1" and h[0]["dataset_name"] == "ds"
          and h[0]["dataset_digest"] == "abc" and h[0]["run_id"] == rid, h)
    expect_error(c.post("runs/log-metric", {"run_id": rid, "key": "m", "timestamp": 1}), 400,
                 "INVALID_PARAMETER_VALUE", "value")
    expect_error(c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": 1}), 400,
                 "INVALID_PARAMETER_VALUE", "timestamp")
    expect_error(c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": "x",
                                            "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE")
    expect_error(c.post("runs/log-metric", {"run_id": "c" * 32, "key": "m", "value": 1,
                                            "timestamp": 1}), 404, "RESOURCE_DOES_NOT_EXIST")
    r = c.post("runs/log-metric", {"run_id": rid, "key": "z", "value": 2, "timestamp": 1},
               prefix="/ajax-api/2.0/mlflow/")
    check(r.status == 200, r)


def test_log_batch_limits_and_atomicity():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    m = [{"key": "m", "value": i, "timestamp": i, "step": i} for i in range(1001)]
    expect_error(c.post("runs/log-batch", {"run_id": rid, "metrics": m}), 400,
                 "INVALID_PARAMETER_VALUE",
                 "A batch logging request can contain at most 1000 metrics. Got 1001 metrics.")
    p = [{"key": "p%d" % i, "value": "v"} for i in range(101)]
    expect_error(c.post("runs/log-batch", {"run_id": rid, "params": p}), 400,
                 "INVALID_PARAMETER_VALUE", "at most 100 params. Got 101 params")
    t = [{"key": "t%d" % i, "value": "v"} for i in range(101)]
    expect_error(c.post("runs/log-batch", {"run_id": rid, "tags": t}), 400,
                 "INVALID_PARAMETER_VALUE", "at most 100 tags")
    expect_error(c.post("runs/log-batch", {"run_id": rid, "metrics": m[:1000], "params": p[:50]}),
                 400, "INVALID_PARAMETER_VALUE", "at most 1000 metrics, params, and tags")
    # one bad item -> nothing written
    bad = {"run_id": rid, "metrics": m[:10], "params": [{"key": "ok", "value": "1"}],
           "tags": [{"key": "good", "value": "1"}, {"key": "bad", "value": "x" * 8001}]}
    expect_error(c.post("runs/log-batch", bad), 400, "INVALID_PARAMETER_VALUE", "8000")
    c.post("runs/log-parameter", {"run_id": rid, "key": "fixed", "value": "1"})
    bad = {"run_id": rid, "metrics": m[:10], "params": [{"key": "fixed", "value": "2"}]}
    expect_error(c.post("runs/log-batch", bad), 400, "INVALID_PARAMETER_VALUE",
                 "Changing param values is not allowed")
    run = get_run(c, rid)
    check("metrics" not in run["data"], run)
    check([p["key"] for p in run["data"]["params"]] == ["fixed"], run)
    check("good" not in {t["key"] for t in run["data"]["tags"]}, run)
    # a good batch
    r = c.post("runs/log-batch", {"run_id": rid, "metrics": m[:998],
                                  "params": [{"key": "a", "value": "x" * 6000}],
                                  "tags": [{"key": "mlflow.runName", "value": "batchname"}]})
    check(r.status == 200, r)
    run = get_run(c, rid)
    check(run["info"]["run_name"] == "batchname", run)
    lm = {x["key"]: x for x in run["data"]["metrics"]}
    check(lm["m"]["value"] == 997.0 and lm["m"]["step"] == 997, lm)
    check(len(history(c, rid, "m")) == 998)


def test_history_paging():
    c = server().client()
    rid = new_run(c)["info"]["run_id"]
    for chunk in range(3):
        ms = [{"key": "loss", "value": i * 0.5, "timestamp": 1000 + i, "step": i}
              for i in range(chunk * 1000, chunk * 1000 + 1000)]
        check(c.post("runs/log-batch", {"run_id": rid, "metrics": ms}).status == 200)
    r = c.get("metrics/get-history", {"run_id": rid, "metric_key": "loss", "max_results": 700})
    j = r.json()
    check(len(j["metrics"]) == 700 and j.get("next_page_token"), r)
    pages = history(c, rid, "loss", max_results=700)
    check([p["step"] for p in pages] == list(range(3000)), "paging order")
    check(len(history(c, rid, "loss")) == 3000)
    check(history(c, rid, "nothing") == [])
    expect_error(c.get("metrics/get-history", {"run_id": rid, "metric_key": "loss",
                                               "max_results": 25001}),
                 400, "INVALID_PARAMETER_VALUE", "max_results")
    expect_error(c.get("metrics/get-history", {"run_id": rid, "metric_key": "loss",
                                               "page_token": "zz"}),
                 400, "INVALID_PARAMETER_VALUE")
    expect_error(c.get("metrics/get-history", {"run_id": rid}), 400, "INVALID_PARAMETER_VALUE",
                 "metric_key")
    expect_error(c.get("metrics/get-history", {"run_id": "d" * 32, "metric_key": "x"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_restart_persistence():
    srv = Server().start()
    try:
        c = srv.client()
        rid = new_run(c, run_name="persist")["info"]["run_id"]
        c.post("runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"})
        c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": 3, "timestamp": 1})
        c.post("runs/set-tag", {"run_id": rid, "key": "t", "value": "v"})
        before = get_run(c, rid)
        srv.restart()
        c = srv.client()
        after = get_run(c, rid)
        check(after == before, (before, after))
        c.post("runs/log-metric", {"run_id": rid, "key": "m", "value": 3, "timestamp": 1})
        check(len(history(c, rid, "m")) == 2)
    finally:
        srv.cleanup()


def test_concurrent_logging():
    c = server().client()
    shared = new_run(c)["info"]["run_id"]
    own = [new_run(c)["info"]["run_id"] for _ in range(16)]
    n = 40
    errors = []

    def worker(t):
        cl = server().client()
        for i in range(n):
            for rid in (shared, own[t]):
                r = cl.post("runs/log-metric", {"run_id": rid, "key": "m", "value": t * 1000 + i,
                                                "timestamp": 7, "step": t * n + i})
                if r.status != 200:
                    errors.append(r)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, errors[:3])
    h = history(c, shared, "m")
    check(sorted(p["step"] for p in h) == list(range(16 * n)), "shared run points")
    lm = {x["key"]: x for x in get_run(c, shared)["data"]["metrics"]}
    check(lm["m"]["step"] == 16 * n - 1 and lm["m"]["value"] == 15 * 1000 + n - 1, lm)
    for t in range(16):
        h = history(c, own[t], "m")
        check([p["step"] for p in h] == [t * n + i for i in range(n)], "own run %d" % t)
        lm = {x["key"]: x for x in get_run(c, own[t])["data"]["metrics"]}
        check(lm["m"]["value"] == t * 1000 + n - 1, lm)


if __name__ == "__main__":
    try:
        run_tests([test_create_get, test_create_errors, test_get_errors,
                   test_update_delete_restore, test_tags, test_params_immutable,
                   test_metrics_nan_inf_and_latest, test_log_batch_limits_and_atomicity,
                   test_history_paging, test_restart_persistence, test_concurrent_logging])
    finally:
        if SRV:
            SRV.cleanup()
