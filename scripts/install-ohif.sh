#!/usr/bin/env bash
# The prebuilt OHIF viewer (npm @ohif/app: its dist/ only, not its build dependencies), for the test that drives OHIF
# against a node in Chromium. Unpacked under .cache/ (kept out of git, and out of node_modules, which `npm ci` empties);
# idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.13.2
target=".cache/ohif-app-${version}"
[ -f "${target}/index.html" ] && { echo "OHIF ${version} present"; exit 0; }
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# npm checks the tarball against the registry's integrity hash.
npm pack "@ohif/app@${version}" --pack-destination "${work}" --silent >/dev/null
tar -xzf "${work}/ohif-app-${version}.tgz" -C "${work}"
mkdir -p "$(dirname "${target}")"
rm -rf "${target}"
mv "${work}/package/dist" "${target}"
echo "OHIF ${version} unpacked in ${target}"
