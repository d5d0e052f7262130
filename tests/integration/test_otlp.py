"""POST /v1/traces, the OTLP/HTTP receiver, at the HTTP edge: what it refuses
and how (MLflow-shaped 400s naming the problem, nothing stored), gzip and
deflate bodies, and the request encodings it takes. The decoder itself is
unit-tested in core/otlp/otlp_test.c; a real OpenTelemetry SDK exporting to
Cairn is test_otlp_sdk.py."""
import gzip
import os
import shutil
import tempfile
import zlib

from harness import (Client, Proc, Server, check, expect_error, free_port, run_tests,
                     wait_healthy)

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "core", "otlp",
                        "testdata")


def body(name):
    with open(os.path.join(TESTDATA, name), "rb") as f:
        return f.read()


def post(c, data, ctype="application/x-protobuf", exp="0", extra=None):
    h = {"Content-Type": ctype}
    if exp is not None:
        h["x-mlflow-experiment-id"] = exp
    h.update(extra or {})
    return c.raw("POST", "/v1/traces", data, h)


def test_refusals():
    srv = Server().start()
    try:
        c = srv.client()
        pb = body("agent.pb")
        expect_error(post(c, pb, exp=None), 400, "INVALID_PARAMETER_VALUE",
                     "Missing required header: x-mlflow-experiment-id")
        expect_error(post(c, pb, ctype="text/plain"), 400, "INVALID_PARAMETER_VALUE",
                     "Invalid Content-Type: text/plain")
        expect_error(post(c, b"\xff\xff\xff not protobuf"), 400, "MALFORMED_REQUEST",
                     "Invalid OpenTelemetry protobuf format")
        expect_error(post(c, b""), 400, "INVALID_PARAMETER_VALUE", "no spans found")
        expect_error(post(c, pb[:-5]), 400, "MALFORMED_REQUEST")
        expect_error(post(c, b"{", ctype="application/json"), 400, "MALFORMED_REQUEST",
                     "Invalid OpenTelemetry JSON format")
        expect_error(post(c, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 1}]}]}]}',
                          ctype="application/json"), 400, "INVALID_PARAMETER_VALUE",
                     "'name' must be a string")
        expect_error(post(c, pb, extra={"Content-Encoding": "br"}), 400,
                     "INVALID_PARAMETER_VALUE", "Unsupported Content-Encoding: br")
        expect_error(post(c, b"\x1f\x8b\x08\x00garbage", extra={"Content-Encoding": "gzip"}),
                     400, "INVALID_PARAMETER_VALUE", "not valid gzip")
        # A small gzip body that inflates past the 64 MiB limit is cut off, not inflated.
        z = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_RLE)  # gzip wrapper, fast on zeros
        bomb = b"".join(z.compress(b"\0" * (1 << 20)) for _ in range(65)) + z.flush()
        check(len(bomb) < (1 << 20), len(bomb))
        expect_error(post(c, bomb, extra={"Content-Encoding": "gzip"}), 400,
                     "INVALID_PARAMETER_VALUE", "once decompressed")
        # Attribute values nested past the limit (JSON; protobuf is unit-tested).
        deep = '{"intValue": "1"}'
        for _ in range(40):
            deep = '{"arrayValue": {"values": [%s]}}' % deep
        doc = ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": '
               '[{"key": "d", "value": %s}]}]}]}]}' % deep)
        expect_error(post(c, doc.encode(), ctype="application/json"), 400,
                     "INVALID_PARAMETER_VALUE", "nest deeper")
        # Only POST.
        r = c.raw("GET", "/v1/traces")
        check(r.status == 405, r)
        # Still serving, and nothing else hurt.
        check(c.raw("GET", "/health").status == 200)
    finally:
        srv.cleanup()


def test_encodings_reach_the_service_step():
    """Well-formed bodies in every encoding get past decoding: with no traces
    service behind the gateway (split mode, tracking only) the answer is the
    503 with Retry-After that OTLP exporters retry on, not a 400."""
    # A gateway of its own with only a (never started) tracking service named.
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="cairn-otlp-")
    gw = Proc(["gateway", "--port", str(port), "--service",
               "tracking=tcp://127.0.0.1:%d" % free_port(), "--data", tmp,
               "--artifacts-destination", os.path.join(tmp, "artifacts")]).start()
    try:
        wait_healthy(port, 20, gw)
        c = Client(port)
        pb, js = body("agent.pb"), body("agent.json")
        for data, ctype, enc in [(pb, "application/x-protobuf", None),
                                 (js, "application/json", None),
                                 (gzip.compress(pb), "application/x-protobuf", "gzip"),
                                 (zlib.compress(js), "application/json; charset=utf-8",
                                  "deflate")]:
            extra = {"Content-Encoding": enc} if enc else {}
            r = post(c, data, ctype=ctype, extra=extra)
            expect_error(r, 503, "TEMPORARILY_UNAVAILABLE", "traces")
            check(r.headers.get("Retry-After") == "1", r.headers)
    finally:
        gw.term()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_refusals, test_encodings_reach_the_service_step])
