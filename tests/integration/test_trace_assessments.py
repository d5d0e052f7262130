"""MLflow 3 assessments over real HTTP (/api/3.0/mlflow/traces/{trace_id}/
assessments[/{assessment_id}]): feedback and expectations with every value
kind, sources, rationale, errors, metadata; get; update by update_mask (with
metadata merged and the type kept); overrides marking the superseded
assessment invalid and delete restoring it; assessments inside TraceInfoV3;
MLflow's errors; nothing changed by a refused call; assessments gone with
their trace."""
from harness import Server, check, expect_error, run_tests
from trace_feed import call, experiment, feed, ok

T0 = 1735689600000


def create(c, tid, **a):
    a.setdefault("assessment_name", "quality")
    a.setdefault("source", {"source_type": "HUMAN", "source_id": "alice"})
    return call(c, "POST", "traces/%s/assessments" % tid, {"assessment": a})


def get(c, tid, aid):
    return call(c, "GET", "traces/%s/assessments/%s" % (tid, aid))


def test_create_get_and_trace_info():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "asm")
        tid = feed(c, e, T0, 100)
        a = ok(create(c, tid, feedback={"value": True}, rationale="looks right",
                      metadata={"chunk_index": "3"}, span_id="0000000000000001"))["assessment"]
        aid = a["assessment_id"]
        check(aid.startswith("a-") and len(aid) == 34, a)
        check(a["trace_id"] == tid and a["valid"] is True, a)
        check(a["feedback"]["value"] is True and a["rationale"] == "looks right", a)
        check(a["metadata"] == {"chunk_index": "3"} and a["span_id"] == "0000000000000001", a)
        check(a["source"] == {"source_type": "HUMAN", "source_id": "alice"}, a)
        check(a["create_time"].endswith("Z") and a["last_update_time"] == a["create_time"], a)
        check(ok(get(c, tid, aid))["assessment"] == a, "get answers what create did")

        # Every value kind round-trips as JSON.
        for v in [0.75, 3, "good", ["a", "b"], {"score": 1, "labels": ["x"]}]:
            got = ok(create(c, tid, assessment_name="v", feedback={"value": v}))["assessment"]
            check(got["feedback"]["value"] == v, (v, got))
        err = ok(create(c, tid, assessment_name="judge",
                        source={"source_type": "LLM_JUDGE", "source_id": "gpt"},
                        feedback={"error": {"error_code": "RATE_LIMIT",
                                            "error_message": "429",
                                            "stack_trace": "Traceback ..."}}))["assessment"]
        check(err["feedback"]["error"]["error_code"] == "RATE_LIMIT", err)
        x = ok(create(c, tid, assessment_name="expected",
                      source={"source_type": "CODE", "source_id": "eval"},
                      expectation={"value": "Paris"}))["assessment"]
        check(x["expectation"]["value"] == "Paris" and "feedback" not in x, x)
        ser = ok(create(c, tid, assessment_name="doc", expectation={"serialized_value": {
            "serialization_format": "JSON_FORMAT", "value": "{\"a\": 1}"}}))["assessment"]
        check(ser["expectation"]["serialized_value"]["value"] == "{\"a\": 1}", ser)

        info = ok(call(c, "GET", "traces/" + tid))["trace"]["trace_info"]
        got_ids = [x["assessment_id"] for x in info.get("assessments", [])]
        check(aid in got_ids and x["assessment_id"] in got_ids, info)
        check(got_ids[0] == aid, "assessments listed in creation order: %r" % got_ids)
    finally:
        s.cleanup()


