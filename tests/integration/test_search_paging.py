"""runs/search's in-memory cache and keyset page tokens, end to end against
`cairn server`: paging while other clients insert runs and log metrics
returns every run that existed and matches exactly once; a search sees each
acknowledged write (read-your-writes) for every kind of run mutation; a tiny
cache budget (every experiment evicted after each search) answers the same;
long sort keys (anchor tokens) and MLflow's offset tokens page correctly."""
import base64
import json
import threading

from harness import Server, check, expect_error, run_tests


def ok(r):
    check(r.status == 200, r)
    return r.json()


def make_runs(c, exp, n, base=10_000):
    """n runs with colliding start times (ties broken by run id), metric m on
    two thirds of them, param p on half, and a tag."""
    ids = []
    for i in range(n):
        rid = ok(c.post("runs/create", {"experiment_id": exp, "run_name": "r%d" % i,
                                        "start_time": base + (i % 37)}))["run"]["info"]["run_id"]
        ids.append(rid)
        body = {"run_id": rid, "tags": [{"key": "t", "value": "tag-%d" % (i % 5)}]}
        if i % 3:
            body["metrics"] = [{"key": "m", "value": float(i % 11), "timestamp": 1, "step": 0}]
        if i % 2:
            body["params"] = [{"key": "p", "value": "v%03d" % (i % 13)}]
        ok(c.post("runs/log-batch", body))
    return ids


def page_all(c, body, page=25, between=None):
    got, tok = [], None
    while True:
        if tok and between:
            between()
        b = dict(body, max_results=page)
        if tok:
            b["page_token"] = tok
        j = ok(c.post("runs/search", b))
        got.extend(r["info"]["run_id"] for r in j.get("runs", []))
        tok = j.get("next_page_token")
        if not tok:
            return got


def test_paging_while_inserting():
    srv = Server().start()
    try:
        c = srv.client()
        exp = ok(c.post("experiments/create", {"name": "paging"}))["experiment_id"]
        before = make_runs(c, exp, 240)
        stop = threading.Event()
        errors = []
        inserted = [0]
        progress = threading.Condition()

        def wait_for_inserts():
            # every page is fetched after at least one more insert
            with progress:
                seen = inserted[0]
                progress.wait_for(lambda: inserted[0] > seen or errors, timeout=10)

        def writer():
            w = srv.client()
            i = 0
            try:
                while not stop.is_set():
                    # new runs land inside the existing start_time and metric ranges,
                    # so offset paging would shift and repeat entries
                    rid = ok(w.post("runs/create", {"experiment_id": exp,
                                                    "start_time": 10_000 + i % 37}))
                    rid = rid["run"]["info"]["run_id"]
                    ok(w.post("runs/log-batch", {"run_id": rid, "metrics": [
                        {"key": "m", "value": float(i % 11), "timestamp": 1, "step": 0}],
                        "params": [{"key": "p", "value": "v%03d" % (i % 13)}]}))
                    # existing runs keep logging a metric that is not a sort key
                    ok(w.post("runs/log-metric", {"run_id": before[i % len(before)],
                                                  "key": "other", "value": i,
                                                  "timestamp": 2, "step": i}))
                    i += 1
                    with progress:
                        inserted[0] += 1
                        progress.notify_all()
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=writer) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            m_runs = {r for i, r in enumerate(before) if i % 3}
            p_runs = {r for i, r in enumerate(before) if i % 2}
            cases = [
                ({}, set(before)),
                ({"order_by": ["metrics.m ASC"]}, set(before)),
                ({"order_by": ["metrics.m DESC", "params.p ASC"]}, set(before)),
                ({"filter": "metrics.m >= 3", "order_by": ["metrics.m"]},
                 {r for i, r in enumerate(before) if i % 3 and i % 11 >= 3}),
                ({"filter": "params.p LIKE 'v00%'", "order_by": ["params.p DESC"]},
                 {r for i, r in enumerate(before) if i % 2 and i % 13 < 10}),
                ({"order_by": ["attributes.run_name ASC"]}, set(before)),
                ({"order_by": ["tags.t DESC", "start_time ASC"]}, set(before)),
            ]
            check(m_runs and p_runs)
            for body, want in cases:
                body = dict(body, experiment_ids=[exp])
                got = page_all(c, body, page=17, between=wait_for_inserts)
                check(len(got) == len(set(got)),
                      "%s: %d duplicates" % (body, len(got) - len(set(got))))
                missing = want - set(got)
                check(not missing, "%s: %d pre-existing runs missing" % (body, len(missing)))
        finally:
            stop.set()
            for t in threads:
                t.join()
        check(not errors, errors)
        check(inserted[0] >= 20, inserted[0])
        # Once writes stop, a paged search equals the unpaged one, in order.
        for ob in ([], ["metrics.m ASC"], ["params.p DESC", "metrics.m DESC"]):
            body = {"experiment_ids": [exp], "order_by": ob}
            full = ok(c.post("runs/search", dict(body, max_results=50000)))
            full = [r["info"]["run_id"] for r in full["runs"]]
            check(page_all(c, body, page=31) == full, ob)
    finally:
        srv.cleanup()


