#!/usr/bin/env bash
# scripts/gpu-check.sh --rehearse: both phases of the GPU check, here, as the GPU machine
# will run them, so that its first try works:
#  - a fresh Debian 13 root with only the compiler, CMake, ninja and Python
#    (LORASUB_DEBIAN13_CACHE/debian13-minimal, made again when missing);
#  - the carried Debian 12 .debs unpacked there with dpkg -x into a prefix
#    (scripts/gpu-check.sh --prepare makes carry/ when it is missing), configured with
#    CMAKE_IGNORE_PREFIX_PATH=/usr, as there;
#  - as the stand-in for the machine's pip LibTorch, Debian 13's CPU LibTorch 2.6
#    (libtorch-dev and what it needs), unpacked the same way into /opt/torch-standin
#    (its prefix goes on CMAKE_PREFIX_PATH too: Debian's Torch CMake package looks for
#    protobuf, which a pip torch does not; and Debian keeps libgloo in /usr/lib, a pip
#    torch everything in torch/lib).
# Everything up to the first check that needs a device must pass (configure, build,
# the MPI contract, the CPU half of CPU ≡ CUDA); the device checks say "no device".
# Results: OUT (default ./gpu-rehearsal-out): build.json, run.json, the logs, and
# rehearsal.txt with each phase's time.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/.." && pwd)"
. "$here/debian13-lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "gpu-rehearse.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
out="${OUT:-$src/gpu-rehearsal-out}"
mkdir -p "$out"
# An earlier rehearsal's results (only the files a rehearsal writes) make way for this one's.
rm -f "$out"/*.json "$out"/*.tsv "$out"/*.log "$out"/*.console "$out/rehearsal.txt"
root="$d13_cache/debian13-minimal"
work=/work/lorasub
standin=/opt/torch-standin
trap 'd13_cleanup' EXIT
trap 'exit 130' INT TERM
t0=$SECONDS
times=()
lap() { times+=("$1 $((SECONDS - $2)) s"); }

# The minimal root: what the GPU machine has (compiler, CMake, ninja, Python).
t=$SECONDS
d13_make_root "$root" build-essential cmake ninja-build python3 || exit 1
lap root "$t"

# carry/ (Debian 12 packages, demo data, backbone), made here on the Debian 12 host.
t=$SECONDS
if [ ! -d "$src/carry/gpu-debs" ] || [ ! -f "$src/carry/demo-backbone.safetensors" ]; then
  "$src/scripts/gpu-prepare.sh" || exit 1
fi
lap prepare "$t"

# The stand-in LibTorch: libtorch-dev 2.6 and every package it needs that the root lacks,
# downloaded and unpacked (never installed).
t=$SECONDS
d13_mount "$root" || exit 1
if [ ! -f "$root$standin/.unpacked" ]; then
  rm -rf "$root$standin" "$root/tmp/standin-debs"
  mkdir -p "$root/tmp/standin-debs/partial"
  # What apt would install for libtorch-dev here (alternatives resolved as apt resolves
  # them), downloaded only.
  d13_chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --download-only -o Dir::Cache::archives=/tmp/standin-debs libtorch-dev >/dev/null && ls /tmp/standin-debs/*.deb >/dev/null' \
    || { echo "gpu-rehearse.sh: downloading the stand-in LibTorch failed" >&2; exit 1; }
  for deb in "$root"/tmp/standin-debs/*.deb; do dpkg -x "$deb" "$root$standin" || exit 1; done
  # BLAS and LAPACK are alternatives, linked into place at install time: link them here.
  sl="$root$standin/usr/lib/x86_64-linux-gnu"
  for so in blas/libblas.so.3 lapack/liblapack.so.3; do
    for impl in openblas-pthread openblas-openmp openblas-serial "${so%%/*}"; do
      [ -e "$sl/$impl/${so#*/}" ] && { ln -sf "$impl/${so#*/}" "$sl/${so#*/}"; break; }
    done
  done
  echo "gpu-rehearse: stand-in LibTorch: $(ls "$root"/tmp/standin-debs/*.deb | wc -l) packages, $(du -sh "$root$standin" | cut -f1)"
  rm -rf "$root/tmp/standin-debs"
  touch "$root$standin/.unpacked"
fi
lap standin "$t"

# A clean copy of the tree, carry/ beside it (git ignores it), as the device tool sends them.
t=$SECONDS
d13_copy_tree "$src" "$root$work"
mkdir -p "$root$work/carry"
cp -a "$src/carry/gpu-debs" "$src/carry/fashion-mnist-demo" "$src/carry/demo-backbone.safetensors" "$root$work/carry/"
echo "gpu-rehearse: carried $(( $(du -sb "$root$work/carry" | cut -f1) / 1048576 )) MiB"
lap copy "$t"

# The two phases, each as one command the way the device tool runs them.
rc=0
for phase in build run; do
  t=$SECONDS
  d13_chroot "$root" env OUT=/work/out LORASUB_PYTHON=/usr/bin/python3 LORASUB_LIMIT_SCALE=4 \
    LORASUB_TORCH_PREFIX="$standin/usr/lib/x86_64-linux-gnu/cmake;$standin/usr" \
    LORASUB_TORCH_LIB="$standin/usr/lib/x86_64-linux-gnu:$standin/usr/lib" \
    bash -c "cd $work && scripts/gpu-check.sh $phase" > >(tee "$out/$phase.console") 2>&1
  prc=$?
  lap "$phase" "$t"
  [ "$prc" -eq 0 ] || { rc=1; break; }
done
cp -a "$root/work/out/." "$out/" 2>/dev/null
rm -rf "$root/work/out"
printf '%s\n' "${times[@]}" "total $((SECONDS - t0)) s" | tee "$out/rehearsal.txt"
echo "gpu-rehearse: $([ "$rc" -eq 0 ] && echo passed || echo FAILED); results in $out"
exit "$rc"
