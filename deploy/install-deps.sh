#!/usr/bin/env bash
# Installs the Debian 12 packages HeliosDB-Lite builds and tests with, and
# only the ones that are missing (so a prepared machine does no apt work).
set -euo pipefail
pkgs=(build-essential cmake pkg-config liburing-dev libxxhash-dev libnghttp2-dev
      libprotobuf-c-dev protobuf-c-compiler libjansson-dev libcriterion-dev
      libssl-dev libhttp-parser-dev libsqlite3-dev libedit-dev curl
      protobuf-compiler nghttp2-client python3-grpcio python3-protobuf openssl)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