def ids_of(c, exp, flt, view=None):
    body = {"experiment_ids": [exp], "filter": flt}
    if view:
        body["run_view_type"] = view
    return [r["info"]["run_id"] for r in ok(c.post("runs/search", body)).get("runs", [])]


def test_read_your_writes():
    srv = Server().start()
    try:
        c = srv.client()
        exp = ok(c.post("experiments/create", {"name": "ryw"}))["experiment_id"]
        ok(c.post("runs/search", {"experiment_ids": [exp]}))  # load the (empty) cache
        rid = ok(c.post("runs/create", {"experiment_id": exp, "run_name": "one",
                                        "tags": [{"key": "k", "value": "v"}]}))
        rid = rid["run"]["info"]["run_id"]
        check(ids_of(c, exp, "tags.k = 'v'") == [rid])
        check(ids_of(c, exp, "attributes.run_name = 'one'") == [rid])
        ok(c.post("runs/log-metric", {"run_id": rid, "key": "acc", "value": 0.5,
                                      "timestamp": 1, "step": 0}))
        check(ids_of(c, exp, "metrics.acc = 0.5") == [rid])
        ok(c.post("runs/log-metric", {"run_id": rid, "key": "acc", "value": 0.7,
                                      "timestamp": 1, "step": 1}))
        check(ids_of(c, exp, "metrics.acc = 0.5") == [])
        check(ids_of(c, exp, "metrics.acc = 0.7") == [rid])
        ok(c.post("runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.1"}))
        check(ids_of(c, exp, "params.lr = '0.1'") == [rid])
        ok(c.post("runs/set-tag", {"run_id": rid, "key": "k", "value": "w"}))
        check(ids_of(c, exp, "tags.k = 'w'") == [rid])
        ok(c.post("runs/delete-tag", {"run_id": rid, "key": "k"}))
        check(ids_of(c, exp, "tags.k IS NULL") == [rid])
        ok(c.post("runs/update", {"run_id": rid, "status": "FINISHED", "end_time": 5,
                                  "run_name": "two"}))
        check(ids_of(c, exp, "attributes.status = 'FINISHED' AND attributes.end_time = 5"
                     " AND attributes.run_name = 'two'") == [rid])
        ok(c.post("runs/log-batch", {"run_id": rid, "tags": [
            {"key": "mlflow.runName", "value": "three"}]}))
        check(ids_of(c, exp, "attributes.run_name = 'three'") == [rid])
        ok(c.post("runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": {
            "name": "ds", "digest": "d1", "source_type": "local", "source": "{}"},
            "tags": [{"key": "mlflow.data.context", "value": "train"}]}]}))
        check(ids_of(c, exp, "datasets.name = 'ds' AND datasets.context = 'train'") == [rid])
        ok(c.post("runs/log-model", {"run_id": rid, "model_json": json.dumps({
            "artifact_path": "m", "flavors": {}, "utc_time_created": "2024-01-01",
            "run_id": rid})}))
        check(ids_of(c, exp, "tags.`mlflow.log-model.history` LIKE '%artifact_path%'") == [rid])
        ok(c.post("runs/delete", {"run_id": rid}))
        check(ids_of(c, exp, "") == [])
        check(ids_of(c, exp, "", "DELETED_ONLY") == [rid])
        ok(c.post("runs/restore", {"run_id": rid}))
        check(ids_of(c, exp, "") == [rid])
        # After a restart the cache is rebuilt from the store.
        srv.restart()
        c = srv.client()
        check(ids_of(c, exp, "metrics.acc = 0.7 AND params.lr = '0.1' AND "
                     "datasets.digest = 'd1' AND attributes.run_name = 'three'") == [rid])
    finally:
        srv.cleanup()


