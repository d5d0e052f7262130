"""POST /v1/traces, the OTLP/HTTP receiver, at the HTTP edge: what it refuses
and how (MLflow-shaped 400s naming the problem, nothing stored), gzip and
deflate bodies, and the request encodings it takes. The decoder itself is
unit-tested in core/otlp/otlp_test.c; a real OpenTelemetry SDK exporting to
Cairn is test_otlp_sdk.py."""
import gzip
import json
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


def ld(field, payload):
    """A length-delimited protobuf field."""
    n, out = len(payload), bytes([field << 3 | 2])
    while True:
        out += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            return out + payload


def span_pb(trace_hex, span_hex, name):
    return (ld(1, bytes.fromhex(trace_hex)) + ld(2, bytes.fromhex(span_hex))
            + ld(5, name.encode()) + bytes([7 << 3 | 1]) + (1).to_bytes(8, "little")
            + bytes([8 << 3 | 1]) + (2).to_bytes(8, "little"))


def request_pb(spans):
    """ExportTraceServiceRequest{resource_spans{scope_spans{spans}}}."""
    return ld(1, ld(2, b"".join(ld(2, sp) for sp in spans)))


def pb_partial_success(data):
    """(rejected_spans, error_message) of a protobuf ExportTraceServiceResponse."""
    def varint(b, i):
        x = shift = 0
        while True:
            c = b[i]
            i += 1
            x |= (c & 0x7f) << shift
            shift += 7
            if not c & 0x80:
                return x, i
    if not data:
        return 0, ""
    check(data[0] == 0x0a, data)  # field 1, length-delimited: partial_success
    n, i = varint(data, 1)
    inner, rejected, msg = data[i:i + n], 0, ""
    j = 0
    while j < len(inner):
        tag, j = varint(inner, j)
        if tag == 0x08:
            rejected, j = varint(inner, j)
        elif tag == 0x12:
            m, j = varint(inner, j)
            msg = inner[j:j + m].decode()
            j += m
        else:
            raise AssertionError("unexpected tag %d" % tag)
    return rejected, msg


def test_accepted_encodings_and_partial_success():
    srv = Server().start()
    try:
        c = srv.client()
        pb, js = body("agent.pb"), body("agent.json")
        for data, ctype, enc in [(pb, "application/x-protobuf", None),
                                 (js, "application/json", None),
                                 (gzip.compress(pb), "application/x-protobuf", "gzip"),
                                 (zlib.compress(js), "application/json; charset=utf-8",
                                  "deflate")]:
            r = post(c, data, ctype=ctype, extra={"Content-Encoding": enc} if enc else {})
            check(r.status == 200, r)
            # The answer is an ExportTraceServiceResponse in the request's encoding.
            if ctype.startswith("application/json"):
                check(r.headers["Content-Type"] == "application/json" and r.json() == {}, r)
            else:
                check(r.headers["Content-Type"] == "application/x-protobuf" and r.body == b"", r)
        r = c.get("traces/get", {"trace_id": "tr-0af7651916cd43dd8448eb211c80319c"},
                  prefix="/api/3.0/mlflow/")
        check(r.status == 200 and len(r.json()["trace"]["spans"]) == 6, r)
        # One span with a bad trace id: the rest are stored, the answer says so.
        doc = {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "00", "spanId": "0000000000000001", "name": "bad"},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "name": "good", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}
        r = post(c, json.dumps(doc).encode(), ctype="application/json")
        check(r.status == 200, r)
        ps = r.json()["partialSuccess"]
        check(ps["rejectedSpans"] == "1" and "trace id" in ps["errorMessage"], ps)
        r = c.get("traces/get", {"trace_id": "tr-5b8efff798038103d269b633813fc60c"},
                  prefix="/api/3.0/mlflow/")
        check(r.status == 200 and r.json()["trace"]["spans"][0]["name"] == "good", r)
        # The same in protobuf: a span whose span id is 3 bytes beside a good one.
        good = span_pb("7b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "good")
        bad = span_pb("7b8efff798038103d269b633813fc60c", "eee19b", "bad")
        r = post(c, request_pb([bad, good]))
        check(r.status == 200, r)
        rejected, msg = pb_partial_success(r.body)
        check(rejected == 1 and "span id" in msg, (rejected, msg))
        # An experiment that does not exist: the service's MLflow error.
        expect_error(post(c, pb, exp="424242"), 404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_refusals, test_encodings_reach_the_service_step,
               test_accepted_encodings_and_partial_success])
