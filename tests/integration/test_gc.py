"""`cairn gc` end to end: deleted runs and experiments stay restorable until
`cairn gc` removes them for good -- data (404, not restorable), artifacts
(gone from disk), names (free again) -- with each of its options, while live
runs stay untouched; errors for ids that are not deleted or not old enough."""
import os
import shutil
import subprocess
import tempfile
import time

import harness
from harness import Server, check, expect_error, run_tests


def gc(srv, *args, env=None):
    """Run `cairn gc` against srv; returns (exit status, stdout, stderr)."""
    p = subprocess.run([harness.CAIRN, "gc", "--tracking-uri",
                        "http://127.0.0.1:%d" % srv.port] + list(args),
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def new_exp(c, name):
    r = c.post("experiments/create", {"name": name})
    check(r.status == 200, r)
    return r.json()["experiment_id"]


def new_run(c, exp="0", files=True, srv=None):
    """A run with params, metrics (a history), tags, an input, and (with
    srv) artifact files where the proxied store keeps them."""
    r = c.post("runs/create", {"experiment_id": exp})
    check(r.status == 200, r)
    info = r.json()["run"]["info"]
    rid = info["run_id"]
    metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1, "step": i}
               for i in range(300)]
    r = c.post("runs/log-batch", {"run_id": rid, "metrics": metrics,
                                  "params": [{"key": "lr", "value": "0.1"}],
                                  "tags": [{"key": "t", "value": "v"}]})
    check(r.status == 200, r)
    r = c.post("runs/log-inputs", {"run_id": rid, "datasets": [
        {"dataset": {"name": "ds", "digest": "d1", "source_type": "local", "source": "x"},
         "tags": [{"key": "mlflow.data.context", "value": "train"}]}]})
    check(r.status == 200, r)
    if srv:
        d = run_dir(srv, info)
        os.makedirs(os.path.join(d, "artifacts", "model"), exist_ok=True)
        with open(os.path.join(d, "artifacts", "model", "weights.bin"), "wb") as f:
            f.write(b"\0" * 4096)
    return rid


def run_dir(srv, info):
    """The run's folder under the default artifacts destination."""
    uri = info["artifact_uri"]
    check(uri.startswith("mlflow-artifacts:/") and uri.endswith("/artifacts"), uri)
    return os.path.join(srv.data_dir, "artifacts",
                        uri[len("mlflow-artifacts:/"):-len("/artifacts")])


def info_of(c, rid):
    r = c.get("runs/get", {"run_id": rid})
    check(r.status == 200, r)
    return r.json()["run"]["info"]


def check_purged_run(c, srv, rid, folder):
    expect_error(c.get("runs/get", {"run_id": rid}), 404, "RESOURCE_DOES_NOT_EXIST")
    expect_error(c.post("runs/restore", {"run_id": rid}), 404, "RESOURCE_DOES_NOT_EXIST")
    r = c.get("metrics/get-history", {"run_id": rid, "metric_key": "loss"})
    check(r.status == 404 or (r.status == 200 and not r.json().get("metrics")), r)
    check(not os.path.exists(folder), "artifacts left in %s" % folder)


def check_live_run(c, srv, rid, folder, stage="active"):
    info = info_of(c, rid)
    check(info["lifecycle_stage"] == stage, info)
    r = c.get("metrics/get-history", {"run_id": rid, "metric_key": "loss"})
    check(r.status == 200 and len(r.json()["metrics"]) == 300, r)
    check(os.path.exists(os.path.join(folder, "artifacts", "model", "weights.bin")), folder)


