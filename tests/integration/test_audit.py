"""The audit trail end to end: tracking writes by two callers (one named by
the trusted user header, one by HTTP Basic), failed writes recorded with
their error, reads not recorded; after a restart the trail answers by
entity, by caller and by time range; no route changes or removes records."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import harness
from harness import (Client, Proc, Server, check, expect_error, free_port, run_tests,
                     wait_healthy)

AUDIT = "/api/2.0/cairn/audit/search"


def as_alice():
    return {"Content-Type": "application/json", "X-Forwarded-User": "alice"}


def as_bob():
    tok = base64.b64encode(b"bob:ignored").decode()
    return {"Content-Type": "application/json", "Authorization": "Basic " + tok}


def post(c, path, obj, headers):
    return c.raw("POST", "/api/2.0/mlflow/" + path, json.dumps(obj).encode(), headers)


def cli(srv, *args):
    p = subprocess.run([harness.CAIRN, "audit", "--tracking-uri",
                        "http://127.0.0.1:%d" % srv.port] + list(args),
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, p)
    return p.stdout


def search(c, **params):
    r = c.get("search", params, prefix="/api/2.0/cairn/audit/")
    check(r.status == 200, r)
    return r.json().get("records", [])


def test_trail():
    srv = Server(extra=["--user-header", "X-Forwarded-User"]).start()
    try:
        c = srv.client()
        t0 = int(time.time() * 1000)
        r = post(c, "experiments/create", {"name": "audited"}, as_alice())
        check(r.status == 200, r)
        exp = r.json()["experiment_id"]
        r = post(c, "runs/create", {"experiment_id": exp}, as_bob())
        check(r.status == 200, r)
        run = r.json()["run"]["info"]["run_id"]
        r = post(c, "runs/log-batch", {"run_id": run, "metrics": [
            {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}]}, as_bob())
        check(r.status == 200, r)
        r = post(c, "runs/update", {"run_id": run, "status": "FINISHED"}, as_alice())
        check(r.status == 200, r)
        # A failed write: recorded with its outcome.
        r = post(c, "runs/create", {"experiment_id": "987654"}, as_bob())
        check(r.status == 404, r)
        # Reads: not recorded.
        check(c.get("runs/get", {"run_id": run}).status == 200)
        r = post(c, "runs/search", {"experiment_ids": [exp]}, as_alice())
        check(r.status == 200, r)
        # A big batch is recorded as a summary, not its 200 metrics.
        r = post(c, "runs/log-batch", {"run_id": run, "metrics": [
            {"key": "big", "value": 1.0, "timestamp": 1, "step": s} for s in range(200)]},
            as_bob())
        check(r.status == 200, r)
        r = post(c, "runs/delete", {"run_id": run}, as_alice())
        check(r.status == 200, r)
        t1 = int(time.time() * 1000)

        srv.restart()
        c = srv.client()

        recs = search(c, entity_type="run_id", entity_id=run)
        methods = [x["method"] for x in recs]
        check(methods == ["CreateRun", "LogBatch", "UpdateRun", "LogBatch", "DeleteRun"], methods)
        callers = [x["caller"] for x in recs]
        check(callers == ["bob", "bob", "alice", "bob", "alice"], callers)
        check(recs[3]["request_truncated"] and '"metrics":"<200 items>"' in recs[3]["request_json"],
              recs[3])
        for x in recs:
            check(x["outcome"] == "OK", x)
            check(x["client_addr"].startswith("127.0.0.1:"), x)
            check(x["service"] == "tracking", x)
            check(int(x["timestamp_ms"]) >= t0 and int(x["timestamp_ms"]) <= t1, x)
            check(x["request_id"], x)
        check('"status":"FINISHED"' in recs[2]["request_json"], recs[2])
        check(not recs[1].get("request_truncated") and '"key":"m"' in recs[1]["request_json"],
              recs[1])

        recs = search(c, entity_type="experiment_id", entity_id=exp)
        check([x["method"] for x in recs][:2] == ["CreateExperiment", "CreateRun"], recs)
        check(recs[0]["caller"] == "alice", recs[0])
        # A request field (name) and a reply field (the new experiment_id) both index.
        by_name = search(c, entity_type="name", entity_id="audited")
        check([x["method"] for x in by_name] == ["CreateExperiment"], by_name)
        check({"type": "experiment_id", "id": exp} in by_name[0]["entities"], by_name)

        failed = search(c, entity_type="experiment_id", entity_id="987654")
        check(len(failed) == 1 and failed[0]["outcome"] == "RESOURCE_DOES_NOT_EXIST", failed)
        check(failed[0]["error_message"], failed)

        everything = search(c, since=t0, until=t1)
        names = [x["method"] for x in everything]
        check("GetRun" not in names and "SearchRuns" not in names, names)
        check(len(everything) == 7, names)
        check(search(c, since=t1 + 1) == [] or all(
            x["method"] != "CreateRun" for x in search(c, since=t1 + 1)))
        only_bob = search(c, caller="bob", since=t0)
        check([x["method"] for x in only_bob] == ["CreateRun", "LogBatch", "CreateRun", "LogBatch"],
              only_bob)

        # Paging, and newest first.
        page = c.get("search", {"since": t0, "until": t1, "max_results": 4},
                     prefix="/api/2.0/cairn/audit/").json()
        check(len(page["records"]) == 4 and page.get("next_page_token"), page)
        rest = search(c, since=t0, until=t1, page_token=page["next_page_token"])
        check([x["id"] for x in page["records"] + rest] == [x["id"] for x in everything])
        desc = search(c, since=t0, until=t1, order="desc")
        check([x["id"] for x in desc] == [x["id"] for x in reversed(everything)])

        # Bad queries and no way to alter the trail.
        expect_error(c.get("search", {"max_results": 0}, prefix="/api/2.0/cairn/audit/"),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(c.get("search", {"entity_type": "run_id"}, prefix="/api/2.0/cairn/audit/"),
                     400, "INVALID_PARAMETER_VALUE")
        for m in ("POST", "PUT", "DELETE", "PATCH"):
            r = c.raw(m, AUDIT, b"{}", {"Content-Type": "application/json"})
            check(r.status in (404, 405), (m, r))
            r = c.raw(m, "/api/2.0/cairn/audit/records", b"{}",
                      {"Content-Type": "application/json"})
            check(r.status in (404, 405), (m, r))
        check(len(search(c, since=t0, until=t1)) == 7)

        # `cairn audit`: the same answers from the command line.
        out = cli(srv, "--entity", "run_id=" + run, "--json")
        check([x["method"] for x in json.loads(out)] ==
              ["CreateRun", "LogBatch", "UpdateRun", "LogBatch", "DeleteRun"], out)
        out = cli(srv, "--caller", "bob", "--since", str(t0), "--until", str(t1))
        lines = out.strip().splitlines()
        check(len(lines) == 4 and "tracking.CreateRun" in lines[0] and "bob" in lines[0], out)
        check("RESOURCE_DOES_NOT_EXIST" in lines[2], out)
        out = cli(srv, "--since", "2000-01-01T00:00:00Z", "--max", "2", "--json")
        check(len(json.loads(out)) == 2, out)
        p = subprocess.run([harness.CAIRN, "audit", "--since", "yesterday"],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and "bad time" in p.stderr, p)
    finally:
        srv.cleanup()


def test_split_mode():
    """`cairn service tracking` and `cairn service audit` as two processes on
    one data directory: the audit service reads tracking's trail (a RocksDB
    secondary of the tracking process), new records included."""
    data = tempfile.mkdtemp(prefix="cairn-audit-split-")
    trk_port, aud_port, http_port = free_port(), free_port(), free_port()
    procs = []
    try:
        for name, port in [("tracking", trk_port), ("audit", aud_port)]:
            p = Proc(["service", name, "--listen", "tcp://127.0.0.1:%d" % port, "--data", data],
                     log_name=name).start()
            procs.append(p)
            deadline = time.time() + 30
            while "SERVICE-READY" not in p.logs():
                check(p.p.poll() is None and time.time() < deadline, p.logs())
                time.sleep(0.05)
        gw = Proc(["gateway", "--port", str(http_port),
                   "--service", "tracking=tcp://127.0.0.1:%d" % trk_port,
                   "--service", "audit=tcp://127.0.0.1:%d" % aud_port], log_name="gateway").start()
        procs.append(gw)
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        r = post(c, "experiments/create", {"name": "split"}, as_alice())
        check(r.status == 200, r)
        exp = r.json()["experiment_id"]
        r = post(c, "runs/create", {"experiment_id": exp}, as_alice())
        check(r.status == 200, r)
        run = r.json()["run"]["info"]["run_id"]
        r = post(c, "runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 1,
                                        "step": 0}, as_alice())
        check(r.status == 200, r)
        recs = search(c, entity_type="run_id", entity_id=run)
        check([x["method"] for x in recs] == ["CreateRun", "LogMetric"], recs)
        check(all(x["service"] == "tracking" and x["outcome"] == "OK" for x in recs), recs)
        recs = search(c, entity_type="experiment_id", entity_id=exp)
        check([x["method"] for x in recs] == ["CreateExperiment", "CreateRun"], recs)
    finally:
        for p in reversed(procs):
            p.term()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_trail, test_split_mode])
