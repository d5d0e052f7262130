"""MLflow 3 webhooks on the registry over real HTTP: CRUD with MLflow's
validation messages (secret never answered), signed deliveries to a real
receiver (the signature checked with `openssl dgst -hmac`), MLflow's payload
`data` for every model and prompt event, a blocked receiver that does not hold
up another webhook, Retry-After on 503 and 429, DISABLED webhooks skipped,
the persisted and bounded delivery log with pages, a slow and a down receiver
that neither slow nor fail the registry call, and the test call."""
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
    """A real HTTP server recording (headers, body, path) of each POST. It
    answers from `script` first ((status, headers) pairs), then 200 "ok";
    with a gate, each request waits until the gate is opened."""

    def __init__(self, delay=0.0, script=None, gate=None):
        self.got, self.delay = [], delay
        self.script = list(script or [])
        self.gate = gate
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.gate:
                    outer.gate.wait(30)
                if outer.delay:
                    time.sleep(outer.delay)
                with outer.lock:
                    outer.got.append((dict(self.headers), body, self.path))
                    status, hdrs = outer.script.pop(0) if outer.script else (200, {})
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout=15, path=None):
        end = time.time() + timeout
        while len(self.on(path)) < n and time.time() < end:
            time.sleep(0.05)
        check(len(self.on(path)) >= n, "receiver got %d of %d" % (len(self.on(path)), n))

    def on(self, path=None):
        with self.lock:
            return [g for g in self.got if path is None or g[2] == path]

    def payloads(self, path=None):
        return [json.loads(b) for _, b, _ in self.on(path)]

    def close(self):
        if self.gate:
            self.gate.set()
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
                     400, "INVALID_PARAMETER_VALUE",
                     "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.")
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": "http://", "events": ev}),
                     400, "INVALID_PARAMETER_VALUE", "must include a hostname")
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": " ", "events": ev}),
                     400, "INVALID_PARAMETER_VALUE", "cannot be empty or just whitespace")
        expect_error(j(c, "POST", P + "webhooks", {"name": "my hook", "url": "http://x",
                                                    "events": ev}),
                     400, "INVALID_PARAMETER_VALUE", "Webhook name 'my hook' is invalid")
        expect_error(j(c, "POST", P + "webhooks",
                       {"name": "w", "url": "http://x",
                        "events": [{"entity": "REGISTERED_MODEL", "action": "DELETED"}]}),
                     400, "INVALID_PARAMETER_VALUE",
                     "Invalid action 'deleted' for entity 'registered_model'. "
                     "Valid actions are: ['created']")
        expect_error(j(c, "POST", P + "webhooks",
                       {"name": "w", "url": "http://x", "status": "PAUSED", "events": ev}),
                     400, "INVALID_PARAMETER_VALUE", "status")
        expect_error(j(c, "POST", P + "webhooks", {"name": "w", "url": "http://x", "events": []}),
                     400, "INVALID_PARAMETER_VALUE",
                     "Webhook events must be a non-empty list of WebhookEvent objects")
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
        for hdr, body, _ in rx.got:
            h = {k.lower(): v for k, v in hdr.items()}
            did, ts = h["x-mlflow-delivery-id"], h["x-mlflow-timestamp"]
            msg = ("%s.%s." % (did, ts)).encode() + body
            check(h["x-mlflow-signature"] == "v1," + openssl_sig(secret, msg), h)
            p = json.loads(body)
            check(list(p) == ["entity", "action", "timestamp", "data"], p)
            check(len(did) == 36 and did.count("-") == 4 and ts.isdigit(), h)
            seen.append((p["entity"], p["action"], p["data"].get("name")))
        check(sorted(seen) == sorted([("registered_model", "created", "m"),
                                      ("model_version", "created", "m"),
                                      ("model_version_alias", "created", "m")]), seen)
        alias = [p for p in rx.payloads() if p["entity"] == "model_version_alias"][0]
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


MODEL_EVENTS = [("REGISTERED_MODEL", "CREATED"), ("MODEL_VERSION", "CREATED"),
                ("MODEL_VERSION_TAG", "SET"), ("MODEL_VERSION_TAG", "DELETED"),
                ("MODEL_VERSION_ALIAS", "CREATED"), ("MODEL_VERSION_ALIAS", "DELETED")]
