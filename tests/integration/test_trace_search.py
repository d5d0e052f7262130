"""search_traces over real HTTP (POST /api/3.0/mlflow/traces/search) with
MLflow's trace filter language: attributes (status/state, timestamps,
execution time, name, run_id, trace id, client request id), tags., metadata.,
span.name/type/status/attributes.<k>/content, trace.text, feedback. and
expectation. (assessments made through the assessments API), order_by and
MLflow's error messages for bad filters."""
from harness import Server, check, expect_error, run_tests
from trace_feed import call, experiment, feed, ok, search, span

T0 = 1735689600000  # 2025-01-01T00:00:00Z


def ids(resp):
    return [t["trace_id"] for t in ok(resp).get("traces", [])]


def world(c):
    e = experiment(c, "search")
    t1 = feed(c, e, T0 + 1000, 100, "OK", name="agent_a", client_request_id="req-1",
              tags={"env": "prod"}, meta={"mlflow.sourceRun": "run1", "mlflow.user": "alice"},
              spans=[span("agent", "AGENT"),
                     span("llm", "CHAT_MODEL", attrs={"model": "gpt-4", "temperature": 0.7}),
                     span("get_weather", "TOOL", attrs={"city": "Paris"})])
    t2 = feed(c, e, T0 + 2000, 900, "ERROR", name="agent_b", client_request_id="req-2",
              tags={"env": "dev"}, meta={"mlflow.user": "bob"},
              spans=[span("agent", "AGENT", "ERROR"),
                     span("get_weather", "TOOL", "ERROR", attrs={"city": "Oslo"}),
                     span("search_web", "TOOL")])
    t3 = feed(c, e, T0 + 3000, 300, "OK", name="agent_a",
              spans=[span("agent", "AGENT", attrs={"question": "what is six times seven"})])
    a = {"assessment_name": "correct", "source": {"source_type": "HUMAN", "source_id": "u"}}
    ok(call(c, "POST", "traces/%s/assessments" % t3,
            {"assessment": dict(a, feedback={"value": True})}))
    ok(call(c, "POST", "traces/%s/assessments" % t3,
            {"assessment": dict(a, assessment_name="relevance", feedback={"value": 0.9})}))
    ok(call(c, "POST", "traces/%s/assessments" % t1,
            {"assessment": dict(a, assessment_name="relevance", feedback={"value": 0.2})}))
    ok(call(c, "POST", "traces/%s/assessments" % t3,
            {"assessment": dict(a, assessment_name="answer", expectation={"value": "42"})}))
    return e, t1, t2, t3


def test_filters():
    s = Server().start()
    try:
        c = s.client()
        e, t1, t2, t3 = world(c)

        def q(flt):
            return sorted(ids(search(c, e, flt)))

        def want(*ts):
            return sorted(ts)

        cases = [
            ("", want(t1, t2, t3)),
            ("status = 'ERROR'", want(t2)),
            ("trace.state != 'ERROR'", want(t1, t3)),
            ("attributes.status IN ('OK')", want(t1, t3)),
            ("timestamp_ms > %d" % (T0 + 1500), want(t2, t3)),
            ("trace.timestamp <= %d" % (T0 + 1000), want(t1)),
            ("execution_time_ms >= 300", want(t2, t3)),
            ("end_time_ms = %d" % (T0 + 3300), want(t3)),
            ("name = 'agent_a'", want(t1, t3)),
            ("trace.name LIKE 'agent%'", want(t1, t2, t3)),
            ("name RLIKE '_b$'", want(t2)),
            ("run_id = 'run1'", want(t1)),
            ("request_id = '%s'" % t2, want(t2)),
            ("trace.trace_id IN ('%s', '%s')" % (t1, t3), want(t1, t3)),
            ("client_request_id = 'req-2'", want(t2)),
            ("tags.env = 'prod'", want(t1)),
            ("tag.env != 'prod'", want(t2)),
            ("tags.env ILIKE 'PR%'", want(t1)),
            ("metadata.`mlflow.user` = 'bob'", want(t2)),
            ("request_metadata.`mlflow.user` LIKE 'al%'", want(t1)),
            ("span.name = 'search_web'", want(t2)),
            ("span.type = 'TOOL' AND span.status = 'ERROR'", want(t2)),
            ("span.type IN ('CHAT_MODEL', 'LLM')", want(t1)),
            ("span.name RLIKE '^get_'", want(t1, t2)),
            ("span.attributes.model = 'gpt-4'", want(t1)),
            ("span.attributes.temperature = '0.7'", want(t1)),
            ("span.attributes.city LIKE 'O%'", want(t2)),
            ("span.content ILIKE '%six times%'", want(t3)),
            ("trace.text LIKE '%Paris%'", want(t1)),
            ("feedback.correct = 'true'", want(t3)),
            ("feedback.relevance > 0.5", want(t3)),
            ("feedback.relevance < 0.5", want(t1)),
            ("feedback.correct IS NULL", want(t1, t2)),
            ("expectation.answer = '42'", want(t3)),
            ("name = 'agent_a' AND tags.env = 'prod' AND span.name = 'llm'", want(t1)),
        ]
        for flt, expected in cases:
            got = q(flt)
            check(got == expected, "%r: got %r, want %r" % (flt, got, expected))
    finally:
        s.cleanup()


