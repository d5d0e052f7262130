"""A real OpenTelemetry SDK exports to Cairn: tests/peers/otel/export.js runs
the JavaScript SDK (NodeTracerProvider, OTLPTraceExporter over OTLP/HTTP
protobuf, both from the npm registry, pinned in tests/peers/otel) to build an
agent-like trace -- agent -> retriever -> LLM -> tool (fails) -> tool -> LLM,
with OpenTelemetry GenAI and OpenInference attributes -- and export it to
`cairn server`. The trace is then read back through MLflow's REST API and
checked: span tree, timings, statuses, events and attributes, with the
semantic conventions mapped onto MLflow's span types, inputs, outputs and
token usage. Exported once batched (one request) and once span by span as
they end (children before their parent). Missing node or a missing peer is
a failure, not a skip."""
import base64
import json
import os
import shutil
import subprocess

from harness import Server, check, run_tests

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "otel")
OTEL_TRACE = "0af7651916cd43dd8448eb211c80319c"
T0_NS = 1700000000000 * 1000000


def hex_id(v):
    """Span and trace ids as lowercase hex, whether the API gives hex or base64."""
    if v is None or v == "":
        return ""
    if all(c in "0123456789abcdefABCDEF" for c in v) and len(v) in (16, 32):
        return v.lower()
    return base64.b64decode(v).hex()


def attrs_of(span):
    """{key: decoded value}: MLflow stores each attribute value as JSON text."""
    a = span.get("attributes", {})
    if isinstance(a, list):  # OTel proto form: [{key, value: {string_value: ...}}]
        a = {kv["key"]: next(iter(kv.get("value", {}).values()), None) for kv in a}
    out = {}
    for k, v in a.items():
        try:
            out[k] = json.loads(v) if isinstance(v, str) else v
        except ValueError:
            out[k] = v
    return out


def export(srv, exp_id, trace_hex, simple):
    node = shutil.which("node")
    check(node, "node not found (deploy/install-deps.sh --test installs it)")
    check(os.path.exists(os.path.join(PEER, "node_modules", "@opentelemetry", "sdk-trace-node")),
          "OpenTelemetry peer missing: run tests/peers/install.sh")
    args = [node, os.path.join(PEER, "export.js"), "http://127.0.0.1:%d" % srv.port, exp_id,
            trace_hex] + (["--simple"] if simple else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "export.js failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("CAIRN-RESULT ")]
    check(len(line) == 1, p.stdout)
    res = json.loads(line[0][len("CAIRN-RESULT "):])
    check(res["spans"] == 6 and not res["failed"], res)
    check(res["requests"] == (6 if simple else 1), res)


def check_trace(c, trace_hex):
    trace_id = "tr-" + trace_hex
    r = c.get("traces/get", {"trace_id": trace_id}, prefix="/api/3.0/mlflow/")
    check(r.status == 200, r)
    trace = r.json()["trace"]
    spans = trace["spans"]
    check(len(spans) == 6, [s.get("name") for s in spans])
    by_id = {hex_id(s["span_id"]): s for s in spans}
    root = by_id["0000000000000001"]
    check(root["name"] == "invoke_agent weather-bot", root)
    check(not hex_id(root.get("parent_span_id")), root)
    kids = [s for s in spans if hex_id(s.get("parent_span_id")) == "0000000000000001"]
    check(len(kids) == 5, kids)
    for s in spans:
        check(hex_id(s.get("trace_id", trace_hex)) == trace_hex, s)
    # Timings, exactly as the SDK set them.
    want = {"0000000000000001": (0, 60), "0000000000000003": (10, 20),
            "0000000000000004": (21, 31)}
    for sid, (start_ms, end_ms) in want.items():
        s = by_id[sid]
        check(int(s["start_time_unix_nano"]) == T0_NS + start_ms * 1000000, s)
        check(int(s["end_time_unix_nano"]) == T0_NS + end_ms * 1000000, s)
    # Types, inputs, outputs, usage.
    a = {sid: attrs_of(s) for sid, s in by_id.items()}
    check(a["0000000000000001"]["mlflow.spanType"] == "AGENT", a["0000000000000001"])
    check(a["0000000000000002"]["mlflow.spanType"] == "RETRIEVER", a["0000000000000002"])
    check(a["0000000000000002"]["mlflow.spanInputs"] == {"query": "Paris weather"},
          a["0000000000000002"])
    llm = a["0000000000000003"]
    check(llm["mlflow.spanType"] == "CHAT_MODEL", llm)
    check(llm["mlflow.chat.tokenUsage"] == {"input_tokens": 12, "output_tokens": 7,
                                            "total_tokens": 19}, llm)
    check(llm["gen_ai.request.model"] == "gpt-4o" and llm["gen_ai.usage.input_tokens"] == 12,
          llm)
    check(llm["mlflow.spanInputs"] == [{"role": "user", "content": "Weather in Paris?"}], llm)
    tool = a["0000000000000004"]
    check(tool["mlflow.spanType"] == "TOOL" and tool["gen_ai.tool.name"] == "get_weather", tool)
    check(tool["mlflow.spanInputs"] == {"city": "Paris"}, tool)
    check(a["0000000000000005"]["mlflow.spanOutputs"] == {"temp_c": 18, "sky": "clear"},
          a["0000000000000005"])
    check(a["0000000000000006"]["mlflow.chat.tokenUsage"]["total_tokens"] == 39,
          a["0000000000000006"])
    # Statuses: the failed tool call and its exception event.
    failed = by_id["0000000000000004"]
    check(failed["status"]["code"] in ("STATUS_CODE_ERROR", 2), failed["status"])
    check("TimeoutError" in failed["status"].get("message", ""), failed["status"])
    ev = failed.get("events", [])
    check(len(ev) == 1 and ev[0]["name"] == "exception", ev)
    check(by_id["0000000000000005"]["status"]["code"] in ("STATUS_CODE_OK", 1),
          by_id["0000000000000005"])
    return trace


def test_sdk_batched_and_streamed():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.post("experiments/create", {"name": "otel-sdk"})
        check(r.status == 200, r)
        exp_id = r.json()["experiment_id"]
        export(srv, exp_id, OTEL_TRACE, simple=False)
        trace = check_trace(c, OTEL_TRACE)
        info = trace["trace_info"]
        check(info["trace_location"]["mlflow_experiment"]["experiment_id"] == exp_id, info)
        # Span by span, children first: grouped into one trace all the same.
        other = "1af7651916cd43dd8448eb211c80319d"
        export(srv, exp_id, other, simple=True)
        check_trace(c, other)
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_sdk_batched_and_streamed])
