#!/usr/bin/env python3
"""Query phase of bench/query_bench.sh (python3 stdlib only).

Given running servers that hold the same meridian-loadgen data, runs each
dashboard-style query as /api/v1/query_range over [--start, --end] at --step,
--reps times per server (the first run of each server is a warm-up and is
discarded), interleaving the servers run by run so machine noise hits all of
them alike. Times each HTTP request from the client (perf_counter around the
request and reading the whole body; JSON decoding is not timed). Checks that
the answers agree: meridian against Prometheus strictly (same label sets,
same points, values within --rel-tol relative), VictoriaMetrics loosely (same
series count; value differences are reported, not failed, because VM computes
rate/increase without Prometheus's extrapolation). Reads peak RSS (VmHWM) of
each server PID after the query phase. Prints a table and writes JSON.

  query_bench.py --server meridian=http://127.0.0.1:P1,PID1 \
                 --server vm=http://127.0.0.1:P2,PID2 \
                 --server prometheus=http://127.0.0.1:P3,PID3 \
                 --start MS --end MS [--step 60] [--reps 7] [--json out.json]
"""
import argparse
import json
import math
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# name, PromQL. {SPAN} is replaced by the loaded span (e.g. 30m).
# name, PromQL, range of its rate/increase window in ms (None: no
# extrapolation, compared strictly everywhere; "SPAN": the loaded span). {SPAN} in the query is replaced by the loaded span (e.g. 30m).
QUERIES = [
    ("rate_sum_by_region",
     'sum by (region) (rate(http_requests_total[5m]))', 300000),
    ("hist_p99_by_region",
     'histogram_quantile(0.99, sum by (le, region) (rate(http_request_duration_seconds_bucket[5m])))',
     300000),
    ("topk10_pods",
     'topk(10, sum by (pod) (rate(http_requests_total[5m])))', 300000),
    ("regex_pod_5xx",
     'sum by (namespace) (rate(http_requests_total{pod=~"(api-gateway|order-service)-.*", code=~"5.."}[5m]))',
     300000),
    ("error_ratio_binop",
     'sum by (region, namespace) (rate(http_requests_total{code="500"}[5m]))'
     ' / sum by (region, namespace) (rate(http_requests_total[5m]))', 300000),
    ("sum_region_mode_40pct",
     'sum by (region, mode) (rate({__name__=~"node_cpu_seconds_total|http_requests_total"}[5m]))',
     300000),
    ("gauge_avg_by_ns",
     'avg by (region, namespace) (process_resident_memory_bytes)', None),
    ("whole_span_increase",
     'sum by (region, cluster) (increase(node_cpu_seconds_total[{SPAN}]))', "SPAN"),
    ("whole_span_max_over_time",
     'max by (region, namespace) (max_over_time(go_memstats_heap_inuse_bytes[{SPAN}]))', None),
]

SERVERS = ("meridian", "vm", "prometheus")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--server", action="append", required=True,
                   help="name=URL,PID (name: meridian, vm, prometheus)")
    p.add_argument("--start", type=int, required=True, help="ms")
    p.add_argument("--end", type=int, required=True, help="ms")
    p.add_argument("--step", type=int, default=60, help="seconds")
    p.add_argument("--span", default=None, help="range of the whole-span query, e.g. 30m")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    p.add_argument("--budget", type=float, default=1800.0,
                   help="stop timing further runs after this many seconds")
    p.add_argument("--rel-tol", type=float, default=1e-6)
    p.add_argument("--edge-rel-tol", type=float, default=0.1,
                   help="tolerance where a rate window holds the first samples of the series")
    p.add_argument("--data-start", type=int, default=None,
                   help="ms of the first scrape round (default --start)")
    p.add_argument("--scrape-ms", type=int, default=15000)
    p.add_argument("--no-shift", action="store_true",
                   help="do not shift the range off sample timestamps (see boundary_shift)")
    p.add_argument("--only", default=None, help="comma-separated query names")
    p.add_argument("--json", default=None)
    return p.parse_args()


def hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_query(base, query, start_ms, end_ms, step_s, timeout):
    """Returns (seconds, parsed JSON or None, error string or None)."""
    params = urllib.parse.urlencode({
        "query": query,
        "start": f"{start_ms / 1000:.3f}",
        "end": f"{end_ms / 1000:.3f}",
        "step": str(step_s),
    })
    url = f"{base}/api/v1/query_range?{params}"
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
        dt = time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        dt = time.perf_counter() - t0
        return dt, None, f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"
    except Exception as e:  # network error, timeout
        dt = time.perf_counter() - t0
        return dt, None, f"{type(e).__name__}: {e}"
    try:
        doc = json.loads(body)
    except ValueError as e:
        return dt, None, f"bad JSON: {e}"
    if doc.get("status") != "success":
        return dt, None, f"status {doc.get('status')}: {doc.get('error')}"
    return dt, doc, None


