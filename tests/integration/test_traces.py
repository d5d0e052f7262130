"""The traces service end to end over real HTTP: MLflow 3's trace API
(StartTraceV3 merged with spans that came first or later, trace info, trace
with spans in OpenTelemetry's JSON form, span pages, batch gets, search with
filters, order, max_results and page tokens, tags, deletion by ids and by
time, links to runs), the 2.0 calls older clients use, the UI's
get-trace-artifact, MLflow-shaped errors that change nothing, restart,
retention by the experiment's cairn.trace.ttl tag, the ingestion budget
(503 with Retry-After), and split mode (traces as its own process asking
tracking about experiments over the bus)."""
import base64
import json
import os
import tempfile
import threading
import time

from harness import Client, Proc, Server, check, expect_error, free_port, run_tests, \
    wait_healthy

V3 = "/api/3.0/mlflow/"
V2 = "/api/2.0/mlflow/"


def call(c, method, path, obj=None, prefix=V3, params=None):
    import urllib.parse
    q = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
    body = json.dumps(obj).encode() if obj is not None else None
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    return c.raw(method, prefix + path + q, body, hdr)


def ok(r):
    check(r.status == 200, r)
    return r.json()


def hex32(n):
    return "%032x" % n


def span(trace, sid, parent=None, name="s", start=1700000000000000000, dur_ns=10**8,
         status="STATUS_CODE_OK", attrs=None, events=None, span_type="UNKNOWN"):
    s = {"trace_id": hex32(trace), "span_id": "%016x" % sid, "name": name,
         "span_type": span_type,
         "start_time_unix_nano": start, "end_time_unix_nano": start + dur_ns,
         "status_code": status,
         "attributes": json.dumps({k: json.dumps(v) for k, v in (attrs or {}).items()})}
    if parent is not None:
        s["parent_span_id"] = "%016x" % parent
    if events is not None:
        s["events"] = json.dumps(events)
    return s


def log_spans(c, exp, spans):
    return call(c, "POST", "traces/spans", {"experiment_id": exp, "spans": spans},
                prefix="/api/2.0/cairn/")


def trace_info(trace_id, exp, ms=1700000000000, dur="0.250s", state="OK", tags=None,
               metadata=None, **kw):
    info = {"trace_id": trace_id, "client_request_id": "cr-1",
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": exp}},
            "request_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
            + ".%03dZ" % (ms % 1000),
            "execution_duration": dur, "state": state,
            "trace_metadata": metadata or {}, "tags": tags or {}}
    info.update(kw)
    return {"trace": {"trace_info": info}}


def new_experiment(c, name):
    return ok(call(c, "POST", "experiments/create", {"name": name}, prefix=V2))["experiment_id"]


def loc(exp):
    return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}


def search(c, exps, **kw):
    body = {"locations": [loc(e) for e in exps]}
    body.update(kw)
    return call(c, "POST", "traces/search", body)


def b64hex(s):
    return base64.b64decode(s).hex()


