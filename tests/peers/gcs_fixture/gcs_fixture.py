#!/usr/bin/env python3
"""A Google Cloud Storage stand-in for Cairn's tests (Python stdlib only).

Speaks the parts of the JSON API (storage/v1) that the gcs store plugin
uses, as Google documents them:
  objects.get (metadata; alt=media with Range -> 206 + Content-Range, 416
  when unsatisfiable; generation= pins a generation), objects.list (prefix,
  delimiter, maxResults counting items and prefixes, pageToken, startOffset),
  objects.delete, objects.compose (<= 32 sources, ifGenerationMatch), uploads
  with uploadType=media and uploadType=resumable (session URI in Location,
  chunks with Content-Range "bytes a-b/total|*", non-final chunks multiples
  of 256 KiB, 308 Resume Incomplete with "Range: bytes=0-n", "bytes */*"
  status queries, DELETE to cancel -> 499).
And the credentials side:
  POST /token: an OAuth2 token endpoint for the JWT bearer grant (RFC 7523).
  The assertion's RS256 signature is verified with the service account's
  PUBLIC key (RSA in pure Python: modexp and PKCS#1 v1.5 padding check), and
  iss, scope, aud, iat and exp are checked. Tokens it issues are then
  required on every JSON API call (401 otherwise).
  GET /computeMetadata/v1/instance/service-accounts/default/token: the
  metadata server (requires "Metadata-Flavor: Google").
  Path-style XML API URLs /<bucket>/<object>?X-Goog-Signature=...: V4 signed
  URLs, verified by recomputing the canonical request and checking the RSA
  signature with the public key, then served (GET, PUT).

To exercise a client's resume logic, every other non-final resumable chunk
longer than 256 KiB is persisted short by 256 KiB (Google may keep less
than was sent; clients must resend from the reported offset).

For tests: GET /_fixture/stats ({"token_requests": n, ...}) and
POST /_fixture/revoke (forget every issued token, as a revocation would).

Usage: gcs_fixture.py --public-key pub.pem --client-email sa@p.iam... \\
         --bucket b [--bucket c] [--port 0] [--token-lifetime s]
Prints "PORT <n>" on stdout once listening. Stops on SIGTERM or stdin EOF.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUANTUM = 256 * 1024
SCOPE_RW = "https://www.googleapis.com/auth/devstorage.read_write"
SCOPES_OK = {SCOPE_RW, "https://www.googleapis.com/auth/devstorage.full_control",
             "https://www.googleapis.com/auth/cloud-platform"}
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


# --------------------------------------------------------------------------
# RSA public keys and PKCS#1 v1.5 verification

def _der_read(buf, pos):
    """One DER TLV at pos: (tag, value bytes, next pos)."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, buf[pos:pos + length], pos + length


def load_public_key(pem_text):
    """(n, e) of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an RSA key."""
    body = "".join(l for l in pem_text.splitlines() if l and not l.startswith("-----"))
    der = base64.b64decode(body)
    tag, spki, _ = _der_read(der, 0)
    assert tag == 0x30
    _, _alg, pos = _der_read(spki, 0)
    tag, bits, _ = _der_read(spki, pos)
    assert tag == 0x03 and bits[0] == 0
    tag, rsakey, _ = _der_read(bits[1:], 0)
    assert tag == 0x30
    tag, n, pos = _der_read(rsakey, 0)
    tag, e, _ = _der_read(rsakey, pos)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def rsa_sha256_verify(key, data, sig):
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return secrets.compare_digest(em, expected)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# --------------------------------------------------------------------------
# State