PROMPT_EVENTS = [("PROMPT", "CREATED"), ("PROMPT_VERSION", "CREATED"), ("PROMPT_TAG", "SET"),
                 ("PROMPT_TAG", "DELETED"), ("PROMPT_VERSION_TAG", "SET"),
                 ("PROMPT_VERSION_TAG", "DELETED"), ("PROMPT_ALIAS", "CREATED"),
                 ("PROMPT_ALIAS", "DELETED")]


def hook(c, name, url, events, **kw):
    body = {"name": name, "url": url,
            "events": [{"entity": e, "action": a} for e, a in events]}
    body.update(kw)
    return ok(j(c, "POST", P + "webhooks", body))["webhook"]["webhook_id"]


def deliveries(c, wid, **params):
    return ok(c.get("deliveries", params, prefix="/api/2.0/cairn/webhooks/%s/" % wid))


def test_payloads_models_and_prompts():
    """MLflow's `data` per event; a registered model tagged
    mlflow.prompt.is_prompt=true fires the PROMPT_* entities instead."""
    rx = Receiver()
    s = Server().start()
    try:
        c = s.client()
        hook(c, "models", rx.url + "/m", MODEL_EVENTS)
        hook(c, "prompts", rx.url + "/p", PROMPT_EVENTS)
        ok(c.post("registered-models/create", {"name": "m", "tags": [{"key": "t",
                                                                      "value": "1"}]}))
        ok(c.post("model-versions/create", {"name": "m", "source": "s3://b/m",
                                            "run_id": "r1", "description": "first"}))
        ok(c.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "k",
                                             "value": "v"}))
        ok(j(c, "DELETE", P + "model-versions/delete-tag", {"name": "m", "version": "1",
                                                             "key": "k"}))
        ok(c.post("registered-models/alias", {"name": "m", "alias": "a", "version": "1"}))
        ok(j(c, "DELETE", P + "registered-models/alias", {"name": "m", "alias": "a"}))
        # A registered model's own tags have no MLflow event.
        ok(c.post("registered-models/set-tag", {"name": "m", "key": "x", "value": "y"}))
        rx.wait(6, path="/hook/m")
        got = [(p["entity"], p["action"], p["data"]) for p in rx.payloads("/hook/m")]
        check(got == [
            ("registered_model", "created", {"name": "m", "tags": {"t": "1"},
                                             "description": ""}),
            ("model_version", "created", {"name": "m", "version": "1", "source": "s3://b/m",
                                          "run_id": "r1", "tags": {}, "description": "first"}),
            ("model_version_tag", "set", {"name": "m", "version": "1", "key": "k",
                                          "value": "v"}),
            ("model_version_tag", "deleted", {"name": "m", "version": "1", "key": "k"}),
            ("model_version_alias", "created", {"name": "m", "alias": "a", "version": "1"}),
            ("model_version_alias", "deleted", {"name": "m", "alias": "a"}),
        ], got)

        pt = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
        ok(c.post("registered-models/create", {"name": "p", "tags": pt,
                                               "description": "greeting"}))
        ok(c.post("model-versions/create",
                  {"name": "p", "source": "prompt-template",
                   "tags": pt + [{"key": "mlflow.prompt.text", "value": "Hi {{who}}"}]}))
        ok(c.post("registered-models/set-tag", {"name": "p", "key": "team", "value": "nlp"}))
        ok(j(c, "DELETE", P + "registered-models/delete-tag", {"name": "p", "key": "team"}))
        ok(c.post("model-versions/set-tag", {"name": "p", "version": "1", "key": "k",
                                             "value": "v"}))
        ok(j(c, "DELETE", P + "model-versions/delete-tag", {"name": "p", "version": "1",
                                                             "key": "k"}))
        ok(c.post("registered-models/alias", {"name": "p", "alias": "prod", "version": "1"}))
        ok(j(c, "DELETE", P + "registered-models/alias", {"name": "p", "alias": "prod"}))
        rx.wait(8, path="/hook/p")
        got = [(p["entity"], p["action"], p["data"]) for p in rx.payloads("/hook/p")]
        check(got == [
            ("prompt", "created", {"name": "p", "tags": {"mlflow.prompt.is_prompt": "true"},
                                   "description": "greeting"}),
            ("prompt_version", "created",
             {"name": "p", "version": "1", "template": "Hi {{who}}",
              "tags": {"mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Hi {{who}}"},
              "description": None}),
            ("prompt_tag", "set", {"name": "p", "key": "team", "value": "nlp"}),
            ("prompt_tag", "deleted", {"name": "p", "key": "team"}),
            ("prompt_version_tag", "set", {"name": "p", "version": "1", "key": "k",
                                           "value": "v"}),
            ("prompt_version_tag", "deleted", {"name": "p", "version": "1", "key": "k"}),
            ("prompt_alias", "created", {"name": "p", "alias": "prod", "version": "1"}),
            ("prompt_alias", "deleted", {"name": "p", "alias": "prod"}),
        ], got)
        # Nothing crossed over: the model hook saw no prompt event and vice versa.
        check(len(rx.on("/hook/m")) == 6, rx.payloads("/hook/m"))
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        rx.close()


