"""Process-level behaviour: split mode, crash safety, shutdown, operational endpoints."""
import os
import shutil
import subprocess
import tempfile
import threading
import time

from harness import (Client, Proc, Server, check, expect_error, free_port, run_tests,
                     wait_healthy)


def start_service(port, data, timeout=30):
    svc = Proc(["service", "tracking", "--listen", "tcp://127.0.0.1:%d" % port, "--data", data],
               log_name="service").start()
    # Wait until it serves: opening the store may take seconds on a loaded
    # machine under the sanitizers, longer than the gateway's 1.5 s deadline.
    deadline = time.time() + timeout
    while "SERVICE-READY" not in svc.logs():
        check(svc.p.poll() is None and time.time() < deadline, svc.logs())
        time.sleep(0.05)
    return svc


def test_split_mode_outage_and_recovery():
    data = tempfile.mkdtemp(prefix="cairn-split-")
    bus_port, http_port = free_port(), free_port()
    svc = start_service(bus_port, data)
    gw = Proc(["gateway", "--port", str(http_port), "--service",
               "tracking=tcp://127.0.0.1:%d" % bus_port, "--request-timeout-ms", "1500"],
              log_name="gateway").start()
    try:
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        acked = []
        for i in range(20):
            r = c.post("experiments/create", {"name": "split-%d" % i})
            if r.status == 200:
                acked.append(r.json()["experiment_id"])
        check(len(acked) == 20, acked)
        # kill the service: the gateway answers 503 within the deadline, never hangs
        svc.kill9()
        t0 = time.time()
        r = c.get("experiments/get", {"experiment_id": acked[0]})
        took = time.time() - t0
        expect_error(r, 503, "TEMPORARILY_UNAVAILABLE")
        check(took < 15, "gateway hung for %.1fs" % took)  # liveness bound, 10x the deadline
        r = c.post("experiments/create", {"name": "during-outage"})
        expect_error(r, 503, "TEMPORARILY_UNAVAILABLE")
        # /health of the gateway itself stays up
        check(c.raw("GET", "/health").status == 200)
        # restart the service; the same gateway recovers without a restart of its own
        svc = start_service(bus_port, data)
        deadline = time.time() + 20
        while True:
            r = c.get("experiments/get", {"experiment_id": acked[0]})
            if r.status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        check(r.status == 200, r)
        for i, eid in enumerate(acked):
            e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
            check(e["name"] == "split-%d" % i, e)
        check(c.post("experiments/create", {"name": "after-recovery"}).status == 200)
    finally:
        gw.term()
        svc.term()
        shutil.rmtree(data, ignore_errors=True)


def make_certs(d):
    """A throwaway CA and one node certificate made with openssl. nng verifies the peer with
    mbedTLS, which matches an address against DNS names only, hence DNS:127.0.0.1."""
    script = """set -e
cd '%s'
printf '[req]\\ndistinguished_name=dn\\nprompt=no\\n[dn]\\nCN=Cairn Test CA\\n[v3_ca]\\nbasicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ca.cnf
printf 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth,clientAuth\\n' > leaf.cnf
EC='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 -config ca.cnf -extensions v3_ca $EC -keyout ca.key -out ca.pem -days 2
openssl req -new $EC -keyout node.key -out node.csr -subj /CN=127.0.0.1
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2 -extfile leaf.cnf
""" % d
    subprocess.run(["sh", "-c", script], check=True, capture_output=True)
    return ["--tls-cert", os.path.join(d, "node.pem"), "--tls-key", os.path.join(d, "node.key"),
            "--tls-ca", os.path.join(d, "ca.pem")]


def test_split_mode_over_mutual_tls():
    data = tempfile.mkdtemp(prefix="cairn-tls-")
    tls = make_certs(data)
    bus_port, http_port = free_port(), free_port()
    addr = "tls+tcp://127.0.0.1:%d" % bus_port
    svc = Proc(["service", "tracking", "--listen", addr, "--data", os.path.join(data, "db")] + tls,
               log_name="service").start()
    gw = Proc(["gateway", "--port", str(http_port), "--service", "tracking=" + addr,
               "--request-timeout-ms", "3000"] + tls, log_name="gateway").start()
    # a gateway without a client certificate is refused by the service
    bad_port = free_port()
    bad = Proc(["gateway", "--port", str(bad_port), "--service", "tracking=" + addr,
                "--request-timeout-ms", "800", "--tls-ca", tls[5]], log_name="bad").start()
    try:
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        deadline = time.time() + 20
        while True:
            r = c.post("experiments/create", {"name": "over-tls"})
            if r.status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        check(r.status == 200, "%r\n%s\n%s" % (r, svc.logs()[-1500:], gw.logs()[-1500:]))
        eid = r.json()["experiment_id"]
        e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
        check(e["name"] == "over-tls", e)
        wait_healthy(bad_port, 20, bad)
        expect_error(Client(bad_port).get("experiments/get", {"experiment_id": eid}), 503,
                     "TEMPORARILY_UNAVAILABLE")
    finally:
        bad.term()
        gw.term()
        svc.term()
        shutil.rmtree(data, ignore_errors=True)