class Obj:
    def __init__(self, data, generation):
        self.data = data
        self.generation = generation
        self.updated = time.time()


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.buckets = {b: {} for b in args.bucket}
        self.sessions = {}  # upload_id -> dict(bucket, name, data, chunks)
        self.tokens = {}    # token -> expiry (epoch seconds)
        self.key = load_public_key(open(args.public_key).read())
        self.email = args.client_email
        self.gen = time.time_ns() // 1000
        self.token_lifetime = args.token_lifetime
        self.token_requests = 0

    def next_gen(self):
        self.gen += 1
        return self.gen


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def http_date(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def resource(bucket, name, o):
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{o.generation}",
        "name": name,
        "bucket": bucket,
        "generation": str(o.generation),
        "metageneration": "1",
        "contentType": "application/octet-stream",
        "size": str(len(o.data)),
        "md5Hash": base64.b64encode(hashlib.md5(o.data).digest()).decode(),
        "updated": rfc3339(o.updated),
        "timeCreated": rfc3339(o.updated),
        "etag": base64.b64encode(str(o.generation).encode()).decode(),
    }


class Reply(Exception):
    """An error reply in Google's JSON shape."""

    def __init__(self, code, message, reason="invalid", headers=None):
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason
        self.headers = headers or {}


# --------------------------------------------------------------------------
# The handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "gcs-fixture"

    def log_message(self, fmt, *args):  # quiet unless GCS_FIXTURE_LOG is set
        if os.environ.get("GCS_FIXTURE_LOG"):
            sys.stderr.write("gcs-fixture: " + (fmt % args) + "\n")

    @property
    def st(self):
        return self.server.state

    # -- plumbing ----------------------------------------------------------

    def body(self):
        return self._body

    def send(self, code, body=b"", ctype="application/json; charset=UTF-8", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or code not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_json(self, r):
        body = {"error": {"code": r.code, "message": r.message,
                          "errors": [{"message": r.message, "domain": "global",
                                      "reason": r.reason}]}}
        self.send(r.code, body, headers=r.headers)

    def dispatch(self):
        # The whole body first: a reply sent before reading it would leave
        # its bytes on a kept-alive connection as the start of the next request.
        n = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(n) if n else b""
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        raw = u.path
        try:
            if raw == "/token" and self.command == "POST":
                return self.token()
            if raw == "/_fixture/stats":
                return self.send(200, {"token_requests": self.st.token_requests,
                                       "tokens": len(self.st.tokens)})
            if raw == "/_fixture/revoke" and self.command == "POST":
                with self.st.lock:
                    self.st.tokens.clear()
                return self.send(204)
            if raw == "/computeMetadata/v1/instance/service-accounts/default/token":
                return self.metadata_token()
            if raw.startswith("/upload/storage/v1/b/"):
                self.require_token()
                return self.upload(raw, q)
            if raw.startswith("/storage/v1/b/"):
                self.require_token()
                return self.json_api(raw, q)
            if "X-Goog-Signature" in q:
                return self.signed(raw, u.query, q)
            raise Reply(404, "Not Found", "notFound")
        except Reply as r:
            self.send_error_json(r)

    do_GET = do_POST = do_PUT = do_DELETE = dispatch

    # -- credentials -------------------------------------------------------

    def token(self):
        form = dict(urllib.parse.parse_qsl(self.body().decode()))
        def refuse(desc):
            self.send(400, {"error": "invalid_grant", "error_description": desc})
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return refuse("unsupported grant_type")
        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return refuse("assertion is not a JWT")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except ValueError:
            return refuse("assertion is not a JWT")
        if header.get("alg") != "RS256":
            return refuse("alg must be RS256")
        signed = (parts[0] + "." + parts[1]).encode()
        if not rsa_sha256_verify(self.st.key, signed, sig):
            return refuse("Invalid JWT Signature.")
        now = time.time()
        aud = f"http://{self.headers.get('Host')}/token"
        if claims.get("iss") != self.st.email:
            return refuse("Invalid JWT: iss is not the service account")
        if claims.get("aud") != aud:
            return refuse(f"Invalid JWT: aud must be {aud}")
        if not set(str(claims.get("scope", "")).split()) & SCOPES_OK:
            return refuse("Invalid JWT: no storage scope")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return refuse("Invalid JWT: iat and exp must be integers")
        if exp < now or iat > now + 300 or exp - iat > 3600:
            return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) "
                          "and in a reasonable timeframe")
        self.issue()

    def issue(self):
        tok = "ya29.fixture-" + secrets.token_hex(24)
        life = self.st.token_lifetime
        with self.st.lock:
            self.st.tokens[tok] = time.time() + life
            self.st.token_requests += 1
        self.send(200, {"access_token": tok, "expires_in": life, "token_type": "Bearer"})

    def metadata_token(self):
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.send(403, b"Missing Metadata-Flavor:Google header", "text/html")
        self.issue()

    def require_token(self):
        h = self.headers.get("Authorization", "")
        tok = h[7:] if h.startswith("Bearer ") else None
        with self.st.lock:
            exp = self.st.tokens.get(tok)
        if not exp or exp < time.time():
            raise Reply(401, "Invalid Credentials", "authError",
                        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})

    # -- JSON API ----------------------------------------------------------

    def bucket(self, b):
        objs = self.st.buckets.get(b)
        if objs is None:
            raise Reply(404, "The specified bucket does not exist.", "notFound")
        return objs

    def json_api(self, raw, q):
        seg = raw.split("/")  # '', storage, v1, b, <bucket>, o, <object>, [compose]
        if len(seg) < 6 or seg[5] != "o":
            raise Reply(404, "Not Found", "notFound")
        b = urllib.parse.unquote(seg[4])
        if len(seg) == 6:
            if self.command != "GET":
                raise Reply(405, "Method not allowed")
            return self.list(b, q)
        name = urllib.parse.unquote(seg[6])
        if len(seg) == 8 and seg[7] == "compose" and self.command == "POST":
            return self.compose(b, name)
        if len(seg) != 7:
            raise Reply(404, "Not Found", "notFound")
        with self.st.lock:
            objs = self.bucket(b)
            o = objs.get(name)
            if o is None or ("generation" in q and str(o.generation) != q["generation"]):
                raise Reply(404, f"No such object: {b}/{name}", "notFound")
            if self.command == "DELETE":
                del objs[name]
        if self.command == "DELETE":
            return self.send(204)
        if self.command != "GET":
            raise Reply(405, "Method not allowed")
        if q.get("alt") != "media":
            return self.send(200, resource(b, name, o))
        self.media(o)

    def media(self, o):
        size = len(o.data)
        hdrs = {"x-goog-generation": str(o.generation), "Last-Modified": http_date(o.updated),
                "x-goog-stored-content-length": str(size)}
        rng = self.headers.get("Range")
        if not rng:
            return self.send(200, o.data, "application/octet-stream", hdrs)
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return self.send(200, o.data, "application/octet-stream", hdrs)
        if m.group(1) == "":  # the last n bytes
            start, end = max(0, size - int(m.group(2))), size - 1
        else:
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if start >= size or start > end:
            raise Reply(416, "Request range not satisfiable", "requestedRangeNotSatisfiable",
                        {"Content-Range": f"bytes */{size}"})
        hdrs["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.send(206, o.data[start:end + 1], "application/octet-stream", hdrs)

    def list(self, b, q):
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        start = q.get("startOffset", "")
        try:
            max_results = int(q.get("maxResults", "1000"))
        except ValueError:
            raise Reply(400, "Invalid value for maxResults")
        max_results = max(1, min(max_results, 1000))
        after = None
        if q.get("pageToken"):
            try:
                after = base64.urlsafe_b64decode(q["pageToken"].encode()).decode()
            except ValueError:
                raise Reply(400, "Invalid page token")
        with self.st.lock:
            objs = self.bucket(b)
            names = sorted(n for n in objs if n.startswith(prefix) and n >= start)
            entries = []  # (key, is_prefix, name, obj)
            seen = set()
            for n in names:
                rest = n[len(prefix):]
                i = rest.find(delim) if delim else -1
                if i >= 0:
                    p = prefix + rest[:i + len(delim)]
                    if p not in seen:
                        seen.add(p)
                        entries.append((p, True, p, None))
                else:
                    entries.append((n, False, n, objs[n]))
        entries.sort(key=lambda e: e[0])
        if after is not None:
            entries = [e for e in entries if e[0] > after]
        page, rest = entries[:max_results], entries[max_results:]
        out = {"kind": "storage#objects"}
        items = [resource(b, e[2], e[3]) for e in page if not e[1]]
        prefixes = [e[2] for e in page if e[1]]
        if items:
            out["items"] = items
        if prefixes:
            out["prefixes"] = prefixes
        if rest:
            out["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
        self.send(200, out)

    def compose(self, b, dest):
        try:
            req = json.loads(self.body() or b"{}")
        except ValueError:
            raise Reply(400, "Parse Error", "parseError")
        srcs = req.get("sourceObjects") or []
        if not srcs:
            raise Reply(400, "Required field: sourceObjects", "required")
        if len(srcs) > 32:
            raise Reply(400, "The number of source components provided (%d) exceeds the "
                        "maximum (32)" % len(srcs), "invalid")
        with self.st.lock:
            objs = self.bucket(b)
            data = []
            for s in srcs:
                o = objs.get(s.get("name"))
                if o is None:
                    raise Reply(404, f"Object {s.get('name')} not found", "notFound")
                want = (s.get("objectPreconditions") or {}).get("ifGenerationMatch")
                if want is not None and str(want) != str(o.generation):
                    raise Reply(412, "Precondition Failed", "conditionNotMet")
                data.append(o.data)
            o = Obj(b"".join(data), self.st.next_gen())
            objs[dest] = o
        self.send(200, resource(b, dest, o))

    # -- uploads -----------------------------------------------------------

    def upload(self, raw, q):
        seg = raw.split("/")  # '', upload, storage, v1, b, <bucket>, o
        if len(seg) != 7 or seg[6] != "o":
            raise Reply(404, "Not Found", "notFound")
        b = urllib.parse.unquote(seg[5])
        with self.st.lock:
            self.bucket(b)
        kind = q.get("uploadType")
        if "upload_id" in q:
            return self.resume(b, q["upload_id"])
        if self.command != "POST":
            raise Reply(405, "Method not allowed")
        name = q.get("name")
        if not name:
            raise Reply(400, "Required parameter: name", "required")
        if kind == "media":
            data = self.body()
            with self.st.lock:
                o = Obj(data, self.st.next_gen())
                self.bucket(b)[name] = o
            return self.send(200, resource(b, name, o))
        if kind == "resumable":
            self.body()  # the optional metadata
            sid = secrets.token_urlsafe(24)
            with self.st.lock:
                self.st.sessions[sid] = {"bucket": b, "name": name, "data": bytearray(),
                                         "chunks": 0}
            loc = (f"http://{self.headers.get('Host')}/upload/storage/v1/b/"
                   f"{urllib.parse.quote(b, safe='')}/o?uploadType=resumable&"
                   f"name={urllib.parse.quote(name, safe='')}&upload_id={sid}")
            return self.send(200, b"", headers={"Location": loc})
        raise Reply(400, f"Unsupported uploadType {kind!r}")

    def resume(self, b, sid):
        with self.st.lock:
            s = self.st.sessions.get(sid)
        if s is None:
            self.body()
            raise Reply(404, "No such upload session", "notFound")
        if self.command == "DELETE":
            with self.st.lock:
                self.st.sessions.pop(sid, None)
            return self.send(499, b"")
        if self.command != "PUT":
            raise Reply(405, "Method not allowed")
        data = self.body()
        cr = self.headers.get("Content-Range", "")
        m = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\*|\d+)", cr.strip())
        if not m:
            raise Reply(400, f"Bad Content-Range {cr!r}")
        total = None if m.group(4) == "*" else int(m.group(4))
        with self.st.lock:
            have = len(s["data"])
            if m.group(1) != "*":
                a, z = int(m.group(2)), int(m.group(3))
                if z < a or len(data) != z - a + 1:
                    raise Reply(400, "Content-Range does not match the body length")
                if a > have:
                    raise Reply(400, f"Upload starts at {a}, but {have} bytes are persisted")
                final = total is not None and z + 1 == total
                if not final and (z - a + 1) % QUANTUM:
                    raise Reply(400, "Invalid request. The number of bytes uploaded is "
                                "required to be equal or greater than 262144, except for "
                                "the final request (it's recommended to be the exact "
                                "multiple of 262144).")
                new = data[have - a:]
                s["chunks"] += 1
                if not final and len(new) > QUANTUM and s["chunks"] % 2 == 1:
                    new = new[:len(new) - QUANTUM]  # keep less, as Google may
                s["data"] += new
                have = len(s["data"])
            if total is not None and have == total:
                o = Obj(bytes(s["data"]), self.st.next_gen())
                self.bucket(s["bucket"])[s["name"]] = o
                del self.st.sessions[sid]
                return self.send(200, resource(s["bucket"], s["name"], o))
            if total is not None and have > total:
                raise Reply(400, "More bytes than the declared total")
        hdrs = {"Range": f"bytes=0-{have - 1}"} if have else {}
        self.send(308, b"", "text/plain", hdrs)

    # -- V4 signed URLs (XML API, path style) -------------------------------

    def signed(self, raw, query, q):
        def deny(msg):
            body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                    f"SignatureDoesNotMatch</Code><Message>{msg}</Message></Error>").encode()
            self.body()
            self.send(403, body, "application/xml; charset=UTF-8")
        if q.get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256":
            return deny("X-Goog-Algorithm must be GOOG4-RSA-SHA256")
        cred = q.get("X-Goog-Credential", "").split("/")
        date = q.get("X-Goog-Date", "")
        if len(cred) != 5 or cred[0] != self.st.email or cred[2:] != ["auto", "storage",
                                                                       "goog4_request"] \
                or not date.startswith(cred[1]):
            return deny("bad X-Goog-Credential")
        try:
            t = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            expires = int(q.get("X-Goog-Expires", ""))
        except ValueError:
            return deny("bad X-Goog-Date or X-Goog-Expires")
        now = time.time()
        if not 1 <= expires <= 604800 or t.timestamp() > now + 300 \
                or t.timestamp() + expires < now:
            return deny("Request has expired")
        # The canonical request, recomputed from what arrived.
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        canon_q = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(pairs) if k != "X-Goog-Signature")
        signed_headers = q.get("X-Goog-SignedHeaders", "").split(";")
        canon_h = "".join(f"{h}:{(self.headers.get(h) or '').strip()}\n" for h in signed_headers)
        creq = "\n".join([self.command, raw, canon_q, canon_h, ";".join(signed_headers),
                          "UNSIGNED-PAYLOAD"])
        sts = "\n".join(["GOOG4-RSA-SHA256", date, "/".join(cred[1:]),
                         hashlib.sha256(creq.encode()).hexdigest()])
        try:
            sig = bytes.fromhex(q["X-Goog-Signature"])
        except ValueError:
            return deny("signature is not hex")
        if not rsa_sha256_verify(self.st.key, sts.encode(), sig):
            return deny("The request signature we calculated does not match the signature "
                        "you provided.")
        seg = raw.split("/", 2)
        if len(seg) != 3 or not seg[2]:
            raise Reply(400, "path-style /bucket/object expected")
        b, name = urllib.parse.unquote(seg[1]), urllib.parse.unquote(seg[2])
        if self.command == "GET":
            with self.st.lock:
                o = self.bucket(b).get(name)
            if o is None:
                raise Reply(404, "The specified key does not exist.", "notFound")
            return self.media(o)
        if self.command == "PUT":
            data = self.body()
            with self.st.lock:
                o = Obj(data, self.st.next_gen())
                self.bucket(b)[name] = o
            return self.send(200, b"", headers={"ETag": '"%s"' % hashlib.md5(data).hexdigest(),
                                                "x-goog-generation": str(o.generation)})
        raise Reply(405, "Method not allowed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--client-email", required=True)
    ap.add_argument("--bucket", action="append", default=[])
    ap.add_argument("--token-lifetime", type=int, default=3599,
                    help="expires_in of issued tokens (seconds)")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()),
                     daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
