#!/usr/bin/env bash
# Rebuild src/openvggt/viz/static/three.bundle.min.js from the npm package `three` (MIT).
# Needs node + npm (build time only; the package ships the result and never fetches anything).
set -euo pipefail
VERSION="${THREE_VERSION:-0.187.0}"
here="$(cd "$(dirname "$0")" && pwd)"
static="$here/../../src/openvggt/viz/static"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/entry.js" "$work/"
cd "$work"
npm init -y >/dev/null
npm install --no-save --no-audit --no-fund "three@$VERSION" esbuild >/dev/null
./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=THREE \
  --legal-comments=eof --outfile="$static/three.bundle.min.js"
cp node_modules/three/LICENSE "$static/THREE_LICENSE"
echo "three $VERSION -> $static/three.bundle.min.js"
