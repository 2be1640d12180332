#!/usr/bin/env python3
"""CI-sized accuracy check of bench/longrange_bench.sh: meridian's answers over
downsampled data against Prometheus 2.42's over the same raw data.

Data: meridian-longrange-gen, 2 days x 1 target (82 series: counters with
resets, gauges, classic histograms; 15 s scrapes), one day on each side of a
boundary of the compactor's 10-day 1h blocks (so 1 to 11 days old).
Prometheus gets it as promtool-made TSDB blocks, meridian by remote-write
(oldest first, 2-hour requests) and then one compactor pass with the
downsampling ages shortened (5m after 6 h, 1h after 24 h): the first day then has
raw, 5m and 1h data, the second raw and 5m data. The dashboard items of bench/longrange_queries.py run
over 2 days at a 1 h step and over 1 day at a 5 m step (meridian with
max_source_resolution=auto), and every answer must agree with Prometheus's
within the issue's tolerances: 1 % for rate/increase windows of 1 h and more,
2 % for 5 m windows, 1e-9 relative for the *_over_time aggregates and plain
selectors; steps whose rate window holds the series' first scrape ("edge"
points, where Prometheus 3's extrapolation order differs from 2.42's) within
10 %.

  longrange_accuracy_test.py --meridian build/release/server/meridian \
      --gen build/release/bench/meridian-longrange-gen

Exit status 0: passed; 1: failed; 77: skipped (prints why).
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import longrange_queries as lq  # noqa: E402

RANGES = [("2d", 2 * 86400, 3600, "1h"), ("1d", 86400, 300, "5m")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, path, method="GET", timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def wait_ready(port, proc, what):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("FAIL: %s exited with %d" % (what, proc.returncode))
        try:
            if request(port, "/-/ready", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("FAIL: %s not ready within 60 s" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--params", default="max_source_resolution=auto",
                    help="extra query parameters for meridian")
    ap.add_argument("--require-downsampled", action="store_true",
                    help="fail unless some answers say (infos) that downsampled data answered")
    a = ap.parse_args()
    for b in (a.prometheus, a.promtool):
        if not os.access(b, os.X_OK):
            print("SKIP: no %s (Debian's prometheus package)" % b)
            return 77
    t_start = time.time()
    work = tempfile.mkdtemp(prefix="longrange-accuracy-")
    procs = []
    try:
        # The compactor makes 1h data in 10-day blocks aligned to the epoch: the data
        # straddles such a boundary B (the first day before it gets 1h windows, the
        # day after it 5m ones), B + 1 day at least 10 min in the past.
        block_1h = 10 * 86400000
        end_ms = (int(time.time() * 1000) - 600000 - 86400000) // block_1h * block_1h + 86400000
        gen = [a.gen, "--days", "2", "--targets", "1", "--end-ms", str(end_ms)]
        om = os.path.join(work, "data.om")
        out = subprocess.run(gen + ["--openmetrics", om], check=True, capture_output=True,
                             text=True).stdout
        data_start = int(out.split("start_ms=")[-1].split()[0])
        subprocess.run([a.promtool, "tsdb", "create-blocks-from", "openmetrics",
                        "--max-block-duration=1458h", "-q", om, os.path.join(work, "prom")],
                       check=True, capture_output=True)
        os.remove(om)
        print("prometheus blocks made: %.1f s" % (time.time() - t_start))
        pport, mport = free_port(), free_port()
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        procs.append(subprocess.Popen(
            [a.prometheus, "--config.file=" + os.path.join(work, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "prom"),
             "--storage.tsdb.retention.time=10y", "--web.listen-address=127.0.0.1:%d" % pport],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        mlog = open(os.path.join(work, "meridian.log"), "wb")
        procs.append(subprocess.Popen(
            [a.meridian, "--listen", "127.0.0.1:%d" % mport, "--data-dir",
             os.path.join(work, "meridian"), "--downsample-5m-after", "6h",
             "--downsample-1h-after", "24h", "--compact-interval", "0"],
            stdout=mlog, stderr=subprocess.STDOUT))
        wait_ready(pport, procs[0], "prometheus")
        wait_ready(mport, procs[1], "meridian")
        r = subprocess.run(gen + ["--url", "http://127.0.0.1:%d/api/v1/write" % mport],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: backfill: %s" % r.stdout[-500:])
            return 1
        status, body = request(mport, "/internal/compact", "POST", timeout=300)
        if status != 200:
            print("FAIL: /internal/compact: HTTP %d %s" % (status, body[:300]))
            return 1
        print("backfilled and compacted: %.1f s" % (time.time() - t_start))
        summary = json.loads(body)["data"]
        print("compactor pass: %s" % json.dumps(summary))
        failed = []
        if summary["blocks5m"] == 0 or summary["blocks1h"] == 0 or summary["failures"]:
            failed.append("the pass should downsample to 5m and 1h without failures")

        extra = urllib.parse.parse_qsl(a.params)
        n_items = n_points = n_downsampled = 0
        for rname, length, step, window in RANGES:
            end = end_ms // 1000 // step * step
            for qname, tmpl, cls in lq.QUERIES:
                query = tmpl.format(W=window)
                params = {"query": query, "start": end - length, "end": end, "step": step}
                answers = {}
                for name, port, more in (("meridian", mport, extra), ("prometheus", pport, [])):
                    status, body = request(port, "/api/v1/query_range?" + urllib.parse.urlencode(
                        list(params.items()) + more))
                    if status != 200:
                        failed.append("%s@%s: %s HTTP %d %s" % (qname, rname, name, status,
                                                               body[:200]))
                        break
                    answers[name], infos, _ = lq.matrix(body)
                    if name == "meridian" and any("downsampled" in i for i in infos):
                        n_downsampled += 1
                if len(answers) < 2:
                    continue
                tol = lq.tolerance(cls, query)
                edge = lambda t: False
                if cls != "exact":
                    edge = (lambda t, w=max(lq.windows_s(query)):
                            t - w < data_start / 1000 + 16)
                n, bad, worst, example, n_edge, bad_edge, worst_edge = lq.compare(
                    answers["meridian"], answers["prometheus"], tol, edge)
                n_items += 1
                n_points += n
                if n == 0:
                    failed.append("%s@%s: empty answers" % (qname, rname))
                if bad or bad_edge:
                    failed.append("%s@%s (tol %g): %d of %d points outside, worst %.3g, "
                                  "%d edge points beyond 10 %%; e.g. %s" % (
                                      qname, rname, tol, bad, n, worst, bad_edge, example))
        print("%d items, %d points compared in %.1f s; %d answers from downsampled data" % (
            n_items, n_points, time.time() - t_start, n_downsampled))
        if a.require_downsampled and n_downsampled == 0:
            failed.append("no answer came from downsampled data (no infos entry says so)")
        # meridian must stop cleanly (under ASan: no error or leak report).
        procs[1].terminate()
        try:
            rc = procs[1].wait(timeout=60)
        except subprocess.TimeoutExpired:
            procs[1].kill()
            rc = "killed after 60 s"
        if rc != 0:
            mlog.flush()
            with open(os.path.join(work, "meridian.log"), "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            failed.append("meridian exited with %s after SIGTERM; its log ends:\n%s" % (rc, tail))
        for f in failed:
            print("FAIL:", f)
        return 1 if failed else 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
