#!/usr/bin/env bash
# The GPU check, in phases that fit the GPU machine (../shared/DEVICE.md: one H200, 16
# cores, torch 2.x + CUDA in /opt/torch/.venv, no network, 15 minutes in all, at most 10
# per command, 64 MiB carried).
#
#   scripts/gpu-check.sh --prepare   here (Debian 12, network): carry/ = the Debian 12
#                                    packages the GPU machine lacks, the demo's data
#                                    subset and its pre-trained backbone (git-ignored)
#   scripts/gpu-check.sh build       there (<= 5 min): unpack carry/ into a prefix,
#                                    configure against the machine's CUDA LibTorch and
#                                    NCCL, build only what the checks run
#   scripts/gpu-check.sh run         there (<= 5 min): the checks, in the order of what
#                                    they prove (each stops at its time limit):
#     contract   the Communicator contract on NCCL at size 1 (device buffers, streams),
#                and on MPI with 2 ranks (the relocated OpenMPI works)
#     cpu_cuda   CPU ≡ CUDA: one tiny two-task run on both, fp32, TF32 off, compared
#                after every step (tests/gpu/cpu_cuda_main.cpp argues the 1e-4 bound)
#     bench_bf16 ViT-B/16 at 224 px, bf16, global batch 128: img/s, MFU, peak memory,
#                loader-wait and all-reduce shares, the task-boundary cost
#     bench_fp32 the same in fp32 (TF32 off)
#     demo       the demo end to end on the GPU (the carried data and backbone)
#   scripts/gpu-check.sh --rehearse  here: both phases in a fresh Debian 13 root with only
#                                    the compiler, CMake, ninja and Python, the carried
#                                    .debs unpacked as there and Debian 13's CPU LibTorch
#                                    2.6 as the stand-in for the machine's pip torch
#                                    (scripts/gpu-rehearse.sh)
#
# Each phase's step limits add up to 300 s (the rehearsal stretches them 4x for its 2
# cores). Results: $OUT/build.json and $OUT/run.json (rewritten after every step, so a run cut
# short still reports what it did), one log per step beside them. Without a usable CUDA
# device (the rehearsal) every device check records "no device" and nothing else.
# Environment: OUT (default ./gpu-check-out), LORASUB_PYTHON (default the machine's
# venv), LORASUB_TORCH_PREFIX / LORASUB_TORCH_LIB (a LibTorch other than the Python one).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$out"
. scripts/gpu-check-lib.sh

phase="${1:-}"
case "$phase" in
  --prepare) exec scripts/gpu-prepare.sh ;;
  --rehearse) exec scripts/gpu-rehearse.sh ;;
  build|run) ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "gpu-check.sh: give a phase: --prepare, build, run or --rehearse (try --help)" >&2; exit 2 ;;
esac
[ -d "$carry/gpu-debs" ] || { echo "gpu-check.sh: $carry/gpu-debs missing: run scripts/gpu-check.sh --prepare first (here)" >&2; exit 2; }
torch_paths
prefix_env

build_phase() {
  local f=build
  : >"$out/$f.tsv"
  note $f cores "$(nproc)"
  note $f glibc "$(jstr "$(ldd --version 2>&1 | head -1)")"
  note $f nvcc "$(jstr "$(nvcc --version 2>&1 | tail -1)")"
  note $f torch "$(jstr "$("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1)")"
  note $f torch_cmake "$(jstr "$torch_cmake")"
  step $f unpack 30 unpack_prefix || return 1
  # Every unpacked library loads here (glibc new enough, nothing missing).
  local bad
  bad=$(for so in "$lib"/libmpi.so.40 "$lib"/libhdf5_serial.so.103 "$lib"/libyaml-cpp.so.0.7 \
                  "$lib"/libprometheus-cpp-core.so.1.0 "$lib"/libturbojpeg.so.0 "$prefix/usr/bin/orterun"; do
          ldd "$so" 2>&1 | grep -E "not found|GLIBC" | sed "s|^|$(basename "$so"): |"; done)
  note $f unloadable "$(jstr "$bad")"
  local nvcc_dir; nvcc_dir="$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")"
  step $f configure 60 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLORASUB_CUDA=AUTO \
    -DCMAKE_PREFIX_PATH="$torch_cmake;$prefix/usr;$lib/cmake" -DCMAKE_IGNORE_PREFIX_PATH=/usr \
    -DCMAKE_LIBRARY_PATH="$lib" -DCMAKE_INCLUDE_PATH="$prefix/usr/include" \
    -DCUDAToolkit_ROOT="$(dirname "$nvcc_dir")" -DHDF5_ROOT="$lib/hdf5/serial" \
    -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_HEADER_DIR="$lib/openmpi/include" -DMPI_CXX_HEADER_DIR="$lib/openmpi/include" \
    -DMPI_C_LIB_NAMES=mpi -DMPI_CXX_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$lib/openmpi/lib/libmpi.so" \
    -DMPIEXEC_EXECUTABLE="$prefix/usr/bin/mpirun" -DCMAKE_CUDA_ARCHITECTURES=90 || return 1
  note $f configure.lorasub "$(jstr "$(grep -E "^-- lorasub:" "$out/configure.log")")"
  step $f compile 210 cmake --build "$build" -j "$(nproc)" --target lorasub_cli mpi_contract gpu_cpu_cuda || return 1
  note $f warnings "$(grep -c "warning:" "$out/compile.log")"
  note $f links "$(jstr "$(ldd "$build/lorasub" | grep -E "nccl|cudart|torch_cuda|libmpi|not found")")"
}