def to_float(s):
    return float(s)  # handles "NaN", "+Inf", "-Inf"


def series_map(doc):
    """frozenset(labels) -> {ts_ms: value}."""
    out = {}
    for s in doc["data"]["result"]:
        key = frozenset(s["metric"].items())
        pts = {int(round(float(t) * 1000)): to_float(v) for t, v in s.get("values", [])}
        out[key] = pts
    return out


def rel_diff(a, b):
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    if a == b:
        return 0.0
    if math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def compare(ref, other, rel_tol, edge=lambda t: False, edge_rel_tol=0.1):
    """Compares two series maps. Points at timestamps where edge(t) holds (a
    rate window containing the series' first samples) are held to
    edge_rel_tol and counted apart. Returns a dict of findings."""
    rk, ok = set(ref), set(other)
    common = rk & ok
    res = {
        "series_ref": len(rk), "series_other": len(ok),
        "only_ref": len(rk - ok), "only_other": len(ok - rk),
        "points_compared": 0, "points_only_ref": 0, "points_only_other": 0,
        "points_over_tol": 0, "max_rel": 0.0, "median_rel": 0.0,
        "edge_points": 0, "edge_over_tol": 0, "edge_over_edge_tol": 0, "edge_max_rel": 0.0,
        "edge_only_points": 0,
        "examples": [],
    }
    rels = []
    for key in sorted(common, key=lambda k: sorted(k)):
        a, b = ref[key], other[key]
        for t in set(a) ^ set(b):
            if edge(t):
                res["edge_only_points"] += 1
            elif t in a:
                res["points_only_ref"] += 1
            else:
                res["points_only_other"] += 1
        for t in sorted(set(a) & set(b)):
            d = rel_diff(a[t], b[t])
            if edge(t):
                res["edge_points"] += 1
                res["edge_max_rel"] = max(res["edge_max_rel"], d)
                if d > rel_tol:
                    res["edge_over_tol"] += 1
                if d > edge_rel_tol:
                    res["edge_over_edge_tol"] += 1
                continue
            rels.append(d)
            if d > rel_tol:
                res["points_over_tol"] += 1
                if len(res["examples"]) < 3:
                    res["examples"].append({"labels": dict(sorted(key)), "t": t / 1000,
                                            "ref": a[t], "other": b[t]})
    res["points_compared"] = len(rels)
    if rels:
        res["max_rel"] = max(rels)
        res["median_rel"] = statistics.median(rels)
    # A series present in one answer only counts as a difference unless all
    # its points are edge points (e.g. topk picking differently there).
    for side, keys, m in (("ref", rk - ok, ref), ("other", ok - rk, other)):
        hard = [k for k in keys if not all(edge(t) for t in m[k])]
        res["edge_only_points"] += sum(len(m[k]) for k in keys if k not in hard)
        res["only_" + side] = len(hard)
        for key in sorted(hard, key=lambda k: sorted(k))[:2]:
            res["examples"].append({"only_in_" + side: dict(sorted(key)),
                                    "points": sorted((t / 1000, v) for t, v in m[key].items())[:5]})
    return res


