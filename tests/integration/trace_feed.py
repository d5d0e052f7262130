"""tests/integration/trace_feed.py: traces fed to a real `cairn server` the way
clients do, for the trace search, assessment and metrics tests: spans through
Cairn's JSON span ingestion (POST /api/2.0/cairn/traces/spans, the same path
as OTLP), then the trace info through MLflow's StartTraceV3
(POST /api/3.0/mlflow/traces), as MLflow's client sends it when a trace ends."""
import json
import time
import uuid

from harness import check

V3 = "/api/3.0/mlflow/"


def ok(r):
    check(r.status == 200, r)
    return r.json() if r.body else {}


def call(c, method, path, obj=None, prefix=V3):
    body = json.dumps(obj).encode() if obj is not None else None
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    return c.raw(method, prefix + path, body, hdr)


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def experiment(c, name):
    return ok(c.post("experiments/create", {"name": name}))["experiment_id"]


def span(name, span_type="UNKNOWN", status="OK", attrs=None, parent=None):
    """A span description for feed(); attrs values are plain Python values,
    JSON-encoded here as MLflow stores span attributes."""
    return {"name": name, "type": span_type, "status": status, "attrs": attrs or {},
            "parent": parent}


def feed(c, exp_id, ts_ms, dur_ms=None, state="OK", name=None, tags=None, meta=None,
         spans=(), client_request_id=None):
    """One trace: its spans (if any), then its info. Returns the trace id."""
    hexid = uuid.uuid4().hex
    tid = "tr-" + hexid
    recs = []
    for i, s in enumerate(spans):
        attrs = {"mlflow.spanType": json.dumps(s["type"])}
        attrs.update({k: json.dumps(v) for k, v in s["attrs"].items()})
        start = ts_ms * 1000000 + i * 1000
        recs.append({
            "trace_id": hexid,
            "span_id": "%016x" % (i + 1),
            "parent_span_id": "" if i == 0 else "%016x" % 1,
            "name": s["name"],
            "span_type": s["type"],
            "start_time_unix_nano": start,
            "end_time_unix_nano": start + 500000,
            "status_code": "STATUS_CODE_" + s["status"],
            "attributes": json.dumps(attrs),
        })
    if recs:
        ok(call(c, "POST", "cairn/traces/spans", {"experiment_id": exp_id, "spans": recs},
                prefix="/api/2.0/"))
    info = {
        "trace_id": tid,
        "trace_location": {"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": exp_id}},
        "request_time": rfc3339(ts_ms),
        "state": state,
        "trace_metadata": dict(meta or {}),
        "tags": dict(tags or {}),
    }
    if dur_ms is not None:
        info["execution_duration"] = "%d.%03ds" % (dur_ms // 1000, dur_ms % 1000)
    if name:
        info["tags"]["mlflow.traceName"] = name
    if client_request_id:
        info["client_request_id"] = client_request_id
    ok(call(c, "POST", "traces", {"trace": {"trace_info": info}}))
    return tid


def search(c, exp_id, flt=None, order_by=None, max_results=None, page_token=None):
    body = {"locations": [{"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": exp_id}}]}
    if flt is not None:
        body["filter"] = flt
    if order_by is not None:
        body["order_by"] = order_by
    if max_results is not None:
        body["max_results"] = max_results
    if page_token:
        body["page_token"] = page_token
    return call(c, "POST", "traces/search", body)
