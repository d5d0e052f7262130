"""runs/log-inputs end to end against `cairn server`: datasets with tags and
model inputs read back through runs/get and runs/search, dedupe per experiment
and per run, datasets.* filters, MLflow's limits and errors."""
from harness import Server, check, expect_error, run_tests

SRV = None


def server():
    global SRV
    if SRV is None:
        SRV = Server().start()
    return SRV


def new_experiment(c, name):
    r = c.post("experiments/create", {"name": name})
    check(r.status == 200, r)
    return r.json()["experiment_id"]


def new_run(c, exp="0"):
    r = c.post("runs/create", {"experiment_id": exp})
    check(r.status == 200, r)
    return r.json()["run"]["info"]["run_id"]


def get_run(c, rid):
    r = c.get("runs/get", {"run_id": rid})
    check(r.status == 200, r)
    return r.json()["run"]


def dataset(name, digest, **kw):
    d = {"name": name, "digest": digest, "source_type": "local",
         "source": '{"uri": "/data/%s"}' % name}
    d.update(kw)
    return d


def ds_input(d, context=None, **tags):
    t = [{"key": k, "value": v} for k, v in tags.items()]
    if context is not None:
        t.insert(0, {"key": "mlflow.data.context", "value": context})
    out = {"dataset": d}
    if t:
        out["tags"] = t
    return out


def log_inputs(c, rid, datasets=None, models=None):
    body = {"run_id": rid}
    if datasets is not None:
        body["datasets"] = datasets
    if models is not None:
        body["models"] = models
    return c.post("runs/log-inputs", body)


def test_log_and_get():
    c = server().client()
    rid = new_run(c)
    check(get_run(c, rid)["inputs"] == {}, "no inputs yet")
    d1 = dataset("train", "abc123", schema='{"mlflow_colspec": []}',
                 profile='{"num_rows": 10}')
    d2 = dataset("eval", "def456")
    r = log_inputs(c, rid, [ds_input(d1, "training", extra="x"), ds_input(d2, "eval")],
                   [{"model_id": "m-1"}, {"model_id": "m-2"}])
    check(r.status == 200 and r.json() == {}, r)
    inputs = get_run(c, rid)["inputs"]
    dis = {di["dataset"]["name"]: di for di in inputs["dataset_inputs"]}
    check(set(dis) == {"train", "eval"}, inputs)
    check(dis["train"]["dataset"] == d1, dis)
    check(dis["eval"]["dataset"] == d2, dis)
    check(dis["train"]["tags"] == [{"key": "mlflow.data.context", "value": "training"},
                                   {"key": "extra", "value": "x"}], dis)
    check(sorted(m["model_id"] for m in inputs["model_inputs"]) == ["m-1", "m-2"], inputs)
    # the ajax alias, and runs/search carries inputs too
    r = c.post("runs/search", {"experiment_ids": ["0"],
                               "filter": "attributes.run_id = '%s'" % rid})
    check(r.status == 200, r)
    runs = r.json()["runs"]
    check(len(runs) == 1 and runs[0]["inputs"] == inputs, runs)
    # models only
    r = log_inputs(c, rid, models=[{"model_id": "m-3"}])
    check(r.status == 200, r)
    inputs = get_run(c, rid)["inputs"]
    check(len(inputs["model_inputs"]) == 3 and len(inputs["dataset_inputs"]) == 2, inputs)
    # nothing at all is fine
    check(log_inputs(c, rid).status == 200, "empty log-inputs")


def test_dedupe():
    c = server().client()
    exp = new_experiment(c, "inputs-dedupe")
    rid = new_run(c, exp)
    d = dataset("ds", "d1", profile="first")
    check(log_inputs(c, rid, [ds_input(d, "training")]).status == 200, "first")
    # the same dataset again (other tags, other profile): one input, first kept
    d_again = dataset("ds", "d1", profile="second")
    r = log_inputs(c, rid, [ds_input(d_again, "eval"), ds_input(d_again, "other")])
    check(r.status == 200, r)
    dis = get_run(c, rid)["inputs"]["dataset_inputs"]
    check(len(dis) == 1, dis)
    check(dis[0]["dataset"]["profile"] == "first", dis)
    check(dis[0]["tags"] == [{"key": "mlflow.data.context", "value": "training"}], dis)
    # another run of the experiment shares the stored dataset, with its own tags
    rid2 = new_run(c, exp)
    check(log_inputs(c, rid2, [ds_input(d_again, "test")]).status == 200, "second run")
    dis2 = get_run(c, rid2)["inputs"]["dataset_inputs"]
    check(len(dis2) == 1 and dis2[0]["dataset"]["profile"] == "first", dis2)
    check(dis2[0]["tags"] == [{"key": "mlflow.data.context", "value": "test"}], dis2)
    # another digest is another dataset
    check(log_inputs(c, rid, [ds_input(dataset("ds", "d2"))]).status == 200, "d2")
    dis = get_run(c, rid)["inputs"]["dataset_inputs"]
    check(sorted(x["dataset"]["digest"] for x in dis) == ["d1", "d2"], dis)
    # a run of another experiment stores its own copy
    exp2 = new_experiment(c, "inputs-dedupe-2")
    rid3 = new_run(c, exp2)
    check(log_inputs(c, rid3, [ds_input(d_again)]).status == 200, "exp2")
    dis3 = get_run(c, rid3)["inputs"]["dataset_inputs"]
    check(dis3[0]["dataset"]["profile"] == "second" and "tags" not in dis3[0], dis3)
    # the same model twice is one model input
    check(log_inputs(c, rid, models=[{"model_id": "m"}, {"model_id": "m"}]).status == 200, "m")
    check(log_inputs(c, rid, models=[{"model_id": "m"}]).status == 200, "m")
    check(get_run(c, rid)["inputs"]["model_inputs"] == [{"model_id": "m"}], "models")