def test_start_trace_and_spans_merge():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "merge")
        # Spans first (child before root), then the client's info.
        tid = "tr-" + hex32(1)
        r = ok(log_spans(c, exp, [span(1, 2, parent=1, name="llm", span_type="LLM",
                                       start=1700000000100000000)]))
        check(r["accepted_spans"] == 1 and r["traces"] == [tid], r)
        info = ok(call(c, "GET", "traces/" + tid))["trace"]["trace_info"]
        check(info["state"] == "IN_PROGRESS", info)
        check(info["request_time"] == "2023-11-14T22:13:20.100Z", info)
        ok(log_spans(c, exp, [span(1, 1, name="agent", status="STATUS_CODE_ERROR",
                                   dur_ns=5 * 10**8, attrs={"mlflow.spanInputs": {"q": "hi"},
                                                           "mlflow.spanOutputs": "bye"})]))
        info = ok(call(c, "GET", "traces/" + tid))["trace"]["trace_info"]
        check(info["state"] == "ERROR" and info["execution_duration"] == "0.500s", info)
        check(info["request_time"] == "2023-11-14T22:13:20Z", info)
        check(info["request_preview"] == '{"q": "hi"}', info)
        check(info["response_preview"] == '"bye"', info)
        check(info["tags"]["mlflow.traceName"] == "agent", info)
        check(info["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE", info)
        check(info["tags"]["mlflow.artifactLocation"].endswith(
            "/%s/traces/%s/artifacts" % (exp, tid)), info)
        check(info["trace_location"] == loc(exp), info)
        # StartTraceV3 (sent at the end of a trace) wins over the root span.
        body = trace_info(tid, exp, ms=1700000001000, dur="2.5s", state="OK",
                          tags={"team": "a"}, metadata={"mlflow.sourceRun": "r1"},
                          request_preview="req", response_preview="resp")
        out = ok(call(c, "POST", "traces", body))["trace"]["trace_info"]
        check(out["request_time"] == "2023-11-14T22:13:21Z", out)
        check(out["execution_duration"] == "2.500s" and out["state"] == "OK", out)
        check(out["tags"]["team"] == "a" and out["tags"]["mlflow.traceName"] == "agent", out)
        check(out["trace_metadata"] == {"mlflow.sourceRun": "r1"}, out)
        check(out["client_request_id"] == "cr-1" and out["request_preview"] == "req", out)
        # A late span extends the trace but no longer changes the client's info.
        ok(log_spans(c, exp, [span(1, 3, parent=1, name="tool", span_type="TOOL",
                                   status="STATUS_CODE_ERROR")]))
        t = ok(call(c, "GET", "traces/get", params={"trace_id": tid}))["trace"]
        check(t["trace_info"]["request_time"] == "2023-11-14T22:13:21Z", t)
        check(t["trace_info"]["state"] == "OK", t)
        names = sorted(s["name"] for s in t["spans"])
        check(names == ["agent", "llm", "tool"], names)
        # OpenTelemetry Span JSON as MLflow's client reads it.
        by_name = {s["name"]: s for s in t["spans"]}
        agent, llm = by_name["agent"], by_name["llm"]
        check(b64hex(agent["trace_id"]) == hex32(1), agent)
        check(b64hex(agent["span_id"]) == "%016x" % 1 and "parent_span_id" not in agent, agent)
        check(b64hex(llm["parent_span_id"]) == "%016x" % 1, llm)
        check(agent["status"]["code"] == "STATUS_CODE_ERROR", agent)
        check(agent["start_time_unix_nano"] == 1700000000000000000, agent)
        attrs = {a["key"]: a["value"]["string_value"] for a in agent["attributes"]}
        check(json.loads(attrs["mlflow.spanInputs"]) == {"q": "hi"}, attrs)
        lattrs = {a["key"]: a["value"]["string_value"] for a in llm["attributes"]}
        check(json.loads(lattrs["mlflow.spanType"]) == "LLM", lattrs)
        # Info first, spans later (the MLflow 3 client's usual order).
        tid2 = "tr-" + hex32(2)
        ok(call(c, "POST", "traces", trace_info(tid2, exp, ms=1700000005000)))
        ok(log_spans(c, exp, [span(2, 1, name="root", start=1699999999000000000)]))
        i2 = ok(call(c, "GET", "traces/" + tid2))["trace"]["trace_info"]
        check(i2["request_time"] == "2023-11-14T22:13:25Z", i2)
        # ajax-api 3.0 serves the same.
        r = c.raw("GET", "/ajax-api/3.0/mlflow/traces/" + tid2)
        check(ok(r)["trace"]["trace_info"]["trace_id"] == tid2, r)
        # Persisted across a restart.
        srv.restart()
        c = srv.client()
        t = ok(call(c, "GET", "traces/get", params={"trace_id": tid}))["trace"]
        check(len(t["spans"]) == 3 and t["trace_info"]["tags"]["team"] == "a", t)
    finally:
        srv.cleanup()


def test_span_events_and_artifact():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "events")
        tid = "tr-" + hex32(7)
        ev = [{"name": "exception", "time_unix_nano": 1700000000050000000,
               "attributes": {"exception.message": "boom", "n": 3, "f": 1.5, "b": True}}]
        ok(log_spans(c, exp, [span(7, 1, name="root", attrs={"x": [1, 2]}),
                              span(7, 2, parent=1, name="tool", events=ev,
                                   status="STATUS_CODE_ERROR")]))
        t = ok(call(c, "GET", "traces/get", params={"trace_id": tid}))["trace"]
        tool = [s for s in t["spans"] if s["name"] == "tool"][0]
        e = tool["events"][0]
        check(e["name"] == "exception" and e["time_unix_nano"] == 1700000000050000000, e)
        ea = {a["key"]: a["value"] for a in e["attributes"]}
        check(ea["exception.message"] == {"string_value": "boom"}, ea)
        check(ea["n"] == {"int_value": 3} and ea["f"] == {"double_value": 1.5}, ea)
        check(ea["b"] == {"bool_value": True}, ea)
        # The UI's traces.json document.
        art = ok(c.get("get-trace-artifact", {"request_id": tid}, prefix="/ajax-api/2.0/mlflow/"))
        check(len(art["spans"]) == 2, art)
        root = [s for s in art["spans"] if s["name"] == "root"][0]
        tool = [s for s in art["spans"] if s["name"] == "tool"][0]
        check(root["trace_id"] == tid and root["span_id"] == "%016x" % 1, root)
        check(root["parent_span_id"] == "" and tool["parent_span_id"] == "%016x" % 1, tool)
        check(json.loads(root["attributes"]["x"]) == [1, 2], root)
        check(tool["status"]["code"] == "ERROR" and root["status"]["code"] == "OK", tool)
        check(tool["events"][0]["attributes"]["n"] == 3, tool)
        expect_error(c.get("get-trace-artifact", {"request_id": "tr-" + hex32(99)}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        # Token usage of LLM spans adds up into the trace's metadata, as MLflow's
        # server keeps it, across requests, until the client's info is written.
        tu = "tr-" + hex32(8)
        usage = {"mlflow.chat.tokenUsage": {"input_tokens": 10, "output_tokens": 5,
                                            "total_tokens": 15}}
        ok(log_spans(c, exp, [span(8, 1, name="agent"),
                              span(8, 2, parent=1, name="llm1", attrs=usage)]))
        ok(log_spans(c, exp, [span(8, 3, parent=1, name="llm2", attrs=usage)]))
        md = ok(call(c, "GET", "traces/" + tu))["trace"]["trace_info"]["trace_metadata"]
        check(json.loads(md["mlflow.trace.tokenUsage"])
              == {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}, md)
    finally:
        srv.cleanup()


def test_span_pages_and_batch_get():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "pages")
        tid = "tr-" + hex32(3)
        spans = [span(3, 1, name="root")] + [span(3, i, parent=1, name="c%d" % i)
                                             for i in range(2, 251)]
        ok(log_spans(c, exp, spans))
        seen, token, pages = [], None, 0
        while True:
            params = {"trace_id": tid, "max_spans": 64}
            if token:
                params["span_page_token"] = token
            r = ok(call(c, "GET", "traces/get", params=params))
            seen += [b64hex(s["span_id"]) for s in r["trace"]["spans"]]
            pages += 1
            check(len(r["trace"]["spans"]) <= 64, r)
            token = r.get("next_span_page_token")
            if not token:
                break
        check(pages == 4 and len(seen) == 250 and len(set(seen)) == 250, (pages, len(seen)))
        check(seen == sorted(seen), "spans in span id order")
        full = ok(call(c, "GET", "traces/get", params={"trace_id": tid}))
        check(len(full["trace"]["spans"]) == 250 and "next_span_page_token" not in full, "full")
        expect_error(call(c, "GET", "traces/get", params={"trace_id": tid, "max_spans": 0}),
                     400, "INVALID_PARAMETER_VALUE", "max_spans")
        expect_error(call(c, "GET", "traces/get",
                          params={"trace_id": tid, "span_page_token": "zz"}),
                     400, "INVALID_PARAMETER_VALUE", "span_page_token")
        # batchGet: found ones, in the order asked; unknown ids left out.
        tid2 = "tr-" + hex32(4)
        ok(log_spans(c, exp, [span(4, 1, name="other")]))
        r = ok(call(c, "GET", "traces/batchGet",
                    params={"trace_ids": [tid2, "tr-" + hex32(5), tid]}))
        check([t["trace_info"]["trace_id"] for t in r["traces"]] == [tid2, tid], r)
        check(len(r["traces"][1]["spans"]) == 250, "batchGet spans")
        r = ok(call(c, "GET", "traces/batchGet",
                    params={"trace_ids": [tid], "experiment_ids": ["999"]}))
        check(r.get("traces", []) == [], r)
        r = ok(call(c, "POST", "traces/batchGetInfos", {"trace_ids": [tid, tid2]}))
        check([i["trace_id"] for i in r["trace_infos"]] == [tid, tid2], r)
        expect_error(call(c, "GET", "traces/batchGet",
                          params={"trace_ids": ["tr-%032x" % i for i in range(101)]}),
                     400, "INVALID_PARAMETER_VALUE")
    finally:
        srv.cleanup()


def test_search():
    srv = Server().start()
    try:
        c = srv.client()
        e1, e2 = new_experiment(c, "s1"), new_experiment(c, "s2")
        base = 1700000000000
        for i in range(30):
            exp = e1 if i % 2 == 0 else e2
            tid = "tr-" + hex32(1000 + i)
            ok(call(c, "POST", "traces", trace_info(
                tid, exp, ms=base + i * 1000, state="ERROR" if i % 5 == 0 else "OK",
                dur="%d.000s" % (i % 7),
                tags={"kind": "even" if i % 2 == 0 else "odd", "mod3": str(i % 3)},
                metadata={"mlflow.sourceRun": "run%d" % (i % 4)})))
        r = ok(search(c, [e1]))
        ts = [t["request_time"] for t in r["traces"]]
        check(len(ts) == 15 and ts == sorted(ts, reverse=True), ts)
        r = ok(search(c, [e1, e2], order_by=["timestamp_ms ASC"], max_results=7))
        ids = [t["trace_id"] for t in r["traces"]]
        check(ids == ["tr-" + hex32(1000 + i) for i in range(7)], ids)
        # Pages: every trace once, in order, with a keyset token.
        got, token = [], None
        while True:
            kw = {"max_results": 4}
            if token:
                kw["page_token"] = token
            r = ok(search(c, [e1, e2], **kw))
            got += [t["trace_id"] for t in r["traces"]]
            token = r.get("next_page_token")
            if not token:
                break
        check(got == ["tr-" + hex32(1000 + i) for i in reversed(range(30))], got)
        # Filters (tags and metadata use their indexes).
        r = ok(search(c, [e1, e2], filter="tags.mod3 = '1'"))
        check(sorted(t["trace_id"] for t in r["traces"])
              == sorted("tr-" + hex32(1000 + i) for i in range(30) if i % 3 == 1), r)
        r = ok(search(c, [e1, e2], filter="tags.kind = 'odd' AND tags.mod3 = '0'"))
        check(len(r["traces"]) == 5, r)
        r = ok(search(c, [e1, e2], filter="metadata.mlflow.sourceRun = 'run2'"))
        check(len(r["traces"]) == 7, r)
        r = ok(search(c, [e1, e2], filter="trace.status = 'ERROR'"))
        check(len(r["traces"]) == 6, r)
        r = ok(search(c, [e1, e2], filter="timestamp_ms >= %d AND timestamp_ms < %d"
                      % (base + 10000, base + 20000)))
        check(len(r["traces"]) == 10, r)
        r = ok(search(c, [e1, e2], filter="execution_time_ms > 5000"))
        check(len(r["traces"]) == sum(1 for i in range(30) if i % 7 == 6), r)
        r = ok(search(c, [e1], filter="tags.`kind` != 'even'"))
        check(r.get("traces", []) == [], r)
        r = ok(search(c, [e1, e2], filter="tags.kind = 'nope'"))
        check(r.get("traces", []) == [] and "next_page_token" not in r, r)
        # 2.0 search (GET, experiment_ids).
        r = ok(c.get("traces", {"experiment_ids": [e1], "max_results": 3}))
        check(len(r["traces"]) == 3 and r["traces"][0]["experiment_id"] == e1, r)
        check(r["traces"][0]["status"] in ("OK", "ERROR") and r.get("next_page_token"), r)
        # Errors.
        expect_error(search(c, [e1], filter="tags.kind = "), 400, "INVALID_PARAMETER_VALUE")
        expect_error(search(c, [e1], filter="tags.kind = unquoted"), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(search(c, [e1], filter="bogus.x = 'a'"), 400, "INVALID_PARAMETER_VALUE")
        expect_error(search(c, [e1], max_results=0), 400, "INVALID_PARAMETER_VALUE",
                     "max_results")
        expect_error(search(c, [e1], max_results=501), 400, "INVALID_PARAMETER_VALUE")
        expect_error(search(c, [e1], page_token="garbage"), 400, "INVALID_PARAMETER_VALUE",
                     "page token")
        expect_error(search(c, [e1], order_by=["bogus DESC"]), 400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "POST", "traces/search", {}), 400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "POST", "traces/search", {"locations": "x"}), 400,
                     "INVALID_PARAMETER_VALUE")
    finally:
        srv.cleanup()


