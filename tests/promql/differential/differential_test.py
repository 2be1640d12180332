#!/usr/bin/env python3
"""Differential PromQL test: meridian against a real Prometheus.

Writes the same realistic data set (three regions; counters with resets,
gauges, classic histograms, irregular scrape timestamps, a series that
vanishes behind a stale marker, a long scrape gap) by remote write to both a Prometheus (Debian's
/usr/bin/prometheus, 2.42) and a meridian server, then evaluates every query
of queries.txt as instant queries at several times and as a range query on
both, and compares the answers: same status, same result type, same series,
same timestamps, values within 1e-9 relative (NaN equals NaN).

Prometheus 2 vs 3: Prometheus 2 range windows and the lookback window are
closed on the left ([t-r, t]); Prometheus 3 (meridian) opens them
((t-r, t]). The answers differ only when a sample lies exactly on a window's
left edge. Every query time, range, offset, @ time and step here is a whole
number of seconds, and every sample timestamp has a millisecond part in
1..999, so no sample ever falls on a window edge and the two semantics agree.
Functions renamed in Prometheus 3 are given as `prometheus2 => meridian`
pairs in queries.txt.

Python 3 standard library only: protobuf and snappy (literal-only blocks,
valid snappy) are encoded by hand (tests/pylib/remote_write.py).

Exit status: 0 no unexpected difference; 1 unexpected differences; 77 a
binary is missing (CTest reports the test as skipped).
"""

import argparse
import json
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../pylib"))
import remote_write  # noqa: E402  (tests/pylib: protobuf + snappy by hand)
REL_TOL = 1e-9

# ---------------------------------------------------------------------------
# The data set.

REGIONS = {"eu-west": 3, "us-east": 3, "ap-south": 2}
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus staleness marker
SCRAPE_S = 15
SPAN_S = 2 * 3600 + 40 * 60  # under 3h: Prometheus does not compact the head meanwhile


def scrape_times(rng, base_ms, span_s, gap=None):
    """Irregular scrape times: ~15s apart with jitter, each with a millisecond
    part in 1..999 (never on a whole second). `gap` = (from_s, to_s) drops
    scrapes in that window."""
    out = []
    t_s = rng.randint(0, SCRAPE_S - 1)
    while t_s < span_s:
        if not (gap and gap[0] <= t_s < gap[1]):
            out.append(base_ms + t_s * 1000 + rng.randint(1, 999))
        t_s += SCRAPE_S + rng.choice((-2, -1, 0, 0, 0, 1, 2))
        if rng.random() < 0.02:
            t_s += SCRAPE_S  # a missed scrape
    return out