def test_order_by_and_paging():
    s = Server().start()
    try:
        c = s.client()
        e, t1, t2, t3 = world(c)
        check(ids(search(c, e)) == [t3, t2, t1], "default: newest first")
        check(ids(search(c, e, order_by=["timestamp_ms ASC"])) == [t1, t2, t3], "oldest first")
        check(ids(search(c, e, order_by=["execution_time DESC"])) == [t2, t3, t1], "slowest")
        check(ids(search(c, e, "name = 'agent_a'", order_by=["execution_time_ms"])) == [t1, t3],
              "filtered and ordered")
        seen, token = [], None
        for _ in range(5):
            r = ok(search(c, e, max_results=1, page_token=token))
            seen += [t["trace_id"] for t in r.get("traces", [])]
            token = r.get("next_page_token")
            if not token:
                break
        check(seen == [t3, t2, t1], "paged: %r" % seen)
    finally:
        s.cleanup()


def test_bad_filters():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "bad")
        bad = [
            ("foo.x = 'a'", "Invalid entity type 'foo'"),
            ("span.kind = 'x'", "Invalid span attribute 'kind'"),
            ("span.content = 'x'", "span.content comparator '=' not one of"),
            ("feedback.score > 'high'", "Expected a numeric value for feedback"),
            ("status LIKE 'O%'", "Invalid comparator 'LIKE'"),
            ("timestamp_ms > 'yesterday'", "Expected numeric value type"),
            ("bogus = 'a'", "Invalid attribute key 'bogus' specified"),
            ("status = 'OK' OR status = 'ERROR'", "Invalid clause(s) in filter string"),
            ("tags.env IS NULL", "IS NULL / IS NOT NULL"),
        ]
        for flt, msg in bad:
            expect_error(search(c, e, flt), 400, "INVALID_PARAMETER_VALUE", msg)
        expect_error(search(c, e, order_by=["span.name"]), 400, "INVALID_PARAMETER_VALUE",
                     "Invalid order_by entity")
        expect_error(search(c, e, order_by=["status ASC DESC"]), 400, "INVALID_PARAMETER_VALUE",
                     "Could not be parsed")
    finally:
        s.cleanup()


def test_many_spans():
    """A trace with more spans than the filter copies is streamed: every
    clause still sees every span, the last one included."""
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "many")
        spans = [span("step_%d" % i, "CHAIN") for i in range(299)]
        spans.append(span("last", "TOOL", "ERROR", attrs={"k": "needle"}))
        big = feed(c, e, T0, 10, spans=spans)
        small = feed(c, e, T0 + 1, 10, spans=[span("last", "TOOL")])
        q = lambda f: sorted(ids(search(c, e, f)))  # noqa: E731
        check(q("span.name = 'last' AND span.status = 'ERROR'") == [big], "streamed")
        check(q("span.attributes.k = 'needle' AND span.name = 'step_0'") == [big], "both ends")
        check(q("span.name = 'last'") == sorted([big, small]), "both traces")
        check(q("span.name = 'step_298' AND span.type = 'TOOL'") == [big], "restart per clause")
    finally:
        s.cleanup()


if __name__ == "__main__":
    run_tests([test_filters, test_order_by_and_paging, test_bad_filters, test_many_spans])
