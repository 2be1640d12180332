#!/usr/bin/env python3
"""Runs every query of the Grafana dashboards in dashboards/ against a meridian
holding realistic data, the way Grafana would send them.

Data: a real Prometheus (Debian's 2.42) scrapes itself and meridian every
second and remote-writes both with external label region="us-west-2"; a small
generator remote-writes 30 minutes of multi-region series (four regions):
classic HTTP histograms and counters, up, node CPU, NVIDIA dcgm-exporter's
DCGM_FI_DEV_* gauges, gpu_queue_depth and kube-state-metrics' HPA series.

Then, per dashboard, as Grafana does: template variables are resolved in order
(label_values(label), label_values(selector, label) through the label values
API with match[], query_result(expr) through an instant query, then the
variable's regex), multi-value and All variables become a regex alternation
of their escaped values, $__interval / $__rate_interval / $__range are
substituted for a 30-minute time range, range queries are POSTed with start
and end aligned down to the step, instant queries at the range's end. Every
query must succeed with a non-empty answer. The dashboards' structure
(schemaVersion, fixed uids, the $datasource variable, panel datasources) and
the provisioning files are checked too.

  dashboards_test.py --meridian build/release/server/meridian --dashboards dashboards

Exit status 0: passed; 1: failed; 77: skipped (prints why).
"""
import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../pylib"))
import remote_write  # noqa: E402  (tests/pylib: protobuf + snappy by hand)

REGIONS = ["us-west-2", "us-east-1", "eu-west-1", "ap-southeast-1"]
PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_INTERVAL_S = 15   # the provisioned datasource's timeInterval
RANGE_S = 30 * 60        # the time range the panels are queried for
MAX_DATA_POINTS = 1000   # a panel about 1000 px wide

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def write_series(url, series):
    req = urllib.request.Request(url + "/api/v1/write", data=remote_write.encode(series),
                                 method="POST", headers=remote_write.HEADERS)
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status != 204:
            raise RuntimeError("remote-write answered %d" % r.status)


