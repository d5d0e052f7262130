"""runs/search end to end against `cairn server`: filters on every entity type
and comparator family, order_by with missing values, view types, pagination,
several experiments, and MLflow's errors."""
from harness import Server, check, expect_error, run_tests

SRV = None
W = {}  # the world: experiment ids and runs by name


def server():
    global SRV
    if SRV is None:
        SRV = Server().start()
        setup(SRV.client())
    return SRV


def ok(r):
    check(r.status == 200, r)
    return r.json()


def setup(c):
    e1 = ok(c.post("experiments/create", {"name": "search-a"}))["experiment_id"]
    e2 = ok(c.post("experiments/create", {"name": "search-b"}))["experiment_id"]
    W["e1"], W["e2"] = e1, e2
    # name, experiment, start_time, metrics, params, tags, user
    spec = [
        ("alpha", e1, 1000, {"acc": 0.9, "loss": 0.3}, {"model": "LR", "lr": "0.1"},
         {"team": "red", "my tag": "x"}, "ann"),
        ("beta", e1, 2000, {"acc": 0.7, "loss": 0.5}, {"model": "RF", "lr": "0.01"},
         {"team": "blue"}, "bob"),
        ("gamma", e1, 3000, {"loss": 0.1}, {"model": "lr-big"}, {"team": "Red"}, "ann"),
        ("delta", e2, 1500, {"acc": 0.8}, {"model": "LR"}, {"team": "red"}, "cid"),
        ("epsilon", e2, 2500, {"acc": 0.95}, {"model": "NN"}, {}, "bob"),
    ]
    for name, exp, st, metrics, params, tags, user in spec:
        run = ok(c.post("runs/create", {"experiment_id": exp, "run_name": name,
                                        "start_time": st, "user_id": user}))["run"]
        rid = run["info"]["run_id"]
        W[name] = rid
        ok(c.post("runs/log-batch", {
            "run_id": rid,
            "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0}
                        for k, v in metrics.items()],
            "params": [{"key": k, "value": v} for k, v in params.items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()]}))
    # alpha's latest acc: a later step replaces 0.9 with 0.91
    ok(c.post("runs/log-metric", {"run_id": W["alpha"], "key": "acc", "value": 0.91,
                                  "timestamp": 2, "step": 1}))
    ok(c.post("runs/update", {"run_id": W["beta"], "status": "FINISHED", "end_time": 2100}))
    # a deleted run in e1
    run = ok(c.post("runs/create", {"experiment_id": e1, "run_name": "zeta",
                                    "start_time": 500}))["run"]
    W["zeta"] = run["info"]["run_id"]
    ok(c.post("runs/delete", {"run_id": W["zeta"]}))


def search(c, **body):
    body.setdefault("experiment_ids", [W["e1"], W["e2"]])
    return ok(c.post("runs/search", body))


def names(j):
    return [r["info"]["run_name"] for r in j.get("runs", [])]


def sel(c, flt, **kw):
    return set(names(search(c, filter=flt, **kw)))


def test_default_order_and_shape():
    c = server().client()
    j = search(c)
    # start_time DESC
    check(names(j) == ["gamma", "epsilon", "beta", "delta", "alpha"], names(j))
    check("next_page_token" not in j, j)
    alpha = [r for r in j["runs"] if r["info"]["run_name"] == "alpha"][0]
    got = ok(c.get("runs/get", {"run_id": W["alpha"]}))["run"]
    check(alpha == got, (alpha, got))
    check(alpha["inputs"] == {}, alpha)
    m = {x["key"]: x["value"] for x in alpha["data"]["metrics"]}
    check(m == {"acc": 0.91, "loss": 0.3}, m)
    # one experiment only; unknown and malformed ids contribute nothing
    check(names(search(c, experiment_ids=[W["e2"]])) == ["epsilon", "delta"], "e2")
    check(names(search(c, experiment_ids=[W["e2"], "98765", "nope", W["e2"]]))
          == ["epsilon", "delta"], "unknown ids")
    check(search(c, experiment_ids=["98765"]).get("runs") is None, "nothing")


