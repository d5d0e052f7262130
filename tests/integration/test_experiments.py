"""Experiments API end to end against `cairn server`, as MLflow's clients use it."""
import threading

from harness import Server, check, expect_error, run_tests

SRV = None


def server():
    global SRV
    if SRV is None:
        SRV = Server().start()
    return SRV


def test_default_experiment_exists():
    c = server().client()
    r = c.get("experiments/get", {"experiment_id": "0"})
    check(r.status == 200, r)
    e = r.json()["experiment"]
    check(e["experiment_id"] == "0" and e["name"] == "Default", e)
    check(e["lifecycle_stage"] == "active", e)
    check(e["artifact_location"] == "mlflow-artifacts:/0", e)
    check(isinstance(e["creation_time"], int) and isinstance(e["last_update_time"], int), e)
    r = c.get("experiments/get-by-name", {"experiment_name": "Default"})
    check(r.json()["experiment"]["experiment_id"] == "0", r)


def test_create_get_roundtrip():
    c = server().client()
    r = c.post("experiments/create", {"name": "roundtrip", "artifact_location": "s3://b/x",
                                      "tags": [{"key": "team", "value": "ml"},
                                               {"key": "mlflow.note.content", "value": "hi"}]})
    check(r.status == 200, r)
    eid = r.json()["experiment_id"]
    check(eid.isdigit() and eid != "0", eid)
    e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
    check(e["name"] == "roundtrip" and e["artifact_location"] == "s3://b/x", e)
    check({t["key"]: t["value"] for t in e["tags"]} == {"team": "ml", "mlflow.note.content": "hi"}, e)
    # ajax-api alias serves the same route (the MLflow UI uses it)
    r = c.get("experiments/get", {"experiment_id": eid}, prefix="/ajax-api/2.0/mlflow/")
    check(r.status == 200 and r.json()["experiment"]["name"] == "roundtrip", r)
    # default artifact location is the proxied mlflow-artifacts URI
    eid2 = c.post("experiments/create", {"name": "roundtrip-2"}).json()["experiment_id"]
    e2 = c.get("experiments/get", {"experiment_id": eid2}).json()["experiment"]
    check(e2["artifact_location"] == "mlflow-artifacts:/" + eid2, e2)
    check(int(eid2) > int(eid), (eid, eid2))


def test_create_errors():
    c = server().client()
    expect_error(c.post("experiments/create", {}), 400, "INVALID_PARAMETER_VALUE",
                 "Missing value for required parameter 'name'")
    expect_error(c.post("experiments/create", {"name": ""}), 400, "INVALID_PARAMETER_VALUE",
                 "'name'")
    expect_error(c.post("experiments/create", {"name": 12}), 400, "INVALID_PARAMETER_VALUE",
                 "name")
    expect_error(c.post("experiments/create", {"name": "x" * 501}), 400,
                 "INVALID_PARAMETER_VALUE", "exceeds the maximum length of 500")
    c.post("experiments/create", {"name": "dup"})
    expect_error(c.post("experiments/create", {"name": "dup"}), 400, "RESOURCE_ALREADY_EXISTS",
                 "Experiment(name=dup) already exists")
    expect_error(c.post("experiments/create", {"name": "badtag", "tags": [{"key": "../x",
                                                                           "value": "v"}]}),
                 400, "INVALID_PARAMETER_VALUE")
    check(c.get("experiments/get-by-name", {"experiment_name": "badtag"}).status == 404)
    expect_error(c.post("experiments/create", {"name": "frag", "artifact_location": "s3://a#b"}),
                 400, "INVALID_PARAMETER_VALUE", "fragments")