def test_update_mask():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "upd")
        tid = feed(c, e, T0, 100)
        a = ok(create(c, tid, feedback={"value": 0.5}, rationale="meh",
                      metadata={"k1": "v1"}))["assessment"]
        aid = a["assessment_id"]
        path = "traces/%s/assessments/%s" % (tid, aid)
        u = ok(call(c, "PATCH", path, {
            "assessment": {"assessment_name": "ignored", "feedback": {"value": 0.9},
                           "rationale": "better", "metadata": {"k2": "v2"}},
            "update_mask": "feedback,rationale,metadata"}))["assessment"]
        check(u["feedback"]["value"] == 0.9 and u["rationale"] == "better", u)
        check(u["assessment_name"] == "quality", "name not in the mask: unchanged")
        check(u["metadata"] == {"k1": "v1", "k2": "v2"}, "metadata merged: %r" % u)
        check(u["create_time"] == a["create_time"], u)
        u = ok(call(c, "PATCH", path, {"assessment": {"assessment_name": "renamed"},
                                       "update_mask": "assessmentName"}))["assessment"]
        check(u["assessment_name"] == "renamed", u)
        check(ok(get(c, tid, aid))["assessment"] == u, "stored")
        # Refused updates change nothing.
        expect_error(call(c, "PATCH", path, {"assessment": {"expectation": {"value": 1}},
                                             "update_mask": "expectation"}),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(call(c, "PATCH", path, {"assessment": {"rationale": "x"},
                                             "update_mask": "valid"}),
                     400, "INVALID_PARAMETER_VALUE", "update_mask")
        expect_error(call(c, "PATCH", path, {"assessment": {"feedback": {}},
                                             "update_mask": "feedback"}),
                     400, "INVALID_PARAMETER_VALUE")
        check(ok(get(c, tid, aid))["assessment"] == u, "unchanged after refusals")
        expect_error(call(c, "PATCH", "traces/%s/assessments/a-nope" % tid,
                          {"assessment": {}, "update_mask": "rationale"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        s.cleanup()


def test_overrides_and_delete():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "ovr")
        tid = feed(c, e, T0, 100)
        old = ok(create(c, tid, source={"source_type": "LLM_JUDGE", "source_id": "judge"},
                        feedback={"value": "bad"}))["assessment"]
        new = ok(create(c, tid, feedback={"value": "good"},
                        overrides=old["assessment_id"]))["assessment"]
        check(new["overrides"] == old["assessment_id"] and new["valid"] is True, new)
        check(ok(get(c, tid, old["assessment_id"]))["assessment"]["valid"] is False,
              "the overridden assessment is no longer valid")
        expect_error(create(c, tid, feedback={"value": 1}, overrides="a-missing"),
                     404, "RESOURCE_DOES_NOT_EXIST")
        ok(call(c, "DELETE", "traces/%s/assessments/%s" % (tid, new["assessment_id"])))
        expect_error(get(c, tid, new["assessment_id"]), 404, "RESOURCE_DOES_NOT_EXIST")
        check(ok(get(c, tid, old["assessment_id"]))["assessment"]["valid"] is True,
              "deleting the override restores the original")
        # Deleting what is not there succeeds, as in MLflow.
        ok(call(c, "DELETE", "traces/%s/assessments/%s" % (tid, new["assessment_id"])))
        # Assessments go with their trace.
        ok(call(c, "POST", "traces/delete-traces", {"experiment_id": e, "request_ids": [tid]}))
        expect_error(get(c, tid, old["assessment_id"]), 404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        s.cleanup()


def test_errors():
    s = Server().start()
    try:
        c = s.client()
        e = experiment(c, "err")
        tid = feed(c, e, T0, 100)
        bad = [
            (dict(feedback={"value": 1}, expectation={"value": 1}), "exactly one"),
            (dict(), "exactly one"),
            (dict(feedback={}), "`value` or `error`"),
            (dict(expectation={"value": 1, "serialized_value": {"value": "1"}}), "Only one"),
            (dict(assessment_name="", feedback={"value": 1}), "assessment_name"),
            (dict(trace_id="tr-" + "0" * 32, feedback={"value": 1}), "does not match"),
        ]
        for a, msg in bad:
            expect_error(create(c, tid, **a), 400, "INVALID_PARAMETER_VALUE", msg)
        expect_error(create(c, "tr-" + "1" * 32, feedback={"value": 1}), 404,
                     "RESOURCE_DOES_NOT_EXIST", "not found")
        expect_error(create(c, "not-a-trace", feedback={"value": 1}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(get(c, tid, "a-" + "0" * 32), 404, "RESOURCE_DOES_NOT_EXIST",
                     "not found for trace")
        r = call(c, "POST", "traces/%s/assessments" % tid,
                 {"assessment": {"assessment_name": "x", "feedback": {"value": 1}}, "bogus": 1})
        expect_error(r, 400, "INVALID_PARAMETER_VALUE")
        info = ok(call(c, "GET", "traces/" + tid))["trace"]["trace_info"]
        check(not info.get("assessments"), "refused creates stored nothing: %r" % info)
    finally:
        s.cleanup()


if __name__ == "__main__":
    run_tests([test_create_get_and_trace_info, test_update_mask, test_overrides_and_delete,
               test_errors])
