"""MLflow's prompt registry flows against Cairn over real HTTP, driven as
MLflow's Python client drives an OSS server (mlflow/tracking/client.py and
mlflow/store/model_registry/abstract_store.py: prompts are registered models
tagged mlflow.prompt.is_prompt=true, versions carry the template in tags):
register_prompt (new and next version, text and chat, response format, the
roll-back of a first version that fails), load_prompt by prompts:/name/N and
prompts:/name@alias, search_prompts, aliases, prompt and version tags,
deleting versions and prompts, linking a run, prompts hidden from model
search, one name space with models, and MLflow's prompt webhooks for prompts
made through MLflow's routes and through Cairn's native ones. Every prompt
made one way is read back the other way."""
import json

from harness import Server, check, expect_error, run_tests
from test_webhooks import Receiver

P = "/api/2.0/mlflow/"
N = "/api/2.0/cairn/prompts/"
IS_PROMPT = "mlflow.prompt.is_prompt"


def stop(srv):
    """Stop a server; a clean exit (0) also means no leak under the sanitizers."""
    rc = srv.stop()
    check(rc == 0, "exit status %r; log tail: %s" % (rc, srv.proc.logs()[-3000:]))


def ok(r):
    check(r.status == 200, r)
    return r.json()


def j(c, method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else None
    return c.raw(method, path, body, {"Content-Type": "application/json"} if body else {})


def tags_of(obj):
    return {t["key"]: t["value"] for t in obj.get("tags", [])}


# ---- MLflow's client, call for call -------------------------------------

def register_prompt(c, name, template, commit_message=None, tags=None, response_format=None):
    """MlflowClient.register_prompt on an OSS registry: get, create if absent
    (or set the prompt tags when it exists), create the version, get."""
    tags = dict(tags or {})
    new = False
    r = c.get("registered-models/get", {"name": name})
    if r.status == 404:
        body = {"name": name, "tags": [{"key": IS_PROMPT, "value": "true"}] +
                [{"key": k, "value": v} for k, v in tags.items()]}
        if commit_message:
            body["description"] = commit_message
        ok(c.post("registered-models/create", body))
        new = True
    else:
        rm = ok(r)["registered_model"]
        if tags_of(rm).get(IS_PROMPT) != "true":
            raise ValueError("Model '%s' exists with the same name." % name)
        for k, v in tags.items():
            ok(c.post("registered-models/set-tag", {"name": name, "key": k, "value": v}))
    chat = not isinstance(template, str)
    vtags = dict(tags)
    vtags.update({IS_PROMPT: "true",
                  "mlflow.prompt.text": json.dumps(template) if chat else template,
                  "_mlflow_prompt_type": "chat" if chat else "text"})
    if response_format is not None:
        vtags["_mlflow_prompt_response_format"] = json.dumps(response_format)
    body = {"name": name, "source": "prompt-template",
            "tags": [{"key": k, "value": v} for k, v in vtags.items()]}
    if commit_message:
        body["description"] = commit_message
    r = c.post("model-versions/create", body)
    if r.status != 200:
        if new:  # the client removes a prompt whose first version failed
            ok(j(c, "DELETE", P + "registered-models/delete", {"name": name}))
        return r
    mv = r.json()["model_version"]
    ok(c.get("registered-models/get", {"name": name}))
    return mv


def load_prompt(c, uri):
    """MlflowClient.load_prompt('prompts:/name/N' or 'prompts:/name@alias')."""
    rest = uri[len("prompts:/"):]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        version = None
    else:
        name, version = rest.split("/", 1)
    r = c.get("registered-models/get", {"name": name})
    if r.status != 200:
        return r
    if tags_of(r.json()["registered_model"]).get(IS_PROMPT) != "true":
        raise ValueError("Name `%s` is registered as a model, not a prompt." % name)
    if version is not None:
        r = c.get("model-versions/get", {"name": name, "version": version})
    else:
        r = c.get("registered-models/alias", {"name": name, "alias": alias})
    return r.json()["model_version"] if r.status == 200 else r


def search_prompts(c, filter_string=None, max_results=100, page_token=None):
    f = "tags.`%s` = 'true'" % IS_PROMPT
    if filter_string:
        f += " AND " + filter_string
    q = {"filter": f, "max_results": max_results}
    if page_token:
        q["page_token"] = page_token
    return ok(c.get("registered-models/search", q))


def link_prompt_version_to_run(c, run_id, name, version):
    """The store's link: read the run's mlflow.linkedPrompts, append, set."""
    run = ok(c.get("runs/get", {"run_id": run_id}))["run"]
    cur = tags_of(run["data"]).get("mlflow.linkedPrompts")
    lst = json.loads(cur) if cur else []
    e = {"name": name, "version": str(version)}
    if e not in lst:
        lst.append(e)
        ok(c.post("runs/set-tag", {"run_id": run_id, "key": "mlflow.linkedPrompts",
                                   "value": json.dumps(lst)}))


# ---- tests -----------------------------------------------------------------

def test_register_load_search():
    srv = Server().start()
    try:
        c = srv.client()
        v1 = register_prompt(c, "qa", "Answer {{question}} as {{ style }}.",
                             commit_message="first", tags={"team": "nlp"})
        check(v1["version"] == "1" and v1["source"] == "prompt-template", v1)
        v2 = register_prompt(c, "qa", "Answer {{question}} briefly.", tags={"author": "bo"})
        check(v2["version"] == "2", v2)
        chat = [{"role": "system", "content": "You are {{persona}}."},
                {"role": "user", "content": "{{question}}"}]
        v3 = register_prompt(c, "qa", chat, response_format={"type": "object",
                                                             "properties": {"a": {}}})
        check(v3["version"] == "3", v3)

        got = load_prompt(c, "prompts:/qa/1")
        check(tags_of(got)["mlflow.prompt.text"] == "Answer {{question}} as {{ style }}.", got)
        check(got["description"] == "first", got)
        ok(c.post("registered-models/alias", {"name": "qa", "alias": "production",
                                               "version": "2"}))
        got = load_prompt(c, "prompts:/qa@production")
        check(got["version"] == "2" and got["aliases"] == ["production"], got)
        r = load_prompt(c, "prompts:/qa@staging")  # MLflow's code for a missing alias
        expect_error(r, 400, "INVALID_PARAMETER_VALUE", "alias staging not found")
        r = load_prompt(c, "prompts:/qa/9")
        expect_error(r, 404, "RESOURCE_DOES_NOT_EXIST", "version=9")
        expect_error(load_prompt(c, "prompts:/nope/1"), 404, "RESOURCE_DOES_NOT_EXIST")

        # the same prompt through the native API
        pv = ok(c.get("versions/get", {"name": "qa", "version": "1"}, prefix=N))
        pv = pv["prompt_version"]
        check(pv["template_type"] == "text" and pv["variables"] == ["question", "style"], pv)
        check(pv["commit_message"] == "first" and pv["uri"] == "prompts:/qa/1", pv)
        pv3 = ok(c.get("versions/get", {"name": "qa", "version": "3"}, prefix=N))
        pv3 = pv3["prompt_version"]
        check(pv3["template_type"] == "chat" and pv3["messages"] == chat, pv3)
        check(pv3["variables"] == ["persona", "question"], pv3)
        check(json.loads(pv3["response_format"])["type"] == "object", pv3)
        p = ok(c.get("get", {"name": "qa"}, prefix=N))["prompt"]
        check(p["latest_version"] == "3" and tags_of(p) == {"team": "nlp", "author": "bo"}, p)

        # search_prompts finds prompts; plain model search does not show them
        register_prompt(c, "qa-other", "x")
        ok(c.post("registered-models/create", {"name": "a-model"}))
        names = [m["name"] for m in search_prompts(c)["registered_models"]]
        check(names == ["qa", "qa-other"], names)
        names = [m["name"] for m in search_prompts(c, "name LIKE 'qa-%'")["registered_models"]]
        check(names == ["qa-other"], names)
        names = [m["name"] for m in
                 search_prompts(c, "tags.team = 'nlp'")["registered_models"]]
        check(names == ["qa"], names)
        page = search_prompts(c, max_results=1)
        check(len(page["registered_models"]) == 1 and page.get("next_page_token"), page)
        page2 = search_prompts(c, max_results=1, page_token=page["next_page_token"])
        check(page2["registered_models"][0]["name"] == "qa-other", page2)
        plain = ok(c.get("registered-models/search", {}))["registered_models"]
        check([m["name"] for m in plain] == ["a-model"], plain)
        vs = ok(c.get("model-versions/search", {"filter": "name = 'qa'"}))
        check(vs.get("model_versions", []) == [], vs)
        vs = ok(c.get("model-versions/search",
                      {"filter": "name = 'qa' AND tags.`%s` = 'true'" % IS_PROMPT}))
        check(len(vs["model_versions"]) == 3, vs)

        # one name space with models
        try:
            register_prompt(c, "a-model", "x")
            check(False, "a prompt registered over a model")
        except ValueError:
            pass
        expect_error(c.post("create", {"name": "a-model"}, prefix=N), 400,
                     "RESOURCE_ALREADY_EXISTS", "already exists")
        expect_error(c.get("get", {"name": "a-model"}, prefix=N), 400,
                     "INVALID_PARAMETER_VALUE", "registered as a model, not a prompt")
        expect_error(c.post("registered-models/create", {"name": "qa"}), 400,
                     "RESOURCE_ALREADY_EXISTS")
    finally:
        stop(srv)


def test_tags_aliases_deletes_and_links():
    srv = Server().start()
    try:
        c = srv.client()
        register_prompt(c, "p", "v1 {{a}}")
        register_prompt(c, "p", "v2 {{a}}")
        # set_prompt_tag / delete_prompt_tag, set/delete_prompt_version_tag
        ok(c.post("registered-models/set-tag", {"name": "p", "key": "k", "value": "v"}))
        ok(c.post("model-versions/set-tag", {"name": "p", "version": "1", "key": "vk",
                                              "value": "vv"}))
        p = ok(c.get("get", {"name": "p"}, prefix=N))["prompt"]
        check(tags_of(p) == {"k": "v"}, p)
        pv = ok(c.get("versions/get", {"name": "p", "version": "1"}, prefix=N))
        check(tags_of(pv["prompt_version"]) == {"vk": "vv"}, pv)
        ok(j(c, "DELETE", P + "registered-models/delete-tag", {"name": "p", "key": "k"}))
        ok(j(c, "DELETE", P + "model-versions/delete-tag", {"name": "p", "version": "1",
                                                             "key": "vk"}))
        p = ok(c.get("get", {"name": "p"}, prefix=N))["prompt"]
        check("tags" not in p or p["tags"] == [], p)

        # aliases: set, move, reserved names, delete
        ok(c.post("registered-models/alias", {"name": "p", "alias": "prod", "version": "1"}))
        ok(c.post("registered-models/alias", {"name": "p", "alias": "prod", "version": "2"}))
        check(load_prompt(c, "prompts:/p@prod")["version"] == "2")
        expect_error(c.post("registered-models/alias", {"name": "p", "alias": "latest",
                                                         "version": "1"}),
                     400, "INVALID_PARAMETER_VALUE", "reserved")
        expect_error(c.post("registered-models/alias", {"name": "p", "alias": "x",
                                                         "version": "7"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        ok(j(c, "DELETE", P + "registered-models/alias", {"name": "p", "alias": "prod"}))
        expect_error(load_prompt(c, "prompts:/p@prod"), 400, "INVALID_PARAMETER_VALUE")

        # link to a run as the client does; lineage sees it
        exp = ok(c.post("experiments/create", {"name": "e"}))["experiment_id"]
        run = ok(c.post("runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
        link_prompt_version_to_run(c, run, "p", 2)
        link_prompt_version_to_run(c, run, "p", 2)  # idempotent
        lin = ok(c.get("lineage", {"name": "p"}, prefix=N))["links"]
        check([(l["version"], l["kind"], l["id"]) for l in lin] == [("2", "run", run)], lin)

        # delete_prompt_version, delete_prompt
        ok(j(c, "DELETE", P + "model-versions/delete", {"name": "p", "version": "1"}))
        expect_error(load_prompt(c, "prompts:/p/1"), 404, "RESOURCE_DOES_NOT_EXIST")
        check(load_prompt(c, "prompts:/p/2")["version"] == "2")
        ok(j(c, "DELETE", P + "registered-models/delete", {"name": "p"}))
        expect_error(c.get("registered-models/get", {"name": "p"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.get("get", {"name": "p"}, prefix=N), 404, "RESOURCE_DOES_NOT_EXIST",
                     "Prompt with name=p not found")
        # a re-registered name starts again at version 1, as in MLflow
        check(register_prompt(c, "p", "again")["version"] == "1")
    finally:
        stop(srv)


def test_prompt_text_limit_and_rollback():
    srv = Server().start()
    try:
        c = srv.client()
        # MLflow's limit and message on its own route; the client then removes
        # the prompt it had just created, so nothing is left.
        r = register_prompt(c, "big", "a" * 100001)
        expect_error(r, 400, "INVALID_PARAMETER_VALUE",
                     "Prompt text exceeds max length of 100000 characters.")
        expect_error(c.get("registered-models/get", {"name": "big"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        check(register_prompt(c, "big", "a" * 100000)["version"] == "1")
        r = register_prompt(c, "big", "é" * 100001)  # characters, not bytes
        expect_error(r, 400, "INVALID_PARAMETER_VALUE", "Prompt text exceeds max length")
        check(ok(c.get("registered-models/get", {"name": "big"}))["registered_model"]
              ["latest_versions"][0]["version"] == "1")
    finally:
        stop(srv)


def test_prompt_webhooks_both_paths():
    rx = Receiver()
    srv = Server().start()
    try:
        c = srv.client()
        ev = [{"entity": e, "action": a} for e, a in
              [("PROMPT", "CREATED"), ("PROMPT_VERSION", "CREATED"),
               ("PROMPT_ALIAS", "CREATED"), ("PROMPT_TAG", "SET"),
               ("REGISTERED_MODEL", "CREATED"), ("MODEL_VERSION_ALIAS", "CREATED")]]
        ok(j(c, "POST", P + "webhooks", {"name": "w", "url": rx.url, "events": ev}))
        register_prompt(c, "via-mlflow", "hi {{x}}")
        ok(c.post("registered-models/alias", {"name": "via-mlflow", "alias": "prod",
                                               "version": "1"}))
        ok(c.post("create", {"name": "via-native"}, prefix=N))
        ok(c.post("versions/create", {"name": "via-native", "template": "yo {{y}}"},
                  prefix=N))
        ok(c.post("alias", {"name": "via-native", "alias": "prod", "version": "1"},
                  prefix=N))
        ok(c.post("set-tag", {"name": "via-native", "key": "k", "value": "v"}, prefix=N))
        rx.wait(7)
        got = sorted((json.loads(b)["entity"], json.loads(b)["action"],
                      json.loads(b)["data"].get("name")) for _, b, _ in rx.got)
        want = sorted([("prompt", "created", "via-mlflow"),
                       ("prompt_version", "created", "via-mlflow"),
                       ("prompt_alias", "created", "via-mlflow"),
                       ("prompt", "created", "via-native"),
                       ("prompt_version", "created", "via-native"),
                       ("prompt_alias", "created", "via-native"),
                       ("prompt_tag", "set", "via-native")])
        check(got == want, got)
    finally:
        stop(srv)
        rx.close()


if __name__ == "__main__":
    run_tests([test_register_load_search, test_tags_aliases_deletes_and_links,
               test_prompt_text_limit_and_rollback, test_prompt_webhooks_both_paths])
