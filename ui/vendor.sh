#!/usr/bin/env bash
# Refreshes the vendored uPlot in ui/web/vendor/ from npm, at the version
# package-lock.json pins (npm ci: the lock's integrity hash is checked).
# The build never runs this: the vendored files are committed, so building
# needs no network. To update uPlot: change the version in package.json, run
# `npm install` here (rewrites package-lock.json), then this script, and commit
# all three with the new vendor files.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css web/vendor/
cp node_modules/uplot/LICENSE web/vendor/uPlot.LICENSE
echo "vendored uPlot $(node -p 'require("./node_modules/uplot/package.json").version')"