# Whether a CUDA device can be used: the devices visible to the CUDA runtime.
device_state() {
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then echo present; else echo "no device"; fi
}

bench_fields() {  # bench_fields LOG: the figures of a bench's text as JSON
  "$PY" - "$1" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
def num(pattern):
    m = re.search(pattern, t)
    return float(m.group(1)) if m else None
print(json.dumps({"images_per_s": num(r"train images/s\s+([\d.]+)"), "step_ms_task2": num(r"step ms, task 2\s+([\d.]+)"),
                  "mfu_bf16_percent": num(r"MFU ([\d.]+)% of bf16"), "peak_tensor_mb": num(r"device memory, peak\s+([\d.]+)"),
                  "data_wait_percent": num(r"data-wait share, steps\s+([\d.]+)"),
                  "allreduce_percent": num(r"all-reduce share, steps\s+([\d.]+)"),
                  "boundary_percent": num(r"task-boundary share\s+([\d.]+)"), "text": t[-3000:]}))
PY
}

run_phase() {
  local f=run dev
  : >"$out/$f.tsv"
  [ -x "$build/lorasub" ] || { echo "gpu-check.sh run: no $build/lorasub: run the build phase first" >&2; return 2; }
  dev=$(device_state)
  note $f gpu "$(jstr "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)")"
  note $f device "$(jstr "$dev")"
  local mpirun="$prefix/usr/bin/mpirun" bin="$build/lorasub"
  step $f contract_mpi 20 "$mpirun" -np 2 --bind-to none "$build/tests/mpi/mpi_contract" mpi
  note $f contract_mpi.summary "$(jstr "$(grep -E "^(PASS|FAIL)" "$out/contract_mpi.log" | tail -1)")"
  if [ "$dev" = present ]; then
    step $f contract_nccl 40 "$mpirun" -np 1 --bind-to none "$build/tests/mpi/mpi_contract" nccl
    note $f contract_nccl.summary "$(jstr "$(grep -E "^(PASS|FAIL|SKIP)" "$out/contract_nccl.log" | tail -1)")"
  else
    note $f contract_nccl "$(jstr "no device")"
  fi
  # CPU ≡ CUDA: its CPU half runs either way (exit 77: no device).
  step_skip=77 step $f cpu_cuda 60 "$mpirun" -np 1 --bind-to none "$build/tests/gpu/gpu_cpu_cuda" "$out/cpu-cuda-runs"
  note $f cpu_cuda.result "$(grep -E '^\{' "$out/cpu_cuda.log" | tail -1 || echo null)"
  rm -rf "$out/cpu-cuda-runs"
  if [ "$dev" != present ]; then
    for c in bench_bf16 bench_fp32 demo; do note $f "$c" "$(jstr "no device")"; done
  else
    local vitb=(-c configs/bench-vitb16.yaml --tasks 2 --set "run.dir=$out/runs" --set train.device=cuda
                --set data.workers=$(( $(nproc) - 2 )))
    step $f bench_bf16 60 "$mpirun" -np 1 --bind-to none "$bin" bench "${vitb[@]}" --set train.precision=bf16 &&
      note $f bench_bf16.figures "$(bench_fields "$out/bench_bf16.log")"
    step $f bench_fp32 60 "$mpirun" -np 1 --bind-to none "$bin" bench "${vitb[@]}" --set train.precision=fp32 \
      --set train.tf32=false && note $f bench_fp32.figures "$(bench_fields "$out/bench_fp32.log")"
    step $f demo 60 "$mpirun" -np 1 --bind-to none "$bin" train -c configs/demo.yaml --set train.device=cuda \
      --set "data.root=$carry/fashion-mnist-demo" --set "model.weights=$carry/demo-backbone.safetensors" \
      --set "run.dir=$out/runs" --set run.name=demo-gpu
    note $f demo.summary "$(jstr "$(grep -E "A_last" "$out/demo.log" | tail -1)")"
    rm -rf "$out"/runs/*/checkpoints
  fi
  note $f total_seconds "$(( $(date +%s) - t_start ))"
}

rc=0
if [ "$phase" = build ]; then build_phase || rc=1; else run_phase || rc=1; fi
[ "${#failed[@]}" -eq 0 ] || rc=1
note "$phase" failed "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${failed[@]}")"
say "$phase: $([ "$rc" -eq 0 ] && echo done || echo "FAILED (${failed[*]})"): $out/$phase.json"
exit "$rc"