def generate(now_ms):
    """30 minutes at 15 s of the fleet's series in four regions."""
    step = 15_000
    times = [now_ms - RANGE_S * 1000 + i * step for i in range(RANGE_S * 1000 // step + 1)]
    series = []

    def add(labels, fn):
        series.append((labels, [(t, fn(i)) for i, t in enumerate(times)]))

    min_replicas = {"us-west-2": 6, "us-east-1": 4, "eu-west-1": 4, "ap-southeast-1": 2}
    for r_i, region in enumerate(REGIONS):
        for inst in range(3):
            target = {"job": "api", "instance": "10.%d.0.%d:8080" % (r_i, inst), "region": region,
                      "namespace": "quasim-platform"}
            down = region == "eu-west-1" and inst == 2
            add(dict(target, __name__="up"), lambda i, d=down: 0.0 if d and i > 60 else 1.0)
            add(dict(target, __name__="process_resident_memory_bytes"), lambda i: 2e8 + 1e6 * (i % 7))
            for handler in ("/api/v1/orders", "/api/v1/users"):
                for code, per_step in (("200", 150 + 10 * r_i), ("500", 2 + r_i)):
                    add(dict(target, __name__="http_requests_total", handler=handler, code=code),
                        lambda i, p=per_step: float(p * i))
                count = 100 + 5 * r_i
                cum = 0.0
                for le, share in (("0.05", 0.5), ("0.1", 0.2), ("0.25", 0.15), ("0.5", 0.1), ("1", 0.04), ("+Inf", 0.01)):
                    cum += share
                    add(dict(target, __name__="http_request_duration_seconds_bucket", handler=handler, le=le),
                        lambda i, c=cum: round(count * c) * float(i))
                add(dict(target, __name__="http_request_duration_seconds_count", handler=handler),
                    lambda i: count * float(i))
                add(dict(target, __name__="http_request_duration_seconds_sum", handler=handler),
                    lambda i: 0.09 * count * i)
            for cpu in range(2):
                for mode, per_step in (("idle", 9.0), ("user", 5.0), ("system", 1.0)):
                    add(dict(target, __name__="node_cpu_seconds_total", cpu=str(cpu), mode=mode),
                        lambda i, p=per_step: p * i)
        # GPU workers: three pods of two GPUs each, scraped by dcgm-exporter.
        for pod in range(3):
            for gpu in range(2):
                dcgm = {"job": "dcgm-exporter", "region": region, "gpu": str(gpu),
                        "UUID": "GPU-%02d%02d%02d" % (r_i, pod, gpu), "modelName": "NVIDIA A100-SXM4-80GB",
                        "Hostname": "gpu-node-%d" % pod, "namespace": "quasim-platform", "container": "worker",
                        "pod": "gpu-worker-%s-%d" % (region, pod), "instance": "10.%d.1.%d:9400" % (r_i, pod)}
                add(dict(dcgm, __name__="DCGM_FI_DEV_GPU_UTIL"), lambda i, k=pod + gpu: float((40 + 7 * k + i) % 100))
                add(dict(dcgm, __name__="DCGM_FI_DEV_FB_USED"), lambda i: 30000.0 + 100 * (i % 50))
                add(dict(dcgm, __name__="DCGM_FI_DEV_FB_FREE"), lambda i: 51920.0 - 100 * (i % 50))
                add(dict(dcgm, __name__="DCGM_FI_DEV_POWER_USAGE"), lambda i: 250.0 + (i % 30))
                add(dict(dcgm, __name__="DCGM_FI_DEV_GPU_TEMP"), lambda i: 60.0 + (i % 15))
        add({"__name__": "gpu_queue_depth", "region": region, "namespace": "quasim-platform",
             "deployment": "gpu-worker", "job": "gpu-queue"}, lambda i: float((i * 3) % 40))
        hpa = {"region": region, "namespace": "quasim-platform", "horizontalpodautoscaler": "gpu-worker",
               "job": "kube-state-metrics"}
        lo = min_replicas[region]
        add(dict(hpa, __name__="kube_horizontalpodautoscaler_spec_min_replicas"), lambda i: float(lo))
        add(dict(hpa, __name__="kube_horizontalpodautoscaler_spec_max_replicas"), lambda i: float(lo * 4))
        add(dict(hpa, __name__="kube_horizontalpodautoscaler_status_desired_replicas"), lambda i: float(lo + i % 5))
        add(dict(hpa, __name__="kube_horizontalpodautoscaler_status_current_replicas"), lambda i: float(lo + (i - 1) % 5))
    return series


# --- processes -----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, data=None, timeout=30):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(url, what, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            if http(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("%s not ready within %d s" % (what, seconds))


# --- Grafana's variable and macro handling --------------------------------------

def regex_escape(v):
    """prometheusSpecialRegexEscape: a value inside a PromQL "..." regex."""
    v = v.replace("\\", "\\\\\\\\")
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", v)


def format_var(var, values):
    if not var.get("multi") and not var.get("includeAll"):
        return values[0].replace("\\", "\\\\").replace("'", "\\'")
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text, scoped):
    def repl(m):
        name = m.group(1) or m.group(2)
        return scoped.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, text)


def nice_interval_s(seconds):
    # Grafana rounds the raw interval to a "nice" value (kbn.roundInterval).
    for limit, nice in ((0.015, 0.01), (0.035, 0.02), (0.075, 0.05), (0.15, 0.1), (0.35, 0.2), (0.75, 0.5),
                        (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60),
                        (450, 300), (900, 600), (2700, 1800), (5400, 3600), (9000, 7200), (16200, 10800),
                        (32400, 21600), (86400, 43200)):
        if seconds < limit:
            return nice
    return 86400


def dur(seconds):
    return "%dms" % round(seconds * 1000) if seconds < 1 else "%ds" % round(seconds)


def macros(start_s, end_s):
    rng = end_s - start_s
    interval = max(SCRAPE_INTERVAL_S, nice_interval_s(rng / MAX_DATA_POINTS))
    rate_interval = max(interval + SCRAPE_INTERVAL_S, 4 * SCRAPE_INTERVAL_S)
    return interval, {
        "__interval": dur(interval), "__interval_ms": str(int(interval * 1000)),
        "__rate_interval": dur(rate_interval), "__rate_interval_ms": str(int(rate_interval * 1000)),
        "__range": "%ds" % round(rng), "__range_s": str(round(rng)), "__range_ms": str(round(rng * 1000)),
        "datasource": "meridian",
    }