def test_kill9_loses_no_acknowledged_create():
    srv = Server().start()
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(w):
        c = srv.client()
        i = 0
        while not stop.is_set():
            try:
                r = c.post("experiments/create", {"name": "crash-%d-%d" % (w, i)})
            except Exception:  # noqa: BLE001 - the server died under us: expected
                return
            if r.status == 200:
                with lock:
                    acked.append(("crash-%d-%d" % (w, i), r.json()["experiment_id"]))
            i += 1

    ts = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    [t.start() for t in ts]
    try:
        deadline = time.time() + 30
        while time.time() < deadline and len(acked) < 300:
            time.sleep(0.05)
        srv.kill9()
        stop.set()
        [t.join() for t in ts]
        check(len(acked) > 50, "too few writes before the kill: %d" % len(acked))
        srv.restart()
        c = srv.client()
        for name, eid in acked:
            r = c.get("experiments/get-by-name", {"experiment_name": name})
            check(r.status == 200, "acknowledged %s lost: %r" % (name, r))
            check(r.json()["experiment"]["experiment_id"] == eid, r)
    finally:
        stop.set()
        srv.cleanup()


def test_health_version_metrics_headers():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.raw("GET", "/health")
        check(r.status == 200 and r.body == b"OK", r)
        r = c.raw("GET", "/version")
        check(r.status == 200 and r.body.decode().strip().startswith("3."), r)
        check(r.headers.get("X-Cairn-Version"), r.headers)
        r = c.raw("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0",
                  headers={"X-Request-Id": "abc-123"})
        check(r.headers.get("X-Request-Id") == "abc-123", r.headers)
        r = c.raw("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0")
        check(len(r.headers.get("X-Request-Id", "")) >= 16, r.headers)
        m = c.raw("GET", "/metrics").body.decode()
        check("cairn_http_requests_total" in m and "process_resident_memory_bytes" in m, m[:500])
    finally:
        srv.cleanup()


def test_sigterm_graceful_and_config_sources():
    data = tempfile.mkdtemp(prefix="cairn-cfg-")
    port = free_port()
    cfg = os.path.join(data, "cairn.yaml")
    with open(cfg, "w") as f:
        f.write("port: 1\nlog_level: debug\n")
    # the flag beats the environment, which beats the file
    p = Proc(["server", "--config", cfg, "--port", str(port), "--data", data],
             env={"CAIRN_PORT": "2"}).start()
    try:
        wait_healthy(port, 20, p)
        c = Client(port)
        check(c.post("experiments/create", {"name": "graceful"}).status == 200)
        rc = p.term()
        check(rc == 0, "exit status %r\n%s" % (rc, p.logs()))
        check("SERVER-READY" in p.logs(), p.logs()[-2000:])
    finally:
        p.term()
        shutil.rmtree(data, ignore_errors=True)
    # a bad setting is refused with a message naming it
    bad = Proc(["server", "--port", "notaport", "--data", data]).start()
    bad.p.wait(timeout=20)
    check(bad.p.returncode != 0 and "port" in bad.logs(), bad.logs())


def test_mlflow_env_names():
    data = tempfile.mkdtemp(prefix="cairn-env-")
    port = free_port()
    p = Proc(["server", "--data", data], env={"MLFLOW_PORT": str(port),
                                              "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://bucket/root"}
             ).start()
    try:
        wait_healthy(port, 20, p)
        c = Client(port)
        eid = c.post("experiments/create", {"name": "envroot"}).json()["experiment_id"]
        e = c.get("experiments/get", {"experiment_id": eid}).json()["experiment"]
        check(e["artifact_location"] == "s3://bucket/root/" + eid, e)
    finally:
        p.term()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_split_mode_outage_and_recovery, test_split_mode_over_mutual_tls,
               test_kill9_loses_no_acknowledged_create,
               test_health_version_metrics_headers, test_sigterm_graceful_and_config_sources,
               test_mlflow_env_names])