def test_tags_delete_and_links():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "tags")
        tids = ["tr-" + hex32(2000 + i) for i in range(6)]
        for i, tid in enumerate(tids):
            ok(call(c, "POST", "traces", trace_info(tid, exp, ms=1700000000000 + i * 1000)))
        t0 = tids[0]
        ok(call(c, "PATCH", "traces/%s/tags" % t0, {"key": "k", "value": "v1"}))
        ok(call(c, "PATCH", "traces/%s/tags" % t0, {"key": "k", "value": "v2"}))
        info = ok(call(c, "GET", "traces/" + t0))["trace"]["trace_info"]
        check(info["tags"]["k"] == "v2", info)
        r = ok(search(c, [exp], filter="tags.k = 'v2'"))
        check([t["trace_id"] for t in r["traces"]] == [t0], r)
        check(ok(search(c, [exp], filter="tags.k = 'v1'")).get("traces", []) == [], "old tag")
        ok(call(c, "DELETE", "traces/%s/tags" % t0, params={"key": "k"}))
        check("k" not in ok(call(c, "GET", "traces/" + t0))["trace"]["trace_info"]["tags"], "del")
        expect_error(call(c, "DELETE", "traces/%s/tags" % t0, params={"key": "k"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "PATCH", "traces/%s/tags" % ("tr-" + hex32(1)),
                          {"key": "k", "value": "v"}), 404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "PATCH", "traces/%s/tags" % t0, {"value": "v"}), 400,
                     "INVALID_PARAMETER_VALUE", "key")
        expect_error(call(c, "PATCH", "traces/%s/tags" % t0, {"key": "x" * 251, "value": "v"}),
                     400, "INVALID_PARAMETER_VALUE")
        # 2.0 tag calls.
        ok(call(c, "PATCH", "traces/%s/tags" % t0, {"key": "old", "value": "api"}, prefix=V2))
        check(ok(c.get("traces/%s/info" % t0))["trace_info"]["tags"][-1]
              == {"key": "old", "value": "api"}, "v2 tag")
        ok(call(c, "DELETE", "traces/%s/tags" % t0, {"key": "old"}, prefix=V2))
        # Links to runs: searchable by run_id.
        ok(call(c, "POST", "traces/link-to-run", {"trace_ids": tids[:2], "run_id": "runX"},
                prefix=V2))
        r = ok(search(c, [exp], filter="run_id = 'runX'"))
        check(sorted(t["trace_id"] for t in r["traces"]) == sorted(tids[:2]), r)
        expect_error(call(c, "POST", "traces/link-to-run",
                          {"trace_ids": ["tr-" + hex32(5)], "run_id": "runX"}, prefix=V2),
                     404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "POST", "traces/link-to-run", {"trace_ids": tids}, prefix=V2),
                     400, "INVALID_PARAMETER_VALUE", "run_id")
        expect_error(call(c, "POST", "traces/link-to-run",
                          {"trace_ids": ["tr-%032x" % i for i in range(101)], "run_id": "r"},
                          prefix=V2), 400, "INVALID_PARAMETER_VALUE", "100")
        # Deletion by ids (only this experiment's), then by time.
        expect_error(call(c, "POST", "traces/delete-traces", {"experiment_id": exp}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "POST", "traces/delete-traces",
                          {"experiment_id": exp, "request_ids": [t0],
                           "max_timestamp_millis": 1}), 400, "INVALID_PARAMETER_VALUE")
        r = ok(call(c, "POST", "traces/delete-traces",
                    {"experiment_id": "0", "request_ids": [t0]}))
        check(r.get("traces_deleted", 0) == 0, r)
        r = ok(call(c, "POST", "traces/delete-traces",
                    {"experiment_id": exp, "request_ids": [t0, "tr-" + hex32(77)]}))
        check(r["traces_deleted"] == 1, r)
        expect_error(call(c, "GET", "traces/" + t0), 404, "RESOURCE_DOES_NOT_EXIST")
        r = ok(search(c, [exp], filter="run_id = 'runX'"))
        check([t["trace_id"] for t in r["traces"]] == [tids[1]], r)
        r = ok(call(c, "POST", "traces/delete-traces",
                    {"experiment_id": exp, "max_timestamp_millis": 1700000004000,
                     "max_traces": 2}))
        check(r["traces_deleted"] == 2, r)
        left = [t["trace_id"] for t in ok(search(c, [exp]))["traces"]]
        check(left == [tids[5], tids[4], tids[3]], left)
        r = ok(call(c, "POST", "traces/delete-traces",
                    {"experiment_id": exp, "max_timestamp_millis": 1700000004000}, prefix=V2))
        check(r["traces_deleted"] == 2, r)
        check([t["trace_id"] for t in ok(search(c, [exp]))["traces"]] == [tids[5]], "left")
    finally:
        srv.cleanup()