def test_tiny_cache_budget():
    # A budget smaller than any experiment: each search loads its experiments,
    # then they are evicted; answers and page tokens are unaffected.
    srv = Server(extra=["--search-cache-bytes", "1"]).start()
    try:
        c = srv.client()
        e1 = ok(c.post("experiments/create", {"name": "tiny-a"}))["experiment_id"]
        e2 = ok(c.post("experiments/create", {"name": "tiny-b"}))["experiment_id"]
        a = make_runs(c, e1, 40)
        b = make_runs(c, e2, 30, base=20_000)
        got = page_all(c, {"experiment_ids": [e2, e1, e2], "order_by": ["metrics.m DESC"]},
                       page=7)
        check(sorted(got) == sorted(a + b), (len(got), len(a + b)))
        ok(c.post("runs/set-tag", {"run_id": a[0], "key": "t", "value": "new"}))
        check(ids_of(c, e1, "tags.t = 'new'") == [a[0]])
    finally:
        srv.cleanup()


def test_long_sort_keys_and_offset_tokens():
    srv = Server().start()
    try:
        c = srv.client()
        exp = ok(c.post("experiments/create", {"name": "long"}))["experiment_id"]
        ids = []
        for i in range(12):
            rid = ok(c.post("runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
            # values longer than a token can carry: the token anchors on the run
            ok(c.post("runs/set-tag", {"run_id": rid, "key": "big",
                                       "value": ("%02d" % (i % 4)) + "x" * 3000}))
            ids.append(rid)
        body = {"experiment_ids": [exp], "order_by": ["tags.big ASC"]}
        full = [r["info"]["run_id"] for r in
                ok(c.post("runs/search", dict(body, max_results=100)))["runs"]]
        check(sorted(full) == sorted(ids))
        check(page_all(c, body, page=5) == full)
        # MLflow's own offset token ({"offset": N}, base64) still pages.
        tok = base64.b64encode(json.dumps({"offset": 5}).encode()).decode()
        j = ok(c.post("runs/search", dict(body, max_results=4, page_token=tok)))
        check([r["info"]["run_id"] for r in j["runs"]] == full[5:9])
        # A token whose anchor run is gone for good is refused. (Deleting is
        # soft, so the run remains an anchor: the next page still works.)
        j = ok(c.post("runs/search", dict(body, max_results=5)))
        ok(c.post("runs/delete", {"run_id": full[4]}))
        j2 = ok(c.post("runs/search", dict(body, max_results=5,
                                           page_token=j["next_page_token"])))
        check([r["info"]["run_id"] for r in j2["runs"]] == full[5:10])
        expect_error(c.post("runs/search", dict(body, max_results=5, filter="tags.big = 'x'",
                                                page_token=j["next_page_token"])),
                     400, "INVALID_PARAMETER_VALUE", "Invalid page token")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_paging_while_inserting, test_read_your_writes, test_tiny_cache_budget,
               test_long_sort_keys_and_offset_tokens])
