"""MLflow 3 webhooks on the registry over real HTTP: CRUD with MLflow's
validation (secret never answered), signed deliveries to a real receiver for
model created / version created / alias set (the signature checked with
`openssl dgst -hmac`), a slow and a down receiver that neither slow nor fail
the registry call, retries visible in the delivery log, and the test call."""
import base64
import http.server
import json
import os
import subprocess
import threading
import time

from harness import Server, check, expect_error, free_port, run_tests

P = "/api/2.0/mlflow/"


class Receiver:
    """A real HTTP server recording (headers, body) of each POST."""

    def __init__(self, delay=0.0):
        self.got, self.delay = [], delay
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.delay:
                    time.sleep(outer.delay)
                outer.got.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout=15):
        end = time.time() + timeout
        while len(self.got) < n and time.time() < end:
            time.sleep(0.05)
        check(len(self.got) >= n, "receiver got %d of %d" % (len(self.got), n))

    def close(self):
        self.srv.shutdown()


def ok(r):
    check(r.status == 200, r)
    return r.json()


def j(c, method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else None
    return c.raw(method, path, body, {"Content-Type": "application/json"} if body else {})


def openssl_sig(secret, msg):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret, "-binary"], input=msg,
                         capture_output=True, check=True).stdout
    return base64.b64encode(out).decode()


def test_crud_and_validation():
    s = Server().start()
    try:
        c = s.client()
        ev = [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": "ftp://x", "events": ev}),
                     400, "INVALID_PARAMETER_VALUE", "scheme")
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": "http://x", "events": []}),
                     400, "INVALID_PARAMETER_VALUE", "events")
        expect_error(j(c, "POST", P + "webhooks", {"url": "http://x", "events": ev}), 400,
                     "INVALID_PARAMETER_VALUE", "name")
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": "http://x",
                                                    "events": [{"entity": "RUN",
                                                                "action": "CREATED"}]}),
                     400, "INVALID_PARAMETER_VALUE")
        check(not ok(c.get("webhooks")).get("webhooks"), "no webhooks yet")
        ids = []
        for i in range(3):
            w = ok(j(c, "POST", P + "webhooks", {"name": "w%d" % i, "url": "http://x/%d" % i,
                                                  "events": ev, "secret": "s3cret"}))["webhook"]
            check("secret" not in w and w["status"] == "ACTIVE", w)
            ids.append(w["webhook_id"])
        page = ok(c.get("webhooks", {"max_results": 2}))
        check(len(page["webhooks"]) == 2 and page["next_page_token"], page)
        rest = ok(c.get("webhooks", {"max_results": 2, "page_token": page["next_page_token"]}))
        check(len(rest["webhooks"]) == 1 and "next_page_token" not in rest, rest)
        got = sorted(w["webhook_id"] for w in page["webhooks"] + rest["webhooks"])
        check(got == sorted(ids), got)
        w = ok(j(c, "PATCH", P + "webhooks/" + ids[0], {"status": "DISABLED", "name": "n"}))
        check(w["webhook"]["status"] == "DISABLED" and w["webhook"]["name"] == "n", w)
        check("secret" not in w["webhook"], w)
        expect_error(j(c, "PATCH", P + "webhooks/" + ids[0], {"url": "file:///etc"}), 400,
                     "INVALID_PARAMETER_VALUE")
        ok(j(c, "DELETE", P + "webhooks/" + ids[0]))
        expect_error(c.get("webhooks/" + ids[0]), 404, "RESOURCE_DOES_NOT_EXIST")
        check(ok(c.get("webhooks/" + ids[1]))["webhook"]["url"] == "http://x/1")
        # Persisted across a restart.
        s.restart()
        check(len(ok(s.client().get("webhooks"))["webhooks"]) == 2)
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()


def test_deliveries_signed():
    rx = Receiver()
    s = Server().start()
    try:
        c = s.client()
        secret = "whsec-42"
        events = [{"entity": "REGISTERED_MODEL", "action": "CREATED"},
                  {"entity": "MODEL_VERSION", "action": "CREATED"},
                  {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]
        wid = ok(j(c, "POST", P + "webhooks", {"name": "rx", "url": rx.url, "events": events,
                                                "secret": secret}))["webhook"]["webhook_id"]
        ok(c.post("registered-models/create", {"name": "m"}))
        ok(c.post("model-versions/create", {"name": "m", "source": "s3://b/m"}))
        ok(c.post("registered-models/alias", {"name": "m", "alias": "champ", "version": "1"}))
        rx.wait(3)
        seen = []
        for hdr, body in rx.got:
            h = {k.lower(): v for k, v in hdr.items()}
            did, ts = h["x-mlflow-delivery-id"], h["x-mlflow-timestamp"]
            msg = ("%s.%s." % (did, ts)).encode() + body
            check(h["x-mlflow-signature"] == "v1," + openssl_sig(secret, msg), h)
            p = json.loads(body)
            check(set(p) == {"entity", "action", "timestamp", "data"}, p)
            seen.append((p["entity"], p["action"], p["data"].get("name")))
        check(sorted(seen) == sorted([("registered_model", "created", "m"),
                                      ("model_version", "created", "m"),
                                      ("model_version_alias", "created", "m")]), seen)
        alias = [json.loads(b) for _, b in rx.got
                 if json.loads(b)["entity"] == "model_version_alias"][0]
        check(alias["data"]["alias"] == "champ" and alias["data"]["version"] == "1", alias)
        log = ok(c.get("deliveries", prefix="/api/2.0/cairn/webhooks/%s/" % wid))["deliveries"]
        check(len(log) == 3 and all(d["status_code"] == 200 for d in log), log)
        t = ok(j(c, "POST", P + "webhooks/%s/test" % wid))["result"]
        check(t["success"] and t["response_status"] == 200 and t["response_body"] == "ok", t)
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        rx.close()


def test_slow_and_down_receivers():
    slow = Receiver(delay=3.0)
    down = "http://127.0.0.1:%d/hook" % free_port()
    s = Server(env=dict(os.environ, MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES="2")).start()
    try:
        c = s.client()
        ev = [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
        down_id = ok(j(c, "POST", P + "webhooks", {"name": "down", "url": down,
                                                    "events": ev}))["webhook"]["webhook_id"]
        ok(j(c, "POST", P + "webhooks", {"name": "slow", "url": slow.url, "events": ev}))
        t0 = time.time()
        ok(c.post("registered-models/create", {"name": "fast"}))
        elapsed = time.time() - t0
        # Correctness bound, not a benchmark: the call must not wait for the receiver.
        check(elapsed < 3.0, "registry call waited for the webhook: %.2fs" % elapsed)
        slow.wait(1, timeout=20)
        end = time.time() + 20
        while time.time() < end:
            log = ok(c.get("deliveries",
                           prefix="/api/2.0/cairn/webhooks/%s/" % down_id))["deliveries"]
            if len(log) >= 3:
                break
            time.sleep(0.1)
        check([d["attempt"] for d in log] == [1, 2, 3], log)
        check(all("error" in d and "status_code" not in d for d in log), log)
        check(len({d["delivery_id"] for d in log}) == 1, log)
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        slow.close()


if __name__ == "__main__":
    run_tests([test_crud_and_validation, test_deliveries_signed, test_slow_and_down_receivers])