def boundary_shift(base, start_ms, end_ms, scrape_ms):
    """Every target's samples sit at the same millisecond offset (+-3 ms
    jitter) in each 15 s scrape round. If a sample lands exactly on a window
    boundary (t - 5m, t - lookback), Prometheus 2.42 (closed range [t-r, t])
    and meridian (left-open (t-r, t], as Prometheus 3) legitimately differ.
    So the evaluation times are shifted by the middle of the widest gap
    between the targets' offsets: no sample within +-3 ms of any boundary.
    Windows and the step are multiples of the scrape interval, so one
    residue per target suffices. Returns (shift ms, margin ms)."""
    q = 'http_requests_total{code="200",handler="/healthz",method="GET"}[%ds]' % (scrape_ms // 1000)
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{end_ms / 1000:.3f}"})
    with urllib.request.urlopen(url, timeout=120) as r:
        doc = json.load(r)
    res = sorted({(int(round(float(t) * 1000)) - start_ms) % scrape_ms
                  for s in doc["data"]["result"] for t, _ in s["values"]})
    if not res:
        return 0, None
    best, best_gap = 0, -1
    for i, r in enumerate(res):
        nxt = res[i + 1] if i + 1 < len(res) else res[0] + scrape_ms
        if nxt - r > best_gap:
            best_gap, best = nxt - r, r
    shift = (best + best_gap // 2) % scrape_ms
    return shift, best_gap // 2


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt_ms(x):
    return "-" if x is None or math.isnan(x) else f"{x * 1000:.0f}"


def fmt_ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b <= 0:
        return "-"
    return f"{a / b:.2f}"


def main():
    a = parse_args()
    servers = {}
    for s in a.server:
        name, rest = s.split("=", 1)
        url, pid = rest.rsplit(",", 1)
        servers[name] = (url.rstrip("/"), int(pid))
    names = [n for n in SERVERS if n in servers]
    span = a.span or f"{max(1, (a.end - a.start) // 60000)}m"
    span_ms = (a.end - a.start) // 60000 * 60000 if not a.span else None
    if a.span:
        unit = {"s": 1000, "m": 60000, "h": 3600000}[a.span[-1]]
        span_ms = int(a.span[:-1]) * unit
    data_start = a.data_start if a.data_start is not None else a.start
    queries = [(n, q.replace("{SPAN}", span), span_ms if r == "SPAN" else r)
               for n, q, r in QUERIES]
    if a.only:
        want = set(a.only.split(","))
        queries = [x for x in queries if x[0] in want]

    if not a.no_shift and "prometheus" in servers:
        shift, margin = boundary_shift(servers["prometheus"][0], data_start, a.end, a.scrape_ms)
        print(f"evaluation times shifted by {shift} ms (nearest sample {margin} ms from a "
              f"window boundary)", file=sys.stderr)
        a.start += shift
        a.end += shift
    deadline = time.monotonic() + a.budget
    results = []
    ok_all = True
    for qname, q, range_ms in queries:
        print(f"-- {qname}: {q}", file=sys.stderr, flush=True)
        # Steps whose rate window holds the series' first scrape: there
        # meridian follows Prometheus 3's extrapolation order (durationToStart
        # capped at avg/2 before the zero-point check, prometheus PR #13725)
        # while Prometheus 2.42 does the zero-point check first; known and
        # listed in tests/promql/differential/expected_differences.txt.
        if range_ms:
            edge_end = data_start + a.scrape_ms + 1000
            edge = (lambda t, r=range_ms, e=edge_end: t - r < e)
        else:
            edge = (lambda t: False)
        times = {n: [] for n in names}
        answer = {}
        errors = {}
        for rep in range(a.reps):
            if rep > 1 and time.monotonic() > deadline:
                print("   time budget exhausted, fewer runs", file=sys.stderr)
                break
            # Rotate the order each run so no server always goes first.
            order = names[rep % len(names):] + names[:rep % len(names)]
            for n in order:
                if n in errors:
                    continue
                dt, doc, err = run_query(servers[n][0], q, a.start, a.end, a.step, a.timeout)
                if err:
                    errors[n] = err
                    print(f"   {n}: ERROR {err}", file=sys.stderr)
                    continue
                if rep == 0:
                    answer[n] = series_map(doc)  # warm-up run: keep the answer only
                else:
                    times[n].append(dt)
        row = {"name": qname, "query": q, "errors": errors, "runs": {}, "checks": {}}
        for n in names:
            ts = times[n]
            row["runs"][n] = {
                "median_s": statistics.median(ts) if ts else None,
                "p90_s": pct(ts, 0.9) if ts else None,
                "n": len(ts), "all_s": ts,
                "series": len(answer[n]) if n in answer else None,
            }
        if "prometheus" in answer:
            ref = answer["prometheus"]
            for n in ("meridian", "vm"):
                if n in answer:
                    row["checks"][n] = compare(ref, answer[n], a.rel_tol, edge, a.edge_rel_tol)
        strict = row["checks"].get("meridian")
        if strict is not None:
            row["meridian_agrees"] = (strict["only_ref"] == 0 and strict["only_other"] == 0
                                      and strict["points_only_ref"] == 0
                                      and strict["points_only_other"] == 0
                                      and strict["points_over_tol"] == 0
                                      and strict["edge_over_edge_tol"] == 0)
            ok_all &= row["meridian_agrees"]
        loose = row["checks"].get("vm")
        if loose is not None:
            row["vm_series_agree"] = loose["series_ref"] == loose["series_other"]
        for n in names:
            r = row["runs"][n]
            print(f"   {n:10s} median {fmt_ms(r['median_s'])} ms  p90 {fmt_ms(r['p90_s'])} ms"
                  f"  series {r['series']}", file=sys.stderr, flush=True)
        for n, c in row["checks"].items():
            print(f"   check {n} vs prometheus: series {c['series_other']}/{c['series_ref']},"
                  f" points {c['points_compared']}, over tol {c['points_over_tol']},"
                  f" max rel {c['max_rel']:.3g}, median rel {c['median_rel']:.3g}"
                  f"{', only-prom pts ' + str(c['points_only_ref']) if c['points_only_ref'] else ''}"
                  f"{', extra pts ' + str(c['points_only_other']) if c['points_only_other'] else ''}"
                  f"; edge points {c['edge_points']} (over tol {c['edge_over_tol']}, max rel"
                  f" {c['edge_max_rel']:.3g}, over edge tol {c['edge_over_edge_tol']},"
                  f" present on one side only {c['edge_only_points']})",
                  file=sys.stderr, flush=True)
            for ex in c["examples"][:3]:
                print(f"      e.g. {json.dumps(ex)}", file=sys.stderr)
        results.append(row)

    hwm = {n: hwm_kb(servers[n][1]) for n in names}

    # Table.
    def med(row, n):
        r = row["runs"].get(n)
        return r["median_s"] if r and r["median_s"] is not None else float("nan")

    def p90(row, n):
        r = row["runs"].get(n)
        return r["p90_s"] if r and r["p90_s"] is not None else float("nan")

    print()
    print(f"query_range over {(a.end - a.start) / 60000:.0f} min at step {a.step}s, "
          f"{a.reps - 1} timed runs per server (first run discarded); median (p90) ms")
    hdr = (f"{'query':24s} {'meridian':>13s} {'VM':>13s} {'Prometheus':>13s} "
           f"{'mer/VM':>7s} {'mer/Prom':>8s} {'series':>7s}  answers")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        cells = []
        for n in SERVERS:
            if n in names:
                cells.append(f"{fmt_ms(med(row, n))} ({fmt_ms(p90(row, n))})")
            else:
                cells.append("-")
        m = row["runs"].get("meridian", {}).get("series")
        verdict = []
        if "meridian_agrees" in row:
            c = row["checks"]["meridian"]
            tag = "mer=prom" if row["meridian_agrees"] else "MER!=PROM"
            if row["meridian_agrees"] and (c["edge_over_tol"] or c["edge_only_points"]):
                tag += f" (edge {c['edge_over_tol'] + c['edge_only_points']}/{c['edge_points'] + c['edge_only_points']} pts ~PR13725)"
            verdict.append(tag)
        if "vm" in row["checks"]:
            c = row["checks"]["vm"]
            if not row["vm_series_agree"]:
                verdict.append(f"vm series {c['series_other']}!={c['series_ref']}")
            elif c["points_over_tol"] or c["edge_over_tol"]:
                mx = max(c["max_rel"], c["edge_max_rel"])
                verdict.append(f"vm ~{c['median_rel']:.1e} (max {mx:.1e})" if c["points_compared"]
                               else f"vm max {mx:.1e}")
            else:
                verdict.append("vm=prom")
        if row["errors"]:
            verdict.append("errors: " + ",".join(row["errors"]))
        print(f"{row['name']:24s} {cells[0]:>13s} {cells[1]:>13s} {cells[2]:>13s} "
              f"{fmt_ratio(med(row, 'meridian'), med(row, 'vm')):>7s} "
              f"{fmt_ratio(med(row, 'meridian'), med(row, 'prometheus')):>8s} "
              f"{str(m) if m is not None else '-':>7s}  {'; '.join(verdict)}")
    print()
    print("peak RSS after the query phase (VmHWM, MiB): " + ", ".join(
        f"{n} {hwm[n] / 1024:.0f}" if hwm[n] else f"{n} -" for n in names))

    targets = []
    for row in results:
        m, v, p = med(row, "meridian"), med(row, "vm"), med(row, "prometheus")
        if not math.isnan(m):
            if not math.isnan(v) and m > v:
                targets.append(f"{row['name']}: meridian {m / v:.2f}x VM (target <= 1.00)")
            if not math.isnan(p) and m > 0.5 * p:
                targets.append(f"{row['name']}: meridian {m / p:.2f}x Prometheus (target <= 0.50)")
    print("targets: " + ("all met" if not targets else "MISSED\n  " + "\n  ".join(targets)))
    if not ok_all:
        print("CORRECTNESS: meridian's answer differs from Prometheus's on at least one query "
              "(see the check lines above)")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"data_start_ms": data_start, "start_ms": a.start, "end_ms": a.end, "step_s": a.step, "reps": a.reps,
                       "hwm_kb": hwm, "queries": results, "targets_missed": targets,
                       "meridian_agrees_all": ok_all}, f, indent=1)
    return 0 if ok_all else 3


if __name__ == "__main__":
    sys.exit(main())
