"""A real third-party client drives Cairn: the `mlflow` package from the npm
registry (tests/peers/mlflow-npm, installed by tests/peers/install.sh) runs
tests/peers/mlflow-npm/drive.js against `cairn server`; the script checks
every answer it gets, and this side checks the stored result over HTTP.
Missing node or a missing peer is a failure, not a skip."""
import json
import os
import shutil
import subprocess

from harness import Server, check, run_tests

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "mlflow-npm")


def test_npm_client():
    node = shutil.which("node")
    check(node, "node not found (deploy/install-deps.sh --test installs it)")
    pkg = os.path.join(PEER, "node_modules", "mlflow", "package.json")
    check(os.path.exists(pkg), "npm peer missing: run tests/peers/install.sh")
    srv = Server().start()
    try:
        p = subprocess.run([node, os.path.join(PEER, "drive.js"),
                            "http://127.0.0.1:%d" % srv.port],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "drive.js failed (%d):\n%s\n%s" % (p.returncode, p.stdout,
                                                                   p.stderr))
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("CAIRN-RESULT ")]
        check(len(lines) == 1, "no result line in:\n%s" % p.stdout)
        res = json.loads(lines[0][len("CAIRN-RESULT "):])

        # What the client wrote is what the server kept.
        c = srv.client()
        r = c.get("runs/get", {"run_id": res["run_id"]})
        check(r.status == 200, r)
        run = r.json()["run"]
        check(run["info"]["status"] == "FINISHED" and run["info"]["user_id"] == "node", run)
        params = {x["key"]: x["value"] for x in run["data"]["params"]}
        check(params == {"lr": "0.01", "epochs": "10"}, params)
        r = c.get("metrics/get-history", {"run_id": res["run_id"], "metric_key": "loss"})
        check(r.status == 200 and len(r.json()["metrics"]) == 10, r)
        r = c.post("runs/search", {"experiment_ids": [res["experiment_id"]]})
        check(r.status == 200, r)
        ids = sorted(x["info"]["run_id"] for x in r.json()["runs"])
        check(ids == sorted([res["run_id"], res["other_run_id"]]), ids)
        r = c.get("experiments/get", {"experiment_id": res["experiment_id"]})
        check(r.status == 200 and r.json()["experiment"]["name"] == "npm-exp-2", r)
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_npm_client])