def test_gc_everything_deleted():
    srv = Server().start()
    try:
        c = srv.client()
        a = new_exp(c, "gc-a")
        b = new_exp(c, "gc-b")
        runs = {k: new_run(c, e, srv=srv) for k, e in
                (("dead", a), ("live", a), ("dead0", "0"), ("b_live", b), ("b_dead", b))}
        dirs = {k: run_dir(srv, info_of(c, r)) for k, r in runs.items()}
        for k in ("dead", "dead0", "b_dead"):
            check(c.post("runs/delete", {"run_id": runs[k]}).status == 200)
        check(c.post("experiments/delete", {"experiment_id": b}).status == 200)
        # Deleted is still restorable before gc.
        check(info_of(c, runs["dead"])["lifecycle_stage"] == "deleted")

        rc, out, err = gc(srv)
        check(rc == 0, (rc, out, err))
        check("purged 4 of 4 runs and 1 of 1 experiments" in out, out)
        check("gc [" not in err, "progress bar without a terminal: %r" % err)
        for k in ("dead", "dead0", "b_live", "b_dead"):
            check_purged_run(c, srv, runs[k], dirs[k])
        check_live_run(c, srv, runs["live"], dirs["live"])
        # The experiment is gone for good and its name is free again.
        expect_error(c.get("experiments/get", {"experiment_id": b}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.post("experiments/restore", {"experiment_id": b}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        r = c.post("experiments/search", {"view_type": "ALL"})
        check(b not in [e["experiment_id"] for e in r.json()["experiments"]], r)
        b2 = new_exp(c, "gc-b")
        check(b2 != b, (b, b2))
        # Searches see only what is left.
        r = c.post("runs/search", {"experiment_ids": [a, "0"], "run_view_type": "ALL"})
        check([x["info"]["run_id"] for x in r.json()["runs"]] == [runs["live"]], r)
        # Nothing left to do: a second gc purges nothing.
        rc, out, err = gc(srv)
        check(rc == 0 and "purged 0 of 0 runs and 0 of 0 experiments" in out, (rc, out, err))
        # What survived survives a restart too.
        srv.restart()
        c = srv.client()
        check_live_run(c, srv, runs["live"], dirs["live"])
        expect_error(c.get("runs/get", {"run_id": runs["dead"]}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
    finally:
        srv.cleanup()


def test_gc_run_ids():
    srv = Server().start()
    try:
        c = srv.client()
        r1, r2, live = (new_run(c, srv=srv) for _ in range(3))
        dirs = {r: run_dir(srv, info_of(c, r)) for r in (r1, r2, live)}
        for r in (r1, r2):
            check(c.post("runs/delete", {"run_id": r}).status == 200)
        # A run that is not deleted: an error, and nothing changes.
        rc, out, err = gc(srv, "--run-ids", "%s,%s" % (r1, live))
        check(rc == 1 and "Run %s is not in `deleted` lifecycle stage" % live in err,
              (rc, out, err))
        check_live_run(c, srv, r1, dirs[r1], "deleted")
        # An unknown run: 404.
        rc, out, err = gc(srv, "--run-ids", "0" * 32)
        check(rc == 1 and "RESOURCE_DOES_NOT_EXIST" in err, (rc, out, err))

        rc, out, err = gc(srv, "--run-ids", r1, "--progress")
        check(rc == 0 and "purged 1 of 1 runs" in out, (rc, out, err))
        check("gc [" in err and "1/1" in err, "no progress bar: %r" % err)
        check_purged_run(c, srv, r1, dirs[r1])
        # The other deleted run was not named: still there, still restorable.
        check_live_run(c, srv, r2, dirs[r2], "deleted")
        check(c.post("runs/restore", {"run_id": r2}).status == 200)
        check_live_run(c, srv, r2, dirs[r2])
        check_live_run(c, srv, live, dirs[live])
    finally:
        srv.cleanup()


def test_gc_experiment_ids():
    srv = Server().start()
    try:
        c = srv.client()
        e1, e2, e3 = new_exp(c, "e1"), new_exp(c, "e2"), new_exp(c, "e3")
        runs = {e: new_run(c, e, srv=srv) for e in (e1, e2, e3)}
        dirs = {e: run_dir(srv, info_of(c, r)) for e, r in runs.items()}
        for e in (e1, e2):
            check(c.post("experiments/delete", {"experiment_id": e}).status == 200)
        # An experiment that is not deleted: an error naming it, nothing changes.
        rc, out, err = gc(srv, "--experiment-ids", "%s,%s" % (e1, e3))
        check(rc == 1 and "Experiments ['%s'] are not in the deleted lifecycle stage" % e3
              in err, (rc, out, err))
        rc, out, err = gc(srv, "--experiment-ids", "12345")
        check(rc == 1 and "No Experiment with id=12345 exists" in err, (rc, out, err))
        check_live_run(c, srv, runs[e1], dirs[e1])

        rc, out, err = gc(srv, "--experiment-ids", e1)
        check(rc == 0 and "purged 1 of 1 runs and 1 of 1 experiments" in out, (rc, out, err))
        check_purged_run(c, srv, runs[e1], dirs[e1])
        expect_error(c.get("experiments/get", {"experiment_id": e1}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        new_exp(c, "e1")
        # e2 was not named: still deleted, still restorable with its run.
        check(c.post("experiments/restore", {"experiment_id": e2}).status == 200)
        check_live_run(c, srv, runs[e2], dirs[e2])
        check_live_run(c, srv, runs[e3], dirs[e3])
    finally:
        srv.cleanup()


def test_gc_older_than():
    srv = Server().start()
    try:
        c = srv.client()
        old, new = new_run(c, srv=srv), new_run(c, srv=srv)
        e_old, e_new = new_exp(c, "old"), new_exp(c, "new")
        dirs = {r: run_dir(srv, info_of(c, r)) for r in (old, new)}
        check(c.post("runs/delete", {"run_id": old}).status == 200)
        check(c.post("experiments/delete", {"experiment_id": e_old}).status == 200)
        time.sleep(2.5)
        check(c.post("runs/delete", {"run_id": new}).status == 200)
        check(c.post("experiments/delete", {"experiment_id": e_new}).status == 200)
        # Right away (the new ones are well under 2 s old even under the
        # sanitizers): only what was deleted 2.5 s ago goes.
        rc, out, err = gc(srv, "--older-than", "2s")
        check(rc == 0 and "purged 1 of 1 runs and 1 of 1 experiments" in out, (rc, out, err))
        check_purged_run(c, srv, old, dirs[old])
        expect_error(c.get("experiments/get", {"experiment_id": e_old}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        check_live_run(c, srv, new, dirs[new], "deleted")
        r = c.get("experiments/get", {"experiment_id": e_new})
        check(r.status == 200 and r.json()["experiment"]["lifecycle_stage"] == "deleted", r)

        # Bad durations are refused before anything is asked.
        for bad in ("1x", "1s1d", "d", "1h1h"):
            rc, out, err = gc(srv, "--older-than", bad)
            check(rc == 2 and "Could not parse any time information" in err, (bad, rc, err))
        # Named but too young: errors. Nothing is an hour old.
        rc, out, err = gc(srv, "--older-than", "1h", "--run-ids", new)
        check(rc == 1 and "is not older than the required age" in err, (rc, out, err))
        rc, out, err = gc(srv, "--older-than", "0.5d1h", "--experiment-ids", e_new)
        check(rc == 1 and "are not older than the required age" in err, (rc, out, err))
        rc, out, err = gc(srv, "--older-than", "0.5d1h")
        check(rc == 0 and "purged 0 of 0 runs and 0 of 0 experiments" in out, (rc, out, err))
        check_live_run(c, srv, new, dirs[new], "deleted")
        # Restored and deleted again, it counts from the new deletion.
        check(c.post("runs/restore", {"run_id": new}).status == 200)
        check(c.post("runs/delete", {"run_id": new}).status == 200)
        rc, out, err = gc(srv, "--older-than", "1h", "--run-ids", new)
        check(rc == 1 and "is not older than the required age" in err, (rc, out, err))
    finally:
        srv.cleanup()


def test_gc_direct_location():
    """An experiment whose artifacts live at a location of its own (not
    proxied): the purged run's folder goes, its neighbours stay."""
    srv = Server().start()
    loc = tempfile.mkdtemp(prefix="cairn-gc-loc-")
    try:
        c = srv.client()
        for uri in (loc, "file://" + loc):
            name = "direct-%d" % len(uri)
            r = c.post("experiments/create", {"name": name, "artifact_location": uri})
            check(r.status == 200, r)
            exp = r.json()["experiment_id"]
            dead, live = new_run(c, exp), new_run(c, exp)
            for rid in (dead, live):
                check(info_of(c, rid)["artifact_uri"] == "%s/%s/artifacts" % (uri, rid),
                      info_of(c, rid))
                os.makedirs(os.path.join(loc, rid, "artifacts", "d"))
                with open(os.path.join(loc, rid, "artifacts", "d", "f.txt"), "w") as f:
                    f.write("x")
            with open(os.path.join(loc, "neighbour.txt"), "w") as f:
                f.write("keep")
            check(c.post("runs/delete", {"run_id": dead}).status == 200)
            rc, out, err = gc(srv, "--run-ids", dead)
            check(rc == 0 and "purged 1 of 1 runs" in out, (rc, out, err))
            check(not os.path.exists(os.path.join(loc, dead)), os.listdir(loc))
            check(os.path.exists(os.path.join(loc, live, "artifacts", "d", "f.txt")),
                  os.listdir(loc))
            check(open(os.path.join(loc, "neighbour.txt")).read() == "keep")
    finally:
        srv.cleanup()
        shutil.rmtree(loc, ignore_errors=True)


def test_gc_routes_errors():
    """The service's own checks, over HTTP: purges refuse live runs and
    experiments and change nothing."""
    srv = Server().start()
    try:
        c = srv.client()
        rid = new_run(c, srv=srv)
        folder = run_dir(srv, info_of(c, rid))
        expect_error(c.post("cairn/gc/purge-runs", {"run_ids": [rid]}, prefix="/api/2.0/"),
                     400, "INVALID_PARAMETER_VALUE", "is not in `deleted` lifecycle stage")
        expect_error(c.post("cairn/gc/purge-experiment", {"experiment_id": "0"},
                            prefix="/api/2.0/"),
                     400, "INVALID_PARAMETER_VALUE", "not in the deleted lifecycle stage")
        expect_error(c.post("cairn/gc/purge-experiment", {}, prefix="/api/2.0/"), 400,
                     "INVALID_PARAMETER_VALUE", "experiment_id")
        expect_error(c.post("cairn/gc/candidates", {"older_than_ms": -1}, prefix="/api/2.0/"),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(c.post("cairn/gc/purge-runs", {"run_ids": ["nothex"]}, prefix="/api/2.0/"),
                     404, "RESOURCE_DOES_NOT_EXIST")
        check_live_run(c, srv, rid, folder)
        # A purged id again is harmless (retries after a lost answer).
        check(c.post("runs/delete", {"run_id": rid}).status == 200)
        for _ in range(2):
            r = c.post("cairn/gc/purge-runs", {"run_ids": [rid]}, prefix="/api/2.0/")
            check(r.status == 200 and r.json()["purged"] == 1, r)
        check_purged_run(c, srv, rid, folder)
    finally:
        srv.cleanup()


def test_gc_no_server():
    srv = Server()  # never started: nothing listens on its port
    try:
        rc, out, err = gc(srv)
        check(rc == 1 and "cairn gc:" in err, (rc, out, err))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_gc_everything_deleted, test_gc_run_ids, test_gc_experiment_ids,
               test_gc_older_than, test_gc_direct_location, test_gc_routes_errors,
               test_gc_no_server])
