#!/usr/bin/env python3
"""Checks deploy/: the KubeFed manifests, the regional Prometheus configs, the
global meridian, the Dockerfile and the systemd unit.

Usage: check_deploy.py manifests|image|kubectl --repo DIR --binary MERIDIAN

  manifests  every file parses; kinds known; placement and overrides name
             the four regions; override paths exist in their templates;
             selectors match the pods' labels; ports agree between Services,
             containers, --k8s-listen and the APIService; every flag and
             config key is meridian's (or pending from issues 9/10); the HPAs'
             metrics are in the config's external_metrics mapping; the
             regional Prometheus configs write to both pods (promtool check
             config); the rules pass promtool check rules; the global
             meridian reads every pod of every region; the config's flat part
             starts the real binary.
  image      the Dockerfile's runtime packages cover every library `ldd`
             shows for the binary (dpkg -S); its build packages are the
             install script's; systemd-analyze verify on the unit.
  kubectl    kubectl apply --dry-run=client --validate=false on every
             manifest (skipped, with the reason, when kubectl or a cluster
             is missing).
Each failure is printed; the exit code is 1 if any check failed.
"""
import argparse
import fnmatch
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:
    print("check_deploy: python3-yaml is missing (Debian package python3-yaml, "
          "installed by scripts/install-deps.sh)")
    sys.exit(1)

REGIONS = ["us-west-2", "us-east-1", "eu-west-1", "ap-southeast-1"]
# The seed's GPU worker baseline: the HPAs' minimum per region.
HPA_MIN = {"us-west-2": 6, "us-east-1": 4, "eu-west-1": 4, "ap-southeast-1": 2}
# The tenant each region's Prometheus writes (the one the GPU workers' namespace reads).
TENANT = "gpu-platform"
# Flags and config sections the manifests use that other issues add to
# meridian; every other flag must be one `meridian --help` lists.
PENDING_FLAGS = {"remote-read": "issue 9", "replica-label": "issue 9"}
PENDING_SETTINGS = {"rule-files": "issue 10"}
# Target kinds of KubeFed federated types (types.kubefed.io/v1beta1, kind
# Federated<Kind>); those not enabled by a KubeFed install need
# `kubefedctl enable` (the README must say so).
KUBEFED_DEFAULT = {"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Ingress",
                   "Job", "Namespace", "ReplicaSet", "Secret", "Service", "ServiceAccount"}