class Api:
    def __init__(self, base):
        self.base = base

    def call(self, path, params, what):
        status, body = http(self.base + path, params)
        try:
            j = json.loads(body)
        except ValueError:
            fail("%s: %s answered %d, not JSON: %s" % (what, path, status, body[:200]))
            return None
        if status != 200 or j.get("status") != "success":
            fail("%s: %s answered %d: %s" % (what, path, status, body[:300]))
            return None
        for w in j.get("warnings", []):
            print("  warning (%s): %s" % (what, w))
        return j["data"]


def variable_values(api, var, scoped, start_s, end_s):
    q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
    q = interpolate(q, scoped)
    what = "variable $%s: %s" % (var["name"], q)
    texts = []
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*", q, re.S)
    r = re.fullmatch(r"\s*query_result\((.+)\)\s*", q, re.S)
    if m:
        selector, label = m.group(1), m.group(2)
        params = {"start": str(int(start_s)), "end": str(int(end_s))}
        if selector:
            params["match[]"] = selector
        # GET only, as Grafana sends label values requests.
        data = api.call("/api/v1/label/%s/values?%s" % (label, urllib.parse.urlencode(params)), None, what)
        texts = data or []
    elif r:
        data = api.call("/api/v1/query", {"query": r.group(1), "time": "%.3f" % end_s}, what)
        for s in (data or {}).get("result", []) if isinstance(data, dict) else []:
            metric = dict(s["metric"])
            name = metric.pop("__name__", "")
            labels = ",".join('%s="%s"' % kv for kv in metric.items())
            texts.append('%s{%s} %s %d' % (name, labels, s["value"][1], round(float(s["value"][0]) * 1000)))
    else:
        fail("%s: not a query form Grafana's Prometheus datasource knows" % what)
        return []
    values = []
    regex = var.get("regex") or ""
    if regex:
        pattern = re.compile(regex[1:regex.rindex("/")])
        for t in texts:
            mm = pattern.search(t)
            if mm:
                values.append(mm.group(1) if mm.groups() else t)
    else:
        values = list(texts)
    values = sorted(set(values))
    if not values:
        fail("%s: no values" % what)
    return values


def run_dashboard(api, path, start_s, end_s):
    d = json.load(open(path))
    name = os.path.basename(path)
    interval, scoped = macros(start_s, end_s)
    # Variables, in order: later ones use earlier ones.
    for var in d["templating"]["list"]:
        if var["type"] == "datasource":
            continue
        values = variable_values(api, var, scoped, start_s, end_s)
        if not values:
            return 0
        chosen = values if var.get("includeAll") else values[:1]  # All, or the first value
        scoped[var["name"]] = format_var(var, chosen)
        print("  $%s = %s" % (var["name"], scoped[var["name"]]))
    step = interval
    start_al = math.floor(start_s / step) * step
    end_al = math.floor(end_s / step) * step
    n = 0
    for p in d["panels"]:
        for t in p.get("targets", []):
            expr = interpolate(t["expr"], scoped)
            if "$" in expr:
                fail("%s / %s: unresolved variable in %s" % (name, p["title"], expr))
                continue
            what = "%s / %s / %s" % (name, p["title"], t["refId"])
            if t.get("instant"):
                data = api.call("/api/v1/query", {"query": expr, "time": "%.3f" % end_s}, what)
            else:
                data = api.call("/api/v1/query_range", {"query": expr, "start": str(start_al), "end": str(end_al),
                                                        "step": str(step)}, what)
            n += 1
            if data is None:
                continue
            result = data.get("result", [])
            if not result:
                fail("%s: empty answer for %s" % (what, expr))
    return n


# --- structure --------------------------------------------------------------------

