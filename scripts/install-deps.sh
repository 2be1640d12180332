#!/usr/bin/env bash
# Installs, from Debian 12's package registry, everything meridian needs to
# build, run and test: the toolchain and libraries, and the real peers the
# tests and benchmarks run against (prometheus, victoria-metrics).
# Idempotent: installs only what is missing. Run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates python3 procps
  python3-yaml  # tests/deploy: the manifests' checks
  chromium  # tests/ui: the web UI in a real browser (headless)
  clang  # the -Wthread-safety build (scripts/build.sh clang-tsa)
  clang-format  # scripts/check-format.sh (ctest source_format)
  librocksdb-dev libsnappy-dev libzstd-dev libprotobuf-dev protobuf-compiler
  libcpp-httplib-dev prometheus-cpp-dev libre2-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
  prometheus victoria-metrics
  libssl-dev libyaml-cpp-dev  # TLS on the listeners; the k8s/auth config files, rule files (rules/)
)
# kubectl for the external metrics API tests: Debian's kubernetes-client
# (1.20) only where no kubectl is installed (it conflicts with other kubectl
# packages).
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The Debian prometheus package starts a system service; meridian's tests
  # start their own instances on free ports, so keep the service from starting.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