def test_v2_calls():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "v2")
        r = ok(call(c, "POST", "traces", {"experiment_id": exp, "timestamp_ms": 1700000000000,
                                          "request_metadata": [{"key": "m", "value": "1"}],
                                          "tags": [{"key": "t", "value": "x"}]}, prefix=V2))
        info = r["trace_info"]
        rid = info["request_id"]
        check(rid.startswith("tr-") and len(rid) == 35, info)
        check(info["status"] == "IN_PROGRESS" and info["timestamp_ms"] == 1700000000000, info)
        r = ok(call(c, "PATCH", "traces/" + rid, {"timestamp_ms": 1700000001500,
                                                  "status": "OK",
                                                  "tags": [{"key": "t2", "value": "y"}]},
                    prefix=V2))
        check(r["trace_info"]["execution_time_ms"] == 1500, r)
        check(r["trace_info"]["status"] == "OK", r)
        g = ok(c.get("traces/%s/info" % rid))["trace_info"]
        check({"key": "t2", "value": "y"} in g["tags"], g)
        check(g["request_metadata"] == [{"key": "m", "value": "1"}], g)
        v3 = ok(call(c, "GET", "traces/" + rid))["trace"]["trace_info"]
        check(v3["execution_duration"] == "1.500s" and v3["trace_metadata"] == {"m": "1"}, v3)
        expect_error(c.get("traces/%s/info" % ("tr-" + hex32(9))), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "POST", "traces", {"experiment_id": "424242"}, prefix=V2), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "POST", "traces", {}, prefix=V2), 400, "INVALID_PARAMETER_VALUE")
    finally:
        srv.cleanup()


