"""tests/integration/harness.py: start real `cairn` processes and speak real HTTP.

Every test gets fresh data directories and free ports, so tests can run in
parallel and never depend on each other. Only the Python standard library is
used, so nothing but python3 needs installing.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

CAIRN = os.environ.get("CAIRN_BIN", "")
# Every process's log goes under one folder per test run, removed when all pass.
LOG_ROOT = tempfile.mkdtemp(prefix="cairn-logs-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One `cairn` process; logs go to a file kept for failure reports."""

    def __init__(self, args, env=None, log_name="cairn"):
        self.args = args
        self.env = dict(os.environ, **(env or {}))
        self.logdir = tempfile.mkdtemp(prefix=log_name + "-", dir=LOG_ROOT)
        self.log_path = os.path.join(self.logdir, log_name + ".log")
        self.p = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen([CAIRN] + self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=self.env)
        return self

    def kill9(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def term(self, timeout=20):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            return self.p.wait(timeout=timeout)
        return self.p.returncode if self.p else None

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Server:
    """`cairn server` on a free port with its own data directory."""

    def __init__(self, data_dir=None, extra=None, env=None):
        self.port = free_port()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="cairn-data-")
        self.extra = extra or []
        self.proc = Proc(["server", "--port", str(self.port), "--data", self.data_dir]
                         + self.extra, env=env)

    def start(self, timeout=20):
        self.proc.start()
        wait_healthy(self.port, timeout, self.proc)
        return self

    def client(self):
        return Client(self.port)

    def stop(self):
        return self.proc.term()

    def kill9(self):
        self.proc.kill9()

    def restart(self):
        self.stop()
        self.proc = Proc(self.proc.args, env=self.proc.env)
        return self.start()

    def cleanup(self):
        self.proc.term()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def wait_healthy(port, timeout, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc and proc.p.poll() is not None:
            raise RuntimeError("cairn exited with %s:\n%s" % (proc.p.returncode, proc.logs()))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            r = c.getresponse()
            if r.status == 200 and r.read() == b"OK":
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("cairn not healthy on port %d:\n%s" % (port, proc.logs() if proc else ""))


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class Client:
    """Minimal HTTP/1.1 client with keep-alive, JSON helpers and raw access."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def raw(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return Response(r.status, data, dict(r.getheaders()))
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def post(self, path, obj, prefix="/api/2.0/mlflow/"):
        body = json.dumps(obj).encode()
        return self.raw("POST", prefix + path, body, {"Content-Type": "application/json"})

    def get(self, path, params=None, prefix="/api/2.0/mlflow/"):
        q = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
        return self.raw("GET", prefix + path + q)


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def expect_error(resp, status, code, msg_part=None):
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    j = resp.json()
    check(j.get("error_code") == code, "expected %s, got %r" % (code, j))
    check(isinstance(j.get("message"), str) and j["message"], "no message in %r" % j)
    if msg_part:
        check(msg_part in j["message"], "%r not in %r" % (msg_part, j["message"]))
    return j


def run_tests(tests):
    """Run test functions; print a closing 'N passed, M failed' line."""
    global CAIRN
    if "--cairn" in sys.argv:
        CAIRN = sys.argv[sys.argv.index("--cairn") + 1]
    check(CAIRN and os.access(CAIRN, os.X_OK), "pass --cairn PATH or set CAIRN_BIN")
    only = os.environ.get("CN_TEST_ONLY")
    passed = failed = 0
    for t in tests:
        if only and t.__name__ != only:
            continue
        t0 = time.time()
        try:
            t()
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    if failed:
        print("process logs kept in " + LOG_ROOT)
    else:
        shutil.rmtree(LOG_ROOT, ignore_errors=True)
    sys.exit(1 if failed else 0)