def test_filters():
    c = server().client()
    check(sel(c, "metrics.acc > 0.85") == {"alpha", "epsilon"}, "metric >")
    check(sel(c, "metrics.acc >= 0.8") == {"alpha", "delta", "epsilon"}, "metric >=")
    check(sel(c, "metrics.acc = 0.91") == {"alpha"}, "latest metric")
    check(sel(c, "metrics.acc = 0.9") == set(), "not latest")
    check(sel(c, "metrics.loss < 0.4") == {"alpha", "gamma"}, "metric <")
    check(sel(c, "metrics.acc != 0.7") == {"alpha", "delta", "epsilon"}, "metric != (missing)")
    check(sel(c, "params.model = 'LR'") == {"alpha", "delta"}, "param =")
    check(sel(c, "params.model != 'LR'") == {"beta", "gamma", "epsilon"}, "param !=")
    check(sel(c, "params.model LIKE 'L%'") == {"alpha", "delta"}, "param LIKE")
    check(sel(c, "params.model ILIKE 'l%'") == {"alpha", "gamma", "delta"}, "param ILIKE")
    check(sel(c, "params.lr IS NULL") == {"gamma", "delta", "epsilon"}, "IS NULL")
    check(sel(c, "tags.team = 'red'") == {"alpha", "delta"}, "tag =")
    check(sel(c, "tags.team ILIKE 'RED'") == {"alpha", "gamma", "delta"}, "tag ILIKE")
    check(sel(c, "tags.`my tag` = 'x'") == {"alpha"}, "backticked key")
    check(sel(c, 'tags."my tag" = \'x\'') == {"alpha"}, "quoted key")
    check(sel(c, "attributes.user_id = 'ann'") == {"alpha", "gamma"}, "user_id")
    check(sel(c, "run_name = 'beta'") == {"beta"}, "bare run_name")
    check(sel(c, "attributes.status = 'FINISHED'") == {"beta"}, "status")
    check(sel(c, "attributes.status != 'FINISHED'")
          == {"alpha", "gamma", "delta", "epsilon"}, "status !=")
    check(sel(c, "attributes.start_time >= 2000") == {"beta", "gamma", "epsilon"}, "start_time")
    check(sel(c, "attributes.end_time = 2100") == {"beta"}, "end_time")
    check(sel(c, "attributes.artifact_uri LIKE '%%%s%%'" % W["delta"]) == {"delta"}, "uri")
    check(sel(c, "attributes.run_id IN ('%s', '%s')" % (W["alpha"], W["delta"]))
          == {"alpha", "delta"}, "IN")
    check(sel(c, "attributes.run_id NOT IN ('%s')" % W["alpha"])
          == {"beta", "gamma", "delta", "epsilon"}, "NOT IN")
    check(sel(c, "metrics.acc > 0.5 AND params.model = 'LR' AND tags.team = 'red'")
          == {"alpha", "delta"}, "AND")
    check(sel(c, "datasets.name = 'x'") == set(), "datasets match nothing yet")


def test_order_by():
    c = server().client()
    # missing metric (gamma) last, whatever the direction
    got = names(search(c, order_by=["metrics.acc DESC"]))
    check(got == ["epsilon", "alpha", "delta", "beta", "gamma"], got)
    got = names(search(c, order_by=["metrics.acc ASC"]))
    check(got == ["beta", "delta", "alpha", "epsilon", "gamma"], got)
    # multi-key: param ASC (missing last), then start_time ASC
    got = names(search(c, order_by=["params.model", "attributes.start_time ASC"]))
    check(got == ["alpha", "delta", "epsilon", "beta", "gamma"], got)
    got = names(search(c, order_by=["tags.team DESC", "metrics.loss DESC"]))
    check(got == ["alpha", "delta", "beta", "gamma", "epsilon"], got)
    got = names(search(c, order_by=["run_name"]))
    check(got == ["alpha", "beta", "delta", "epsilon", "gamma"], got)


def test_view_types():
    c = server().client()
    e1 = [W["e1"]]
    check("zeta" not in names(search(c, experiment_ids=e1)), "active only")
    check(names(search(c, experiment_ids=e1, run_view_type="DELETED_ONLY")) == ["zeta"], "del")
    got = names(search(c, experiment_ids=e1, run_view_type="ALL"))
    check(got == ["gamma", "beta", "alpha", "zeta"], got)


def test_pagination():
    c = server().client()
    seen, tok, pages = [], None, 0
    while True:
        body = {"max_results": 2, "run_view_type": "ALL"}
        if tok:
            body["page_token"] = tok
        j = search(c, **body)
        pages += 1
        check(len(j.get("runs", [])) <= 2, j)
        seen += names(j)
        tok = j.get("next_page_token")
        if not tok:
            break
    check(pages == 3, pages)
    check(sorted(seen) == sorted(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]), seen)
    # a token belongs to its query
    j = search(c, max_results=2)
    expect_error(c.post("runs/search", {"experiment_ids": [W["e1"]], "max_results": 2,
                                        "page_token": j["next_page_token"]}),
                 400, "INVALID_PARAMETER_VALUE", "Invalid page token")


def test_errors():
    c = server().client()
    ids = [W["e1"]]

    def bad(body, part=None):
        body.setdefault("experiment_ids", ids)
        expect_error(c.post("runs/search", body), 400, "INVALID_PARAMETER_VALUE", part)

    bad({"filter": "metrics.acc > 'x'"})
    bad({"filter": "params.model = 'LR' OR params.model = 'RF'"}, "Invalid clause")
    bad({"filter": "foo.bar = 1"}, "Invalid entity type")
    bad({"filter": "attributes.nope = 'x'"})
    bad({"order_by": ["metrics.acc SIDEWAYS"]}, "order_by clause")
    bad({"order_by": ["attributes.nope"]})
    bad({"max_results": 0}, "max_results")
    bad({"max_results": 50001}, "50000")
    bad({"page_token": "!!!not-a-token"}, "Invalid page token")
    bad({"page_token": "aGVsbG8gd29ybGQ"}, "Invalid page token")


if __name__ == "__main__":
    try:
        run_tests([test_default_order_and_shape, test_filters, test_order_by, test_view_types,
                   test_pagination, test_errors])
    finally:
        if SRV:
            SRV.cleanup()