ENABLE_NAME = {"StatefulSet": "statefulsets.apps",
               "HorizontalPodAutoscaler": "horizontalpodautoscalers.autoscaling",
               "APIService": "apiservices.apiregistration.k8s.io",
               "PodDisruptionBudget": "poddisruptionbudgets.policy"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
PLAIN_KINDS = {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Service"),
               ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def manifests(repo):
    out = []
    for path in sorted(glob.glob(os.path.join(repo, "deploy/kubefed/*.yaml")) +
                       glob.glob(os.path.join(repo, "deploy/global/*.yaml"))):
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            fail(f"{path}: does not parse: {e}")
            continue
        for d in docs:
            out.append((os.path.relpath(path, repo), d))
    return out


def pointer_get(obj, path):
    """Resolves a JSON pointer; returns (found, parent_found)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    cur = obj
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(cur, list):
            if p == "-" and last:
                return False, True
            if not p.isdigit() or int(p) >= len(cur):
                return False, False
            cur = cur[int(p)]
        elif isinstance(cur, dict):
            if p not in cur:
                return False, last
            cur = cur[p]
        else:
            return False, False
    return True, True


def parse_help(binary):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout + \
        subprocess.run([binary, "--help"], capture_output=True, text=True).stderr
    return set(re.findall(r"^\s+--([a-z0-9-]+)", text, re.M))


def flag_names(args):
    names = []
    for a in args:
        m = re.match(r"--([a-z0-9-]+)(?:=(.*))?$", a)
        if m:
            names.append((m.group(1), m.group(2)))
    return names


def pod_templates(objs):
    """(namespace, kind, name, replicas, pod template, overrides) of every workload."""
    out = []
    for f, d in objs:
        kind, meta = d.get("kind", ""), d.get("metadata", {})
        if kind in ("FederatedStatefulSet", "FederatedDeployment"):
            spec = d["spec"]["template"]["spec"]
            out.append((meta.get("namespace"), kind[len("Federated"):], meta["name"],
                        spec.get("replicas", 1), spec["template"], spec))
        elif kind in ("StatefulSet", "Deployment"):
            spec = d["spec"]
            out.append((meta.get("namespace"), kind, meta["name"], spec.get("replicas", 1),
                        spec["template"], spec))
    return out


def selector_matches(selector, labels, workload):
    """A Service selector matches a workload's pods (the StatefulSet
    controller adds statefulset.kubernetes.io/pod-name=NAME-ORDINAL)."""
    ns, kind, name, replicas, tmpl, _ = workload
    pod_labels = dict(labels)
    for k, v in selector.items():
        if k == "statefulset.kubernetes.io/pod-name" and kind == "StatefulSet":
            m = re.fullmatch(re.escape(name) + r"-(\d+)", str(v))
            if not m or int(m.group(1)) >= replicas:
                return False
            continue
        if pod_labels.get(k) != v:
            return False
    return True


def check_manifests(repo, binary):
    objs = manifests(repo)
    if not objs:
        fail("no manifests under deploy/kubefed and deploy/global")
        return
    ok(f"{len(objs)} manifests parse")
    known_flags = parse_help(binary)
    if "listen" not in known_flags:
        fail(f"could not read the flags from {binary} --help")
    readme = open(os.path.join(repo, "deploy/README.md")).read()

    by_kind = {}
    for f, d in objs:
        by_kind.setdefault(d.get("kind"), []).append((f, d))
        api, kind, meta = d.get("apiVersion"), d.get("kind"), d.get("metadata") or {}
        where = f"{f}: {kind} {meta.get('name')}"
        if not meta.get("name"):
            fail(f"{f}: a {kind} without metadata.name")
        if api == "types.kubefed.io/v1beta1" and kind and kind.startswith("Federated"):
            target = kind[len("Federated"):]
            if target not in KUBEFED_DEFAULT and target not in ENABLE_NAME:
                fail(f"{where}: unknown federated kind")
                continue
            if target in ENABLE_NAME:
                needed = "kubefedctl enable " + ENABLE_NAME[target]
                if needed not in readme:
                    fail(f"{where}: deploy/README.md does not say `{needed}`")
            if (target in CLUSTER_SCOPED) == bool(meta.get("namespace")) and target != "Namespace":
                fail(f"{where}: namespace set wrongly for a {'cluster' if target in CLUSTER_SCOPED else 'namespace'}-scoped type")
            placed = [c.get("name") for c in d["spec"]["placement"]["clusters"]]
            if sorted(placed) != sorted(REGIONS):
                fail(f"{where}: placed in {placed}, not the four regions")
            template = d["spec"].get("template", {})
            for o in d["spec"].get("overrides", []) or []:
                cn = o.get("clusterName")
                if cn not in REGIONS:
                    fail(f"{where}: override for unknown cluster {cn!r}")
                for co in o.get("clusterOverrides", []):
                    op = co.get("op", "replace")
                    found, parent = pointer_get(template, co["path"])
                    if op in ("replace", "remove") and not found:
                        fail(f"{where}: override {op} {co['path']} for {cn}: not in the template "
                             f"(KubeFed's JSON patch fails; use op: add)")
                    if op == "add" and not parent:
                        fail(f"{where}: override add {co['path']} for {cn}: parent not in the template")
            if kind == "FederatedNamespace" and meta.get("namespace") != meta.get("name"):
                fail(f"{where}: a FederatedNamespace lives in the namespace it names")
        elif (api, kind) not in PLAIN_KINDS:
            fail(f"{where}: unknown apiVersion/kind {api}/{kind}")

    # Every federated namespaced object sits in a namespace that is federated.
    fed_ns = {d["metadata"]["name"] for f, d in by_kind.get("FederatedNamespace", [])}
    for f, d in objs:
        kind, ns = d.get("kind", ""), d.get("metadata", {}).get("namespace")
        if kind.startswith("Federated") and kind != "FederatedNamespace" and ns and ns not in fed_ns:
            fail(f"{f}: {kind} in namespace {ns}, which no FederatedNamespace places")

    workloads = pod_templates(objs)
    for ns, kind, name, replicas, tmpl, spec in workloads:
        labels = tmpl.get("metadata", {}).get("labels", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            fail(f"{kind} {name}: selector {sel} does not match its pod labels {labels}")
        aff = tmpl["spec"].get("affinity", {}).get("podAntiAffinity", {})
        terms = aff.get("requiredDuringSchedulingIgnoredDuringExecution", []) + \
            [t["podAffinityTerm"] for t in aff.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        for t in terms:
            ml = t["labelSelector"]["matchLabels"]
            if any(labels.get(k) != v for k, v in ml.items()):
                fail(f"{kind} {name}: anti-affinity selector {ml} does not select its own pods")
    ok(f"{len(workloads)} workloads: selectors match their pod labels")

    # Services: selectors select pods; targetPorts are container ports.
    services = [(f, d, d["spec"]["template"]["spec"] if d["kind"] == "FederatedService" else d["spec"])
                for f, d in by_kind.get("FederatedService", []) + by_kind.get("Service", [])]
    for f, d, spec in services:
        ns, name = d["metadata"].get("namespace"), d["metadata"]["name"]
        sel = spec.get("selector", {})
        matched = [w for w in workloads if w[0] == ns and
                   selector_matches(sel, w[4].get("metadata", {}).get("labels", {}), w)]
        if not matched:
            fail(f"{f}: Service {name}: selector {sel} selects no pods in {ns}")
            continue
        for w in matched:
            cports = [p for c in w[4]["spec"]["containers"] for p in c.get("ports", [])]
            for p in spec["ports"]:
                tp = p.get("targetPort", p["port"])
                if not any(tp == cp.get("name") or tp == cp["containerPort"] for cp in cports):
                    fail(f"{f}: Service {name} port {p['port']}: targetPort {tp!r} is no container "
                         f"port of {w[1]} {w[2]} ({cports})")
    ok(f"{len(services)} services: selectors and target ports match the pods")

    # The meridian StatefulSet: two independent copies, a volume claim per pod
    # mounted at the data dir, the listen ports its Service and flags name.
    sts = [w for w in workloads if w[1] == "StatefulSet" and w[2] == "meridian"]
    if len(sts) != 1:
        fail("no FederatedStatefulSet meridian")
        return
    ns, _, _, replicas, tmpl, spec = sts[0]
    if replicas != 2:
        fail(f"meridian StatefulSet: {replicas} replicas, expected 2 independent copies")
    container = tmpl["spec"]["containers"][0]
    args = dict(flag_names(container["args"]))
    vct = [v["metadata"]["name"] for v in spec.get("volumeClaimTemplates", [])]
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    if mounts.get(args.get("data-dir")) not in vct:
        fail(f"meridian StatefulSet: --data-dir {args.get('data-dir')} is not on a volumeClaimTemplate ({vct})")
    else:
        ok("meridian's data dir is a volume claim per pod")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    # The ConfigMap behind --config: the files the pod sees.
    cms = {d["metadata"]["name"]: d["spec"]["template"]["data"] for f, d in by_kind.get("FederatedConfigMap", [])}
    files = {}
    for v in tmpl["spec"].get("volumes", []):
        if "configMap" not in v:
            continue
        data = cms.get(v["configMap"]["name"])
        if data is None:
            fail(f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not in deploy/kubefed")
            continue
        mount = next((p for p, n in mounts.items() if n == v["name"]), None)
        items = v["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            if it["key"] not in data:
                fail(f"volume {v['name']}: key {it['key']} not in ConfigMap {v['configMap']['name']}")
            elif mount:
                files[os.path.join(mount, it["path"])] = data[it["key"]]
    conf_text = files.get(args.get("config"))
    if conf_text is None:
        fail(f"--config {args.get('config')} is no file of a mounted ConfigMap ({sorted(files)})")
        return
    conf = yaml.safe_load(conf_text)
    flat = {k: v for k, v in conf.items() if not isinstance(v, (dict, list))}
    for k in conf:
        if k in flat and k not in known_flags and k not in PENDING_SETTINGS:
            fail(f"meridian.yml: {k!r} is not a meridian setting")
        elif k not in flat:
            fail(f"meridian.yml: {k!r} is a section; --config takes `key: value` lines only")
    k8s_text = files.get(args.get("k8s-config"))
    if k8s_text is None:
        fail(f"--k8s-config {args.get('k8s-config')} is no file of a mounted ConfigMap ({sorted(files)})")
        k8s_text = "{}"
    k8s_conf = yaml.safe_load(k8s_text) or {}
    if TENANT not in k8s_conf.get("namespace_tenants", {}).values():
        fail(f"the Prometheus configs write tenant {TENANT!r}, which no namespace reads")
    listen_port = int(str(flat.get("listen", "0.0.0.0:9097")).rsplit(":", 1)[1])
    if ports.get("http") != listen_port:
        fail(f"container port http {ports.get('http')} != meridian.yml listen port {listen_port}")
    k8s_port = int(args.get("k8s-listen", ":0").rsplit(":", 1)[1])
    if ports.get("k8s-api") != k8s_port:
        fail(f"container port k8s-api {ports.get('k8s-api')} != --k8s-listen port {k8s_port}")
    for w in workloads:
        for c in w[4]["spec"]["containers"]:
            if not c["image"].startswith("registry.example.com/meridian"):
                continue
            for name, _ in flag_names(c.get("args", [])):
                if name not in known_flags and name not in PENDING_FLAGS:
                    fail(f"{w[1]} {w[2]}: --{name} is not a meridian flag")
    pending = sorted({f"--{n} ({PENDING_FLAGS[n]})" for w in workloads for c in w[4]["spec"]["containers"]
                      for n, _ in flag_names(c.get("args", [])) if n in PENDING_FLAGS and n not in known_flags})
    print("note: flags not in this meridian yet: " + ", ".join(pending))

    # Rule files: each glob of rule_files matches a mounted file; promtool accepts them.
    rule_files = []
    for item in str(flat.get("rule-files", "")).split(","):
        if not item.strip():
            continue
        tenant, _, g = item.strip().rpartition("=")
        if tenant and tenant not in k8s_conf.get("namespace_tenants", {}).values():
            fail(f"rule-files binds {g} to tenant {tenant!r}, which no namespace maps to")
        m = [p for p in files if fnmatch.fnmatch(p, g)]
        if not m:
            fail(f"rule-files glob {g} matches no mounted file ({sorted(files)})")
        rule_files += m
    if not rule_files:
        fail("meridian.yml: no rule-files")
    recorded = set()
    with tempfile.TemporaryDirectory() as tmp:
        for p in rule_files:
            local = os.path.join(tmp, os.path.basename(p))
            with open(local, "w") as f:
                f.write(files[p])
            for g in yaml.safe_load(files[p])["groups"]:
                recorded |= {r["record"] for r in g["rules"] if "record" in r}
            if shutil.which("promtool"):
                r = subprocess.run(["promtool", "check", "rules", local], capture_output=True, text=True)
                if r.returncode != 0:
                    fail(f"promtool check rules {p}: {r.stdout}{r.stderr}")
                else:
                    ok(f"promtool check rules {p}")
            else:
                print(f"skip: promtool check rules {p}: promtool not installed (Debian package prometheus)")

    # The APIService points at a Service port that reaches --k8s-listen.
    ext = {m["name"]: m for m in k8s_conf.get("external_metrics", [])}
    for f, d in by_kind.get("FederatedAPIService", []):
        s = d["spec"]["template"]["spec"]
        svc = next((x for x in services if x[1]["metadata"]["name"] == s["service"]["name"]
                    and x[1]["metadata"].get("namespace") == s["service"]["namespace"]), None)
        if svc is None:
            fail(f"APIService {d['metadata']['name']}: no Service {s['service']}")
            continue
        port = next((p for p in svc[2]["ports"] if p["port"] == s["service"].get("port", 443)), None)
        if port is None:
            fail(f"APIService {d['metadata']['name']}: Service {s['service']['name']} has no port "
                 f"{s['service'].get('port', 443)}")
        elif port["targetPort"] not in ("k8s-api", k8s_port):
            fail(f"APIService {d['metadata']['name']}: Service port {port['port']} targets "
                 f"{port['targetPort']}, not the --k8s-listen port {k8s_port}")
        else:
            ok(f"APIService -> Service {s['service']['name']}:{port['port']} -> container {k8s_port} = --k8s-listen")
        if s.get("group") != "external.metrics.k8s.io" or s.get("version") != "v1beta1" or \
                d["metadata"]["name"] != "v1beta1.external.metrics.k8s.io":
            fail(f"APIService {d['metadata']['name']}: not external.metrics.k8s.io/v1beta1")

    # HPAs: External metrics of the mapping; minimums 6/4/4/2; the target
    # Deployment is federated with retainReplicas.
    hpas = by_kind.get("FederatedHorizontalPodAutoscaler", [])
    if not hpas:
        fail("no FederatedHorizontalPodAutoscaler")
    for f, d in hpas:
        s = d["spec"]["template"]["spec"]
        for m in s["metrics"]:
            if m.get("type") != "External":
                fail(f"HPA {d['metadata']['name']}: metric of type {m.get('type')}, expected External")
                continue
            name = m["external"]["metric"]["name"]
            if name not in ext:
                fail(f"HPA {d['metadata']['name']}: metric {name} not in k8s.yml's external_metrics {sorted(ext)}")
            elif ext[name].get("record") and ext[name]["record"] not in recorded:
                fail(f"external_metrics {name}: record {ext[name]['record']} is recorded by no rule")
            else:
                ok(f"HPA metric {name} is mapped in k8s.yml to {ext[name]}")
            if "metricName" in m["external"] or "type" not in m["external"].get("target", {}):
                fail(f"HPA {d['metadata']['name']}: not the autoscaling/v2 External metric shape")
        mins = {r: s["minReplicas"] for r in REGIONS}
        for o in d["spec"].get("overrides", []):
            for co in o["clusterOverrides"]:
                if co["path"] == "/spec/minReplicas":
                    mins[o["clusterName"]] = co["value"]
        if mins != HPA_MIN:
            fail(f"HPA {d['metadata']['name']}: minReplicas {mins}, expected {HPA_MIN}")
        else:
            ok(f"HPA minimums {mins}")
        ref = s["scaleTargetRef"]
        target = [x for x in by_kind.get("FederatedDeployment", [])
                  if x[1]["metadata"]["name"] == ref["name"] and
                  x[1]["metadata"]["namespace"] == d["metadata"]["namespace"]]
        if ref["kind"] != "Deployment" or not target:
            fail(f"HPA {d['metadata']['name']}: scale target {ref} is no FederatedDeployment beside it")
        elif target[0][1]["spec"].get("retainReplicas") is not True:
            fail(f"FederatedDeployment {ref['name']}: an HPA scales it but retainReplicas is not true "
                 f"(KubeFed would reset spec.replicas)")
        else:
            ok(f"FederatedDeployment {ref['name']} has retainReplicas: true")
    if "kubefedctl enable horizontalpodautoscalers.autoscaling --version v2" not in readme:
        fail("deploy/README.md: the HPA type must be enabled at version v2")

    check_prometheus(repo, by_kind, spec, ports, services)
    check_global(repo, by_kind, known_flags)
    check_config_starts(binary, flat, files, known_flags, args)


def check_prometheus(repo, by_kind, sts_spec, ports, services):
    headless = next((x for x in services if x[1]["metadata"]["name"] == sts_spec["serviceName"]), None)
    if headless is None or headless[2].get("clusterIP") != "None":
        fail(f"StatefulSet serviceName {sts_spec['serviceName']} is no headless Service")
        return
    ns = headless[1]["metadata"]["namespace"]
    port = headless[2]["ports"][0]["port"]
    # The tenant is in the URL: Prometheus 2.42 sends no remote_write `headers:`.
    want = sorted(f"http://meridian-{i}.{sts_spec['serviceName']}.{ns}.svc:{port}/api/v1/write"
                  f"?tenant={TENANT}" for i in range(sts_spec["replicas"]))
    for r in REGIONS:
        path = os.path.join(repo, "deploy/prometheus", r + ".yml")
        if not os.path.exists(path):
            fail(f"no Prometheus config for {r} ({path})")
            continue
        conf = yaml.safe_load(open(path))
        if conf["global"]["external_labels"].get("region") != r:
            fail(f"{path}: external label region is not {r}")
        urls = sorted(w["url"] for w in conf.get("remote_write", []))
        if urls != want:
            fail(f"{path}: remote_write to {urls}, expected every meridian pod {want}")
        for w in conf.get("remote_write", []) + conf.get("remote_read", []):
            if any(h.lower() in ("thanos-tenant", "x-scope-orgid") for h in w.get("headers", {})):
                fail(f"{path}: {w['url']} names its tenant in headers:, which Prometheus 2.42 "
                     "does not send; use ?tenant= in the URL")
        if shutil.which("promtool"):
            res = subprocess.run(["promtool", "check", "config", path], capture_output=True, text=True)
            if res.returncode != 0:
                fail(f"promtool check config {path}: {res.stdout}{res.stderr}")
        else:
            print(f"skip: promtool check config {path}: promtool not installed")
    ok(f"each region's Prometheus writes to all of {want}")


def check_global(repo, by_kind, known_flags):
    deps = [d for f, d in by_kind.get("Deployment", []) if d["metadata"]["name"] == "meridian-global"]
    if not deps:
        fail("no Deployment meridian-global in deploy/global")
        return
    args = deps[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    remotes = {}
    for n, v in flag_names(args):
        if n == "remote-read":
            name, url = v.split("=", 1)
            remotes[name] = url
    if not any(n == "replica-label" for n, _ in flag_names(args)):
        fail("global meridian: no --replica-label")
    want = {}
    for f, d in by_kind.get("FederatedService", []):
        spec = d["spec"]["template"]["spec"]
        pod = spec.get("selector", {}).get("statefulset.kubernetes.io/pod-name")
        if spec.get("type") != "LoadBalancer" or not pod:
            continue
        for o in d["spec"].get("overrides", []):
            for co in o["clusterOverrides"]:
                if co["path"].endswith("external-dns.alpha.kubernetes.io~1hostname"):
                    ordinal = pod.rsplit("-", 1)[1]
                    want[f"{o['clusterName']}-{ordinal}"] = \
                        f"http://{co['value']}:{spec['ports'][0]['port']}/api/v1/read"
    if len(want) != 2 * len(REGIONS):
        fail(f"per-pod load balancers with external-dns names: {sorted(want)}, expected 2 per region")
    if remotes != want:
        fail(f"global meridian --remote-read {remotes} != the regional load balancers {want}")
    else:
        ok(f"global meridian reads all {len(want)} regional pods through their load balancers")


def check_config_starts(binary, flat, files, known_flags, args):
    """The flat settings of meridian.yml start today's binary, with the
    ConfigMap's files where the pod sees them moved into a temporary dir."""
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            local = os.path.join(tmp, "fs" + path)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "w") as f:
                f.write(text)
        conf = os.path.join(tmp, "meridian.yml")
        with open(conf, "w") as f:
            for k, v in flat.items():
                if k not in known_flags:
                    print(f"note: the start check leaves out {k} ({PENDING_SETTINGS.get(k)}): not in this meridian yet")
                    continue
                if k == "rule-files":
                    v = re.sub(r"(^|,|=)/", lambda m: m.group(1) + os.path.join(tmp, "fs") + "/", str(v))
                f.write(f"{k}: {v}\n")
        extra = []
        if "k8s-config" in known_flags and args.get("k8s-config"):
            # The external metrics API with the ConfigMap's mapping.
            extra = ["--k8s-listen", "127.0.0.1:0",
                     "--k8s-config", os.path.join(tmp, "fs") + args["k8s-config"]]
        proc = subprocess.Popen([binary, "--config", conf, "--listen", "127.0.0.1:0",
                                 "--data-dir", os.path.join(tmp, "data")] + extra,
                                stderr=subprocess.PIPE, text=True)
        line, seen, deadline = "", [], time.time() + 20
        try:
            while time.time() < deadline:
                line = proc.stderr.readline()
                seen.append(line.strip())
                if not line or "listening on" in line:
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if "listening on" in line:
            ok("meridian starts with the settings of meridian.yml" +
               (" and the k8s.yml mapping (--k8s-config)" if extra else ""))
        else:
            fail("meridian did not start with meridian.yml's settings: " + " | ".join(x for x in seen if x))