def test_get_errors():
    c = server().client()
    expect_error(c.get("experiments/get", {"experiment_id": "987654"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=987654 exists")
    expect_error(c.get("experiments/get", {"experiment_id": "abc"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.get("experiments/get"), 400, "INVALID_PARAMETER_VALUE",
                 "Missing value for required parameter 'experiment_id'")
    expect_error(c.get("experiments/get-by-name", {"experiment_name": "nope"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name 'nope'")


def test_rename_delete_restore():
    c = server().client()
    eid = c.post("experiments/create", {"name": "life"}).json()["experiment_id"]
    before = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
    check(c.post("experiments/update", {"experiment_id": eid, "new_name": "life2"}).status == 200)
    e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
    check(e["name"] == "life2" and e["last_update_time"] >= before["last_update_time"], e)
    check(c.get("experiments/get-by-name", {"experiment_name": "life"}).status == 404)
    # the freed name can be reused, the taken one cannot
    c.post("experiments/create", {"name": "taken"})
    expect_error(c.post("experiments/update", {"experiment_id": eid, "new_name": "taken"}),
                 400, "RESOURCE_ALREADY_EXISTS")
    expect_error(c.post("experiments/update", {"experiment_id": eid}), 400,
                 "INVALID_PARAMETER_VALUE", "new_name")
    check(c.post("experiments/delete", {"experiment_id": eid}).status == 200)
    e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
    check(e["lifecycle_stage"] == "deleted", e)
    expect_error(c.post("experiments/delete", {"experiment_id": eid}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.post("experiments/update", {"experiment_id": eid, "new_name": "zz"}), 500,
                 "INVALID_STATE", "Cannot rename a non-active experiment.")
    # a deleted experiment's name stays reserved until gc, as in MLflow
    expect_error(c.post("experiments/create", {"name": "life2"}), 400, "RESOURCE_ALREADY_EXISTS")
    expect_error(c.post("experiments/set-experiment-tag",
                        {"experiment_id": eid, "key": "k", "value": "v"}),
                 400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
    check(c.post("experiments/restore", {"experiment_id": eid}).status == 200)
    check(c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
          ["lifecycle_stage"] == "active")
    expect_error(c.post("experiments/restore", {"experiment_id": eid}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.post("experiments/delete", {"experiment_id": "4242424"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_tags():
    c = server().client()
    eid = c.post("experiments/create", {"name": "tagged"}).json()["experiment_id"]
    for k, v in [("a", "1"), ("b", "2"), ("a", "3")]:
        r = c.post("experiments/set-experiment-tag", {"experiment_id": eid, "key": k, "value": v})
        check(r.status == 200 and r.json() == {}, r)
    tags = {t["key"]: t["value"] for t in
            c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]["tags"]}
    check(tags == {"a": "3", "b": "2"}, tags)
    check(c.post("experiments/delete-experiment-tag", {"experiment_id": eid, "key": "a"}).status
          == 200)
    tags = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]["tags"]
    check(tags == [{"key": "b", "value": "2"}], tags)
    expect_error(c.post("experiments/delete-experiment-tag", {"experiment_id": eid, "key": "a"}),
                 404, "RESOURCE_DOES_NOT_EXIST", "No tag with name: a")
    expect_error(c.post("experiments/set-experiment-tag",
                        {"experiment_id": eid, "key": "k" * 251, "value": "v"}),
                 400, "INVALID_PARAMETER_VALUE", "exceeds the maximum length of 250")
    expect_error(c.post("experiments/set-experiment-tag",
                        {"experiment_id": eid, "key": "k", "value": "v" * 5001}),
                 400, "INVALID_PARAMETER_VALUE", "exceeds the maximum length of 5000")
    expect_error(c.post("experiments/set-experiment-tag", {"experiment_id": eid, "key": "k"}),
                 400, "INVALID_PARAMETER_VALUE", "'value'")
    expect_error(c.post("experiments/set-experiment-tag",
                        {"experiment_id": "31337", "key": "k", "value": "v"}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_search():
    srv = Server().start()
    try:
        c = srv.client()
        ids = []
        for i in range(7):
            r = c.post("experiments/create", {"name": "search-%d" % i,
                                              "tags": [{"key": "parity",
                                                        "value": "even" if i % 2 == 0 else "odd"}]})
            ids.append(r.json()["experiment_id"])
        c.post("experiments/delete", {"experiment_id": ids[6]})
        # default: active only, creation_time DESC then id ASC -> newest first
        r = c.post("experiments/search", {})
        exps = r.json()["experiments"]
        names = [e["name"] for e in exps]
        check("search-6" not in names and "Default" in names and len(names) == 7, names)
        # MLflow's default order: creation_time DESC, then experiment_id ASC for ties
        keys = [(-e["creation_time"], int(e["experiment_id"])) for e in exps]
        check(keys == sorted(keys), exps)
        # GET form with query string, filter on tags and name LIKE
        r = c.get("experiments/search", {"filter": "tags.parity = 'even'", "max_results": 10})
        check(sorted(e["name"] for e in r.json()["experiments"]) ==
              ["search-0", "search-2", "search-4"], r)
        r = c.post("experiments/search", {"filter": "name LIKE 'search-%' AND tags.parity != 'even'",
                                          "order_by": ["name DESC"]})
        check([e["name"] for e in r.json()["experiments"]] == ["search-5", "search-3", "search-1"], r)
        r = c.post("experiments/search", {"filter": "name ILIKE 'SEARCH-1'"})
        check([e["name"] for e in r.json()["experiments"]] == ["search-1"], r)
        # view types
        r = c.post("experiments/search", {"view_type": "DELETED_ONLY"})
        check([e["name"] for e in r.json()["experiments"]] == ["search-6"], r)
        r = c.post("experiments/search", {"view_type": "ALL", "filter": "name LIKE 'search-%'"})
        check(len(r.json()["experiments"]) == 7, r)
        # numeric attribute filter
        t0 = c.get("experiments/get", {"experiment_id": ids[3]}).json()["experiment"]["creation_time"]
        r = c.post("experiments/search", {"filter": "creation_time >= %d" % t0,
                                          "order_by": ["creation_time ASC", "name"]})
        got = [e["name"] for e in r.json()["experiments"]]
        check(got[:3] == ["search-3", "search-4", "search-5"] or
              set(got) >= {"search-3", "search-4", "search-5"}, got)
        # pagination: every active experiment exactly once
        seen, token = [], None
        while True:
            body = {"max_results": 2, "order_by": ["name ASC"]}
            if token:
                body["page_token"] = token
            r = c.post("experiments/search", body).json()
            seen += [e["name"] for e in r.get("experiments", [])]
            token = r.get("next_page_token")
            if not token:
                break
        check(seen == sorted(seen) and len(seen) == 7 and len(set(seen)) == 7, seen)
        # errors
        expect_error(c.post("experiments/search", {"filter": "name = "}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.post("experiments/search", {"filter": "bogus.key = 'x'"}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.post("experiments/search", {"max_results": 0}), 400,
                     "INVALID_PARAMETER_VALUE", "max_results")
        expect_error(c.post("experiments/search", {"max_results": 50001}), 400,
                     "INVALID_PARAMETER_VALUE", "50000")
        expect_error(c.post("experiments/search", {"order_by": ["nope ASC"]}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.post("experiments/search", {"page_token": "!!!notatoken"}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.post("experiments/search", {"view_type": "SOMETIMES"}), 400,
                     "INVALID_PARAMETER_VALUE")
    finally:
        srv.cleanup()


def count_experiments(c):
    return len(c.post("experiments/search", {"view_type": "ALL", "max_results": 50000})
               .json().get("experiments", []))


def test_bad_input_changes_nothing():
    c = server().client()
    before = count_experiments(c)
    bad = [
        (b"{not json", "MALFORMED_REQUEST"),
        (b"[1,2]", None),
        (b'{"name": "a", "name": "b"}', "INVALID_PARAMETER_VALUE"),
        (b'{"name": "x", "unknown_field": 1}', "INVALID_PARAMETER_VALUE"),
        (b'{"name": ["x"]}', "INVALID_PARAMETER_VALUE"),
        (b'{"name": "x", "tags": {"key": "a"}}', "INVALID_PARAMETER_VALUE"),
        (b'{"name": "x", "tags": [{"key": 5, "value": "v"}]}', "INVALID_PARAMETER_VALUE"),
        (b'{"name": "\xff\xfe"}', None),
        (b'{"name": "bad\\ud800"}', None),
        (b'{"name": "x"' + b' ' * 10, "MALFORMED_REQUEST"),
    ]
    for body, code in bad:
        r = c.raw("POST", "/api/2.0/mlflow/experiments/create", body,
                  {"Content-Type": "application/json"})
        check(r.status == 400, (body, r))
        j = r.json()
        check(j["error_code"] in ("MALFORMED_REQUEST", "INVALID_PARAMETER_VALUE"), (body, j))
        if code:
            check(j["error_code"] == code, (body, j))
    # a 10 MB body is refused without being read whole
    big = b'{"name": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    r = c.raw("POST", "/api/2.0/mlflow/experiments/create", big,
              {"Content-Type": "application/json"})
    check(r.status == 400, r)
    check(r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST"), r)
    c = server().client()
    # bad query strings
    for q in ["experiment_id=%zz", "experiment_id=%ff%fe", "experiment_id=1&experiment_id=2",
              "view_type=WHATEVER"]:
        path = "experiments/get" if "view_type" not in q else "experiments/search"
        r = c.raw("GET", "/api/2.0/mlflow/%s?%s" % (path, q))
        check(r.status == 400, (q, r))
        check(r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST"), (q, r))
    check(count_experiments(c) == before, "bad input wrote something")


def test_unknown_route_and_method():
    c = server().client()
    expect_error(c.raw("GET", "/api/2.0/mlflow/nope/never"), 404, "ENDPOINT_NOT_FOUND")
    r = c.raw("GET", "/api/2.0/mlflow/experiments/create")
    check(r.status in (404, 405), r)
    check(r.json()["error_code"] in ("ENDPOINT_NOT_FOUND", "BAD_REQUEST"), r)


def test_concurrent_creates_unique_names():
    c0 = server().client()
    results, lock = [], threading.Lock()

    def worker(i):
        c = server().client()
        for j in range(20):
            r = c.post("experiments/create", {"name": "race-%d" % (j % 10)})
            with lock:
                results.append((r.status, r.json()))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    ok = [j["experiment_id"] for s, j in results if s == 200]
    check(len(ok) == 10, "exactly one create per name may win, got %d" % len(ok))
    check(len(set(ok)) == 10, ok)
    check(all(j["error_code"] == "RESOURCE_ALREADY_EXISTS" for s, j in results if s != 200))
    for i in range(10):
        check(c0.get("experiments/get-by-name", {"experiment_name": "race-%d" % i}).status == 200)


def test_restart_keeps_everything():
    srv = Server().start()
    try:
        c = srv.client()
        eid = c.post("experiments/create", {"name": "persist", "tags": [{"key": "k", "value": "v"}]}
                     ).json()["experiment_id"]
        c.post("experiments/update", {"experiment_id": eid, "new_name": "persisted"})
        srv.restart()
        c = srv.client()
        e = c.get("experiments/get-by-name", {"experiment_name": "persisted"}).json()["experiment"]
        check(e["experiment_id"] == eid and e["tags"] == [{"key": "k", "value": "v"}], e)
        # ids keep counting up after a restart
        eid2 = c.post("experiments/create", {"name": "after"}).json()["experiment_id"]
        check(int(eid2) > int(eid), (eid, eid2))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    try:
        run_tests([test_default_experiment_exists, test_create_get_roundtrip, test_create_errors,
                   test_get_errors, test_rename_delete_restore, test_tags, test_search,
                   test_bad_input_changes_nothing, test_unknown_route_and_method,
                   test_concurrent_creates_unique_names, test_restart_keeps_everything])
    finally:
        if SRV:
            SRV.cleanup()
