"""The artifact proxy end to end against `cairn server`: upload, download,
HEAD, Range, list, delete, multipart, run listings, /get-artifact and
/model-versions/get-artifact, the serve/no-serve/artifacts-only modes, an
upload cut mid-body, and path safety
(MLflow's artifact path-traversal CVEs as the reference cases): every unsafe
path is refused with 400 INVALID_PARAMETER_VALUE and nothing is read or
written outside the artifact root."""
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.parse

from harness import Server, check, expect_error, run_tests

def stop_clean(srv):
    """Stop the server and require a clean exit: under the sanitizer build a leak or
    an error report at exit fails the test."""
    rc = srv.stop()
    check(rc == 0, "cairn exited with %r:\n%s" % (rc, srv.proc.logs()[-4000:]))


A = "/api/2.0/mlflow-artifacts/artifacts"


def put(c, path, data, headers=None):
    return c.raw("PUT", A + "/" + path, data, headers or {})


def get(c, path, headers=None, method="GET"):
    return c.raw(method, A + "/" + path, None, headers or {})


def listing(c, path=None):
    q = "" if path is None else "?path=" + urllib.parse.quote(path, safe="")
    r = c.raw("GET", A + q)
    check(r.status == 200, r)
    return r.json()


def test_roundtrip():
    srv = Server().start()
    try:
        c = srv.client()
        r = put(c, "exp/run/artifacts/model/MLmodel", b"flavors: {}\n")
        check(r.status == 200 and r.json() == {}, r)
        check(put(c, "exp/run/artifacts/model/weights.bin", b"\x00\x01" * 1000).status == 200)
        check(put(c, "exp/run/artifacts/plot.png", b"\x89PNG").status == 200)
        check(put(c, "exp/run/artifacts/metrics.json", b"{}").status == 200)
        check(put(c, "exp/run/artifacts/empty.txt", b"").status == 200)

        r = get(c, "exp/run/artifacts/model/MLmodel")
        check(r.status == 200 and r.body == b"flavors: {}\n", r)
        check(r.headers["Content-Type"] == "text/plain", r.headers)
        check(r.headers["Content-Disposition"] == "attachment; filename=MLmodel", r.headers)
        check(r.headers["X-Content-Type-Options"] == "nosniff", r.headers)
        # MLflow's content types: its text list (json included), image types, octet-stream.
        for name, ctype in (("model/weights.bin", "application/octet-stream"),
                            ("plot.png", "image/png"), ("metrics.json", "text/plain"),
                            ("empty.txt", "text/plain")):
            r = get(c, "exp/run/artifacts/" + name)
            check(r.status == 200 and r.headers["Content-Type"] == ctype, (name, r.headers))
        check(get(c, "exp/run/artifacts/empty.txt").body == b"")
        check(get(c, "exp/run/artifacts/model/weights.bin").body == b"\x00\x01" * 1000)

        # HEAD: the headers of GET, no body.
        r = get(c, "exp/run/artifacts/model/weights.bin", method="HEAD")
        check(r.status == 200 and r.body == b"" and r.headers["Content-Length"] == "2000", r)

        # The UI's alias.
        r = c.raw("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/exp/run/artifacts/plot.png")
        check(r.status == 200 and r.body == b"\x89PNG", r)

        # Listing: base names, is_dir, file_size only for files, sorted.
        j = listing(c, "exp/run/artifacts")
        check(j == {"files": [
            {"path": "empty.txt", "is_dir": False, "file_size": 0},
            {"path": "metrics.json", "is_dir": False, "file_size": 2},
            {"path": "model", "is_dir": True},
            {"path": "plot.png", "is_dir": False, "file_size": 4}]}, j)
        check(listing(c, "exp/run/artifacts/") == j)  # a trailing '/' names the same dir
        check(listing(c, "exp") == {"files": [{"path": "run", "is_dir": True}]})
        check(listing(c) == {"files": [{"path": "exp", "is_dir": True}]})
        check(listing(c, "no/such/dir") == {}, "a missing dir lists as empty (as MLflow)")
        check(listing(c, "exp/run/artifacts/plot.png") == {}, "a file lists as empty")

        # Overwrite replaces the whole object.
        check(put(c, "exp/run/artifacts/plot.png", b"second").status == 200)
        check(get(c, "exp/run/artifacts/plot.png").body == b"second")
        check(put(c, "exp/run/artifacts/plot.png", b"3").status == 200)
        check(get(c, "exp/run/artifacts/plot.png").body == b"3")

        # Missing object: 404 RESOURCE_DOES_NOT_EXIST; a directory cannot be downloaded.
        expect_error(get(c, "exp/run/artifacts/nope.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
        expect_error(get(c, "exp/run/artifacts/model"), 400, "INVALID_PARAMETER_VALUE")

        # Delete: a file, then a whole directory; deleting what is gone is fine.
        check(c.raw("DELETE", A + "/exp/run/artifacts/plot.png").status == 200)
        expect_error(get(c, "exp/run/artifacts/plot.png"), 404, "RESOURCE_DOES_NOT_EXIST")
        r = c.raw("DELETE", A + "/exp/run/artifacts/model")
        check(r.status == 200 and r.json() == {}, r)
        check(listing(c, "exp/run/artifacts/model") == {})
        check(c.raw("DELETE", A + "/exp/run/artifacts/model").status == 200)
        names = [f["path"] for f in listing(c, "exp/run/artifacts")["files"]]
        check(names == ["empty.txt", "metrics.json"], names)

        # Chunked request bodies stream the same way.
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("PUT", A + "/exp/chunked.bin", body=iter([b"ab", b"cd" * 40000, b"e"]),
                     encode_chunked=True)
        r = conn.getresponse()
        check(r.status == 200, r.read())
        r.read()
        conn.close()
        check(get(c, "exp/chunked.bin").body == b"ab" + b"cd" * 40000 + b"e")
        stop_clean(srv)
    finally:
        srv.cleanup()


def test_range():
    srv = Server().start()
    try:
        c = srv.client()
        body = bytes(range(100))
        check(put(c, "r/data.bin", body).status == 200)
        check(put(c, "r/empty.bin", b"").status == 200)

        def rng(h, path="r/data.bin"):
            return get(c, path, {"Range": h})

        for h, first, last in (("bytes=0-0", 0, 0), ("bytes=10-19", 10, 19),
                               ("bytes=90-", 90, 99), ("bytes=-5", 95, 99),
                               ("bytes=-500", 0, 99), ("bytes=95-1000", 95, 99),
                               ("bytes=99-99", 99, 99), ("bytes=3-4", 3, 4)):
            r = rng(h)
            check(r.status == 206, (h, r))
            check(r.body == body[first:last + 1], (h, r.body))
            check(r.headers["Content-Range"] == "bytes %d-%d/100" % (first, last), r.headers)
            check(r.headers["Content-Length"] == str(last - first + 1), r.headers)
        # Unsatisfiable: 416 with the size.
        for h, path in (("bytes=100-", "r/data.bin"), ("bytes=500-600", "r/data.bin"),
                        ("bytes=-0", "r/data.bin"), ("bytes=0-", "r/empty.bin")):
            r = rng(h, path)
            check(r.status == 416, (h, r))
            size = 0 if path.endswith("empty.bin") else 100
            check(r.headers["Content-Range"] == "bytes */%d" % size, r.headers)
        # Ignored (whole object, 200): several ranges, another unit, malformed, reversed.
        for h in ("bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=5-2", "bytes=", "bytes=1-2x"):
            r = rng(h)
            check(r.status == 200 and r.body == body, (h, r))
        check(get(c, "r/data.bin").headers.get("Accept-Ranges") == "bytes")
        stop_clean(srv)
    finally:
        srv.cleanup()


# Unsafe paths, as sent on the wire (after /mlflow-artifacts/artifacts/).
UNSAFE = [
    "..%2fescape.txt", "%2e%2e/escape.txt", "%2E%2E%2Fescape.txt", "a/../../escape.txt",
    "a/%2e%2e/%2e%2e/escape.txt", "%252e%252e/escape.txt", "%25252e%25252e%25252fescape.txt",
    "a%2f..%2f..%2fescape.txt", "%2fetc%2fescape.txt", "/etc/escape.txt", "/%2e%2e/escape.txt",
    "a%00b.txt", "escape.txt%00.png", "a%5c..%5c..%5cescape.txt", "..%5cescape.txt",
    "a%23b.txt", "a/./b.txt", "a//b.txt", "a%01b.txt", "a%0ab.txt",
    "x" * 1100, "/".join(["d"] * 520),
]


def all_files(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.join(d, f))
    return out


def test_path_safety():
    outside = tempfile.mkdtemp(prefix="cairn-outside-")
    data = os.path.join(outside, "data")
    srv = Server(data_dir=data).start()
    try:
        c = srv.client()
        check(put(c, "ok/inner.txt", b"inner").status == 200)
        with open(os.path.join(outside, "secret.txt"), "w") as f:
            f.write("secret")
        before = all_files(outside)
        for p in UNSAFE:
            for method in ("GET", "PUT", "DELETE", "HEAD"):
                r = c.raw(method, A + "/" + p, b"evil" if method == "PUT" else None)
                if r.status == 404 and p.startswith("/"):
                    continue  # "//etc": the router sees an empty segment: no such route
                if method == "HEAD":
                    check(r.status == 400, (method, p, r))
                    continue
                expect_error(r, 400, "INVALID_PARAMETER_VALUE")
            # The same paths as list arguments, and on the UI alias.
            r = c.raw("GET", A + "?path=" + p)
            if not p.startswith("/") or "%" in p or len(p) > 1000:
                expect_error(r, 400, "INVALID_PARAMETER_VALUE")
            r = c.raw("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/" + p)
            check(r.status in (400, 404), (p, r))
        # Traversal inside the list argument, encoded once and twice.
        for q in ("..", "../..", "a/../..", "%2e%2e", "%252e%252e", "%2F", "/etc", "a%00"):
            expect_error(c.raw("GET", A + "?path=" + q), 400, "INVALID_PARAMETER_VALUE")
        # MLflow's message starts "Invalid path".
        j = expect_error(get(c, "%2e%2e/x"), 400, "INVALID_PARAMETER_VALUE")
        check(j["message"].startswith("Invalid path"), j)
        # Nothing was written anywhere, the secret is intact, the good file still there.
        check(all_files(outside) == before, sorted(all_files(outside) - before))
        with open(os.path.join(outside, "secret.txt")) as f:
            check(f.read() == "secret")
        check(get(c, "ok/inner.txt").body == b"inner")
        # A name over the file system's limit (255 bytes) inside a short path: 400 too.
        r = put(c, "ok/" + "n" * 300, b"x")
        expect_error(r, 400, "INVALID_PARAMETER_VALUE")
        stop_clean(srv)
    finally:
        srv.cleanup()
        shutil.rmtree(outside, ignore_errors=True)


def test_symlinks():
    outside = tempfile.mkdtemp(prefix="cairn-outside-")
    data = os.path.join(outside, "data")
    srv = Server(data_dir=data).start()
    try:
        c = srv.client()
        check(put(c, "exp/real/file.txt", b"inside").status == 200)
        root = os.path.join(data, "artifacts")
        target = os.path.join(outside, "target")
        os.makedirs(target)
        with open(os.path.join(target, "secret.txt"), "w") as f:
            f.write("secret")
        os.symlink(target, os.path.join(root, "exp", "out"))                 # dir -> outside
        os.symlink(os.path.join(target, "secret.txt"), os.path.join(root, "exp", "s.txt"))
        os.symlink("/nonexistent-cairn", os.path.join(root, "exp", "dangling"))
        os.symlink(os.path.join(root, "exp", "real"), os.path.join(root, "exp", "in"))
        before = all_files(outside)
        for p in ("exp/out/secret.txt", "exp/s.txt", "exp/out/new.txt", "exp/dangling/x",
                  "exp/out"):
            expect_error(get(c, p), 400, "INVALID_PARAMETER_VALUE", "symbolic link")
            expect_error(put(c, p, b"evil"), 400, "INVALID_PARAMETER_VALUE", "symbolic link")
            expect_error(c.raw("DELETE", A + "/" + p), 400, "INVALID_PARAMETER_VALUE")
        expect_error(c.raw("GET", A + "?path=exp/out"), 400, "INVALID_PARAMETER_VALUE")
        check(all_files(outside) == before, sorted(all_files(outside) - before))
        with open(os.path.join(target, "secret.txt")) as f:
            check(f.read() == "secret")
        # A link that stays inside the root is followed.
        r = get(c, "exp/in/file.txt")
        check(r.status == 200 and r.body == b"inside", r)
        stop_clean(srv)
    finally:
        srv.cleanup()
        shutil.rmtree(outside, ignore_errors=True)


def test_upload_cut_midway():
    """A client that goes away mid-body leaves nothing: no object, no temp file."""
    srv = Server().start()
    try:
        c = srv.client()
        root = os.path.join(srv.data_dir, "artifacts")
        for sent in (100, 3 << 20):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(("PUT %s/cut/obj.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                       % (A, 64 << 20)).encode())
            s.sendall(b"z" * sent)
            time.sleep(0.3)
            s.close()
        deadline = time.time() + 10
        while time.time() < deadline and all_files(root):
            time.sleep(0.05)
        check(not all_files(root), sorted(all_files(root)))
        expect_error(get(c, "cut/obj.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
        # The server is still fine.
        check(put(c, "cut/obj.bin", b"whole").status == 200)
        check(get(c, "cut/obj.bin").body == b"whole")
        stop_clean(srv)
    finally:
        srv.cleanup()


def test_multipart():
    srv = Server().start()
    try:
        c = srv.client()
        mpu = "/api/2.0/mlflow-artifacts/mpu/"
        body = {"path": "/home/user/tmp/model.bin", "num_parts": 3}
        r = c.post("create/exp/run/artifacts", body, prefix=mpu)
        if r.status == 501:
            # The store has no multipart: MLflow's message, on which its client falls back
            # to one streamed PUT.
            j = expect_error(r, 501, "NOT_IMPLEMENTED")
            check(j["message"].startswith(
                "Multipart upload is not supported for the current artifact repository"), j)
            expect_error(c.post("complete/exp/run/artifacts",
                                {"path": "model.bin", "upload_id": "u", "parts": []},
                                prefix=mpu), 501, "NOT_IMPLEMENTED")
            expect_error(c.post("abort/exp/run/artifacts", {"path": "model.bin", "upload_id": "u"},
                                prefix=mpu), 501, "NOT_IMPLEMENTED")
        else:
            check(r.status == 200, r)
            j = r.json()
            creds = j["credentials"]
            check(j["upload_id"] and [x["part_number"] for x in creds] == [1, 2, 3], j)
            parts, chunks = [], [b"a" * (5 << 20), b"b" * (5 << 20), b"c" * 10]
            for cred, data in zip(creds, chunks):
                u = urllib.parse.urlsplit(cred["url"])
                pc = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                pc.request("PUT", u.path + "?" + u.query, body=data, headers=cred["headers"])
                pr = pc.getresponse()
                pr.read()
                check(pr.status == 200 and pr.getheader("ETag"), pr.status)
                parts.append({"part_number": cred["part_number"], "etag": pr.getheader("ETag"),
                              "url": cred["url"]})
                pc.close()
            r = c.post("complete/exp/run/artifacts",
                       {"path": body["path"], "upload_id": j["upload_id"], "parts": parts},
                       prefix=mpu)
            check(r.status == 200 and r.json() == {}, r)
            r = get(c, "exp/run/artifacts/model.bin")
            check(r.status == 200 and r.body == b"".join(chunks), len(r.body))
            # Abort leaves nothing.
            r = c.post("create/exp/run/artifacts", {"path": "other.bin", "num_parts": 1},
                       prefix=mpu)
            check(r.status == 200, r)
            r = c.post("abort/exp/run/artifacts",
                       {"path": "other.bin", "upload_id": r.json()["upload_id"]}, prefix=mpu)
            check(r.status == 200, r)
            expect_error(get(c, "exp/run/artifacts/other.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
        # Bad requests, whatever the store.
        expect_error(c.post("create/exp", {"num_parts": 1}, prefix=mpu), 400,
                     "INVALID_PARAMETER_VALUE", "path")
        expect_error(c.post("create/%2e%2e", {"path": "x.bin"}, prefix=mpu), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid path")
        expect_error(c.post("create/exp", {"path": "/tmp/.."}, prefix=mpu), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid path")
        expect_error(c.post("create/exp", {"path": "x.bin", "num_parts": 0}, prefix=mpu), 400,
                     "INVALID_PARAMETER_VALUE", "num_parts")
        expect_error(c.post("complete/exp", {"path": "x.bin", "upload_id": "u"}, prefix=mpu),
                     400, "INVALID_PARAMETER_VALUE", "parts")
        r = c.raw("POST", mpu + "create/exp", b"{not json", {"Content-Type": "application/json"})
        expect_error(r, 400, "MALFORMED_REQUEST")
        # The part route wants its query.
        expect_error(c.raw("PUT", mpu + "part/exp/x.bin", b"data"), 400,
                     "INVALID_PARAMETER_VALUE", "part_number")
        stop_clean(srv)
    finally:
        srv.cleanup()


def make_run(c):
    r = c.post("experiments/create", {"name": "arts"})
    check(r.status == 200, r)
    r = c.post("runs/create", {"experiment_id": r.json()["experiment_id"]})
    check(r.status == 200, r)
    return r.json()["run"]["info"]


def test_run_artifacts():
    srv = Server().start()
    try:
        c = srv.client()
        info = make_run(c)
        rid, uri = info["run_id"], info["artifact_uri"]
        check(uri.startswith("mlflow-artifacts:/") and uri.endswith(rid + "/artifacts"), uri)
        base = uri[len("mlflow-artifacts:"):].lstrip("/")
        check(put(c, base + "/model/MLmodel", b"m").status == 200)
        check(put(c, base + "/notes.txt", b"hello").status == 200)

        r = c.get("artifacts/list", {"run_id": rid})
        check(r.status == 200, r)
        j = r.json()
        check(j["root_uri"] == uri, j)
        check(j["files"] == [{"path": "model", "is_dir": True},
                             {"path": "notes.txt", "is_dir": False, "file_size": 5}], j)
        # Run-relative paths below a sub-directory; run_uuid works as run_id.
        j = c.get("artifacts/list", {"run_uuid": rid, "path": "model"}).json()
        check(j["files"] == [{"path": "model/MLmodel", "is_dir": False, "file_size": 1}], j)
        check(c.get("artifacts/list", {"run_id": rid, "path": "nothing"}).json() ==
              {"root_uri": uri}, "an empty listing has no files, as MLflow")
        expect_error(c.get("artifacts/list", {"run_id": "f" * 32}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.get("artifacts/list", {}), 400, "INVALID_PARAMETER_VALUE", "run_id")
        expect_error(c.get("artifacts/list", {"run_id": rid, "path": "../.."}), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid path")
        r = c.raw("GET", "/ajax-api/2.0/mlflow/artifacts/list?run_id=" + rid)
        check(r.status == 200 and r.json()["root_uri"] == uri, r)

        # The UI's download route.
        r = c.raw("GET", "/get-artifact?path=notes.txt&run_uuid=" + rid)
        check(r.status == 200 and r.body == b"hello", r)
        check(r.headers["Content-Disposition"] == "attachment; filename=notes.txt", r.headers)
        r = c.raw("GET", "/get-artifact?path=model%2FMLmodel&run_id=" + rid)
        check(r.status == 200 and r.body == b"m", r)
        expect_error(c.raw("GET", "/get-artifact?path=..%2F..%2Fx&run_uuid=" + rid), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.raw("GET", "/get-artifact?path=nope&run_uuid=" + rid), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(c.raw("GET", "/get-artifact?path=x&run_uuid=" + "e" * 32), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        stop_clean(srv)
    finally:
        srv.cleanup()


def test_logged_model_artifacts():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.post("experiments/create", {"name": "models"})
        check(r.status == 200, r)
        r = c.post("logged-models", {"experiment_id": r.json()["experiment_id"], "name": "m"})
        check(r.status == 200, r)
        info = r.json()["model"]["info"]
        mid, uri = info["model_id"], info["artifact_uri"]
        check(uri.startswith("mlflow-artifacts:/") and uri.endswith(mid + "/artifacts"), uri)
        base = uri[len("mlflow-artifacts:"):].lstrip("/")
        check(put(c, base + "/MLmodel", b"flavors: {}").status == 200)
        check(put(c, base + "/data/model.pkl", b"pickle").status == 200)

        d = "logged-models/%s/artifacts/directories" % mid
        j = c.get(d).json()
        check(j == {"root_uri": uri, "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 11},
            {"path": "data", "is_dir": True}]}, j)
        j = c.get(d, {"artifact_directory_path": "data"}).json()
        check(j["files"] == [{"path": "data/model.pkl", "is_dir": False, "file_size": 6}], j)
        expect_error(c.get(d, {"artifact_directory_path": "../x"}), 400,
                     "INVALID_PARAMETER_VALUE", "Invalid path")
        expect_error(c.get("logged-models/m-%s/artifacts/directories" % ("0" * 32)), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        f = "/ajax-api/2.0/mlflow/logged-models/%s/artifacts/files" % mid
        r = c.raw("GET", f + "?artifact_file_path=data%2Fmodel.pkl")
        check(r.status == 200 and r.body == b"pickle", r)
        check(r.headers["Content-Disposition"] == "attachment; filename=model.pkl", r.headers)
        expect_error(c.raw("GET", f), 400, "BAD_REQUEST", "artifact_file_path")
        expect_error(c.raw("GET", f + "?artifact_file_path=%2e%2e/%2e%2e/x"), 400,
                     "INVALID_PARAMETER_VALUE")
        expect_error(c.raw("GET", f + "?artifact_file_path=nope"), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        stop_clean(srv)
    finally:
        srv.cleanup()


def test_model_version_artifacts():
    """The UI's download of a model version's file: the version's source is
    resolved as MLflow does (runs:/ through the run's artifact URI, models:/
    through the registry, mlflow-artifacts:/ through the proxy root)."""
    srv = Server().start()
    try:
        c = srv.client()
        info = make_run(c)
        rid, uri = info["run_id"], info["artifact_uri"]
        base = uri[len("mlflow-artifacts:"):].lstrip("/")
        check(put(c, base + "/model/MLmodel", b"flavors: {}").status == 200)
        check(put(c, base + "/model/data/w.bin", b"\x00\x01weights").status == 200)
        check(c.post("registered-models/create", {"name": "clf"}).status == 200)
        sources = ["runs:/%s/model" % rid, uri + "/model", "models:/clf/1"]
        for i, src in enumerate(sources, 1):
            r = c.post("model-versions/create", {"name": "clf", "source": src, "run_id": rid})
            check(r.status == 200 and r.json()["model_version"]["version"] == str(i), r)

        def mv(query):
            return c.raw("GET", "/model-versions/get-artifact?" + urllib.parse.urlencode(query))

        for v in ("1", "2", "3"):
            r = mv({"name": "clf", "version": v, "path": "MLmodel"})
            check(r.status == 200 and r.body == b"flavors: {}", (v, r))
            check(r.headers["Content-Disposition"] == "attachment; filename=MLmodel", r.headers)
            r = mv({"name": "clf", "version": v, "path": "data/w.bin"})
            check(r.status == 200 and r.body == b"\x00\x01weights", (v, r))

        expect_error(mv({"name": "nope", "version": "1", "path": "MLmodel"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(mv({"name": "clf", "version": "9", "path": "MLmodel"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        expect_error(mv({"name": "clf", "version": "1", "path": "nope"}), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        for bad in ("../MLmodel", "../../../etc/passwd", "/etc/passwd", "%2e%2e/x"):
            expect_error(mv({"name": "clf", "version": "1", "path": bad}), 400,
                         "INVALID_PARAMETER_VALUE", "Invalid path")
        expect_error(mv({"name": "clf", "version": "1"}), 400, "INVALID_PARAMETER_VALUE",
                     "path")
        expect_error(mv({"name": "clf", "path": "MLmodel"}), 400, "INVALID_PARAMETER_VALUE",
                     "version")
        expect_error(mv({"name": "clf", "version": "1", "path": "data"}), 400,
                     "INVALID_PARAMETER_VALUE", "directory")
        stop_clean(srv)
    finally:
        srv.cleanup()


def test_modes():
    # Direct access: no proxy; experiments get the store's own URI, the proxy answers 503,
    # and run listings read the run's location directly.
    direct = tempfile.mkdtemp(prefix="cairn-direct-")
    srv = Server(extra=["--no-serve-artifacts", "--default-artifact-root", direct]).start()
    try:
        c = srv.client()
        info = make_run(c)
        check(info["artifact_uri"].startswith(direct + "/"), info)
        expect_error(put(c, "x/y.txt", b"no"), 503, "TEMPORARILY_UNAVAILABLE", "serve")
        expect_error(get(c, "x/y.txt"), 503, "TEMPORARILY_UNAVAILABLE")
        expect_error(c.raw("GET", A + "?path=x"), 503, "TEMPORARILY_UNAVAILABLE")
        expect_error(c.post("create/x", {"path": "y"}, prefix="/api/2.0/mlflow-artifacts/mpu/"),
                     503, "TEMPORARILY_UNAVAILABLE")
        os.makedirs(os.path.join(info["artifact_uri"], "d"))
        with open(os.path.join(info["artifact_uri"], "d", "f.txt"), "w") as f:
            f.write("direct")
        j = c.get("artifacts/list", {"run_id": info["run_id"], "path": "d"}).json()
        check(j == {"root_uri": info["artifact_uri"],
                    "files": [{"path": "d/f.txt", "is_dir": False, "file_size": 6}]}, j)
        r = c.raw("GET", "/get-artifact?path=d/f.txt&run_uuid=" + info["run_id"])
        check(r.status == 200 and r.body == b"direct", r)
        stop_clean(srv)
    finally:
        srv.cleanup()
        shutil.rmtree(direct, ignore_errors=True)
    # Artifacts only: the proxy works, tracking answers 503 (MLflow's --artifacts-only).
    srv = Server(extra=["--artifacts-only"]).start()
    try:
        c = srv.client()
        check(put(c, "only/a.txt", b"a").status == 200)
        check(get(c, "only/a.txt").body == b"a")
        expect_error(c.post("experiments/create", {"name": "x"}), 503,
                     "TEMPORARILY_UNAVAILABLE", "artifacts_only")
        expect_error(c.get("artifacts/list", {"run_id": "r"}), 503, "TEMPORARILY_UNAVAILABLE")
        expect_error(c.raw("GET", "/get-artifact?path=a&run_uuid=r"), 503,
                     "TEMPORARILY_UNAVAILABLE")
        expect_error(c.raw("GET", "/model-versions/get-artifact?name=m&version=1&path=a"), 503,
                     "TEMPORARILY_UNAVAILABLE", "artifacts_only")
        stop_clean(srv)
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_roundtrip, test_range, test_path_safety, test_symlinks,
               test_upload_cut_midway, test_multipart, test_run_artifacts,
               test_logged_model_artifacts, test_model_version_artifacts, test_modes])