def test_errors_change_nothing():
    srv = Server().start()
    try:
        c = srv.client()
        exp = new_experiment(c, "errors")
        tid = "tr-" + hex32(11)
        expect_error(call(c, "POST", "traces", {}), 400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "POST", "traces", {"trace": {"trace_info": {}}}), 400,
                     "INVALID_PARAMETER_VALUE", "trace_id")
        expect_error(call(c, "POST", "traces", trace_info("not-a-trace-id", exp)), 400,
                     "INVALID_PARAMETER_VALUE", "trace_id")
        expect_error(call(c, "POST", "traces", trace_info(tid, "424242")), 404,
                     "RESOURCE_DOES_NOT_EXIST", "424242")
        expect_error(call(c, "POST", "traces", trace_info(tid, exp, request_time="yesterday")),
                     400, "INVALID_PARAMETER_VALUE", "request_time")
        expect_error(call(c, "POST", "traces", trace_info(tid, exp, dur="soon")), 400,
                     "INVALID_PARAMETER_VALUE", "execution_duration")
        expect_error(call(c, "POST", "traces", trace_info(tid, exp, tags={"k" * 300: "v"})),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "POST", "traces", trace_info(tid, exp, tags={"k": 5})), 400,
                     "INVALID_PARAMETER_VALUE")
        r = c.raw("POST", V3 + "traces", b'{"trace": ', {"Content-Type": "application/json"})
        expect_error(r, 400, "MALFORMED_REQUEST")
        # Spans: one bad span refuses the whole request.
        good = span(11, 1, name="root")
        bad = dict(span(11, 2, parent=1), span_id="XYZ")
        expect_error(log_spans(c, exp, [good, bad]), 400, "INVALID_PARAMETER_VALUE", "span_id")
        expect_error(log_spans(c, exp, [dict(good, trace_id="abc")]), 400,
                     "INVALID_PARAMETER_VALUE", "trace_id")
        expect_error(log_spans(c, "424242", [good]), 404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(log_spans(c, "", [good]), 400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "GET", "traces/" + tid), 404, "RESOURCE_DOES_NOT_EXIST", tid)
        expect_error(call(c, "GET", "traces/get", params={"trace_id": tid}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "GET", "traces/get"), 400, "INVALID_PARAMETER_VALUE", "trace_id")
        check(ok(search(c, [exp])).get("traces", []) == [], "nothing written")
    finally:
        srv.cleanup()