def search(c, exp, flt):
    r = c.post("runs/search", {"experiment_ids": [exp], "filter": flt})
    check(r.status == 200, r)
    return sorted(x["info"]["run_id"] for x in r.json().get("runs", []))


def test_search():
    c = server().client()
    exp = new_experiment(c, "inputs-search")
    a, b, n = new_run(c, exp), new_run(c, exp), new_run(c, exp)
    check(log_inputs(c, a, [ds_input(dataset("train", "aaa"), "training"),
                            ds_input(dataset("eval", "bbb"), "eval")]).status == 200, "a")
    check(log_inputs(c, b, [ds_input(dataset("train", "ccc")),
                            ds_input(dataset("other", "ddd"), "eval")]).status == 200, "b")
    check(search(c, exp, "datasets.name = 'train'") == sorted([a, b]), "name")
    check(search(c, exp, "datasets.name = 'eval'") == [a], "name eval")
    check(search(c, exp, "datasets.digest = 'ccc'") == [b], "digest")
    check(search(c, exp, "dataset.digest IN ('aaa', 'ddd')") == sorted([a, b]), "in")
    check(search(c, exp, "datasets.context = 'training'") == [a], "context")
    check(search(c, exp, "datasets.context = 'eval'") == sorted([a, b]), "context eval")
    check(search(c, exp, "datasets.name LIKE 'tr%' AND datasets.digest = 'bbb'") == [a],
          "any input per clause")
    check(search(c, exp, "datasets.name = 'nope'") == [], "none")
    check(search(c, exp, "datasets.name != 'train'") == sorted([a, b]), "ne any")
    check(n not in search(c, exp, "datasets.context != 'x'"), "no inputs, no match")


def test_errors_and_limits():
    c = server().client()
    rid = new_run(c)
    good = dataset("ok", "ok")

    def bad(body_datasets, msg, models=None):
        expect_error(log_inputs(c, rid, body_datasets, models), 400,
                     "INVALID_PARAMETER_VALUE", msg)

    bad([ds_input(dataset("n" * 501, "d"))], "Dataset name exceeds the maximum length of 500")
    bad([ds_input(dataset("n", "d" * 37))], "Dataset digest exceeds the maximum length of 36")
    bad([ds_input(dataset("n", "d", source="s" * 65536))],
        "Dataset source exceeds the maximum length of 65535")
    bad([ds_input(dataset("n", "d", schema="s" * 1048576))],
        "Dataset schema exceeds the maximum length of 1048575")
    bad([ds_input(good), ds_input(dataset("n", "d"), **{"k" * 256: "v"})],
        "Input tag key exceeds the maximum length of 255")
    bad([ds_input(dataset("n", "d"), k="v" * 501)],
        "Input tag value exceeds the maximum length of 500")
    bad([{"tags": []}], "Dataset input must have a dataset.")
    d = dataset("n", "d")
    del d["digest"]
    bad([ds_input(d)], "Dataset digest cannot be None")
    bad([{"dataset": good, "tags": [{"key": "k"}]}], "Input tag value cannot be None")
    # limits are in characters, as Python counts them
    check(log_inputs(c, rid, [ds_input(dataset("é" * 500, "d"))]).status == 200, "utf-8")
    # a profile near MLflow's 16 MB limit fits the route's body limit
    big = dataset("big", "big", profile="p" * (16 * 1024 * 1024 - 100))
    check(log_inputs(c, rid, [ds_input(big)]).status == 200, "big profile")
    # bad input wrote nothing: the good dataset before the bad one is absent
    names = sorted(x["dataset"]["name"] for x in get_run(c, rid)["inputs"]["dataset_inputs"])
    check(names == ["big", "é" * 500], names)
    expect_error(c.post("runs/log-inputs", {"datasets": []}), 400, "INVALID_PARAMETER_VALUE",
                 "run_id")
    expect_error(log_inputs(c, "f" * 32, [ds_input(good)]), 404, "RESOURCE_DOES_NOT_EXIST",
                 "Run with id=%s not found" % ("f" * 32))
    # a deleted run is refused
    check(c.post("runs/delete", {"run_id": rid}).status == 200, "delete")
    expect_error(log_inputs(c, rid, [ds_input(good)]), 400, "INVALID_PARAMETER_VALUE",
                 "must be in the 'active' state")
    check(c.post("runs/restore", {"run_id": rid}).status == 200, "restore")
    check(log_inputs(c, rid, [ds_input(good)]).status == 200, "restored run")


def test_persistence():
    srv = server()
    c = srv.client()
    rid = new_run(c)
    check(log_inputs(c, rid, [ds_input(dataset("p", "p"), "training")],
                     [{"model_id": "pm"}]).status == 200, "log")
    before = get_run(c, rid)["inputs"]
    srv.restart()
    check(get_run(srv.client(), rid)["inputs"] == before, "after restart")


if __name__ == "__main__":
    try:
        run_tests([test_log_and_get, test_dedupe, test_search, test_errors_and_limits,
                   test_persistence])
    finally:
        if SRV:
            SRV.cleanup()