def generate(base_ms, seed=42):
    rng = random.Random(seed)
    series = []

    def add(labels, samples):
        series.append((labels, samples))

    buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    for region, n in REGIONS.items():
        for i in range(n):
            inst = f"{region}-{i}:9100"
            base_lbl = {"region": region, "instance": inst, "job": "api"}
            times = scrape_times(rng, base_ms, SPAN_S)
            # Restart of this instance at a random time: counters reset.
            restart_at = base_ms + rng.randint(40 * 60, 2 * 3600) * 1000
            for method in ("GET", "POST"):
                for code in ("200", "500"):
                    rate = rng.uniform(0.5, 30) * (0.05 if code == "500" else 1)
                    v, samples = rng.uniform(0, 1000), []
                    for t in times:
                        if samples and samples[-1][0] < restart_at <= t:
                            v = rng.uniform(0, 5)
                        v += rate * SCRAPE_S * rng.uniform(0.6, 1.4)
                        samples.append((t, round(v, 3)))
                    add({"__name__": "http_requests_total", "method": method, "code": code, **base_lbl}, samples)
            # Classic histogram, cumulative buckets consistent with _count.
            counts = [0.0] * len(buckets)
            hsum, hs = 0.0, {b: [] for b in buckets}
            hsums, hcounts = [], []
            for t in times:
                for _ in range(rng.randint(5, 40)):
                    lat = rng.lognormvariate(math.log(0.08 if region != "ap-south" else 0.3), 1.0)
                    hsum += lat
                    for k, b in enumerate(buckets):
                        if b == "+Inf" or lat <= float(b):
                            counts[k] += 1
                for k, b in enumerate(buckets):
                    hs[b].append((t, counts[k]))
                hsums.append((t, round(hsum, 6)))
                hcounts.append((t, counts[-1]))
            for b in buckets:
                add({"__name__": "http_request_duration_seconds_bucket", "le": b, **base_lbl}, hs[b])
            add({"__name__": "http_request_duration_seconds_sum", **base_lbl}, hsums)
            add({"__name__": "http_request_duration_seconds_count", **base_lbl}, hcounts)
            # Node metrics, scraped on their own schedule.
            ntimes = scrape_times(rng, base_ms, SPAN_S,
                                  gap=(3600, 3600 + 420) if (region, i) == ("us-east", 1) else None)
            nlbl = {"region": region, "instance": inst, "job": "node"}
            for cpu in ("0", "1"):
                for mode in ("user", "system", "idle"):
                    share = {"user": 0.3, "system": 0.1, "idle": 0.6}[mode]
                    v, samples = rng.uniform(1e4, 1e5), []
                    for t in ntimes:
                        v += SCRAPE_S * share * rng.uniform(0.8, 1.2)
                        samples.append((t, round(v, 2)))
                    add({"__name__": "node_cpu_seconds_total", "cpu": cpu, "mode": mode, **nlbl}, samples)
            mem = rng.uniform(2e9, 8e9)
            add({"__name__": "node_memory_available_bytes", **nlbl},
                [(t, float(int(mem + 5e8 * math.sin(k / 40.0) + rng.uniform(-1e7, 1e7)))) for k, t in enumerate(ntimes)])
            temp0 = {"eu-west": 12.0, "us-east": 25.0, "ap-south": 33.0}[region] + rng.uniform(-3, 3)
            add({"__name__": "temperature_celsius", **nlbl},
                [(t, round(temp0 + 8 * math.sin(k / 90.0 + i) + rng.gauss(0, 0.7) - (15 if region == "eu-west" else 0), 3))
                 for k, t in enumerate(ntimes)])
            add({"__name__": "queue_depth", **nlbl},
                [(t, float(max(0, int(rng.gauss(5, 4))))) for t in ntimes])
            up = []
            for t in ntimes:
                up.append((t, 0.0 if rng.random() < 0.03 else 1.0))
            add({"__name__": "up", **nlbl}, up)
            add({"__name__": "node_uname_info", "version": f"6.{i}.0", "nodename": f"host{i}.{region}", **nlbl},
                [(t, 1.0) for t in ntimes])
        # A batch job that exists only in the first hour of each region; its
        # target goes away, so the last scrape is followed by a stale marker.
        jt = scrape_times(rng, base_ms, 3600)
        add({"__name__": "batch_jobs_running", "region": region, "job": "batch"},
            [(t, float(rng.randint(1, 9))) for t in jt] + [(jt[-1] + SCRAPE_S * 1000, STALE_NAN)])
    # Something to compare against across regions with group_left.
    for region, n in REGIONS.items():
        add({"__name__": "region_capacity", "region": region},
            [(t, float(100 * n)) for t in scrape_times(rng, base_ms, SPAN_S)])
    return series


