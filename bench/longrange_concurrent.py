#!/usr/bin/env python3
"""The compactor's effect on concurrent ingest and query latency
(bench/longrange_bench.sh; python3 stdlib only).

Two windows on one running meridian that holds a long backfill not yet
compacted, each with the same load:
  - ingest: meridian-longrange-gen writing fresh data (the last 36 h, so the
    compactor has nothing to do for it) into a tenant of its own as fast as
    meridian takes it, over --gen-concurrency connections; the rate is the
    samples meridian acknowledged (204) within the window, from the generator's
    progress reports;
  - queries: one keep-alive connection running --probe (a dashboard query over
    the last 6 h at a 1 m step, on the backfilled tenant) back to back.
Window 1 (baseline) lasts --baseline-s. Window 2 starts a compactor pass
(POST /internal/compact) and lasts until the pass answers.
Prints ingest samples/s and query p50/p90/p99 per window and the pass summary.
"""
import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def get(host, port, path, method="GET", timeout=3600):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


class Writer(threading.Thread):
    """Reads the generator's PROGRESS lines: (unix s, samples accepted so far)."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.points = proc, []

    def run(self):
        for line in self.proc.stdout:
            f = line.split()
            if len(f) == 3 and f[0] == "PROGRESS":
                self.points.append((int(f[1]) / 1000, int(f[2])))

    def at(self, t):
        """Samples accepted at time t (linear between the two nearest reports)."""
        pts = self.points
        for (t0, c0), (t1, c1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return pts[-1][1] if pts and t >= pts[-1][0] else 0


class Probe(threading.Thread):
    def __init__(self, host, port, query, end_s):
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.path = "/api/v1/query_range?" + urllib.parse.urlencode(
            # nocache=1: the probe measures evaluation during the pass, not the results cache.
            {"query": query, "start": end_s - 6 * 3600, "end": end_s, "step": 60, "nocache": 1})
        self.samples = []  # (start time, seconds)
        self.stop = threading.Event()
        self.errors = 0

    def run(self):
        c = http.client.HTTPConnection(self.host, self.port, timeout=120)
        while not self.stop.is_set():
            t0 = time.time()
            p0 = time.perf_counter()
            try:
                c.request("GET", self.path)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    self.errors += 1
            except (http.client.HTTPException, OSError):
                self.errors += 1
                c.close()
                c = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.samples.append((t0, time.perf_counter() - p0))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def window(a, tenant, seconds=None, compact=False):
    gen = subprocess.Popen(
        [a.gen, "--url", "http://%s:%d/api/v1/write" % (a.host, a.port), "--tenant", tenant,
         "--targets", str(a.gen_targets), "--days", "1.5", "--request-minutes", "5",
         "--concurrency", str(a.gen_concurrency), "--max-seconds", "3600", "--seed", "7",
         "--progress", "true"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    writer = Writer(gen)
    writer.start()
    probe = Probe(a.host, a.port, a.probe, a.end)
    probe.start()
    time.sleep(3)  # let the writer get going
    t0 = time.time()
    summary = None
    if compact:
        status, body = get(a.host, a.port, "/internal/compact", "POST")
        if status != 200:
            sys.exit("compact: HTTP %d %s" % (status, body[:300]))
        summary = json.loads(body)["data"]
    else:
        time.sleep(seconds)
    t1 = time.time()
    time.sleep(0.5)  # one more progress report after t1
    probe.stop.set()
    gen.terminate()
    gen.wait()
    probe.join()
    writer.join()
    c0, c1 = writer.at(t0), writer.at(t1)
    lat = [d for s, d in probe.samples if t0 <= s and s + d <= t1]
    return {"seconds": t1 - t0, "ingest_samples_per_s": (c1 - c0) / (t1 - t0),
            "queries": len(lat), "query_errors": probe.errors,
            "p50_ms": 1000 * pct(lat, 0.5), "p90_ms": 1000 * pct(lat, 0.9),
            "p99_ms": 1000 * pct(lat, 0.99), "summary": summary}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--end", type=int, required=True, help="probe range end, unix s")
    ap.add_argument("--baseline-s", type=float, default=20)
    ap.add_argument("--gen-targets", type=int, default=100)
    ap.add_argument("--gen-concurrency", type=int, default=2)
    ap.add_argument("--probe", default="sum by (region) (rate(http_requests_total[5m]))")
    ap.add_argument("--json")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    a.host, a.port = u.hostname, u.port
    base = window(a, "live-baseline", seconds=a.baseline_s)
    during = window(a, "live-during-pass", compact=True)
    for name, w in (("without a pass", base), ("during the pass", during)):
        print("%-16s %5.1f s: ingest %9.0f samples/s; probe query %4d runs, p50 %.1f ms, "
              "p90 %.1f ms, p99 %.1f ms, %d errors" % (
                  name, w["seconds"], w["ingest_samples_per_s"], w["queries"], w["p50_ms"],
                  w["p90_ms"], w["p99_ms"], w["query_errors"]))
    print("pass summary: %s" % json.dumps(during["summary"]))
    print("ingest during the pass / without: %.2f; probe p50 %.2fx, p99 %.2fx" % (
        during["ingest_samples_per_s"] / base["ingest_samples_per_s"],
        during["p50_ms"] / base["p50_ms"], during["p99_ms"] / base["p99_ms"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baseline": base, "during_pass": during}, f, indent=1)


main()