def check_structure(paths, provisioning):
    import yaml
    ds = yaml.safe_load(open(os.path.join(provisioning, "datasources", "meridian.yaml")))
    src = ds["datasources"][0]
    if src.get("type") != "prometheus" or not src.get("uid") or src.get("access") != "proxy":
        fail("datasource provisioning: want type prometheus, access proxy and a fixed uid: %s" % src)
    prov = yaml.safe_load(open(os.path.join(provisioning, "dashboards", "meridian.yaml")))
    provider = prov["providers"][0]
    if provider.get("type") != "file" or not provider.get("options", {}).get("path"):
        fail("dashboard provider: want type file with options.path: %s" % provider)
    uids = set()
    names = set()
    for path in paths:
        d = json.load(open(path))
        name = os.path.basename(path)
        if d.get("schemaVersion", 0) < 39:
            fail("%s: schemaVersion %s < 39" % (name, d.get("schemaVersion")))
        uid = d.get("uid", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid) or uid in uids:
            fail("%s: uid %r is not a fixed, unique uid" % (name, uid))
        uids.add(uid)
        if d.get("id") is not None:
            fail("%s: provisioned dashboards carry no id" % name)
        variables = d["templating"]["list"]
        dsv = [v for v in variables if v["type"] == "datasource"]
        if len(dsv) != 1 or dsv[0]["name"] != "datasource" or dsv[0]["query"] != "prometheus":
            fail("%s: want one datasource variable $datasource of type prometheus" % name)
        elif dsv[0].get("current", {}).get("value") not in (None, src["uid"]):
            fail("%s: $datasource defaults to %s, not the provisioned uid %s" % (name, dsv[0]["current"], src["uid"]))
        for v in variables:
            if v["type"] == "query" and v.get("datasource", {}).get("uid") != "${datasource}":
                fail("%s: variable $%s does not use $datasource" % (name, v["name"]))
        ids = set()
        for p in d["panels"]:
            if p["id"] in ids:
                fail("%s: duplicate panel id %d" % (name, p["id"]))
            ids.add(p["id"])
            g = p["gridPos"]
            if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
                fail("%s / %s: gridPos %s outside 24 columns" % (name, p["title"], g))
            if p["type"] == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}" or not p.get("targets"):
                fail("%s / %s: panel without $datasource or targets" % (name, p["title"]))
            for t in p["targets"]:
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    fail("%s / %s: target without $datasource" % (name, p["title"]))
                names.update(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", t["expr"]))
        if name == "fleet-overview.json":
            region = [v for v in variables if v["name"] == "region"]
            if not region or not region[0].get("multi") or not region[0].get("includeAll"):
                fail("%s: the region variable must be multi-select with All" % name)
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_POWER_USAGE",
                   "DCGM_FI_DEV_GPU_TEMP", "gpu_queue_depth", "kube_horizontalpodautoscaler_status_desired_replicas",
                   "kube_horizontalpodautoscaler_status_current_replicas",
                   "kube_horizontalpodautoscaler_spec_min_replicas", "kube_horizontalpodautoscaler_spec_max_replicas"):
        if metric not in names:
            fail("no panel uses %s" % metric)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", required=True)
    ap.add_argument("--dashboards", required=True)
    args = ap.parse_args()
    if not os.access(PROMETHEUS, os.X_OK):
        print("SKIP: %s not installed; scripts/install-deps.sh installs the Debian prometheus package" % PROMETHEUS)
        return 77
    paths = sorted(os.path.join(args.dashboards, f) for f in os.listdir(args.dashboards) if f.endswith(".json"))
    check_structure(paths, os.path.join(args.dashboards, "provisioning"))

    tmp = tempfile.mkdtemp(prefix="meridian-dashboards-")
    procs = []
    started = time.time()
    try:
        mport, pport = free_port(), free_port()
        murl = "http://127.0.0.1:%d" % mport
        # The meridian under test is also a global meridian over one regional
        # meridian (the remotes row) and evaluates a rule file (the rules row).
        rport = free_port()
        rurl = "http://127.0.0.1:%d" % rport
        rlog = open(os.path.join(tmp, "region.log"), "w")
        procs.append(subprocess.Popen([args.meridian, "--listen", "127.0.0.1:%d" % rport,
                                       "--data-dir", os.path.join(tmp, "region")], stdout=rlog, stderr=rlog))
        wait_ready(rurl + "/-/ready", "regional meridian", procs[-1])
        with open(os.path.join(tmp, "rules.yml"), "w") as f:
            f.write("groups:\n  - name: dashboards\n    interval: 1s\n    rules:\n"
                    "      - record: job:up:sum\n        expr: sum by (job) (up)\n")
        mlog = open(os.path.join(tmp, "meridian.log"), "w")
        procs.append(subprocess.Popen([args.meridian, "--listen", "127.0.0.1:%d" % mport,
                                       "--data-dir", os.path.join(tmp, "meridian"),
                                       "--rule-files", os.path.join(tmp, "rules.yml"),
                                       "--remote-read", "region=%s/api/v1/read;timeout=5s;"
                                       "external-labels=remote_region:ap-southeast-1" % rurl],
                                      stdout=mlog, stderr=mlog))
        wait_ready(murl + "/-/ready", "meridian", procs[-1])
        now_ms = int(time.time() * 1000)
        write_series(rurl, [({"__name__": "region_heartbeat", "job": "region"},
                             [(now_ms - 1000 * i, 1.0) for i in range(60, 0, -15)])])
        series = generate(now_ms)
        for i in range(0, len(series), 500):
            write_series(murl, series[i:i + 500])
        print("generator: %d series, %d samples" % (len(series), sum(len(s) for _, s in series)))
        # A compactor pass (it checkpoints first), so the "since the last
        # checkpoint" and "since the last compactor pass" panels have data.
        status, body = http(murl + "/internal/compact", {}, timeout=60)
        if status != 200:
            fail("/internal/compact: %d %s" % (status, body))

        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  external_labels:\n    region: us-west-2\n"
                    "scrape_configs:\n"
                    "  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    "  - job_name: meridian\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    "remote_write:\n  - url: %s/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n"
                    % (pport, mport, murl))
        plog = open(os.path.join(tmp, "prometheus.log"), "w")
        procs.append(subprocess.Popen([PROMETHEUS, "--config.file", os.path.join(tmp, "prometheus.yml"),
                                       "--storage.tsdb.path", os.path.join(tmp, "prometheus"),
                                       "--web.listen-address", "127.0.0.1:%d" % pport], stdout=plog, stderr=plog))
        wait_ready("http://127.0.0.1:%d/-/ready" % pport, "prometheus", procs[-1])
        # Until the last step a range query evaluates (now aligned down to the
        # step, as Grafana aligns it) has 3 scrapes of Prometheus and meridian
        # behind it, with query traffic in between (the query panels need some).
        api = Api(murl)
        step = macros(0, RANGE_S)[0]
        deadline = time.time() + 45
        while True:
            http(murl + "/api/v1/query", {"query": "sum(rate(http_requests_total[5m]))"})
            http(murl + "/api/v1/query_range", {"query": "up", "start": str(now_ms / 1000 - 600),
                                                "end": str(now_ms / 1000), "step": "15"})
            status, body = http(murl + "/api/v1/query", {
                "time": str(math.floor(time.time() / step) * step),
                "query": 'count_over_time(meridian_wal_pending_bytes[1m]) >= 3 and on() '
                         'count_over_time(prometheus_build_info[1m]) >= 3'})
            if status == 200 and json.loads(body)["data"]["result"]:
                break
            if time.time() > deadline:
                fail("meridian did not get 3 scrapes of Prometheus and itself before a step within 45 s")
                break
            time.sleep(0.5)

        end_s = time.time()
        start_s = end_s - RANGE_S
        total = 0
        for path in paths:
            print("%s:" % os.path.basename(path))
            n = run_dashboard(api, path, start_s, end_s)
            print("  %d queries" % n)
            total += n
        print("%d panel queries in %.1f s" % (total, time.time() - started))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if failures:
            for log in ("meridian.log", "region.log", "prometheus.log"):
                path = os.path.join(tmp, log)
                if os.path.exists(path):
                    print("--- %s (tail)" % log)
                    print("".join(open(path).readlines()[-20:]))
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failures" % len(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