def test_retention_ttl():
    srv = Server(extra=["--trace-retention-interval-ms", "100"]).start()
    try:
        c = srv.client()
        keep, short = new_experiment(c, "keep"), new_experiment(c, "short")
        ok(call(c, "POST", "experiments/set-experiment-tag",
                {"experiment_id": short, "key": "cairn.trace.ttl", "value": "1d"}, prefix=V2))
        now = int(time.time() * 1000)
        old = now - 3 * 86400 * 1000
        for exp in (keep, short):
            ok(log_spans(c, exp, [span(int(exp) * 100 + i, 1, name="old",
                                       start=(old + i) * 10**6) for i in range(70)]))
            ok(log_spans(c, exp, [span(int(exp) * 100 + 90, 1, name="new", start=now * 10**6)]))
        deadline = time.time() + 30
        while time.time() < deadline:
            left = ok(search(c, [short], max_results=500)).get("traces", [])
            if len(left) == 1:
                break
            time.sleep(0.1)
        check([t["tags"]["mlflow.traceName"] for t in left] == ["new"], left)
        check(len(ok(search(c, [keep], max_results=500))["traces"]) == 71, "no TTL: kept")
        gone = "tr-" + hex32(int(short) * 100)
        expect_error(call(c, "GET", "traces/get", params={"trace_id": gone}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
    finally:
        srv.cleanup()


def test_ingest_budget_overload():
    """Past trace_ingest_budget_mb the service answers 503 with Retry-After at
    once instead of holding the spans; everything it accepted is stored."""
    srv = Server(extra=["--trace-ingest-budget-mb", "1"]).start()
    try:
        exp = new_experiment(srv.client(), "load")
        big = "x" * 2000
        results, lock = [], threading.Lock()

        def worker(w, rounds):
            c = srv.client()
            for r in range(rounds):
                tnum = 10**6 + w * 1000 + r
                spans = [span(tnum, i + 1, parent=None if i == 0 else 1, name="s",
                              attrs={"blob": big}) for i in range(300)]
                resp = log_spans(c, exp, spans)
                with lock:
                    results.append((resp.status, resp.headers.get("Retry-After"), tnum,
                                    resp.body[:200]))

        refused = []
        for attempt in range(5):
            ths = [threading.Thread(target=worker, args=(attempt * 100 + w, 3))
                   for w in range(12)]
            for t in ths:
                t.start()
            for t in ths:
                t.join()
            refused = [r for r in results if r[0] == 503]
            if refused:
                break
        check(refused, "no request was refused: %r" % results[:3])
        for status, retry, _, body in results:
            check(status in (200, 503), (status, body))
            if status == 503:
                check(retry == "1", (status, retry))
                check(json.loads(body)["error_code"] == "TEMPORARILY_UNAVAILABLE", body)
        c = srv.client()
        for status, _, tnum, _ in results:
            r = call(c, "GET", "traces/" + "tr-" + hex32(tnum))
            check(r.status == (200 if status == 200 else 404), (status, r))
    finally:
        srv.cleanup()


def test_split_mode():
    """traces as its own process; it asks tracking (another process) about
    experiments over the bus."""
    data = tempfile.mkdtemp(prefix="cairn-traces-split-")
    trc_port, trk_port, http_port = free_port(), free_port(), free_port()
    procs = []
    try:
        for name, port, extra in [
                ("tracking", trk_port, []),
                ("traces", trc_port, ["--service", "tracking=tcp://127.0.0.1:%d" % trk_port])]:
            p = Proc(["service", name, "--listen", "tcp://127.0.0.1:%d" % port, "--data",
                      os.path.join(data, name)] + extra, log_name=name).start()
            procs.append(p)
            deadline = time.time() + 30
            while "SERVICE-READY" not in p.logs():
                check(p.p.poll() is None and time.time() < deadline, p.logs())
                time.sleep(0.05)
        gw = Proc(["gateway", "--port", str(http_port),
                   "--service", "traces=tcp://127.0.0.1:%d" % trc_port,
                   "--service", "tracking=tcp://127.0.0.1:%d" % trk_port],
                  log_name="gateway").start()
        procs.append(gw)
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        exp = new_experiment(c, "split")
        tid = "tr-" + hex32(55)
        info = ok(call(c, "POST", "traces", trace_info(tid, exp)))["trace"]["trace_info"]
        check(info["tags"]["mlflow.artifactLocation"]
              == "mlflow-artifacts:/%s/traces/%s/artifacts" % (exp, tid), info)
        expect_error(call(c, "POST", "traces", trace_info("tr-" + hex32(56), "777")), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        ok(log_spans(c, exp, [span(55, 1, name="root")]))
        t = ok(call(c, "GET", "traces/get", params={"trace_id": tid}))["trace"]
        check(len(t["spans"]) == 1, t)
    finally:
        for p in reversed(procs):
            p.term()


if __name__ == "__main__":
    run_tests([test_start_trace_and_spans_merge, test_span_events_and_artifact,
               test_span_pages_and_batch_get, test_search, test_tags_delete_and_links,
               test_v2_calls, test_errors_change_nothing, test_retention_ttl,
               test_ingest_budget_overload, test_split_mode])
