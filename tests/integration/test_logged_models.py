"""MLflow 3 logged models end to end against `cairn server`: create, get,
finalize, delete, tags, params, search (filters, dataset-scoped metrics,
order_by, pagination), metrics logged to runs showing on their model, runs'
outputs, and the UI's experiments/search-datasets."""
import json
import re
import time

from harness import Server, check, expect_error, run_tests

P = "/api/2.0/mlflow/"


def call(c, method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else None
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    return c.raw(method, P + path, body, hdr)


def ok(r):
    check(r.status == 200, r)
    return r.json()


def new_exp(c, name):
    return ok(c.post("experiments/create", {"name": name}))["experiment_id"]


def new_run(c, eid):
    return ok(c.post("runs/create", {"experiment_id": eid}))["run"]["info"]["run_id"]


def create(c, eid, **kw):
    body = {"experiment_id": eid}
    body.update(kw)
    return ok(c.post("logged-models", body))["model"]


def get(c, mid):
    return ok(c.get("logged-models/" + mid))["model"]


def search(c, body):
    return ok(c.post("logged-models/search", body))


def ids(resp):
    return [m["info"]["model_id"] for m in resp.get("models", [])]


def test_crud():
    srv = Server().start()
    try:
        c = srv.client()
        eid = new_exp(c, "lm-crud")
        rid = new_run(c, eid)
        m = create(c, eid, name="clf", model_type="Classifier", source_run_id=rid,
                   params=[{"key": "alpha", "value": "0.5"}],
                   tags=[{"key": "team", "value": "ml"}])
        info = m["info"]
        mid = info["model_id"]
        check(re.fullmatch(r"m-[0-9a-f]{32}", mid), mid)
        check(info["experiment_id"] == eid and info["name"] == "clf", info)
        check(info["status"] == "LOGGED_MODEL_PENDING", info)
        check(info["model_type"] == "Classifier" and info["source_run_id"] == rid, info)
        check(info["artifact_uri"].endswith("/%s/models/%s/artifacts" % (eid, mid)), info)
        check(info["creation_timestamp_ms"] == info["last_updated_timestamp_ms"], info)
        check(info["tags"] == [{"key": "team", "value": "ml"}], info)
        check(m["data"]["params"] == [{"key": "alpha", "value": "0.5"}], m)

        # A name is generated when absent; bad names are refused.
        gen = create(c, eid)["info"]["name"]
        check(re.fullmatch(r"[a-z]+-[a-z]+-\d+", gen), gen)
        expect_error(c.post("logged-models", {"experiment_id": eid, "name": "a/b"}), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid model name ('a/b') provided")
        expect_error(c.post("logged-models", {"name": "x"}), 400, "INVALID_PARAMETER_VALUE",
                     "'experiment_id'")
        expect_error(c.post("logged-models", {"experiment_id": "987654"}), 404,
                     "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=987654 exists")
        gone = new_exp(c, "lm-gone")
        check(c.post("experiments/delete", {"experiment_id": gone}).status == 200)
        expect_error(c.post("logged-models", {"experiment_id": gone}), 400,
                     "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
        expect_error(c.post("logged-models", {"experiment_id": eid, "params": [
            {"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}), 400,
                     "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")

        # get, also through the UI's alias.
        check(get(c, mid) == m, get(c, mid))
        r = c.get("logged-models/" + mid, prefix="/ajax-api/2.0/mlflow/")
        check(r.status == 200 and r.json()["model"]["info"]["model_id"] == mid, r)
        for bad in ("m-" + "0" * 32, "nope"):
            expect_error(c.get("logged-models/" + bad), 404, "RESOURCE_DOES_NOT_EXIST",
                         "Logged model with ID '%s' not found." % bad)

        # finalize: READY, again (MLflow allows it), UPLOAD_FAILED; bad statuses refused.
        time.sleep(0.002)
        f = ok(call(c, "PATCH", "logged-models/" + mid,
                    {"model_id": mid, "status": "LOGGED_MODEL_READY"}))["model"]["info"]
        check(f["status"] == "LOGGED_MODEL_READY", f)
        check(f["last_updated_timestamp_ms"] >= info["creation_timestamp_ms"], f)
        f = ok(call(c, "PATCH", "logged-models/" + mid, {"status": 2}))["model"]["info"]
        check(f["status"] == "LOGGED_MODEL_READY", f)
        expect_error(call(c, "PATCH", "logged-models/" + mid, {"status": "BOGUS"}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "PATCH", "logged-models/" + mid, {"status": 9}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "PATCH", "logged-models/" + mid, {"status": 0}), 400,
                     "INVALID_PARAMETER_VALUE", "LOGGED_MODEL_STATUS_UNSPECIFIED")
        expect_error(call(c, "PATCH", "logged-models/" + mid, {}), 400,
                     "INVALID_PARAMETER_VALUE", "'status'")
        expect_error(call(c, "PATCH", "logged-models/m-" + "1" * 32,
                          {"status": "LOGGED_MODEL_READY"}), 404, "RESOURCE_DOES_NOT_EXIST")
        check(get(c, mid)["info"]["status"] == "LOGGED_MODEL_READY")

        # tags: set (overwrite + add), delete, delete unknown.
        r = call(c, "PATCH", "logged-models/%s/tags" % mid,
                 {"tags": [{"key": "team", "value": "ops"}, {"key": "k2", "value": "v2"}]})
        check(ok(r) == {}, r)
        check(get(c, mid)["info"]["tags"] == [{"key": "k2", "value": "v2"},
                                              {"key": "team", "value": "ops"}])
        check(ok(call(c, "DELETE", "logged-models/%s/tags/k2" % mid)) == {})
        check(get(c, mid)["info"]["tags"] == [{"key": "team", "value": "ops"}])
        expect_error(call(c, "DELETE", "logged-models/%s/tags/k2" % mid), 404,
                     "RESOURCE_DOES_NOT_EXIST",
                     "No tag with key 'k2' found for model with ID '%s'." % mid)
        expect_error(call(c, "PATCH", "logged-models/m-%s/tags" % ("2" * 32),
                          {"tags": [{"key": "a", "value": "b"}]}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "PATCH", "logged-models/%s/tags" % mid,
                          {"tags": [{"value": "b"}]}), 400, "INVALID_PARAMETER_VALUE", "'key'")

        # params: new keys added, same value accepted, a changed value refused.
        check(ok(c.post("logged-models/%s/params" % mid,
                        {"params": [{"key": "beta", "value": "1"},
                                    {"key": "alpha", "value": "0.5"}]})) == {})
        check(get(c, mid)["data"]["params"] == [{"key": "alpha", "value": "0.5"},
                                               {"key": "beta", "value": "1"}])
        expect_error(c.post("logged-models/%s/params" % mid,
                            {"params": [{"key": "gamma", "value": "1"},
                                        {"key": "alpha", "value": "0.9"}]}),
                     400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
        check(len(get(c, mid)["data"]["params"]) == 2, "a refused call changed the model")
        expect_error(c.post("logged-models/m-%s/params" % ("3" * 32), {"params": []}), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # delete: soft; get answers 404 unless allow_deleted; delete again is fine.
        check(ok(call(c, "DELETE", "logged-models/" + mid)) == {})
        expect_error(c.get("logged-models/" + mid), 404, "RESOURCE_DOES_NOT_EXIST")
        r = c.get("logged-models/" + mid, {"allow_deleted": "true"})
        check(r.status == 200 and r.json()["model"]["info"]["model_id"] == mid, r)
        check(ok(call(c, "DELETE", "logged-models/" + mid)) == {})
        expect_error(call(c, "DELETE", "logged-models/m-" + "4" * 32), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        check(mid not in ids(search(c, {"experiment_ids": [eid]})), "deleted model searched")

        # Durable across a restart.
        m2 = create(c, eid, name="durable", tags=[{"key": "a", "value": "b"}])
        srv.restart()
        c = srv.client()
        check(get(c, m2["info"]["model_id"]) == m2)
    finally:
        srv.stop()


def log_metric(c, rid, mid, key, value, step=0, ts=None, ds=None):
    body = {"run_id": rid, "key": key, "value": value, "step": step,
            "timestamp": ts if ts is not None else int(time.time() * 1000), "model_id": mid}
    if ds:
        body["dataset_name"], body["dataset_digest"] = ds
    ok(c.post("runs/log-metric", body))


def metrics_of(c, mid):
    ms = get(c, mid)["data"].get("metrics", [])
    return {(m["key"], m.get("dataset_name"), m.get("dataset_digest")): m for m in ms}


def test_metrics_and_search():
    srv = Server().start()
    try:
        c = srv.client()
        e1, e2 = new_exp(c, "lm-s1"), new_exp(c, "lm-s2")
        rid = new_run(c, e1)
        a = create(c, e1, name="a", model_type="LLM", params=[{"key": "lr", "value": "0.1"}],
                   tags=[{"key": "stage", "value": "dev"}])["info"]["model_id"]
        time.sleep(0.002)
        b = create(c, e1, name="b", model_type="Agent",
                   params=[{"key": "lr", "value": "0.2"}])["info"]["model_id"]
        time.sleep(0.002)
        x = create(c, e2, name="x", tags=[{"key": "stage", "value": "prod"}])["info"]["model_id"]

        # Metrics carrying a model_id show on the model: the latest per (key, dataset).
        log_metric(c, rid, a, "acc", 0.5, step=1, ts=1000, ds=("train", "d1"))
        log_metric(c, rid, a, "acc", 0.7, step=2, ts=2000, ds=("train", "d1"))
        log_metric(c, rid, a, "acc", 0.6, step=1, ts=1500, ds=("train", "d1"))
        log_metric(c, rid, a, "acc", 0.9, step=1, ts=1000, ds=("eval", "d2"))
        ok(c.post("runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "acc", "value": 0.8, "timestamp": 1000, "step": 0, "model_id": b,
             "dataset_name": "eval", "dataset_digest": "d2"},
            {"key": "acc", "value": 0.95, "timestamp": 1000, "step": 0, "model_id": b,
             "dataset_name": "train", "dataset_digest": "d1"},
            {"key": "loss", "value": 0.1, "timestamp": 1000, "step": 0, "model_id": b}]}))
        ma = metrics_of(c, a)
        check(sorted(ma) == [("acc", "eval", "d2"), ("acc", "train", "d1")], ma)
        t = ma[("acc", "train", "d1")]
        check(t["value"] == 0.7 and t["step"] == 2 and t["timestamp"] == 2000, t)
        check(t["run_id"] == rid and t["model_id"] == a, t)
        # A long history: the model shows its latest point, by (timestamp, step).
        ok(c.post("runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "hist", "value": float(i), "timestamp": 5000 + i // 2, "step": i % 2,
             "model_id": b} for i in range(1000)]}))
        mb = metrics_of(c, b)
        h = mb[("hist", None, None)]
        check(h["value"] == 999.0 and h["timestamp"] == 5499 and h["step"] == 1, h)
        check(mb[("loss", None, None)]["value"] == 0.1, mb)
        # A model id that names no model: the run keeps the point, nothing fails.
        log_metric(c, rid, "m-" + "5" * 32, "acc", 0.1)
        log_metric(c, rid, "not-a-model-id", "acc", 0.1)
        # The run keeps the points too.
        hist = ok(c.get("metrics/get-history", {"run_id": rid, "metric_key": "acc"}))["metrics"]
        check(len(hist) == 8, len(hist))

        both = [e1, e2]
        check(sorted(ids(search(c, {"experiment_ids": both}))) == sorted([a, b, x]))
        # Default order: newest first.
        check(ids(search(c, {"experiment_ids": both})) == [x, b, a])
        # Attribute, param, tag and metric filters.
        check(ids(search(c, {"experiment_ids": both, "filter": "name = 'a'"})) == [a])
        check(ids(search(c, {"experiment_ids": both,
                             "filter": "attributes.model_type LIKE 'A%'"})) == [b])
        check(ids(search(c, {"experiment_ids": both,
                             "filter": "status = 'LOGGED_MODEL_PENDING'"})) == [x, b, a])
        check(ids(search(c, {"experiment_ids": both, "filter": "params.lr = '0.2'"})) == [b])
        check(ids(search(c, {"experiment_ids": both, "filter": "tags.stage = 'prod'"})) == [x])
        check(ids(search(c, {"experiment_ids": [e1], "filter": "tags.stage = 'prod'"})) == [])
        check(ids(search(c, {"experiment_ids": both, "filter": "metrics.acc > 0.85"})) == [b, a])
        check(ids(search(c, {"experiment_ids": both, "filter":
                             "metrics.acc > 0.85 AND creation_timestamp > 0"})) == [b, a])
        # Dataset scope: only metrics on the listed datasets count.
        check(ids(search(c, {"experiment_ids": both, "filter": "metrics.acc > 0.85",
                             "datasets": [{"dataset_name": "eval"}]})) == [a])
        check(ids(search(c, {"experiment_ids": both, "filter": "metrics.acc > 0.85",
                             "datasets": [{"dataset_name": "train",
                                           "dataset_digest": "d1"}]})) == [b])
        check(ids(search(c, {"experiment_ids": both, "filter": "metrics.acc > 0.85",
                             "datasets": [{"dataset_name": "train",
                                           "dataset_digest": "zz"}]})) == [])
        # Datasets without a metric clause: models with any metric on them.
        check(ids(search(c, {"experiment_ids": both,
                             "datasets": [{"dataset_name": "eval"}]})) == [b, a])

        # order_by: attributes, metrics, dataset-scoped metrics; missing values last.
        def order(ob, **kw):
            body = {"experiment_ids": both, "order_by": ob}
            body.update(kw)
            return ids(search(c, body))
        check(order([{"field_name": "name"}]) == [a, b, x])
        check(order([{"field_name": "name", "ascending": False}]) == [x, b, a])
        check(order([{"field_name": "creation_time"}]) == [a, b, x])
        check(order([{"field_name": "metrics.acc", "ascending": True}]) == [a, b, x])
        check(order([{"field_name": "metrics.acc", "ascending": False}]) == [b, a, x])
        check(order([{"field_name": "metrics.acc", "ascending": False,
                      "dataset_name": "eval", "dataset_digest": "d2"}]) == [a, b, x])
        check(order([{"field_name": "metrics.acc", "ascending": True,
                      "dataset_name": "train"}]) == [a, b, x])
        check(order([{"field_name": "metrics.loss"}]) == [b, x, a])

        # Errors.
        expect_error(c.post("logged-models/search", {"filter": "name = 'a'"}), 400,
                     "INVALID_PARAMETER_VALUE", "'experiment_ids'")
        for bad in ("name = ", "metrics.acc = 'x'", "foo = 'a'", "metric.acc > 1",
                    "name = 'a' OR name = 'b'", "params.lr > 1"):
            expect_error(c.post("logged-models/search", {"experiment_ids": both,
                                                         "filter": bad}),
                         400, "INVALID_PARAMETER_VALUE")
        expect_error(c.post("logged-models/search", {"experiment_ids": both,
                                                     "order_by": [{"field_name": "nope"}]}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid order by field name: nope")
        expect_error(c.post("logged-models/search",
                            {"experiment_ids": both, "order_by": [{"field_name": "params.lr"}]}),
                     400, "INVALID_PARAMETER_VALUE", "Only metrics are supported.")
        expect_error(c.post("logged-models/search",
                            {"experiment_ids": both, "datasets": [{"dataset_digest": "d"}]}),
                     400, "INVALID_PARAMETER_VALUE", "`dataset_name` in the `datasets` clause")
        expect_error(c.post("logged-models/search", {"experiment_ids": both,
                                                     "max_results": 50001}),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(c.post("logged-models/search", {"experiment_ids": both,
                                                     "page_token": "garbage!"}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid page token")
        # Durable: the model's metrics survive a restart.
        srv.restart()
        c = srv.client()
        check(metrics_of(c, b) == mb, "model metrics changed across a restart")
    finally:
        srv.stop()


def test_pagination():
    srv = Server().start()
    try:
        c = srv.client()
        e1, e2 = new_exp(c, "lm-p1"), new_exp(c, "lm-p2")
        made = [create(c, (e1, e2)[i % 2], name="m%02d" % i)["info"]["model_id"]
                for i in range(23)]
        body = {"experiment_ids": [e1, e2], "max_results": 5,
                "order_by": [{"field_name": "name"}]}
        seen, pages, tok = [], 0, None
        while True:
            if tok:
                body["page_token"] = tok
            r = search(c, body)
            seen += ids(r)
            pages += 1
            tok = r.get("next_page_token")
            if not tok:
                break
        check(seen == made and pages == 5, (pages, seen))
        # A token belongs to its query.
        first = search(c, {"experiment_ids": [e1, e2], "max_results": 5})
        expect_error(c.post("logged-models/search",
                            {"experiment_ids": [e1], "max_results": 5,
                             "page_token": first["next_page_token"]}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid page token")
        # Default page size is 50.
        more = [create(c, e1)["info"]["model_id"] for _ in range(40)]
        r = search(c, {"experiment_ids": [e1, e2]})
        check(len(ids(r)) == 50 and r.get("next_page_token"), len(ids(r)))
        r = search(c, {"experiment_ids": [e1, e2], "page_token": r["next_page_token"]})
        check(len(ids(r)) == len(made) + len(more) - 50 and "next_page_token" not in r, r)
    finally:
        srv.stop()


def test_outputs_and_search_datasets():
    srv = Server().start()
    try:
        c = srv.client()
        e1, e2 = new_exp(c, "out-1"), new_exp(c, "out-2")
        rid = new_run(c, e1)
        mid = create(c, e1, source_run_id=rid)["info"]["model_id"]
        run = ok(c.get("runs/get", {"run_id": rid}))["run"]
        check(not run.get("outputs", {}).get("model_outputs"), run)
        check(ok(c.post("runs/outputs", {"run_id": rid,
                                         "models": [{"model_id": mid, "step": 3}]})) == {})
        outs = ok(c.get("runs/get", {"run_id": rid}))["run"]["outputs"]["model_outputs"]
        check(outs == [{"model_id": mid, "step": 3}], outs)
        expect_error(c.post("runs/outputs", {"models": [{"model_id": mid, "step": 1}]}), 400,
                     "INVALID_PARAMETER_VALUE", "'run_id'")
        expect_error(c.post("runs/outputs", {"run_id": "0" * 32,
                                             "models": [{"model_id": mid, "step": 1}]}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.post("runs/outputs", {"run_id": rid, "models": [{"step": 1}]}), 400,
                     "INVALID_PARAMETER_VALUE", "'model_id'")
        check(c.post("runs/delete", {"run_id": rid}).status == 200)
        expect_error(c.post("runs/outputs", {"run_id": rid,
                                             "models": [{"model_id": mid, "step": 1}]}),
                     400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
        check(c.post("runs/restore", {"run_id": rid}).status == 200)

        # search-datasets: distinct (experiment, name, digest, context) of runs' inputs.
        def ds(name, digest, ctx=None):
            tags = [{"key": "mlflow.data.context", "value": ctx}] if ctx else []
            return {"tags": tags, "dataset": {"name": name, "digest": digest,
                                              "source_type": "local", "source": "{}"}}
        r2 = new_run(c, e1)
        r3 = new_run(c, e2)
        ok(c.post("runs/log-inputs", {"run_id": rid, "datasets": [ds("tr", "d1", "train"),
                                                                  ds("ev", "d2")]}))
        ok(c.post("runs/log-inputs", {"run_id": r2, "datasets": [ds("tr", "d1", "train"),
                                                                 ds("tr", "d9", "eval")]}))
        ok(c.post("runs/log-inputs", {"run_id": r3, "datasets": [ds("other", "d3", "test")]}))
        ajax = "/ajax-api/2.0/mlflow/"
        r = c.post("experiments/search-datasets", {"experiment_ids": [e1, e2]}, prefix=ajax)
        got = sorted((s["experiment_id"], s["name"], s["digest"], s.get("context"))
                     for s in ok(r)["dataset_summaries"])
        check(got == [(e1, "ev", "d2", None), (e1, "tr", "d1", "train"),
                      (e1, "tr", "d9", "eval"), (e2, "other", "d3", "test")], got)
        r = c.post("experiments/search-datasets", {"experiment_ids": [e2]}, prefix=ajax)
        check(len(ok(r)["dataset_summaries"]) == 1, r)
        r = c.post("experiments/search-datasets", {"experiment_ids": ["424242"]}, prefix=ajax)
        check(ok(r) == {}, r)
        expect_error(c.post("experiments/search-datasets", {"experiment_ids": []}, prefix=ajax),
                     400, "INVALID_PARAMETER_VALUE",
                     "SearchDatasets request must specify at least one experiment_id.")
        expect_error(c.post("experiments/search-datasets",
                            {"experiment_ids": [str(i) for i in range(21)]}, prefix=ajax),
                     400, "INVALID_PARAMETER_VALUE", "cannot specify more than 20")
    finally:
        srv.stop()


if __name__ == "__main__":
    run_tests([test_crud, test_metrics_and_search, test_pagination,
               test_outputs_and_search_datasets])
