"""A 4 GiB artifact up and down through the gateway, with the server's memory
bounded: the client generates the bytes and checks SHA-256 on the fly (no 4 GiB
file on the client side), while a sampler reads the server's VmRSS; growth must
stay under 64 MiB. CAIRN_TEST_BIG_BYTES overrides the size (the sanitizer build
uses 256 MiB). A memory bound, not a timing assertion."""
import hashlib
import http.client
import os
import threading
import time

from harness import Server, check, run_tests

def stop_clean(srv):
    """Stop the server and require a clean exit: under the sanitizer build a leak or
    an error report at exit fails the test."""
    rc = srv.stop()
    check(rc == 0, "cairn exited with %r:\n%s" % (rc, srv.proc.logs()[-4000:]))


SIZE = int(os.environ.get("CAIRN_TEST_BIG_BYTES", str(4 << 30)))
CHUNK = 1 << 20
LIMIT = 64 << 20
PATH = "/api/2.0/mlflow-artifacts/artifacts/big/blob.bin"


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.02)


def blocks(size):
    """size bytes: a random block with each chunk's index stamped in, so no two chunks
    are alike and a misplaced chunk changes the digest."""
    base = bytearray(os.urandom(CHUNK))
    i = 0
    while size > 0:
        base[:8] = i.to_bytes(8, "little")
        n = min(size, CHUNK)
        yield bytes(base[:n])
        size -= n
        i += 1


def test_big_roundtrip():
    srv = Server().start()
    try:
        pid = srv.proc.p.pid
        c = srv.client()
        # Warm up: the routes, the store, the worker threads.
        check(c.raw("PUT", PATH, b"warm").status == 200)
        check(c.raw("GET", PATH).body == b"warm")
        base = rss(pid)
        sampler = Sampler(pid)
        sampler.start()

        up = hashlib.sha256()
        tail = b""

        def body():
            nonlocal tail
            for b in blocks(SIZE):
                up.update(b)
                tail = (tail + b)[-16:]
                yield b

        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        conn.request("PUT", PATH, body=body(), headers={"Content-Length": str(SIZE)})
        r = conn.getresponse()
        check(r.status == 200, r.read())
        r.read()

        conn.request("GET", PATH)
        r = conn.getresponse()
        check(r.status == 200 and int(r.getheader("Content-Length")) == SIZE, r.status)
        down, got = hashlib.sha256(), 0
        while True:
            b = r.read(CHUNK)
            if not b:
                break
            down.update(b)
            got += len(b)
        check(got == SIZE, "downloaded %d of %d bytes" % (got, SIZE))
        check(down.digest() == up.digest(), "SHA-256 differs after the round trip")

        # The last bytes by Range: offsets past 4 GiB work.
        conn.request("GET", PATH, headers={"Range": "bytes=-16"})
        r = conn.getresponse()
        check(r.status == 206 and r.read() == tail, r.status)
        conn.close()

        sampler.stop = True
        sampler.join()
        growth = sampler.peak - base
        print("size %d MiB, server RSS %.1f MiB -> peak %.1f MiB (growth %.1f MiB)"
              % (SIZE >> 20, base / 2**20, sampler.peak / 2**20, growth / 2**20))
        check(growth < LIMIT, "server RSS grew by %.1f MiB" % (growth / 2**20))
        check(srv.client().raw("DELETE", PATH).status == 200)
        stop_clean(srv)
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_big_roundtrip])
