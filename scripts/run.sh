#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and starts meridian with its
# embedded defaults (listen 0.0.0.0:9097, data in ./meridian-data).
# Extra arguments go to meridian, e.g. scripts/run.sh --listen 127.0.0.1:9097
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/release/server/meridian "$@"
