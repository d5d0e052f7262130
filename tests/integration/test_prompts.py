"""Cairn's native prompt API (/api/2.0/cairn/prompts/...) over real HTTP:
every call and its error cases, refused input leaving nothing behind, the
promote/roll-back scenario with rendering and lineage (a run and a trace),
unicode, 1 MiB templates, braces that are not variables, names at the
length limit, the audit trail, and the prompts service in its own process
calling the registry and tracking over TCP."""
import json
import os
import tempfile
import time

from harness import Client, Proc, Server, check, expect_error, free_port, run_tests, \
    wait_healthy

P = "/api/2.0/mlflow/"
N = "/api/2.0/cairn/prompts/"


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


def post(c, path, obj):
    return c.post(path, obj, prefix=N)


def get(c, path, params):
    return c.get(path, params, prefix=N)


def version(c, name, **kw):
    body = {"name": name}
    body.update(kw)
    return ok(post(c, "versions/create", body))["prompt_version"]


def render(c, name, variables, **kw):
    body = {"name": name, "variables": [{"name": k, "value": v} for k, v in variables.items()]}
    body.update(kw)
    return post(c, "render", body)


def tags_of(obj):
    return {t["key"]: t["value"] for t in obj.get("tags", [])}


def nothing_named(c, name):
    expect_error(c.get("registered-models/get", {"name": name}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def versions_of(c, name):
    return [v["version"] for v in
            ok(get(c, "versions/list", {"name": name})).get("prompt_versions", [])]


def test_prompts_and_errors():
    srv = Server().start()
    try:
        c = srv.client()
        p = ok(post(c, "create", {"name": "sum.v-1_x", "description": "summaries",
                                  "tags": [{"key": "team", "value": "nlp"}]}))["prompt"]
        check(p["name"] == "sum.v-1_x" and p["description"] == "summaries", p)
        check(tags_of(p) == {"team": "nlp"} and "latest_version" not in p, p)
        # MLflow's representation underneath
        rm = ok(c.get("registered-models/get", {"name": "sum.v-1_x"}))["registered_model"]
        check(tags_of(rm)["mlflow.prompt.is_prompt"] == "true", rm)
        expect_error(post(c, "create", {"name": "sum.v-1_x"}), 400, "RESOURCE_ALREADY_EXISTS")
        for bad, msg in [("", "Missing value"), ("a b", "can only contain"),
                         ("a/b", "can only contain"), ("naïve", "can only contain"),
                         ("..", "resolve"), ("n" * 513, "maximum length is 512")]:
            expect_error(post(c, "create", {"name": bad}), 400, "INVALID_PARAMETER_VALUE", msg)
            if bad and len(bad) <= 512:
                nothing_named(c, bad)
        expect_error(post(c, "create", {}), 400, "INVALID_PARAMETER_VALUE", "name")
        expect_error(post(c, "create", {"name": "r", "tags": [
            {"key": "mlflow.prompt.text", "value": "x"}]}), 400, "INVALID_PARAMETER_VALUE",
            "reserved")
        nothing_named(c, "r")
        expect_error(post(c, "create", {"name": "r", "bogus": 1}), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(get(c, "get", {"name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST",
                     "Prompt with name=nope not found")

        # versions: bad templates refused, nothing written
        name = "sum.v-1_x"
        for body, msg in [
                ({}, "'template' (or 'messages'"),
                ({"template": ""}, "must not be empty"),
                ({"template": "a", "messages": [{"role": "user", "content": "b"}]},
                 "not both"),
                ({"template": "Hi {{ name }, there"}, "'{{name' at line 1, column 4"),
                ({"template": "ok\nthen {{x"}, "line 2, column 6"),
                ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
                ({"messages": [{"role": "user"}]}, "messages[0].content"),
                ({"messages": [{"role": "user", "content": "{{a"}]}, "messages[0].content"),
                ({"template": "x", "response_format": "{not json"}, "response_format"),
                ({"template": "x", "response_format": "[1]"}, "JSON object"),
                ({"template": "x", "model_config": {"temperature": -1}}, "temperature"),
                ({"template": "x", "model_config": {"max_tokens": 0}}, "max_tokens"),
                ({"template": "x", "model_config": {"top_p": 2}}, "top_p"),
                ({"template": "x", "tags": [{"key": "_mlflow_prompt_type", "value": "chat"}]},
                 "reserved")]:
            body["name"] = name
            expect_error(post(c, "versions/create", body), 400, "INVALID_PARAMETER_VALUE", msg)
        check(versions_of(c, name) == [], "a refused version was written")
        expect_error(post(c, "versions/create", {"name": "nope", "template": "x"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        ok(c.post("registered-models/create", {"name": "model"}))
        expect_error(post(c, "versions/create", {"name": "model", "template": "x"}), 400,
                     "INVALID_PARAMETER_VALUE", "registered as a model")
        check("latest_versions" not in ok(c.get("registered-models/get", {"name": "model"}))
              ["registered_model"])

        v1 = version(c, name, template="Summarize {{text}} in {{ n }} words.",
                     commit_message="first", model_config={"provider": "openai",
                                                            "model_name": "gpt-4o",
                                                            "temperature": 0.2,
                                                            "max_tokens": 300},
                     response_format=json.dumps({"type": "object",
                                                 "properties": {"summary": {"type": "string"}}}),
                     tags=[{"key": "author", "value": "ada"}])
        check(v1["version"] == "1" and v1["variables"] == ["text", "n"], v1)
        check(v1["model_config"] == {"provider": "openai", "model_name": "gpt-4o",
                                     "temperature": 0.2, "max_tokens": 300}, v1)
        check(v1["commit_message"] == "first" and tags_of(v1) == {"author": "ada"}, v1)
        # stored as MLflow's client stores it
        mv = ok(c.get("model-versions/get", {"name": name, "version": "1"}))["model_version"]
        t = tags_of(mv)
        check(t["mlflow.prompt.text"] == "Summarize {{text}} in {{ n }} words." and
              t["_mlflow_prompt_type"] == "text" and mv["source"] == "prompt-template", mv)
        check(json.loads(t["_mlflow_prompt_model_config"])["model_name"] == "gpt-4o", t)
        chat = [{"role": "system", "content": "You summarize for {{audience}}."},
                {"role": "user", "content": "{{text}}"}]
        v2 = version(c, name, messages=chat, commit_message="chat")
        check(v2["version"] == "2" and v2["template_type"] == "chat", v2)
        check(v2["messages"] == chat and v2["variables"] == ["audience", "text"], v2)
        check(json.loads(tags_of(ok(c.get("model-versions/get", {
            "name": name, "version": "2"}))["model_version"])["mlflow.prompt.text"]) == chat)

        # get by version / alias; list
        check(ok(get(c, "versions/get", {"name": name, "version": "1"}))
              ["prompt_version"]["template"] == v1["template"])
        expect_error(get(c, "versions/get", {"name": name}), 400, "INVALID_PARAMETER_VALUE",
                     "'version' (or 'alias')")
        expect_error(get(c, "versions/get", {"name": name, "version": "1", "alias": "a"}), 400,
                     "INVALID_PARAMETER_VALUE", "not both")
        expect_error(get(c, "versions/get", {"name": name, "version": "x"}), 400,
                     "INVALID_PARAMETER_VALUE", "must be an integer")
        expect_error(get(c, "versions/get", {"name": name, "version": "9"}), 404,
                     "RESOURCE_DOES_NOT_EXIST", "version=9")
        expect_error(get(c, "versions/get", {"name": name, "alias": "prod"}), 404,
                     "RESOURCE_DOES_NOT_EXIST", "alias 'prod'")
        check(versions_of(c, name) == ["1", "2"])
        expect_error(get(c, "versions/list", {"name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")

        # aliases
        ok(post(c, "alias", {"name": name, "alias": "prod", "version": "1"}))
        got = ok(get(c, "versions/get", {"name": name, "alias": "prod"}))["prompt_version"]
        check(got["version"] == "1" and got["aliases"] == ["prod"], got)
        expect_error(post(c, "alias", {"name": name, "alias": "prod", "version": "7"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(post(c, "alias", {"name": name, "alias": "latest", "version": "1"}), 400,
                     "INVALID_PARAMETER_VALUE", "reserved")
        expect_error(post(c, "alias", {"name": name, "alias": "a", "version": "one"}), 400,
                     "INVALID_PARAMETER_VALUE", "integer")
        expect_error(post(c, "alias", {"name": "nope", "alias": "a", "version": "1"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        ok(j(c, "DELETE", N + "alias", {"name": name, "alias": "prod"}))
        expect_error(get(c, "versions/get", {"name": name, "alias": "prod"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # tags: prompt and version; template keys refused (versions are immutable)
        ok(post(c, "set-tag", {"name": name, "key": "lang", "value": "en"}))
        ok(post(c, "set-tag", {"name": name, "version": "1", "key": "eval", "value": "good"}))
        check(tags_of(ok(get(c, "get", {"name": name}))["prompt"]) ==
              {"team": "nlp", "lang": "en"})
        check(tags_of(ok(get(c, "versions/get", {"name": name, "version": "1"}))
                      ["prompt_version"]) == {"author": "ada", "eval": "good"})
        expect_error(post(c, "set-tag", {"name": name, "version": "1",
                                         "key": "mlflow.prompt.text", "value": "hacked"}),
                     400, "INVALID_PARAMETER_VALUE", "immutable")
        expect_error(post(c, "set-tag", {"name": name, "value": "x"}), 400,
                     "INVALID_PARAMETER_VALUE", "'key'")
        expect_error(post(c, "set-tag", {"name": name, "version": "8", "key": "k",
                                         "value": "v"}), 404, "RESOURCE_DOES_NOT_EXIST")
        ok(j(c, "DELETE", N + "delete-tag", {"name": name, "key": "lang"}))
        ok(j(c, "DELETE", N + "delete-tag", {"name": name, "version": "1", "key": "eval"}))
        check(tags_of(ok(get(c, "get", {"name": name}))["prompt"]) == {"team": "nlp"})
        check(ok(get(c, "versions/get", {"name": name, "version": "1"}))["prompt_version"]
              ["template"] == "Summarize {{text}} in {{ n }} words.")

        # search
        ok(post(c, "create", {"name": "Other", "tags": [{"key": "team", "value": "cv"}]}))
        ok(post(c, "create", {"name": "summary2", "tags": [{"key": "team", "value": "nlp"}]}))
        names = lambda r: [p["name"] for p in ok(r).get("prompts", [])]  # noqa: E731
        check(names(get(c, "search", {})) == ["Other", "sum.v-1_x", "summary2"])
        check(names(get(c, "search", {"name_contains": "SUM"})) == ["sum.v-1_x", "summary2"])
        check(names(post(c, "search", {"tags": [{"key": "team", "value": "nlp"}]})) ==
              ["sum.v-1_x", "summary2"])
        check(names(post(c, "search", {"tags": [{"key": "team", "value": "it's"}]})) == [])
        check(names(get(c, "search", {"filter": "name LIKE 'O%'"})) == ["Other"])
        page = ok(get(c, "search", {"max_results": 2}))
        check(len(page["prompts"]) == 2 and page["next_page_token"], page)
        check(names(get(c, "search", {"max_results": 2, "page_token": page["next_page_token"]}))
              == ["summary2"])
        expect_error(get(c, "search", {"filter": "name ~ 'x'"}), 400,
                     "INVALID_PARAMETER_VALUE")
        p = ok(get(c, "get", {"name": name}))["prompt"]
        check(p["latest_version"] == "2", p)

        # render
        r = ok(render(c, name, {"text": "long text", "n": "5", "extra": "x"}, version="1"))
        check(r["text"] == "Summarize long text in 5 words." and
              r["unused_variables"] == ["extra"], r)
        check(r["model_config"]["temperature"] == 0.2 and "summary" in r["response_format"], r)
        expect_error(render(c, name, {"text": "t"}, version="1"), 400,
                     "INVALID_PARAMETER_VALUE", "Missing value for variable 'n'")
        expect_error(render(c, name, {}, version="1"), 400, "INVALID_PARAMETER_VALUE",
                     "Missing value for variables 'text', 'n'")
        expect_error(post(c, "render", {"name": name, "version": "1", "variables": [
            {"name": "n", "value": "1"}, {"name": "n", "value": "2"}]}), 400,
            "INVALID_PARAMETER_VALUE", "given twice")
        r = ok(render(c, name, {"audience": "kids", "text": "T"}, version="2"))
        check(r["messages"] == [{"role": "system", "content": "You summarize for kids."},
                                {"role": "user", "content": "T"}], r)
        expect_error(render(c, name, {}, version="5"), 404, "RESOURCE_DOES_NOT_EXIST")

        # diff
        v3 = version(c, name, template="Summarize {{text}} in {{ n }} words.\nBe {{tone}}.",
                     commit_message="tone")
        d = ok(get(c, "diff", {"name": name, "from_version": "1", "to_version": "3"}))
        check([(l["op"], l["text"]) for l in d["lines"]] ==
              [("equal", "Summarize {{text}} in {{ n }} words."), ("insert", "Be {{tone}}.")], d)
        check(d["inserted"] == 1 and d.get("deleted", 0) == 0, d)
        check(d["variables_added"] == ["tone"] and "variables_removed" not in d, d)
        check(set(d["changed_fields"]) == {"model_config", "response_format",
                                           "commit_message"}, d)
        check(d["unified"].startswith("--- prompts:/%s/1\n+++ prompts:/%s/3\n" % (name, name))
              and "\n+Be {{tone}}.\n" in d["unified"], d)
        d0 = ok(get(c, "diff", {"name": name, "from_version": "1", "to_version": "3",
                                "context": 0}))
        check([(l["op"], l.get("to_line")) for l in d0["lines"]] == [("insert", 2)], d0)
        check("\n@@ -1,0 +2,1 @@\n+Be {{tone}}.\n" in d0["unified"], d0)
        d = ok(get(c, "diff", {"name": name, "from_version": "2", "to_version": "3"}))
        check("template_type" in d["changed_fields"] and d["variables_removed"] == ["audience"])
        expect_error(get(c, "diff", {"name": name, "from_version": "1"}), 400,
                     "INVALID_PARAMETER_VALUE", "to_version")
        expect_error(get(c, "diff", {"name": name, "from_version": "1", "to_version": "9"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
        check(v3["version"] == "3")

        # delete a version, then the prompt
        ok(j(c, "DELETE", N + "versions/delete", {"name": name, "version": "2"}))
        check(versions_of(c, name) == ["1", "3"])
        expect_error(j(c, "DELETE", N + "versions/delete", {"name": name, "version": "2"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(j(c, "DELETE", N + "delete", {"name": "model"}), 400,
                     "INVALID_PARAMETER_VALUE", "registered as a model")
        ok(j(c, "DELETE", N + "delete", {"name": name}))
        nothing_named(c, name)
        expect_error(j(c, "DELETE", N + "delete", {"name": name}), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # every change is in the audit trail, refused ones too
        recs = ok(c.get("audit/search", {"service": "prompts", "max_results": 1000},
                        prefix="/api/2.0/cairn/"))["records"]
        methods = {r["method"] for r in recs}
        check({"CreatePrompt", "CreatePromptVersion", "SetPromptAlias", "DeletePromptAlias",
               "SetPromptTag", "DeletePromptTag", "DeletePromptVersion",
               "DeletePrompt"} <= methods, methods)
        check(not methods & {"RenderPrompt", "GetPromptVersion", "SearchPrompts"}, methods)
        check(any(r["method"] == "CreatePromptVersion" and r["outcome"] != "OK"
                  for r in recs), "refused calls are recorded")
    finally:
        stop(srv)


def test_scenario_promote_rollback_lineage():
    srv = Server().start()
    try:
        c = srv.client()
        ok(post(c, "create", {"name": "support"}))
        texts = ["Help {{user}}.", "Help {{user}} politely.", "Help {{user}} in {{lang}}."]
        for i, t in enumerate(texts):
            check(version(c, "support", template=t, commit_message="v%d" % (i + 1))
                  ["version"] == str(i + 1))
        prod = lambda: ok(get(c, "versions/get", {"name": "support",  # noqa: E731
                                                  "alias": "production"}))["prompt_version"]
        for target in ["2", "3", "2"]:  # promote, promote, roll back
            ok(post(c, "alias", {"name": "support", "alias": "production", "version": target}))
            got = prod()
            check(got["version"] == target and got["template"] == texts[int(target) - 1], got)
            r = ok(render(c, "support", {"user": "Ann", "lang": "fr"}, alias="production"))
            check(r["version"] == target, r)
        vs = ok(get(c, "versions/list", {"name": "support"}))["prompt_versions"]
        check([v.get("aliases", []) for v in vs] == [[], ["production"], []], vs)
        outs = [ok(render(c, "support", {"user": "Ann", "lang": "fr"}, version=v))
                for v in ["1", "2", "3"]]
        check([o["text"] for o in outs] ==
              ["Help Ann.", "Help Ann politely.", "Help Ann in fr."], outs)
        check([o.get("unused_variables", []) for o in outs] == [["lang"], ["lang"], []], outs)

        # a run used version 2 (linked natively: the run's MLflow tag is written),
        # a trace used version 2, an evaluation and an endpoint used version 3
        exp = ok(c.post("experiments/create", {"name": "app"}))["experiment_id"]
        run = ok(c.post("runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
        trace = "tr-" + "ab" * 16
        for body in [{"kind": "run", "id": run, "version": "2"},
                     {"kind": "run", "id": run, "version": "2"},  # idempotent
                     {"kind": "trace", "id": trace, "version": "2"},
                     {"kind": "trace", "id": trace, "version": "2"},
                     {"kind": "evaluation", "id": "eval-7", "version": "3"},
                     {"kind": "endpoint", "id": "support-bot", "version": "3"}]:
            body["name"] = "support"
            ok(post(c, "link", body))
        run_tags = tags_of(ok(c.get("runs/get", {"run_id": run}))["run"]["data"])
        check(json.loads(run_tags["mlflow.linkedPrompts"]) ==
              [{"name": "support", "version": "2"}], run_tags)
        # a second run linked the way MLflow's client does it (tag only)
        run2 = ok(c.post("runs/create", {"experiment_id": "0"}))["run"]["info"]["run_id"]
        ok(c.post("runs/set-tag", {"run_id": run2, "key": "mlflow.linkedPrompts",
                                   "value": json.dumps([{"name": "support", "version": "1"},
                                                        {"name": "supportx",
                                                         "version": "1"}])}))
        lin = ok(get(c, "lineage", {"name": "support"}))["links"]
        check([(l["version"], l["kind"], l["id"]) for l in lin] ==
              [("1", "run", run2), ("2", "run", run), ("2", "trace", trace),
               ("3", "endpoint", "support-bot"), ("3", "evaluation", "eval-7")], lin)
        lin2 = ok(get(c, "lineage", {"name": "support", "version": "2"}))["links"]
        check([(l["kind"], l["id"]) for l in lin2] == [("run", run), ("trace", trace)], lin2)
        check(all(l.get("linked_at", 0) > 0 for l in lin2), lin2)

        # errors: nothing linked
        for body, code, msg in [
                ({"kind": "span", "id": "x", "version": "1"}, "INVALID_PARAMETER_VALUE",
                 "'kind'"),
                ({"kind": "trace", "version": "1"}, "INVALID_PARAMETER_VALUE", "'id'"),
                ({"kind": "trace", "id": "x" * 257, "version": "1"},
                 "INVALID_PARAMETER_VALUE", "256"),
                ({"kind": "trace", "id": "t", "version": "9"}, "RESOURCE_DOES_NOT_EXIST",
                 "version=9"),
                ({"kind": "run", "id": "f" * 32, "version": "1"}, "RESOURCE_DOES_NOT_EXIST",
                 None)]:
            body["name"] = "support"
            expect_error(post(c, "link", body), 400 if code.startswith("INVALID") else 404,
                         code, msg)
        expect_error(get(c, "lineage", {"name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
        check(len(ok(get(c, "lineage", {"name": "support"}))["links"]) == 5)

        # deleting version 2 drops its recorded links (the run keeps its own tag)
        ok(j(c, "DELETE", N + "versions/delete", {"name": "support", "version": "3"}))
        lin = ok(get(c, "lineage", {"name": "support"}))["links"]
        check([(l["version"], l["kind"]) for l in lin] ==
              [("1", "run"), ("2", "run"), ("2", "trace")], lin)

        # deleted through MLflow's route (the prompts service does not see it)
        # and registered again: the old prompt's recorded links do not carry
        # over to the new version 2; runs keep their own tags (tracking's)
        ok(j(c, "DELETE", P + "registered-models/delete", {"name": "support"}))
        ok(post(c, "create", {"name": "support"}))
        version(c, "support", template="new {{x}}")
        version(c, "support", template="newer {{x}}")
        lin = ok(get(c, "lineage", {"name": "support"}))["links"]
        check([(l["version"], l["kind"], l["id"]) for l in lin] ==
              [("1", "run", run2), ("2", "run", run)], lin)
    finally:
        stop(srv)


def test_content_limits():
    srv = Server().start()
    try:
        c = srv.client()
        # a name at the limit (512 bytes), everything works on it
        long = "p" * 500 + ".-_0123456A"
        long = long + "x" * (512 - len(long))
        check(len(long) == 512)
        ok(post(c, "create", {"name": long}))
        check(version(c, long, template="{{a}}")["uri"] == "prompts:/%s/1" % long)
        ok(post(c, "alias", {"name": long, "alias": "a" * 255, "version": "1"}))
        check(ok(render(c, long, {"a": "z"}, alias="a" * 255))["text"] == "z")

        # unicode in templates, values, tags and descriptions
        ok(post(c, "create", {"name": "uni", "description": "Übersetzung 翻訳 🚀",
                              "tags": [{"key": "lang", "value": "日本語"}]}))
        t = "Traduis « {{texte}} » en {{langue}} — 谢谢 😀 {{名前}}"
        v = version(c, "uni", template=t, tags=[{"key": "note", "value": "ça va ✓"}])
        check(v["template"] == t and v["variables"] == ["texte", "langue"], v)
        r = ok(render(c, "uni", {"texte": "bonjour 🌍", "langue": "中文"}, version="1"))
        check(r["text"] == "Traduis « bonjour 🌍 » en 中文 — 谢谢 😀 {{名前}}", r)
        check(ok(get(c, "get", {"name": "uni"}))["prompt"]["description"] ==
              "Übersetzung 翻訳 🚀")

        # braces that are not variables survive storage and rendering
        t = ('Return JSON like {"answer": "{{answer}}", "n": {"x": 1}} '
             '{{ }} {{}} {x} }} {{{v}}} {{ 1abc }} {{a.b}}')
        v = version(c, "uni", template=t)
        check(v["variables"] == ["answer", "v", "a.b"], v)
        r = ok(render(c, "uni", {"answer": "42", "v": "V", "a.b": "AB"}, version=v["version"]))
        check(r["text"] == 'Return JSON like {"answer": "42", "n": {"x": 1}} '
                           '{{ }} {{}} {x} }} {V} {{ 1abc }} AB', r)

        # 1 MiB of text (the limit): accepted, stored, read back, rendered,
        # diffed (the sanitizer build uses CAIRN_TEST_PROMPT_BYTES, smaller)
        size = int(os.environ.get("CAIRN_TEST_PROMPT_BYTES", 1 << 20))
        line = "lorem ipsum {{who}} dolor\n"
        body = line * ((size - 4) // len(line))
        big = body + "x" * (size - 4 - len(body)) + "end!"
        check(len(big.encode()) == size)
        v = version(c, "uni", template=big, commit_message="1 MiB")
        check(v["variables"] == ["who"], v["variables"])
        got = ok(get(c, "versions/get", {"name": "uni", "version": v["version"]}))
        check(got["prompt_version"]["template"] == big)
        mv = ok(c.get("model-versions/get", {"name": "uni", "version": v["version"]}))
        check(tags_of(mv["model_version"])["mlflow.prompt.text"] == big)
        r = ok(render(c, "uni", {"who": "me"}, version=v["version"]))
        check(r["text"] == big.replace("{{who}}", "me"))
        big2 = big.replace("lorem", "LOREM", 1)
        v2 = version(c, "uni", template=big2)
        d = ok(get(c, "diff", {"name": "uni", "from_version": v["version"],
                               "to_version": v2["version"]}))
        check(d["inserted"] == 1 and d["deleted"] == 1, {k: d[k] for k in ("inserted",)})
        check([l["op"] for l in d["lines"]] == ["delete", "insert", "equal", "equal", "equal"],
              d["lines"])
        # one byte more is refused, with nothing written
        n = len(versions_of(c, "uni"))
        over = "y" * ((1 << 20) + 1)
        expect_error(post(c, "versions/create", {"name": "uni", "template": over}), 400,
                     "INVALID_PARAMETER_VALUE", "1 MiB")
        half = "x" * (1 << 19)
        expect_error(post(c, "versions/create", {"name": "uni", "messages": [
            {"role": "system", "content": half}, {"role": "user", "content": half + "y"}]}),
            400, "INVALID_PARAMETER_VALUE", "1 MiB")
        check(len(versions_of(c, "uni")) == n)
    finally:
        stop(srv)


def test_split_mode():
    """prompts, registry and tracking each in its own process, over TCP."""
    data = tempfile.mkdtemp(prefix="cairn-prompts-split-")
    ports = {n: free_port() for n in ("registry", "tracking", "prompts")}
    addr = {n: "tcp://127.0.0.1:%d" % p for n, p in ports.items()}
    http_port = free_port()
    procs = []
    try:
        for name in ("registry", "tracking", "prompts"):
            extra = []
            if name == "prompts":
                extra = ["--service", "registry=" + addr["registry"],
                         "--service", "tracking=" + addr["tracking"]]
            p = Proc(["service", name, "--listen", addr[name], "--data",
                      os.path.join(data, name)] + extra, log_name=name).start()
            procs.append(p)
            deadline = time.time() + 30
            while "SERVICE-READY" not in p.logs():
                check(p.p.poll() is None and time.time() < deadline, p.logs())
                time.sleep(0.05)
        # without the registry's address the prompts service refuses to start
        bad = Proc(["service", "prompts", "--listen", "tcp://127.0.0.1:%d" % free_port(),
                    "--data", os.path.join(data, "bad")], log_name="bad").start()
        check(bad.p.wait(timeout=30) != 0 and "registry" in bad.logs(), bad.logs())
        gw = Proc(["gateway", "--port", str(http_port)] +
                  sum([["--service", "%s=%s" % (n, a)] for n, a in addr.items()], []),
                  log_name="gateway").start()
        procs.append(gw)
        wait_healthy(http_port, 20, gw)
        c = Client(http_port)
        ok(post(c, "create", {"name": "split"}))
        check(version(c, "split", template="hi {{x}}")["version"] == "1")
        ok(post(c, "alias", {"name": "split", "alias": "prod", "version": "1"}))
        check(ok(render(c, "split", {"x": "y"}, alias="prod"))["text"] == "hi y")
        exp = ok(c.post("experiments/create", {"name": "e"}))["experiment_id"]
        run = ok(c.post("runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
        ok(post(c, "link", {"name": "split", "version": "1", "kind": "run", "id": run}))
        lin = ok(get(c, "lineage", {"name": "split"}))["links"]
        check([(l["kind"], l["id"]) for l in lin] == [("run", run)], lin)
        check(ok(c.get("registered-models/get", {"name": "split"}))["registered_model"]
              ["aliases"] == [{"alias": "prod", "version": "1"}])
    finally:
        codes = [(p.args[1], p.term()) for p in reversed(procs)]
    check(all(rc == 0 for _, rc in codes), codes)


if __name__ == "__main__":
    run_tests([test_prompts_and_errors, test_scenario_promote_rollback_lineage,
               test_content_limits, test_split_mode])
