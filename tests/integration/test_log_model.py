"""runs/log-model end to end against `cairn server`: the model JSON is appended
to the run tag mlflow.log-model.history; MLflow's validation and messages."""
import json

from harness import Server, check, expect_error, run_tests

TAG = "mlflow.log-model.history"


def model(rid, path, **kw):
    m = {"artifact_path": path, "flavors": {"python_function": {"loader_module": "x"}},
         "utc_time_created": "2026-01-01 00:00:00.000000", "run_id": rid}
    m.update(kw)
    return m


def tags(c, rid):
    r = c.get("runs/get", {"run_id": rid})
    check(r.status == 200, r)
    return {t["key"]: t["value"] for t in r.json()["run"]["data"].get("tags", [])}


def test_log_model():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.post("runs/create", {"experiment_id": "0"})
        check(r.status == 200, r)
        rid = r.json()["run"]["info"]["run_id"]
        # Two models: the tag holds both, in order, with their fields intact.
        for path in ("model-a", "model-b"):
            r = c.post("runs/log-model",
                       {"run_id": rid, "model_json": json.dumps(model(rid, path, extra=[1, 2]))})
            check(r.status == 200 and r.json() == {}, r)
        hist = json.loads(tags(c, rid)[TAG])
        check([m["artifact_path"] for m in hist] == ["model-a", "model-b"], hist)
        check(hist[0]["flavors"] == {"python_function": {"loader_module": "x"}}, hist)
        check(hist[1]["extra"] == [1, 2] and hist[1]["run_id"] == rid, hist)

        # Validation, in MLflow's order and with its messages.
        expect_error(c.post("runs/log-model", {"run_id": rid}), 400,
                     "INVALID_PARAMETER_VALUE", "'model_json'")
        expect_error(c.post("runs/log-model", {"model_json": json.dumps(model(rid, "m"))}),
                     400, "INVALID_PARAMETER_VALUE", "'run_id'")
        expect_error(c.post("runs/log-model", {"run_id": rid, "model_json": "not json"}), 400,
                     "INVALID_PARAMETER_VALUE", "Malformed model info")
        expect_error(c.post("runs/log-model", {"run_id": rid, "model_json": "[1, 2]"}), 400,
                     "INVALID_PARAMETER_VALUE", "is not a valid JSON")
        expect_error(c.post("runs/log-model",
                            {"run_id": rid, "model_json": json.dumps({"some": "data"})}),
                     400, "INVALID_PARAMETER_VALUE",
                     "Model json is missing mandatory fields: {'artifact_path', 'flavors', "
                     "'utc_time_created', 'run_id'}")
        m = model(rid, "m")
        del m["flavors"]
        expect_error(c.post("runs/log-model", {"run_id": rid, "model_json": json.dumps(m)}),
                     400, "INVALID_PARAMETER_VALUE", "missing mandatory fields: {'flavors'}")
        m = model(rid, "m", flavors=["not", "a", "dict"])
        expect_error(c.post("runs/log-model", {"run_id": rid, "model_json": json.dumps(m)}),
                     400, "INVALID_PARAMETER_VALUE", "flavors")
        # Unknown run (well-formed and not).
        unknown = "0" * 32
        expect_error(c.post("runs/log-model",
                            {"run_id": unknown, "model_json": json.dumps(model(unknown, "m"))}),
                     404, "RESOURCE_DOES_NOT_EXIST", "Run with id=%s not found" % unknown)
        expect_error(c.post("runs/log-model",
                            {"run_id": "nope", "model_json": json.dumps(model("nope", "m"))}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        # The history tag obeys the tag value length limit.
        big = model(rid, "big", blob="x" * 8000)
        expect_error(c.post("runs/log-model", {"run_id": rid, "model_json": json.dumps(big)}),
                     400, "INVALID_PARAMETER_VALUE", "exceeded length limit of 8000")
        check(len(json.loads(tags(c, rid)[TAG])) == 2, "failed calls changed the tag")
        # Deleted run: must be active.
        check(c.post("runs/delete", {"run_id": rid}).status == 200)
        expect_error(c.post("runs/log-model",
                            {"run_id": rid, "model_json": json.dumps(model(rid, "m"))}),
                     400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
        check(c.post("runs/restore", {"run_id": rid}).status == 200)
        # Durable across a restart.
        srv.restart()
        c = srv.client()
        check(len(json.loads(tags(c, rid)[TAG])) == 2, "history lost on restart")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_log_model])
