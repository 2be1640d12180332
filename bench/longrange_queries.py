#!/usr/bin/env python3
"""Query phase of bench/longrange_bench.sh (python3 stdlib only).

Runs the dashboard items (QUERIES x RANGES: 21 expressions over 30 days at a
1 h step and over 7 days at a 5 m step = 42 items) as /api/v1/query_range
against every server, one keep-alive connection per server, one request at
a time. One untimed warm-up pass, then --reps timed passes; in each pass the
servers take turns item by item (the order rotates), so machine noise hits
all of them alike. A request's time is the client's: sending it and reading
the whole body (JSON decoding is not timed). Reports the median time per
item and the median of the per-pass totals per server.

Checks every answer of --check (meridian) against --reference (Prometheus):
same series, same timestamps, and each value within the item's tolerance:
  rate      rate/increase/histogram_quantile and ratios of rates: 1 % when
            every window is >= 1 h, 2 % when a window is 5 m
  exact     *_over_time aggregates over windows aligned to the step and plain
            selectors: equal up to 1e-9 relative (float summation order)
Mismatches are reported (count, worst relative difference, an example), not
hidden; the exit status is 0 either way unless a request fails.

  longrange_queries.py --server meridian=http://127.0.0.1:P1 --server vm=... \\
      --server prometheus=... --end UNIX_S [--reps 3] [--params meridian=max_source_resolution=auto]
"""
import argparse
import http.client
import json
import math
import re
import statistics
import sys
import time
import urllib.parse

# name, PromQL with {W} = the range's window (the step), tolerance class.
QUERIES = [
    ("req_rate_by_region", 'sum by (region) (rate(http_requests_total[{W}]))', "rate"),
    ("req_increase_by_code", 'sum by (code) (increase(http_requests_total[{W}]))', "rate"),
    ("error_ratio",
     'sum(rate(http_requests_total{{code="500"}}[{W}])) / sum(rate(http_requests_total[{W}]))',
     "rate"),
    ("p99_latency",
     'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[{W}])))',
     "rate"),
    ("p50_latency_by_handler",
     'histogram_quantile(0.5, sum by (le, handler) '
     '(rate(http_request_duration_seconds_bucket[{W}])))', "rate"),
    ("avg_latency",
     'sum by (region) (rate(http_request_duration_seconds_sum[{W}]))'
     ' / sum by (region) (rate(http_request_duration_seconds_count[{W}]))', "rate"),
    ("cpu_by_mode", 'sum by (mode) (rate(node_cpu_seconds_total[{W}]))', "rate"),
    ("cpu_busy_by_instance",
     '1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{W}]))', "rate"),
    ("process_cpu", 'rate(process_cpu_seconds_total[{W}])', "rate"),
    ("gc_increase", 'increase(go_gc_duration_seconds_count[{W}])', "rate"),
    ("net_rx_max_by_region",
     'max by (region) (rate(node_network_receive_bytes_total[{W}]))', "rate"),
    ("req_rate_5m_window", 'sum by (region) (rate(http_requests_total[5m]))', "rate"),
    ("req_increase_1d", 'sum(increase(http_requests_total[1d]))', "rate"),
    ("mem_avail_avg", 'avg_over_time(node_memory_MemAvailable_bytes[{W}])', "exact"),
    ("rss_max", 'max_over_time(process_resident_memory_bytes[{W}])', "exact"),
    ("fs_avail_min", 'min_over_time(node_filesystem_avail_bytes[{W}])', "exact"),
    ("goroutines_max_by_region", 'max by (region) (max_over_time(go_goroutines[{W}]))', "exact"),
    ("load_avg_by_region", 'avg by (region) (avg_over_time(node_load1[{W}]))', "exact"),
    ("tcp_sum_over_time", 'sum_over_time(node_sockstat_TCP_inuse[{W}])', "exact"),
    ("heap_samples", 'sum(count_over_time(go_memstats_heap_inuse_bytes[{W}]))', "exact"),
    ("open_fds_by_region", 'sum by (region) (process_open_fds)', "exact"),
]

# name, length in seconds, step in seconds, window.
RANGES = [("30d", 30 * 86400, 3600, "1h"), ("7d", 7 * 86400, 300, "5m")]


def windows_s(query):
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return [int(n) * unit[u] for n, u in re.findall(r"\[(\d+)([smhd])\]", query)]