# ---------------------------------------------------------------------------
# Servers.


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            status, _ = http("GET", url, timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready at {url} after {timeout}s")


class Server:
    def __init__(self, name, argv, base_url, ready_path, log_path):
        self.name, self.base = name, base_url
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(base_url + ready_path, self.proc, name)

    def write(self, series):
        body = remote_write.encode(series)
        status, resp = http("POST", self.base + "/api/v1/write", body, remote_write.HEADERS)
        if status not in (200, 204):
            raise RuntimeError(f"{self.name} remote write: HTTP {status}: {resp[:300]!r}")

    def query(self, path, params):
        status, body = http("POST", self.base + path, urllib.parse.urlencode(params).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "errorType": f"http {status}", "error": body[:300].decode(errors="replace")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------------------
# Comparison.


def fval(s):
    return float(s)  # handles "NaN", "+Inf", "-Inf"


def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return False
    d = abs(a - b)
    return d <= REL_TOL * max(abs(a), abs(b))


def has_data(r):
    if r.get("status") != "success":
        return False
    res = r["data"]["result"]
    return bool(res) if r["data"]["resultType"] in ("vector", "matrix") else True


def key(metric):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def compare(pr, mr, ordered):
    """Returns None when the answers agree, else a description."""
    if pr.get("status") != mr.get("status"):
        return (f"status: prometheus {pr.get('status')} ({pr.get('error', '')}) vs "
                f"meridian {mr.get('status')} ({mr.get('error', '')})")
    if pr["status"] != "success":
        return None  # both failed
    pd, md = pr["data"], mr["data"]
    if pd["resultType"] != md["resultType"]:
        return f"resultType: prometheus {pd['resultType']} vs meridian {md['resultType']}"
    rt = pd["resultType"]
    if rt in ("scalar", "string"):
        (pt, pv), (mt, mv) = pd["result"], md["result"]
        if pt != mt:
            return f"timestamp: prometheus {pt} vs meridian {mt}"
        if rt == "string":
            return None if pv == mv else f"string: {pv!r} vs {mv!r}"
        return None if close(fval(pv), fval(mv)) else f"scalar: prometheus {pv} vs meridian {mv}"
    pres = {key(s["metric"]): s for s in pd["result"]}
    mres = {key(s["metric"]): s for s in md["result"]}
    if len(pres) != len(pd["result"]) or len(mres) != len(md["result"]):
        return "duplicate series in a result"
    only_p, only_m = sorted(set(pres) - set(mres)), sorted(set(mres) - set(pres))
    if only_p or only_m:
        return f"series only in prometheus: {only_p[:5]}; only in meridian: {only_m[:5]}"
    if ordered:
        po = [key(s["metric"]) for s in pd["result"]]
        mo = [key(s["metric"]) for s in md["result"]]
        if po != mo:
            return f"order: prometheus {po[:5]} vs meridian {mo[:5]}"
    for k in sorted(pres):
        if rt == "vector":
            (pt, pv), (mt, mv) = pres[k]["value"], mres[k]["value"]
            if pt != mt:
                return f"{k}: timestamp prometheus {pt} vs meridian {mt}"
            if not close(fval(pv), fval(mv)):
                return f"{k}: prometheus {pv} vs meridian {mv}"
        else:
            pvals, mvals = pres[k].get("values", []), mres[k].get("values", [])
            pts, mts = [p[0] for p in pvals], [m[0] for m in mvals]
            if pts != mts:
                missing = sorted(set(pts) - set(mts))[:3]
                extra = sorted(set(mts) - set(pts))[:3]
                return (f"{k}: {len(pts)} points in prometheus vs {len(mts)} in meridian "
                        f"(only prometheus at {missing}, only meridian at {extra})")
            for (t, a), (_, b) in zip(pvals, mvals):
                if not close(fval(a), fval(b)):
                    return f"{k} at t={t}: prometheus {a} vs meridian {b}"
    return None


# ---------------------------------------------------------------------------


def load_queries(path):
    """Lines of `query` or `prometheus2 query => meridian query`; # comments."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if " => " in line:
                p, m = (s.strip() for s in line.split(" => ", 1))
            else:
                p = m = line
            out.append((line, p, m))
    return out


def load_expected(path):
    out = set()
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.strip() and not line.startswith("#"):
                    out.add(line.split("\t")[0].strip())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meridian", required=True, help="path to the meridian binary")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--queries", default=os.path.join(HERE, "queries.txt"))
    ap.add_argument("--expected", default=os.path.join(HERE, "expected_differences.txt"),
                    help="queries known to differ (one query line, optionally TAB reason)")
    ap.add_argument("--write-expected", help="write the differing queries to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()

    for what, path in (("prometheus", args.prometheus), ("meridian", args.meridian)):
        if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"SKIP: {what} binary not found at {path}")
            return SKIP

    queries = load_queries(args.queries)
    expected = load_expected(args.expected)
    tmp = tempfile.mkdtemp(prefix="promql-differential-")
    servers = []
    try:
        now_ms = int(time.time()) * 1000
        base_ms = (now_ms // 3_600_000) * 3_600_000 - 3 * 3_600_000  # whole hour, 3h ago
        series = generate(base_ms)
        nsamples = sum(len(s) for _, s in series)

        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        pport, mport = free_port(), free_port()
        servers.append(Server("prometheus", [
            args.prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/prometheus",
            f"--web.listen-address=127.0.0.1:{pport}", "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=30d", "--log.level=warn",
        ], f"http://127.0.0.1:{pport}", "/-/ready", os.path.join(tmp, "prometheus.log")))
        servers.append(Server("meridian", [
            args.meridian, "--listen", f"127.0.0.1:{mport}", "--data-dir", f"{tmp}/meridian",
        ], f"http://127.0.0.1:{mport}", "/-/ready", os.path.join(tmp, "meridian.log")))
        prom, mer = servers

        # In time order, 5 minutes at a time: Prometheus rejects samples older than
        # its head's newest sample minus 1h ("out of bounds").
        window_ms = 5 * 60 * 1000
        for w in range(base_ms, base_ms + SPAN_S * 1000, window_ms):
            batch = [(lbl, [s for s in ss if w <= s[0] < w + window_ms]) for lbl, ss in series]
            batch = [(lbl, ss) for lbl, ss in batch if ss]
            prom.write(batch)
            mer.write(batch)
        print(f"wrote {len(series)} series, {nsamples} samples to both (base {base_ms} ms)")

        sec = 1000
        # Query times are whole seconds and never at :30 past a minute (see queries.txt).
        # 61m20s and 66m10s fall in a scrape gap of one node (before and after its
        # last sample leaves the 5m lookback window).
        instants = [base_ms + 37 * 60 * sec, base_ms + 61 * 60 * sec + 20 * sec,
                    base_ms + 66 * 60 * sec + 10 * sec, base_ms + 93 * 60 * sec + 7 * sec,
                    base_ms + 2 * 3600 * sec + 31 * 60 * sec]
        ranges = [(base_ms + 10 * 60 * sec, base_ms + 2 * 3600 * sec + 38 * 60 * sec, 60),
                  (base_ms + 55 * 60 * sec, base_ms + 75 * 60 * sec, 20)]

        passed = failed = expected_failed = 0
        differing, empty_everywhere = [], []
        for line, pq, mq in queries:
            ordered = pq.lstrip("(").startswith(("sort(", "sort_desc("))
            problem, had_data = None, False
            for t in instants:
                p = prom.query("/api/v1/query", {"query": pq, "time": f"{t / 1000:.3f}"})
                m = mer.query("/api/v1/query", {"query": mq, "time": f"{t / 1000:.3f}"})
                had_data |= has_data(p)
                problem = compare(p, m, ordered)
                if problem:
                    problem = f"instant at {t / 1000:.3f}: {problem}"
                    break
            if not problem:
                for start, end, step in ranges:
                    params = {"start": f"{start / 1000:.3f}", "end": f"{end / 1000:.3f}", "step": str(step)}
                    p = prom.query("/api/v1/query_range", {"query": pq, **params})
                    m = mer.query("/api/v1/query_range", {"query": mq, **params})
                    had_data |= has_data(p)
                    problem = compare(p, m, False)
                    if problem:
                        problem = f"range {params}: {problem}"
                        break
            if not had_data:
                empty_everywhere.append(line)
            if problem is None:
                passed += 1
                if args.verbose:
                    print(f"PASS {line}")
                if line in expected:
                    print(f"note: now agrees, remove from expected_differences.txt: {line}")
                continue
            differing.append((line, problem))
            if line in expected:
                expected_failed += 1
                if args.verbose:
                    print(f"DIFF (expected) {line}\n  {problem}")
            else:
                failed += 1
                print(f"DIFF {line}\n  {problem}")
        if args.write_expected:
            with open(args.write_expected, "w") as f:
                f.write("# Queries on which meridian and Prometheus currently disagree (see differential_test.py).\n"
                        "# One query line as in queries.txt, a TAB, the first difference. Regenerate with\n"
                        "# differential_test.py --meridian BIN --write-expected expected_differences.txt\n")
                for line, problem in differing:
                    f.write(f"{line}\t{problem[:200]}\n")
            print(f"wrote {len(differing)} differing queries to {args.write_expected}")
        print(f"{len(empty_everywhere)} queries had no data or failed on Prometheus at every time"
              + (": " + "; ".join(empty_everywhere) if args.verbose else " (--verbose lists them)"))
        print(f"promql differential: {passed} agree, {failed} differ unexpectedly, "
              f"{expected_failed} differ as expected ({len(queries)} queries)")
        return 1 if failed and not args.write_expected else 0
    except RuntimeError as e:
        print(f"FAIL: {e}")
        for s in servers:
            s.log.flush()
            try:
                with open(s.log.name, "rb") as f:
                    print(f"--- {s.name} log (tail) ---\n{f.read()[-2000:].decode(errors='replace')}")
            except OSError:
                pass
        return 1
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