def test_concurrency_retry_after_disabled():
    """A receiver that holds every request does not delay another webhook;
    503 and 429 with Retry-After are retried when the receiver says; a
    DISABLED webhook gets nothing."""
    gate = threading.Event()
    blocked, fast = Receiver(gate=gate), Receiver()
    busy = Receiver(script=[(503, {"Retry-After": "1"}), (429, {"Retry-After": "1"})])
    off = Receiver()
    s = Server().start()
    try:
        c = s.client()
        ev = [("REGISTERED_MODEL", "CREATED")]
        hook(c, "blocked", blocked.url, ev)
        fast_id = hook(c, "fast", fast.url, ev)
        off_id = hook(c, "off", off.url, ev, status="DISABLED")
        for i in range(5):
            ok(c.post("registered-models/create", {"name": "m%d" % i}))
        # All five reach the fast receiver while the blocked one holds its first.
        fast.wait(5)
        check(len(blocked.on()) == 0, "the blocked receiver answered")
        gate.set()
        blocked.wait(5)
        check([p["data"]["name"] for p in blocked.payloads()] == ["m%d" % i for i in range(5)],
              blocked.payloads())
        log = deliveries(c, fast_id)["deliveries"]
        check(len(log) == 5 and all(d["status_code"] == 200 and d["attempt"] == 1
                                    for d in log), log)

        busy_id = hook(c, "busy", busy.url, ev)
        ok(c.post("registered-models/create", {"name": "later"}))
        busy.wait(3, timeout=30)
        ids = {h["X-MLflow-Delivery-Id"] for h, _, _ in busy.on()}
        check(len(ids) == 1 and len({b for _, b, _ in busy.on()}) == 1,
              "a retry re-sends the same delivery")
        end = time.time() + 15
        while time.time() < end and len(deliveries(c, busy_id).get("deliveries", [])) < 3:
            time.sleep(0.05)
        log = deliveries(c, busy_id)["deliveries"]
        check([(d["attempt"], d["status_code"]) for d in log] == [(1, 503), (2, 429), (3, 200)],
              log)
        # The schedule the service recorded honours Retry-After (1 s).
        for d in log[:2]:
            check(d["next_attempt_timestamp"] - d["timestamp"] - d["duration_ms"] >= 1000, d)
        check("next_attempt_timestamp" not in log[2], log)
        check(not off.on() and not deliveries(c, off_id).get("deliveries"), off.on())
        # Enabled again, it gets the next event.
        ok(j(c, "PATCH", P + "webhooks/" + off_id, {"status": "ACTIVE"}))
        ok(c.post("registered-models/create", {"name": "after"}))
        off.wait(1)
        check(off.payloads()[0]["data"]["name"] == "after", off.payloads())
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        for r in (blocked, fast, busy, off):
            r.close()


