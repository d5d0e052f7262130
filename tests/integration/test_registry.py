"""The model registry end to end over real HTTP: registered models (create,
get, rename, update, delete, tags, aliases, search with filters, order_by and
pages, prompts hidden), model versions (create with source validation,
numbering that never reuses a number, get, update, delete, tags, stages,
latest versions, download URIs, search), models:/ URI resolution, MLflow's
error codes and messages, 16 concurrent creators, restart, and split mode."""
import json
import os
import tempfile
import threading
import time

from harness import Client, Proc, Server, check, expect_error, free_port, run_tests, \
    wait_healthy

P = "/api/2.0/mlflow/"


def call(c, method, path, obj=None, prefix=P):
    body = json.dumps(obj).encode() if obj is not None else None
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    return c.raw(method, prefix + path, body, hdr)


def ok(r):
    check(r.status == 200, r)
    return r.json()


def create_model(c, name, **kw):
    body = {"name": name}
    body.update(kw)
    return ok(c.post("registered-models/create", body))["registered_model"]


def create_version(c, name, source="s3://bucket/model", **kw):
    body = {"name": name, "source": source}
    body.update(kw)
    return ok(c.post("model-versions/create", body))["model_version"]


def get_model(c, name):
    return ok(c.get("registered-models/get", {"name": name}))["registered_model"]


def get_version(c, name, v):
    return ok(c.get("model-versions/get", {"name": name, "version": v}))["model_version"]


