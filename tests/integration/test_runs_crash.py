"""kill -9 during concurrent log-batch: every acknowledged batch survives a
restart, whole (all its points, none twice)."""
import threading
import time

from harness import Server, check, run_tests

THREADS = 6
PER_BATCH = 100


def test_kill9_loses_no_acknowledged_log_batch():
    srv = Server().start()
    try:
        c = srv.client()
        r = c.post("experiments/create", {"name": "crash-log-batch"})
        check(r.status == 200, r)
        eid = r.json()["experiment_id"]
        runs = []
        for w in range(THREADS):
            r = c.post("runs/create", {"experiment_id": eid})
            check(r.status == 200, r)
            runs.append(r.json()["run"]["info"]["run_id"])
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def writer(w):
            # Thread w logs batch i to run w % 3 (two threads share each run):
            # metric "t<w>", steps i*100 .. i*100+99, value = step.
            wc = srv.client()
            rid = runs[w % 3]
            i = 0
            while not stop.is_set():
                ms = [{"key": "t%d" % w, "value": float(i * PER_BATCH + j),
                       "timestamp": 1000 + i, "step": i * PER_BATCH + j}
                      for j in range(PER_BATCH)]
                try:
                    r = wc.post("runs/log-batch", {"run_id": rid, "metrics": ms})
                except Exception:  # noqa: BLE001 - the server died under us: expected
                    return
                if r.status == 200:
                    with lock:
                        acked.append((w, rid, i))
                i += 1

        ts = [threading.Thread(target=writer, args=(w,)) for w in range(THREADS)]
        [t.start() for t in ts]
        deadline = time.time() + 30
        while time.time() < deadline and len(acked) < 100:
            time.sleep(0.02)
        srv.kill9()
        stop.set()
        [t.join(timeout=60) for t in ts]
        with lock:
            acked = list(acked)
        check(len(acked) >= 100, "too few acknowledged batches before the kill: %d" % len(acked))
        srv.restart()
        c = srv.client()
        by_writer = {}
        for w, rid, i in acked:
            by_writer.setdefault(w, (rid, set()))[1].add(i)
        for w, (rid, batches) in by_writer.items():
            pts, tok = [], None
            while True:
                q = {"run_id": rid, "metric_key": "t%d" % w, "max_results": 25000}
                if tok:
                    q["page_token"] = tok
                r = c.get("metrics/get-history", q)
                check(r.status == 200, r)
                j = r.json()
                pts += j.get("metrics", [])
                tok = j.get("next_page_token")
                if not tok:
                    break
            counts = {}
            for p in pts:
                check(p["value"] == float(p["step"]), "corrupt point %r" % p)
                counts[p["step"]] = counts.get(p["step"], 0) + 1
            dups = [s for s, n in counts.items() if n > 1]
            check(not dups, "writer %d: duplicated steps %r" % (w, dups[:10]))
            for i in batches:
                have = sum(1 for s in range(i * PER_BATCH, (i + 1) * PER_BATCH) if s in counts)
                check(have == PER_BATCH,
                      "writer %d batch %d: %d of %d points after restart"
                      % (w, i, have, PER_BATCH))
            # An unacknowledged batch may survive (killed after the write, before
            # the reply) but only whole: every batch present is complete.
            for i in {s // PER_BATCH for s in counts}:
                have = sum(1 for s in range(i * PER_BATCH, (i + 1) * PER_BATCH) if s in counts)
                check(have == PER_BATCH, "writer %d batch %d torn: %d points" % (w, i, have))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    run_tests([test_kill9_loses_no_acknowledged_log_batch])