def dockerfile_stages(path):
    stages, cur = [], None
    text = open(path).read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            cur = {"from": line.split()[1], "lines": []}
            stages.append(cur)
        elif cur is not None and line and not line.startswith("#"):
            cur["lines"].append(line)
    return stages


def apt_packages(stage):
    pkgs = []
    for line in stage["lines"]:
        for m in re.finditer(r"apt-get install ((?:[^&;|]+))", line):
            pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def packages_of(libs):
    """{library path: Debian package} by one `dpkg -S` over every spelling of
    each path (as ldd shows it, resolved, with and without /usr)."""
    spellings = {}
    for lib in libs:
        for p in (lib, os.path.realpath(lib)):
            for cand in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
                spellings.setdefault(cand, lib)
    r = subprocess.run(["dpkg", "-S"] + sorted(spellings), capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        if path in spellings:
            out.setdefault(spellings[path], pkgs.split(",")[0].split(":")[0].strip())
    return out


def check_image(repo, binary):
    path = os.path.join(repo, "deploy/Dockerfile")
    stages = dockerfile_stages(path)
    if len(stages) < 2:
        fail("deploy/Dockerfile: expected a build stage and a runtime stage")
        return
    build, runtime = stages[0], stages[-1]
    for s in stages:
        if not s["from"].startswith("debian:12"):
            fail(f"deploy/Dockerfile: stage FROM {s['from']}, expected Debian 12")
    if not any("scripts/build.sh release" in l for l in build["lines"]):
        fail("deploy/Dockerfile: the build stage does not run scripts/build.sh release")
    deps = open(os.path.join(repo, "scripts/install-deps.sh")).read()
    block = re.search(r"^packages=\((.*?)^\)", deps, re.M | re.S)
    listed = set()
    for line in (block.group(1) if block else "").splitlines():
        listed |= set(re.findall(r"[a-z0-9][a-z0-9.+-]+", line.split("#")[0]))
    if not listed:
        fail("scripts/install-deps.sh: no packages=( ... ) list found")
    for p in apt_packages(build):
        if p not in listed:
            fail(f"deploy/Dockerfile build stage installs {p}, which scripts/install-deps.sh does not")
    for p in listed:
        if p.endswith("-dev") and p not in apt_packages(build):
            fail(f"deploy/Dockerfile build stage lacks {p} of scripts/install-deps.sh")
    runtime_pkgs = set(apt_packages(runtime))
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if ldd.returncode != 0:
        fail(f"ldd {binary}: {ldd.stderr}")
        return
    libs = re.findall(r"=>\s+(/\S+)", ldd.stdout) + re.findall(r"^\s+(/\S+ld-linux\S*)", ldd.stdout, re.M)
    # A sanitizer build links its runtimes; the image ships the release build.
    sanitizers = [l for l in libs if re.match(r"lib(asan|ubsan|tsan|lsan)\.so", os.path.basename(l))]
    if sanitizers:
        print("note: left out the sanitizer runtimes of this build (the image ships the release "
              "build): " + ", ".join(os.path.basename(l) for l in sanitizers))
        libs = [l for l in libs if l not in sanitizers]
    missing = {}
    owners = packages_of(libs)
    for lib in libs:
        pkg = owners.get(lib)
        if pkg is None:
            fail(f"dpkg -S {lib}: no package ships it")
        elif pkg not in runtime_pkgs:
            missing.setdefault(pkg, []).append(os.path.basename(lib))
    for pkg, ls in sorted(missing.items()):
        fail(f"deploy/Dockerfile runtime stage lacks {pkg} (ships {', '.join(ls)} that the binary links)")
    if not missing:
        ok(f"the runtime stage's {len(runtime_pkgs)} packages ship all {len(libs)} libraries ldd lists")
    dev = sorted(p for p in runtime_pkgs if p.endswith("-dev"))
    if dev:
        fail(f"deploy/Dockerfile runtime stage installs -dev packages {dev}")
    users = [l for l in runtime["lines"] if l.upper().startswith("USER ")]
    if not users or users[-1].split()[1].split(":")[0] in ("root", "0"):
        fail("deploy/Dockerfile: the runtime stage does not switch to a non-root USER")
    if not any(l.upper().startswith("VOLUME") and "/var/lib/meridian" in l for l in runtime["lines"]):
        fail("deploy/Dockerfile: the data dir /var/lib/meridian is not a VOLUME")
    cmd = " ".join(l for l in runtime["lines"] if l.upper().startswith(("CMD", "ENTRYPOINT")))
    if "--data-dir=/var/lib/meridian" not in cmd:
        fail("deploy/Dockerfile: meridian does not start with --data-dir=/var/lib/meridian")

    unit = os.path.join(repo, "deploy/systemd/meridian.service")
    known = parse_help(binary)
    exec_start = re.search(r"^ExecStart=(\S+)(.*)$", open(unit).read(), re.M)
    for name, _ in flag_names(exec_start.group(2).split() if exec_start else []):
        if name not in known and name != "config":
            fail(f"deploy/systemd/meridian.service: --{name} is not a meridian flag")
    for name, _ in flag_names(re.findall(r'"(--[^"]+)"', cmd)):
        if name not in known:
            fail(f"deploy/Dockerfile: CMD/ENTRYPOINT flag --{name} is not a meridian flag")
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, "meridian.service")
            with open(local, "w") as f:
                f.write(open(unit).read().replace("/usr/local/bin/meridian", os.path.abspath(binary)))
            r = subprocess.run(["systemd-analyze", "verify", local], capture_output=True, text=True)
            out = (r.stdout + r.stderr).strip()
            if r.returncode != 0 or out:
                fail(f"systemd-analyze verify deploy/systemd/meridian.service: {out}")
            else:
                ok("systemd-analyze verify deploy/systemd/meridian.service")
    else:
        print("skip: systemd-analyze verify: systemd-analyze not installed (Debian package systemd)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["manifests", "image", "kubectl"])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    if a.what == "manifests":
        check_manifests(a.repo, a.binary)
    elif a.what == "image":
        check_image(a.repo, a.binary)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import kubectl_dry_run
        kubectl_dry_run.run(a.repo, fail, ok)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
