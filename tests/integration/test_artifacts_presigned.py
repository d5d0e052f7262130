"""The artifact proxy in front of a store that presigns: MLflow's proxied
multipart upload where the parts go straight to the store (the gcs plugin
against tests/peers/gcs_fixture, which verifies the V4 signatures), and
proxied upload, download, Range and listing streamed through the same plugin."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from harness import Server, check, expect_error, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "peers", "gcs_fixture", "gcs_fixture.py")
EMAIL = "cairn-test@cairn-project.iam.gserviceaccount.com"
A = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu/"


def stop_clean(srv):
    rc = srv.stop()
    check(rc == 0, "cairn exited with %r:\n%s" % (rc, srv.proc.logs()[-4000:]))


def start_fixture(work):
    key, pub = os.path.join(work, "key.pem"), os.path.join(work, "pub.pem")
    subprocess.check_call(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                           "rsa_keygen_bits:2048", "-out", key], stderr=subprocess.DEVNULL)
    subprocess.check_call(["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
                          stderr=subprocess.DEVNULL)
    fx = subprocess.Popen([sys.executable, FIXTURE, "--public-key", pub, "--client-email", EMAIL,
                           "--bucket", "cairn-bucket"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    line = fx.stdout.readline()
    check(line.startswith("PORT "), "fixture did not start: %r" % line)
    endpoint = "http://127.0.0.1:%d" % int(line.split()[1])
    with open(key) as f:
        pem = f.read()
    cred = os.path.join(work, "sa.json")
    with open(cred, "w") as f:
        json.dump({"type": "service_account", "project_id": "cairn-project",
                   "private_key_id": "0123456789abcdef", "private_key": pem,
                   "client_email": EMAIL, "client_id": "1234567890",
                   "token_uri": endpoint + "/token"}, f)
    return fx, endpoint, cred


def test_presigned_multipart_and_streaming():
    work = tempfile.mkdtemp(prefix="cairn-gcs-")
    fx, endpoint, cred = start_fixture(work)
    srv = Server(extra=["--artifacts-destination", "gs://cairn-bucket/arts"],
                 env={"CAIRN_STORE_GCS_ENDPOINT": endpoint,
                      "CAIRN_STORE_GCS_CREDENTIALS_FILE": cred})
    try:
        srv.start()
        c = srv.client()
        # MLflow's client: create with its local file path, PUT each part to the URL it got
        # (straight to the store: the gateway never sees these bytes), complete with ETags.
        chunks = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1000)]
        r = c.post("create/1/run/artifacts", {"path": "/tmp/x/model.bin", "num_parts": 3},
                   prefix=MPU)
        check(r.status == 200, r)
        j = r.json()
        check([x["part_number"] for x in j["credentials"]] == [1, 2, 3], j)
        parts = []
        for cred_, data in zip(j["credentials"], chunks):
            u = urllib.parse.urlsplit(cred_["url"])
            check(u.netloc == urllib.parse.urlsplit(endpoint).netloc, cred_["url"])
            check("X-Goog-Signature=" in u.query, "not a presigned URL: " + cred_["url"])
            check(cred_["headers"] == {}, cred_)
            pc = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            pc.request("PUT", u.path + "?" + u.query, body=data, headers=cred_["headers"])
            pr = pc.getresponse()
            pr.read()
            check(pr.status == 200, pr.status)
            parts.append({"part_number": cred_["part_number"], "etag": pr.getheader("ETag", ""),
                          "url": cred_["url"]})
            pc.close()
        r = c.post("complete/1/run/artifacts",
                   {"path": "/tmp/x/model.bin", "upload_id": j["upload_id"], "parts": parts},
                   prefix=MPU)
        check(r.status == 200 and r.json() == {}, r)
        whole = b"".join(chunks)
        r = c.raw("GET", A + "/1/run/artifacts/model.bin")
        check(r.status == 200 and r.body == whole, (r.status, len(r.body)))
        r = c.raw("GET", A + "/1/run/artifacts/model.bin", None, {"Range": "bytes=5242870-5242889"})
        check(r.status == 206 and r.body == whole[5242870:5242890], r.status)
        # Abort: nothing is published.
        r = c.post("create/1/run/artifacts", {"path": "gone.bin", "num_parts": 1}, prefix=MPU)
        check(r.status == 200, r)
        r = c.post("abort/1/run/artifacts",
                   {"path": "gone.bin", "upload_id": r.json()["upload_id"]}, prefix=MPU)
        check(r.status == 200, r)
        expect_error(c.raw("GET", A + "/1/run/artifacts/gone.bin"), 404,
                     "RESOURCE_DOES_NOT_EXIST")

        # Proxied PUT, listing and delete through the same plugin.
        body = os.urandom(3 << 20)
        check(c.raw("PUT", A + "/1/run/artifacts/dir/data.bin", body).status == 200)
        r = c.raw("GET", A + "?path=1/run/artifacts")
        check(r.status == 200, r)
        files = {f["path"]: f for f in r.json()["files"]}
        check(files["model.bin"] == {"path": "model.bin", "is_dir": False,
                                     "file_size": len(whole)}, files)
        check(files["dir"] == {"path": "dir", "is_dir": True}, files)
        check(c.raw("GET", A + "/1/run/artifacts/dir/data.bin").body == body)
        check(c.raw("DELETE", A + "/1/run/artifacts/dir").status == 200)
        expect_error(c.raw("GET", A + "/1/run/artifacts/dir/data.bin"), 404,
                     "RESOURCE_DOES_NOT_EXIST")
        stop_clean(srv)
    finally:
        srv.cleanup()
        fx.stdin.close()
        fx.terminate()
        fx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def test_gateway_part_urls_when_the_store_cannot_sign():
    """GCS with metadata-server credentials can do multipart but cannot sign: the part
    URLs point at the gateway, which streams each part into the store's part writer and
    answers its ETag."""
    work = tempfile.mkdtemp(prefix="cairn-gcs-")
    fx, endpoint, _ = start_fixture(work)
    srv = Server(extra=["--artifacts-destination", "gs://cairn-bucket/arts"],
                 env={"CAIRN_STORE_GCS_ENDPOINT": endpoint, "CAIRN_STORE_GCS_AUTH": "metadata",
                      "CAIRN_STORE_GCS_METADATA_HOST": urllib.parse.urlsplit(endpoint).netloc})
    try:
        srv.start()
        c = srv.client()
        chunks = [os.urandom(5 << 20), os.urandom(2 << 20)]
        r = c.post("create/7/run/artifacts", {"path": "C:\\Users\\me\\weights.bin",
                                              "num_parts": 2}, prefix=MPU)
        check(r.status == 200, r)
        j = r.json()
        parts = []
        for cred_, data in zip(j["credentials"], chunks):
            u = urllib.parse.urlsplit(cred_["url"])
            check(u.port == srv.port and u.path ==
                  "/api/2.0/mlflow-artifacts/mpu/part/7/run/artifacts/weights.bin", cred_)
            pc = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            pc.request("PUT", u.path + "?" + u.query, body=data, headers=cred_["headers"])
            pr = pc.getresponse()
            pr.read()
            check(pr.status == 200 and pr.getheader("ETag"), pr.status)
            parts.append({"part_number": cred_["part_number"], "etag": pr.getheader("ETag"),
                          "url": cred_["url"]})
            pc.close()
        # A part upload with a bad part number or an unknown upload is refused.
        expect_error(c.raw("PUT", MPU + "part/7/run/artifacts/weights.bin?upload_id=x&"
                           "part_number=0", b"x"), 400, "INVALID_PARAMETER_VALUE")
        r = c.post("complete/7/run/artifacts",
                   {"path": "weights.bin", "upload_id": j["upload_id"], "parts": parts},
                   prefix=MPU)
        check(r.status == 200, r)
        r = c.raw("GET", A + "/7/run/artifacts/weights.bin")
        check(r.status == 200 and r.body == b"".join(chunks), (r.status, len(r.body)))
        stop_clean(srv)
    finally:
        srv.cleanup()
        fx.stdin.close()
        fx.terminate()
        fx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_presigned_multipart_and_streaming,
               test_gateway_part_urls_when_the_store_cannot_sign])