def test_registered_models():
    srv = Server().start()
    try:
        c = srv.client()
        m = create_model(c, "clf", description="first",
                         tags=[{"key": "team", "value": "ml"}])
        check(m["name"] == "clf" and m["description"] == "first", m)
        check(m["tags"] == [{"key": "team", "value": "ml"}], m)
        check(m["creation_timestamp"] == m["last_updated_timestamp"] > 0, m)
        expect_error(c.post("registered-models/create", {"name": "clf"}), 400,
                     "RESOURCE_ALREADY_EXISTS", "Registered Model (name=clf) already exists")
        expect_error(c.post("registered-models/create", {}), 400, "INVALID_PARAMETER_VALUE",
                     "Missing value for required parameter 'name'")
        expect_error(c.post("registered-models/create",
                            {"name": "x", "tags": [{"key": "bad*key", "value": "v"}]}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid value \"bad*key\"")
        expect_error(c.post("registered-models/create", {"name": "n" * 513}), 400,
                     "INVALID_PARAMETER_VALUE", "maximum length of 512")
        expect_error(c.get("registered-models/get", {"name": "x"}), 404,
                     "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found")
        check(get_model(c, "clf")["description"] == "first")

        # update
        u = ok(call(c, "PATCH", "registered-models/update",
                    {"name": "clf", "description": "second"}))["registered_model"]
        check(u["description"] == "second" and u["last_updated_timestamp"] >= m[
            "last_updated_timestamp"], u)
        expect_error(call(c, "PATCH", "registered-models/update", {"name": "nope"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # tags
        ok(c.post("registered-models/set-tag", {"name": "clf", "key": "k", "value": "v"}))
        # a NUL inside a value is kept, and the model stays readable
        ok(c.post("registered-models/set-tag", {"name": "clf", "key": "k", "value": "a\u0000b"}))
        check({t["key"]: t["value"] for t in get_model(c, "clf")["tags"]}["k"] == "a\u0000b")
        ok(c.post("registered-models/set-tag", {"name": "clf", "key": "k", "value": "v2"}))
        tags = {t["key"]: t["value"] for t in get_model(c, "clf")["tags"]}
        check(tags == {"team": "ml", "k": "v2"}, tags)
        ok(call(c, "DELETE", "registered-models/delete-tag", {"name": "clf", "key": "k"}))
        check(get_model(c, "clf")["tags"] == [{"key": "team", "value": "ml"}])
        expect_error(c.post("registered-models/set-tag", {"name": "nope", "key": "k",
                                                          "value": "v"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.post("registered-models/set-tag", {"name": "clf", "value": "v"}), 400,
                     "INVALID_PARAMETER_VALUE", "'key'")

        # rename moves the versions; the old name is gone, the new one taken
        create_version(c, "clf")
        create_version(c, "clf")
        create_model(c, "other")
        expect_error(c.post("registered-models/rename", {"name": "clf", "new_name": "other"}),
                     400, "RESOURCE_ALREADY_EXISTS")
        expect_error(c.post("registered-models/rename", {"name": "clf"}), 400,
                     "INVALID_PARAMETER_VALUE", "'new_name'")
        r = ok(c.post("registered-models/rename", {"name": "clf", "new_name": "clf2"}))
        check(r["registered_model"]["name"] == "clf2", r)
        expect_error(c.get("registered-models/get", {"name": "clf"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        check(get_version(c, "clf2", "2")["name"] == "clf2")
        expect_error(c.get("model-versions/get", {"name": "clf", "version": "1"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        # numbering continues after a rename
        check(create_version(c, "clf2")["version"] == "3")

        # delete takes the versions; the name can be reused, from version 1
        ok(call(c, "DELETE", "registered-models/delete", {"name": "clf2"}))
        expect_error(c.get("model-versions/get", {"name": "clf2", "version": "1"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "DELETE", "registered-models/delete", {"name": "clf2"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        create_model(c, "clf2")
        check(create_version(c, "clf2")["version"] == "1")
    finally:
        srv.cleanup()


def test_aliases_and_latest():
    srv = Server().start()
    try:
        c = srv.client()
        create_model(c, "m")
        for _ in range(3):
            create_version(c, "m")
        ok(c.post("registered-models/alias", {"name": "m", "alias": "champ", "version": "1"}))
        v = ok(c.get("registered-models/alias", {"name": "m", "alias": "champ"}))["model_version"]
        check(v["version"] == "1" and v["aliases"] == ["champ"], v)
        # moving the alias: one write, the old version loses it
        ok(c.post("registered-models/alias", {"name": "m", "alias": "champ", "version": "3"}))
        check("aliases" not in get_version(c, "m", "1"))
        check(get_version(c, "m", "3")["aliases"] == ["champ"])
        check(get_model(c, "m")["aliases"] == [{"alias": "champ", "version": "3"}])
        for bad, msg in [("latest", "reserved"), ("v7", "reserved"), ("a b", "Invalid alias"),
                         ("", "cannot be empty")]:
            expect_error(c.post("registered-models/alias",
                                {"name": "m", "alias": bad, "version": "1"}),
                         400, "INVALID_PARAMETER_VALUE", msg)
        expect_error(c.post("registered-models/alias",
                            {"name": "m", "alias": "x", "version": "9"}),
                     404, "RESOURCE_DOES_NOT_EXIST", "Model Version (name=m, version=9) not found")
        expect_error(c.post("registered-models/alias",
                            {"name": "m", "alias": "x", "version": "one"}),
                     400, "INVALID_PARAMETER_VALUE", "must be an integer")
        expect_error(c.get("registered-models/alias", {"name": "m", "alias": "nope"}), 400,
                     "INVALID_PARAMETER_VALUE", "Registered model alias nope not found.")
        ok(call(c, "DELETE", "registered-models/alias", {"name": "m", "alias": "champ"}))
        expect_error(c.get("registered-models/alias", {"name": "m", "alias": "champ"}), 400,
                     "INVALID_PARAMETER_VALUE")
        # deleting a version drops its aliases
        ok(c.post("registered-models/alias", {"name": "m", "alias": "gone", "version": "2"}))
        ok(call(c, "DELETE", "model-versions/delete", {"name": "m", "version": "2"}))
        check("aliases" not in get_model(c, "m"), get_model(c, "m"))

        # stages and latest versions
        t = ok(c.post("model-versions/transition-stage",
                      {"name": "m", "version": "1", "stage": "staging",
                       "archive_existing_versions": False}))["model_version"]
        check(t["current_stage"] == "Staging", t)
        ok(c.post("model-versions/transition-stage",
                  {"name": "m", "version": "3", "stage": "Staging",
                   "archive_existing_versions": True}))
        check(get_version(c, "m", "1")["current_stage"] == "Archived")
        expect_error(c.post("model-versions/transition-stage",
                            {"name": "m", "version": "3", "stage": "Prod",
                             "archive_existing_versions": False}),
                     400, "INVALID_PARAMETER_VALUE", "Invalid Model Version stage: Prod")
        expect_error(c.post("model-versions/transition-stage",
                            {"name": "m", "version": "3", "stage": "Production"}),
                     400, "INVALID_PARAMETER_VALUE", "archive_existing_versions")
        create_version(c, "m")  # version 4, stage None
        lv = ok(c.post("registered-models/get-latest-versions",
                       {"name": "m", "stages": ["Staging"]}))["model_versions"]
        check([v["version"] for v in lv] == ["3"], lv)
        lv = ok(c.get("registered-models/get-latest-versions", {"name": "m"}))["model_versions"]
        check(sorted((v["current_stage"], v["version"]) for v in lv) ==
              [("Archived", "1"), ("None", "4"), ("Staging", "3")], lv)
        latest = get_model(c, "m")["latest_versions"]
        check(sorted(v["version"] for v in latest) == ["1", "3", "4"], latest)
        expect_error(c.get("registered-models/get-latest-versions",
                           {"name": "m", "stages": ["bogus"]}),
                     400, "INVALID_PARAMETER_VALUE")
        expect_error(c.get("registered-models/get-latest-versions", {"name": "zz"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # models:/ URIs, for other services and operators
        def resolve(uri):
            return c.get("cairn/registry/resolve", {"uri": uri}, prefix="/api/2.0/")
        r = ok(resolve("models:/m/3"))
        check(r["model_version"]["version"] == "3" and r["source"] == "s3://bucket/model", r)
        ok(c.post("registered-models/alias", {"name": "m", "alias": "prod", "version": "4"}))
        check(ok(resolve("models:/m@prod"))["model_version"]["version"] == "4")
        check(ok(resolve("models:/m/staging"))["model_version"]["version"] == "3")
        check(ok(resolve("models:/m/latest"))["model_version"]["version"] == "4")
        expect_error(resolve("models:/m/Production"), 404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(resolve("runs:/abc/model"), 400, "INVALID_PARAMETER_VALUE", "models:/")
        expect_error(resolve("models:/m/9"), 404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        srv.cleanup()


def test_model_versions():
    srv = Server().start()
    try:
        c = srv.client()
        create_model(c, "mv")
        v = create_version(c, "mv", source="mlflow-artifacts:/0/abc/artifacts/model",
                           run_id="abc", run_link="http://x/run", description="d",
                           model_id="m-123", tags=[{"key": "k", "value": "v"}])
        check(v["version"] == "1" and v["status"] == "READY" and v["current_stage"] == "None", v)
        check(v["run_id"] == "abc" and v["run_link"] == "http://x/run" and
              v["model_id"] == "m-123" and v["description"] == "d", v)
        check(v["tags"] == [{"key": "k", "value": "v"}], v)
        expect_error(c.post("model-versions/create", {"name": "none", "source": "s3://b/m"}),
                     404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=none not found")
        expect_error(c.post("model-versions/create", {"name": "mv"}), 400,
                     "INVALID_PARAMETER_VALUE", "'source'")
        for src in ["/tmp/model", "file:///tmp/model", "relative/path", "C:\\model"]:
            expect_error(c.post("model-versions/create", {"name": "mv", "source": src}), 400,
                         "INVALID_PARAMETER_VALUE", "Invalid model version source")
        for src in ["s3://b/../etc", "http://h/a/%2E%2E/b", "mlflow-artifacts:/x/.."]:
            expect_error(c.post("model-versions/create", {"name": "mv", "source": src}), 400,
                         "INVALID_PARAMETER_VALUE", "relative path references")
        # prompts skip source validation
        create_model(c, "prompt1", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
        pv = create_version(c, "prompt1", source="prompt-template",
                            tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"},
                                  {"key": "mlflow.prompt.text", "value": "Hi {{name}}"}])
        check(pv["version"] == "1", pv)
        # failed creates used no number
        check(create_version(c, "mv")["version"] == "2")

        # update, download uri, tags
        u = ok(call(c, "PATCH", "model-versions/update",
                    {"name": "mv", "version": "1", "description": "new"}))["model_version"]
        check(u["description"] == "new", u)
        expect_error(call(c, "PATCH", "model-versions/update",
                          {"name": "mv", "version": "7", "description": "x"}),
                     404, "RESOURCE_DOES_NOT_EXIST", "Model Version (name=mv, version=7) not found")
        d = ok(c.get("model-versions/get-download-uri", {"name": "mv", "version": "1"}))
        check(d["artifact_uri"] == "mlflow-artifacts:/0/abc/artifacts/model", d)
        ok(c.post("model-versions/set-tag", {"name": "mv", "version": "1", "key": "a",
                                             "value": "b"}))
        check({t["key"] for t in get_version(c, "mv", "1")["tags"]} == {"k", "a"})
        ok(call(c, "DELETE", "model-versions/delete-tag", {"name": "mv", "version": "1",
                                                            "key": "k"}))
        check(get_version(c, "mv", "1")["tags"] == [{"key": "a", "value": "b"}])
        expect_error(c.post("model-versions/set-tag", {"name": "mv", "version": "x", "key": "a",
                                                       "value": "b"}),
                     400, "INVALID_PARAMETER_VALUE", "must be an integer")
        expect_error(c.post("model-versions/set-tag", {"name": "mv", "version": "1",
                                                       "key": "a"}),
                     400, "INVALID_PARAMETER_VALUE", "Tag value cannot be None")

        # delete: the number is never reused
        ok(call(c, "DELETE", "model-versions/delete", {"name": "mv", "version": "2"}))
        expect_error(c.get("model-versions/get", {"name": "mv", "version": "2"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(call(c, "DELETE", "model-versions/delete", {"name": "mv", "version": "2"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        check(create_version(c, "mv")["version"] == "3")
        # ... across a restart too
        srv.restart()
        c = srv.client()
        check(create_version(c, "mv")["version"] == "4")
        check(get_version(c, "mv", "1")["description"] == "new")
    finally:
        srv.cleanup()


def test_search():
    srv = Server().start()
    try:
        c = srv.client()
        for i, name in enumerate(["alpha", "Beta", "gamma", "alphabet"]):
            create_model(c, name, tags=[{"key": "i", "value": str(i)}])
            time.sleep(0.002)
        create_model(c, "secret-prompt",
                     tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])

        def names(body, method="GET"):
            if method == "GET":
                r = c.get("registered-models/search", body)
            else:
                r = c.post("registered-models/search", body)
            j = ok(r)
            return [m["name"] for m in j.get("registered_models", [])], j.get("next_page_token")

        check(names({})[0] == ["Beta", "alpha", "alphabet", "gamma"], names({}))
        check(names({"filter": "name = 'alpha'"})[0] == ["alpha"])
        check(names({"filter": "name != 'alpha'"})[0] == ["Beta", "alphabet", "gamma"])
        check(names({"filter": "name LIKE 'alpha%'"})[0] == ["alpha", "alphabet"])
        check(names({"filter": "name ILIKE 'b%'"})[0] == ["Beta"])
        check(names({"filter": "tags.i = '2'"})[0] == ["gamma"])
        check(names({"filter": "name LIKE 'a%' AND tags.i = '3'"}, "POST")[0] == ["alphabet"])
        # prompts only when the filter asks for them
        check(names({"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"})[0] ==
              ["secret-prompt"])
        check(names({"order_by": ["name DESC"]})[0] == ["gamma", "alphabet", "alpha", "Beta"])
        check(names({"order_by": ["creation_timestamp ASC"]})[0] ==
              ["alpha", "Beta", "gamma", "alphabet"])
        check(names({"order_by": ["last_updated_timestamp DESC"]})[0][0] == "alphabet")
        # pages
        seen, token = [], None
        while True:
            body = {"max_results": 3}
            if token:
                body["page_token"] = token
            page, token = names(body)
            seen += page
            if not token:
                break
        check(seen == ["Beta", "alpha", "alphabet", "gamma"], seen)
        expect_error(c.get("registered-models/search", {"filter": "name > 'a'"}), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid comparator for attribute: >")
        expect_error(c.get("registered-models/search", {"filter": "run_id = 'a'"}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.get("registered-models/search", {"max_results": 1001}), 400,
                     "INVALID_PARAMETER_VALUE", "at most 1000")
        expect_error(c.get("registered-models/search", {"max_results": 0}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.get("registered-models/search", {"page_token": "garbage!"}), 400,
                     "INVALID_PARAMETER_VALUE", "page token")
        expect_error(c.get("registered-models/search", {"order_by": ["bogus"]}), 400,
                     "INVALID_PARAMETER_VALUE")

        # model versions
        create_version(c, "alpha", run_id="r1", source="s3://b/a1")
        create_version(c, "alpha", run_id="r2", source="s3://b/a2",
                       tags=[{"key": "q", "value": "good"}])
        create_version(c, "gamma", run_id="r1", source="s3://b/g1")
        create_version(c, "secret-prompt", source="prompt-template",
                       tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])

        def vers(body):
            j = ok(c.get("model-versions/search", body))
            return [(v["name"], v["version"]) for v in j.get("model_versions", [])], \
                j.get("next_page_token")

        check(vers({})[0] == [("alpha", "2"), ("alpha", "1"), ("gamma", "1")], vers({}))
        check(vers({"filter": "name = 'alpha'"})[0] == [("alpha", "2"), ("alpha", "1")])
        check(vers({"filter": "run_id = 'r1'"})[0] == [("alpha", "1"), ("gamma", "1")])
        check(vers({"filter": "run_id IN ('r2', 'zz')"})[0] == [("alpha", "2")])
        check(vers({"filter": "version_number > 1"})[0] == [("alpha", "2")])
        check(vers({"filter": "source_path LIKE 's3://b/g%'"})[0] == [("gamma", "1")])
        check(vers({"filter": "tags.q = 'good'"})[0] == [("alpha", "2")])
        check(vers({"order_by": ["version_number ASC", "name DESC"]})[0] ==
              [("gamma", "1"), ("alpha", "1"), ("alpha", "2")])
        page, token = vers({"max_results": 2})
        check(len(page) == 2 and token, page)
        rest, token2 = vers({"max_results": 2, "page_token": token})
        check(page + rest == vers({})[0] and not token2, rest)
        expect_error(c.get("model-versions/search", {"filter": "name IN ('a')"}), 400,
                     "INVALID_PARAMETER_VALUE")
    finally:
        srv.cleanup()


def test_concurrent_version_creation():
    srv = Server().start()
    try:
        c = srv.client()
        create_model(c, "hot")
        per, nclients = 10, 16
        results, errors = [], []
        lock = threading.Lock()

        def worker():
            cc = Client(srv.port)
            for _ in range(per):
                r = cc.post("model-versions/create", {"name": "hot", "source": "s3://b/m"})
                with lock:
                    if r.status == 200:
                        results.append(int(r.json()["model_version"]["version"]))
                    else:
                        errors.append(r)

        threads = [threading.Thread(target=worker) for _ in range(nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        n = per * nclients
        check(not errors, errors[:3])
        check(sorted(results) == list(range(1, n + 1)), sorted(results))
        found = ok(c.get("model-versions/search", {"filter": "name = 'hot'",
                                                   "max_results": 1000}))["model_versions"]
        check(sorted(int(v["version"]) for v in found) == list(range(1, n + 1)))
    finally:
        srv.cleanup()


def test_split_mode():
    """The registry as its own process behind a gateway; tracking separately."""
    data = tempfile.mkdtemp(prefix="cairn-reg-split-")
    reg_port, trk_port, http_port = free_port(), free_port(), free_port()
    procs = []
    try:
        for name, port in [("registry", reg_port), ("tracking", trk_port)]:
            p = Proc(["service", name, "--listen", "tcp://127.0.0.1:%d" % port, "--data",
                      os.path.join(data, name)], log_name=name).start()
            procs.append(p)
            deadline = time.time() + 30
            while "SERVICE-READY" not in p.logs():
                check(p.p.poll() is None and time.time() < deadline, p.logs())
                time.sleep(0.05)
        gw = Proc(["gateway", "--port", str(http_port),
                   "--service", "registry=tcp://127.0.0.1:%d" % reg_port,
                   "--service", "tracking=tcp://127.0.0.1:%d" % trk_port],
                  log_name="gateway").start()
        procs.append(gw)
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        create_model(c, "split")
        check(create_version(c, "split")["version"] == "1")
        ok(c.post("registered-models/alias", {"name": "split", "alias": "a", "version": "1"}))
        check(ok(c.get("registered-models/alias", {"name": "split", "alias": "a"}))
              ["model_version"]["version"] == "1")
        ok(c.post("experiments/create", {"name": "e"}))
        expect_error(c.get("registered-models/get", {"name": "nope"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        # This registry was given no tracking address: a local source with a
        # run cannot be checked, and is refused rather than trusted.
        expect_error(c.post("model-versions/create",
                            {"name": "split", "source": "/tmp/m", "run_id": "a" * 32}),
                     503, "TEMPORARILY_UNAVAILABLE", "tracking")
        # Told where tracking is, it asks: the run does not exist.
        procs[0].term()
        reg = Proc(["service", "registry", "--listen", "tcp://127.0.0.1:%d" % reg_port,
                    "--data", os.path.join(data, "registry"),
                    "--service", "tracking=tcp://127.0.0.1:%d" % trk_port],
                   log_name="registry2").start()
        procs.append(reg)
        deadline = time.time() + 30
        while "SERVICE-READY" not in reg.logs():
            check(reg.p.poll() is None and time.time() < deadline, reg.logs())
            time.sleep(0.05)
        end = time.time() + 20
        while True:
            r = c.post("model-versions/create",
                       {"name": "split", "source": "/tmp/m", "run_id": "a" * 32})
            if r.status != 503 or time.time() > end:
                break
            time.sleep(0.1)
        expect_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    finally:
        for p in reversed(procs):
            p.term()


def test_latest_versions_index():
    """get-latest-versions from the per-stage index: transitions, archiving,
    deletes and renames keep it exact, and it survives a restart."""
    srv = Server().start()
    try:
        c = srv.client()
        create_model(c, "ix")
        for _ in range(6):
            create_version(c, "ix")

        def stage(v, st, archive=False):
            ok(c.post("model-versions/transition-stage",
                      {"name": "ix", "version": v, "stage": st,
                       "archive_existing_versions": archive}))

        def latest(name="ix", stages=None):
            body = {"name": name}
            if stages:
                body["stages"] = stages
            lv = ok(c.post("registered-models/get-latest-versions", body)).get(
                "model_versions", [])
            return sorted((v["current_stage"], v["version"]) for v in lv)

        stage("2", "Production")
        stage("3", "Production")
        stage("4", "Staging")
        check(latest() == [("None", "6"), ("Production", "3"), ("Staging", "4")], latest())
        # MLflow archives the target stage's other versions only.
        stage("5", "Production", archive=True)
        check(latest() == [("Archived", "3"), ("None", "6"), ("Production", "5"),
                           ("Staging", "4")], latest())
        check([get_version(c, "ix", v)["current_stage"] for v in "1234"] ==
              ["None", "Archived", "Archived", "Staging"])
        expect_error(c.post("model-versions/transition-stage",
                            {"name": "ix", "version": "4", "stage": "archived",
                             "archive_existing_versions": True}),
                     400, "INVALID_PARAMETER_VALUE", "'archived' is not an Active stage")
        stage("4", "Archived")
        ok(call(c, "DELETE", "model-versions/delete", {"name": "ix", "version": "5"}))
        check(latest(stages=["Production"]) == [], latest(stages=["Production"]))
        ok(call(c, "DELETE", "model-versions/delete", {"name": "ix", "version": "6"}))
        check(latest(stages=["None"]) == [("None", "1")])
        ok(c.post("registered-models/rename", {"name": "ix", "new_name": "ix2"}))
        check(latest("ix2") == [("Archived", "4"), ("None", "1")], latest("ix2"))
        check(sorted(v["version"] for v in get_model(c, "ix2")["latest_versions"]) ==
              ["1", "4"])
        expect_error(c.post("registered-models/get-latest-versions", {"name": "ix"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        srv.restart()
        c = srv.client()
        check(latest("ix2") == [("Archived", "4"), ("None", "1")], latest("ix2"))
        # A re-created name starts from an empty index.
        ok(call(c, "DELETE", "registered-models/delete", {"name": "ix2"}))
        create_model(c, "ix2")
        check(latest("ix2") == [])
        create_version(c, "ix2")
        check(latest("ix2") == [("None", "1")])
        check(srv.stop() == 0, "unclean exit")
    finally:
        srv.cleanup()


def test_source_checked_against_run():
    """MLflow's _validate_source_run/_model: a local source only inside the
    artifact directory of the run (or logged model) given, asked of tracking."""
    root = tempfile.mkdtemp(prefix="cairn-arts-")
    srv = Server().start()
    try:
        c = srv.client()
        exp = ok(c.post("experiments/create", {"name": "loc", "artifact_location": root}))
        run = ok(c.post("runs/create", {"experiment_id": exp["experiment_id"]}))["run"]["info"]
        art = run["artifact_uri"]
        path = art[len("file://"):] if art.startswith("file://") else art
        check(path.startswith(root), art)
        create_model(c, "src")
        v = create_version(c, "src", source=path + "/model", run_id=run["run_id"])
        check(v["source"] == path + "/model", v)
        create_version(c, "src", source="file://" + path + "/model", run_id=run["run_id"])
        create_version(c, "src", source=path, run_id=run["run_id"])
        for bad in [root + "/elsewhere/model", path + "/../../x", path + "x"]:
            expect_error(c.post("model-versions/create",
                                {"name": "src", "source": bad, "run_id": run["run_id"]}),
                         400, "INVALID_PARAMETER_VALUE", "run_id request parameter")
        expect_error(c.post("model-versions/create",
                            {"name": "src", "source": path + "/model", "run_id": "f" * 32}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        # A run whose artifacts are not local: no local source is accepted.
        r0 = ok(c.post("runs/create", {"experiment_id": "0"}))["run"]["info"]
        expect_error(c.post("model-versions/create",
                            {"name": "src", "source": "/tmp/m", "run_id": r0["run_id"]}),
                     400, "INVALID_PARAMETER_VALUE", "contained within the artifact directory")
        # Remote sources need no run, only no climbing.
        create_version(c, "src", source="runs:/%s/model" % run["run_id"])
        for bad in ["s3://b/a/./m", "runs:/x/../y", "s3://b/%252e%252e/m", "s3://b/m%00"]:
            expect_error(c.post("model-versions/create", {"name": "src", "source": bad}),
                         400, "INVALID_PARAMETER_VALUE", "relative path references")
        # Logged models: the source inside the model's artifact location.
        info = ok(c.post("logged-models", {"experiment_id": exp["experiment_id"],
                                           "name": "lm"}))["model"]["info"]
        loc = info["artifact_uri"]
        loc = loc[len("file://"):] if loc.startswith("file://") else loc
        create_version(c, "src", source=loc + "/MLmodel", model_id=info["model_id"])
        expect_error(c.post("model-versions/create",
                            {"name": "src", "source": root, "model_id": info["model_id"]}),
                     400, "INVALID_PARAMETER_VALUE", "model_id request parameter")
        check(srv.stop() == 0, "unclean exit")
    finally:
        srv.cleanup()
    env = dict(os.environ, MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX="^s3://")
    srv = Server(env=env).start()
    try:
        c = srv.client()
        create_model(c, "rx")
        create_version(c, "rx", source="s3://b/m")
        expect_error(c.post("model-versions/create", {"name": "rx", "source": "gs://b/m"}), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid model version source: 'gs://b/m'.")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_registered_models, test_aliases_and_latest, test_model_versions, test_search,
               test_concurrent_version_creation, test_split_mode, test_latest_versions_index,
               test_source_checked_against_run])
