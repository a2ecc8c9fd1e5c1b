#!/usr/bin/env bash
# Downloads (here, on Debian 12) the Debian packages the GPU machine lacks, for
# scripts/gpu-check.sh to unpack there with `dpkg -x` into a prefix: OpenMPI (with PMIx,
# hwloc, libevent, libfabric, UCX), HDF5, yaml-cpp, prometheus-cpp, libjpeg-turbo,
# libpng, CLI11, nlohmann-json and GoogleTest, with the runtime libraries they load that
# a minimal image may not have. Not the C/C++ runtime (libc6, libstdc++6, libgcc-s1):
# the machine's own must be at least Debian 12's (glibc 2.36), which gpu-check.sh checks.
#
# Usage: scripts/fetch-gpu-deps.sh [DIR]   (default carry/gpu-debs; ignored by git)
# Idempotent: packages already in DIR are not fetched again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-carry/gpu-debs}"
packages=(
  # build: headers, CMake configs, link-time .so
  libopenmpi-dev libhdf5-dev libyaml-cpp-dev prometheus-cpp-dev libturbojpeg0-dev libjpeg62-turbo-dev
  libpng-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libgtest-dev
  # run: the libraries themselves
  openmpi-bin openmpi-common libopenmpi3 libpmix2 libhwloc15 libxml2 libicu72 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libfabric1 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm2-2
  libpsm-infinipath1 libucx0 libnuma1 libmunge2 libpciaccess0 libcap-ng0 libbsd0 libmd0 libudev1
  libhdf5-103-1 libsz2 libaec0 libcurl4 libnghttp2-14 libpsl5 librtmp1 libssh2-1 libssl3 libbrotli1
  libgssapi-krb5-2 libkrb5-3 libkrb5support0 libk5crypto3 libkeyutils1 libcom-err2 libldap-2.5-0
  libsasl2-2 libsasl2-modules-db libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6
  libidn2-0 libunistring2 libffi8 libzstd1 liblzma5 libdb5.3
  libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 libcivetweb1
  libturbojpeg0 libjpeg62-turbo libpng16-16 zlib1g
)
mkdir -p "$dir"
missing=()
for p in "${packages[@]}"; do
  compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "fetch-gpu-deps: downloading ${#missing[@]} packages into $dir"
  (cd "$dir" && apt-get download "${missing[@]}" >/dev/null)
fi
echo "fetch-gpu-deps: $(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1) in $dir"
