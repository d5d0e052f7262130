"""The artifact proxy in front of the S3 store plugin, against s3rver behind
tests/peers/s3/serve.js (which verifies every Signature V4): MLflow's proxied
multipart upload with parts PUT straight to presigned S3 part URLs, proxied
upload, download, Range, listing and delete streamed through the plugin.
Needs node and the installed peer (tests/peers/install.sh); fails without."""
import http.client
import os
import shutil
import subprocess
import tempfile
import urllib.parse

from harness import Server, check, expect_error, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "peers", "s3")
AKID, SECRET = "AKIDCAIRNTEST", "cairn/test+secret=key"
A = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu/"


def start_peer(work):
    check(os.path.exists(os.path.join(PEER, "node_modules", "s3rver", "package.json")),
          "s3rver is not installed: run tests/peers/install.sh")
    node = os.environ.get("CAIRN_NODE") or shutil.which("node")
    check(node, "node not found (deploy/install-deps.sh --test installs it)")
    peer = subprocess.Popen([node, os.path.join(PEER, "serve.js"), work, "cairn", AKID, SECRET],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = peer.stdout.readline()
    check(line.startswith("READY "), "s3rver peer did not start: %r" % line)
    return peer, "http://127.0.0.1:%d" % int(line.split()[1])


def test_s3_presigned_multipart_and_streaming():
    work = tempfile.mkdtemp(prefix="cairn-s3-")
    peer, endpoint = start_peer(work)
    srv = Server(extra=["--artifacts-destination", "s3://cairn/arts"],
                 env={"CAIRN_STORE_S3_ENDPOINT": endpoint, "CAIRN_STORE_S3_PATH_STYLE": "true",
                      "CAIRN_STORE_S3_PART_SIZE_MB": "5", "AWS_ACCESS_KEY_ID": AKID,
                      "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_EC2_METADATA_DISABLED": "true"})
    try:
        srv.start()
        c = srv.client()
        chunks = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1000)]
        r = c.post("create/1/run/artifacts", {"path": "/tmp/x/model.bin", "num_parts": 3},
                   prefix=MPU)
        check(r.status == 200, r)
        j = r.json()
        parts = []
        for cred, data in zip(j["credentials"], chunks):
            u = urllib.parse.urlsplit(cred["url"])
            # Straight to the store, signed for it: the gateway never sees these bytes.
            check(u.netloc == urllib.parse.urlsplit(endpoint).netloc, cred["url"])
            check("X-Amz-Signature=" in u.query and "uploadId=" in u.query, cred["url"])
            check(SECRET not in cred["url"] and urllib.parse.quote(SECRET, "") not in cred["url"])
            pc = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            pc.request("PUT", u.path + "?" + u.query, body=data, headers=cred.get("headers") or {})
            pr = pc.getresponse()
            pr.read()
            check(pr.status == 200, pr.status)
            parts.append({"part_number": cred["part_number"], "etag": pr.getheader("ETag", ""),
                          "url": cred["url"]})
            pc.close()
        r = c.post("complete/1/run/artifacts",
                   {"path": "/tmp/x/model.bin", "upload_id": j["upload_id"], "parts": parts},
                   prefix=MPU)
        check(r.status == 200, r)
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
        # Proxied PUT (bigger than a part: a multipart upload inside the plugin), listing,
        # delete.
        body = os.urandom(11 << 20)
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
        rc = srv.stop()
        check(rc == 0, "cairn exited with %r:\n%s" % (rc, srv.proc.logs()[-4000:]))
        check(SECRET not in srv.proc.logs(), "the secret reached the log")
    finally:
        srv.cleanup()
        peer.stdin.close()
        peer.terminate()
        peer.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_s3_presigned_multipart_and_streaming])