def test_delivery_log_persisted_and_bounded():
    rx = Receiver()
    s = Server(env=dict(os.environ, CAIRN_WEBHOOK_DELIVERY_LOG_MAX="4")).start()
    try:
        c = s.client()
        wid = hook(c, "log", rx.url, [("REGISTERED_MODEL", "CREATED")])
        for i in range(6):
            ok(c.post("registered-models/create", {"name": "m%d" % i}))
        rx.wait(6)
        ids = [h["X-MLflow-Delivery-Id"] for h, _, _ in rx.on()]
        end = time.time() + 10
        while time.time() < end:
            log = deliveries(c, wid)["deliveries"]
            if log[-1]["delivery_id"] == ids[-1]:
                break
            time.sleep(0.05)
        check([d["delivery_id"] for d in log] == ids[2:], (log, ids))
        page = deliveries(c, wid, max_results=3)
        check(len(page["deliveries"]) == 3 and page["next_page_token"], page)
        rest = deliveries(c, wid, max_results=3, page_token=page["next_page_token"])
        check(len(rest["deliveries"]) == 1 and "next_page_token" not in rest, rest)
        check(page["deliveries"] + rest["deliveries"] == log)
        expect_error(c.get("deliveries", {"page_token": "zz"},
                           prefix="/api/2.0/cairn/webhooks/%s/" % wid),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(c.get("deliveries", {"max_results": 0},
                           prefix="/api/2.0/cairn/webhooks/%s/" % wid),
                     400, "INVALID_PARAMETER_VALUE")
        s.restart()
        c = s.client()
        check(deliveries(c, wid)["deliveries"] == log, "log lost in the restart")
        # Still bounded after the restart.
        ok(c.post("registered-models/create", {"name": "m6"}))
        rx.wait(7)
        end = time.time() + 10
        while time.time() < end and deliveries(c, wid)["deliveries"][-1]["delivery_id"] != \
                rx.on()[-1][0]["X-MLflow-Delivery-Id"]:
            time.sleep(0.05)
        check(len(deliveries(c, wid)["deliveries"]) == 4)
        ok(j(c, "DELETE", P + "webhooks/" + wid))
        expect_error(c.get("deliveries", prefix="/api/2.0/cairn/webhooks/%s/" % wid), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        rx.close()


def test_test_call():
    rx = Receiver(script=[(404, {})])
    # No retries: the test call against a dead receiver answers at once.
    s = Server(env=dict(os.environ, MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES="0")).start()
    try:
        c = s.client()
        wid = hook(c, "t", rx.url, [("PROMPT_ALIAS", "DELETED")], secret="k")
        t = ok(j(c, "POST", P + "webhooks/%s/test" % wid))["result"]
        check(not t["success"] and t["response_status"] == 404, t)
        t = ok(j(c, "POST", P + "webhooks/%s/test" % wid))["result"]
        check(t["success"] and t["response_status"] == 200, t)
        p = rx.payloads()[-1]
        check((p["entity"], p["action"], p["data"]) ==
              ("prompt_alias", "deleted", {"name": "example_prompt", "alias": "example_alias"}),
              p)
        t = ok(j(c, "POST", P + "webhooks/%s/test" % wid,
                 {"event": {"entity": "MODEL_VERSION", "action": "CREATED"}}))["result"]
        p = rx.payloads()[-1]
        check(t["success"] and p["entity"] == "model_version" and
              p["data"]["source"] == "models:/123", p)
        expect_error(j(c, "POST", P + "webhooks/%s/test" % wid,
                       {"event": {"entity": "PROMPT", "action": "SET"}}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid action 'set' for entity 'prompt'")
        expect_error(j(c, "POST", P + "webhooks/%032x/test" % 7), 404, "RESOURCE_DOES_NOT_EXIST")
        down = hook(c, "down", "http://127.0.0.1:%d/x" % free_port(),
                    [("REGISTERED_MODEL", "CREATED")])
        t = ok(j(c, "POST", P + "webhooks/%s/test" % down))["result"]
        check(not t["success"] and t["error_message"].startswith("Failed to test webhook:"), t)
        check(s.stop() == 0, "unclean exit")
    finally:
        s.cleanup()
        rx.close()


if __name__ == "__main__":
    run_tests([test_crud_and_validation, test_deliveries_signed, test_slow_and_down_receivers,
               test_payloads_models_and_prompts, test_concurrency_retry_after_disabled,
               test_delivery_log_persisted_and_bounded, test_test_call])
