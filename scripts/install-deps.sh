#!/bin/sh
# Installs the system packages pathflow needs on Debian 12 (run as root).
# Idempotent: prints nothing and touches nothing when every package is present.
set -eu

PACKAGES="build-essential cmake pkg-config make \
libsundials-dev libopenblas-dev liblapacke-dev libconfig-dev libsleef-dev \
libcriterion-dev librandom123-dev gnuplot-nox \
libopenmpi-dev openmpi-bin valgrind \
python3-numpy python3-pytest"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root to install)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
