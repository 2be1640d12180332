"""kubectl apply --dry-run=client --validate=false on deploy/'s manifests.

Client-side dry run still asks the API server's discovery which resource
each kind is. With a reachable cluster in the caller's kubeconfig that
cluster answers (set MERIDIAN_KUBECTL_USE_CLUSTER=1); otherwise this serves
the discovery documents of the kinds the manifests use on 127.0.0.1 (and 404
for every object GET, so kubectl takes the create path): kubectl's own
decoding, kind mapping and dry-run printing run over every document.
"""
import glob
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

import yaml

# KubeFed's federated types of cluster-scoped targets are cluster-scoped.
CLUSTER_SCOPED = {"Namespace", "APIService", "ClusterRole", "ClusterRoleBinding",
                  "FederatedAPIService", "FederatedClusterRole", "FederatedClusterRoleBinding"}


def plural(kind):
    k = kind.lower()
    if k.endswith("s"):
        return k + "es"
    if k.endswith("y"):
        return k[:-1] + "ies"
    return k + "s"


def discovery(files):
    groups = {}
    for path in files:
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    groups.setdefault(d["apiVersion"], set()).add(d["kind"])
    return groups


def resource_list(gv, kinds):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": plural(k), "singularName": k.lower(), "kind": k,
                           "namespaced": k not in CLUSTER_SCOPED,
                           "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                          for k in sorted(kinds)]}


def serve(groups):
    docs = {"/api": {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}}
    glist = []
    for gv, kinds in groups.items():
        if "/" in gv:
            g, v = gv.split("/")
            glist.append({"name": g, "versions": [{"groupVersion": gv, "version": v}],
                          "preferredVersion": {"groupVersion": gv, "version": v}})
            docs["/apis/" + gv] = resource_list(gv, kinds)
        else:
            docs["/api/" + gv] = resource_list(gv, kinds)
    docs["/apis"] = {"kind": "APIGroupList", "apiVersion": "v1", "groups": glist}
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            requests.append(self.command + " " + path)
            body = docs.get(path)
            code = 200
            if body is None:
                code = 404
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PUT = do_PATCH = do_GET

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, requests


def run(repo, fail, ok):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("skip: kubectl dry run: kubectl is not installed (Debian package kubernetes-client)")
        return
    files = sorted(glob.glob(os.path.join(repo, "deploy/kubefed/*.yaml")) +
                   glob.glob(os.path.join(repo, "deploy/global/*.yaml")))
    env = dict(os.environ)
    srv = None
    with tempfile.TemporaryDirectory() as tmp:
        if os.environ.get("MERIDIAN_KUBECTL_USE_CLUSTER") != "1":
            srv, requests = serve(discovery(files))
            kubeconfig = os.path.join(tmp, "kubeconfig")
            with open(kubeconfig, "w") as f:
                yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "stub",
                                "clusters": [{"name": "stub", "cluster": {
                                    "server": f"http://127.0.0.1:{srv.server_address[1]}"}}],
                                "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
                                "users": [{"name": "stub", "user": {}}]}, f)
            env["KUBECONFIG"] = kubeconfig
            env["KUBECACHEDIR"] = os.path.join(tmp, "cache")
            print("note: no cluster asked (MERIDIAN_KUBECTL_USE_CLUSTER unset): kubectl maps kinds "
                  "through a discovery stub on loopback")
        try:
            for path in files:
                r = subprocess.run([kubectl, "apply", "--dry-run=client", "--validate=false", "-f", path],
                                   capture_output=True, text=True, env=env, timeout=60)
                with open(path) as f:
                    n = sum(1 for d in yaml.safe_load_all(f) if d)
                lines = [l for l in r.stdout.splitlines() if "(dry run)" in l]
                rel = os.path.relpath(path, repo)
                if r.returncode != 0 or len(lines) != n:
                    fail(f"kubectl apply --dry-run=client {rel}: exit {r.returncode}, "
                         f"{len(lines)} of {n} objects: {r.stdout}{r.stderr}")
                else:
                    ok(f"kubectl apply --dry-run=client {rel}: {n} objects")
        finally:
            if srv:
                srv.shutdown()