def tolerance(cls, query):
    """1e-9 for exact items; for rates 2 % when a window is shorter than 1 h, else 1 %."""
    if cls == "exact":
        return 1e-9
    return 0.02 if min(windows_s(query)) < 3600 else 0.01


class Server:
    def __init__(self, name, url, params, timeout):
        u = urllib.parse.urlparse(url)
        self.name, self.host, self.port = name, u.hostname, u.port
        self.params, self.timeout = params, timeout
        self.conn = None

    def get(self, path, params):
        query = urllib.parse.urlencode(list(params.items()) + self.params)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path + "?" + query)
                resp = self.conn.getresponse()
                body = resp.read()
                return time.perf_counter() - t0, resp.status, body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise


def matrix(body):
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise ValueError("error answer: %s" % body[:300])
    out = {}
    for s in doc["data"]["result"]:
        key = tuple(sorted(s["metric"].items()))
        out[key] = {int(t): float(v) for t, v in s["values"]}
    return out, doc.get("infos") or doc.get("data", {}).get("infos") or [], doc.get("warnings", [])


def compare(got, want, tol, edge):
    """Returns (points compared, mismatches, worst relative difference, example,
    edge points, edge points outside tol, worst edge difference). Points for
    which edge(t) holds are counted apart and held to 10 %."""
    n = bad = n_edge = bad_edge = 0
    worst, worst_edge, example = 0.0, 0.0, None
    for key in sorted(set(got) | set(want)):
        g, w = got.get(key, {}), want.get(key, {})
        for t in sorted(set(g) | set(w)):
            if edge(t) and t in g and t in w:
                n_edge += 1
                a, b = g[t], w[t]
                if a != b and not (math.isnan(a) and math.isnan(b)):
                    rel = abs(a - b) / max(abs(a), abs(b))
                    worst_edge = max(worst_edge, rel)
                    if not rel <= 0.1:
                        bad_edge += 1
                continue
            n += 1
            if t not in g or t not in w:
                bad += 1
                if example is None:
                    example = "%s @%d: %s vs %s" % (dict(key), t, g.get(t, "missing"),
                                                    w.get(t, "missing"))
                worst = math.inf
                continue
            a, b = g[t], w[t]
            if math.isnan(a) and math.isnan(b):
                continue
            if a == b:
                continue
            rel = abs(a - b) / max(abs(a), abs(b))
            if math.isnan(rel):
                rel = math.inf
            worst = max(worst, rel)
            if rel > tol:
                bad += 1
                if example is None:
                    example = "%s @%d: %r vs %r (%.3g)" % (dict(key), t, a, b, rel)
    return n, bad, worst, example, n_edge, bad_edge, worst_edge


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", required=True, help="name=url")
    ap.add_argument("--params", action="append", default=[], help="name=k=v (extra parameter)")
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--check", default="meridian")
    ap.add_argument("--reference", default="prometheus")
    ap.add_argument("--only", default="")
    ap.add_argument("--data-start", type=int, default=0,
                    help="unix ms of the first scrape: rate steps whose window holds it are edge points")
    ap.add_argument("--json")
    a = ap.parse_args()

    extra = {}
    for p in a.params:
        name, kv = p.split("=", 1)
        k, v = kv.split("=", 1)
        extra.setdefault(name, []).append((k, v))
    servers = []
    for s in a.server:
        name, url = s.split("=", 1)
        servers.append(Server(name, url, extra.get(name, []), a.timeout))
    only = set(a.only.split(",")) if a.only else None

    items = []
    for rname, length, step, window in RANGES:
        end = a.end // step * step
        for qname, tmpl, cls in QUERIES:
            name = "%s@%s" % (qname, rname)
            if only and qname not in only and name not in only:
                continue
            items.append({"name": name, "range": rname, "query": tmpl.format(W=window),
                          "params": {"start": end - length, "end": end, "step": step},
                          "tol": tolerance(cls, tmpl.format(W=window)), "class": cls})

    load_before = open("/proc/loadavg").read().split()[:3]
    times = {s.name: {it["name"]: [] for it in items} for s in servers}
    totals = {s.name: [] for s in servers}
    last = {}
    for rep in range(a.reps + 1):
        pass_total = {s.name: 0.0 for s in servers}
        for i, it in enumerate(items):
            order = servers[i % len(servers):] + servers[:i % len(servers)]
            for s in order:
                dt, status, body = s.get("/api/v1/query_range",
                                         dict(it["params"], query=it["query"]))
                if status != 200:
                    sys.exit("%s %s: HTTP %d: %s" % (s.name, it["name"], status, body[:300]))
                pass_total[s.name] += dt
                if rep > 0:
                    times[s.name][it["name"]].append(dt)
                last[(s.name, it["name"])] = body
        if rep > 0:
            for s in servers:
                totals[s.name].append(pass_total[s.name])
        print("pass %d%s: %s" % (rep, " (warm-up)" if rep == 0 else "", ", ".join(
            "%s %.2f s" % (n, t) for n, t in pass_total.items())), file=sys.stderr)
    load_after = open("/proc/loadavg").read().split()[:3]

    names = [s.name for s in servers]
    results = []
    for it in items:
        row = {"name": it["name"], "query": it["query"], "class": it["class"], "tol": it["tol"],
               "ms": {n: 1000 * statistics.median(times[n][it["name"]]) for n in names}}
        if a.check in names and a.reference in names:
            got, infos, warns = matrix(last[(a.check, it["name"])])
            want, _, _ = matrix(last[(a.reference, it["name"])])
            edge = lambda t: False
            if it["class"] != "exact":
                first = a.data_start / 1000 + 16
                edge = lambda t, w=max(windows_s(it["query"])): t - w < first
            n, bad, worst, example, n_edge, bad_edge, worst_edge = compare(
                got, want, it["tol"], edge)
            row.update(points=n, mismatches=bad, worst_rel=worst, example=example,
                       edge_points=n_edge, edge_outside_10pct=bad_edge, worst_edge=worst_edge,
                       series=len(want), infos=infos, warnings=warns)
        results.append(row)

    # Table.
    hdr = "| item | " + " | ".join("%s ms" % n for n in names)
    if "meridian" in names and "vm" in names:
        hdr += " | m/VM"
    hdr += " | series | points | tol | mismatches | worst rel. diff |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for r in results:
        line = "| %s | " % r["name"] + " | ".join("%.1f" % r["ms"][n] for n in names)
        if "meridian" in names and "vm" in names:
            line += " | %.2f" % (r["ms"]["meridian"] / r["ms"]["vm"] if r["ms"]["vm"] else 0)
        if "points" in r:
            line += " | %d | %d | %g | %d | %.2g |" % (r["series"], r["points"], r["tol"],
                                                       r["mismatches"], r["worst_rel"])
        else:
            line += " | | | | | |"
        print(line)
    print()
    for rname, _, _, _ in RANGES:
        sub = [r for r in results if r["name"].endswith("@" + rname)]
        if sub:
            print("sum of medians, %s items (%d): %s" % (rname, len(sub), ", ".join(
                "%s %.3f s" % (n, sum(r["ms"][n] for r in sub) / 1000) for n in names)))
    med = {n: statistics.median(totals[n]) for n in names}
    print("total per pass, all %d items (median of %d passes): %s" % (
        len(items), a.reps, ", ".join("%s %.3f s" % (n, med[n]) for n in names)))
    if "meridian" in names and "vm" in names and med["meridian"] > 0:
        print("meridian:VM speed-up %.1fx; meridian:Prometheus %.1fx" % (
            med["vm"] / med["meridian"],
            med.get("prometheus", 0) / med["meridian"]))
    if any("points" in r for r in results):
        bad = [r for r in results if r.get("mismatches")]
        print("answers %s vs %s: %d of %d items within tolerance; %d points compared, %d outside" % (
            a.check, a.reference, len(results) - len(bad), len(results),
            sum(r["points"] for r in results), sum(r["mismatches"] for r in results)))
        print("  edge points (the window holds the series' first scrape: Prometheus 3's "
              "extrapolation order, PR 13725, differs from 2.42's): %d, worst rel. diff %.3g, "
              "%d beyond 10 %%" % (sum(r["edge_points"] for r in results),
                                   max(r["worst_edge"] for r in results),
                                   sum(r["edge_outside_10pct"] for r in results)))
        for r in bad:
            print("  MISMATCH %s (tol %g): %d of %d points, worst %.3g; e.g. %s" % (
                r["name"], r["tol"], r["mismatches"], r["points"], r["worst_rel"], r["example"]))
        infos = sorted({str(i) for r in results for i in r.get("infos", [])})
        for i in infos[:20]:
            print("  %s infos: %s" % (a.check, i))
    print("load average before/after the query phase: %s / %s" % (
        " ".join(load_before), " ".join(load_after)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"items": results, "totals": totals, "load_before": load_before,
                       "load_after": load_after}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
