#!/usr/bin/env bash
# The GPU check: one script that a GPU machine runs from a clean checkout (see
# ../shared/DEVICE.md for that machine: one H200, 16 cores, torch 2.11 + CUDA 13 in
# /opt/torch/.venv, no network, no OpenMPI/HDF5/yaml-cpp/prometheus-cpp/libjpeg-turbo).
#
#   scripts/gpu-check.sh --prepare   here (Debian 12, network): fetch the Debian packages
#                                    the GPU machine lacks, the demo's data subset and
#                                    its pre-trained backbone into carry/ (git-ignored)
#   scripts/gpu-check.sh             there, with carry/ carried along: unpack the
#                                    packages into a prefix, build with all cores, run
#                                    the checks, write $OUT/gpu-check.json (+ logs)
#
# Checks, each with its own time limit, in this order (the JSON is rewritten after
# each, so a run cut short still reports what it did):
#   env       GPU, driver, glibc (>= 2.36 for Debian 12 packages), torch, nvcc
#   deps      every unpacked library loads (ldd: nothing "not found", no GLIBC errors)
#   build     CMake + ninja -j$(nproc) against the CUDA LibTorch and NCCL (pip)
#   contract  the Communicator contract on NCCL, size 1 (mpi_contract nccl)
#   unit      the unit tests (ctest -L unit)
#   (a)       CPU vs CUDA: the demo config, 2 tasks, 1 rank, fp32, TF32 off:
#             ||a-b||/||b|| of every adapter and head (max over tensors, <= 1e-4), A_last
#   (c)       bench: ViT-B/16, random weights, generated 224 px data, global batch 128
#             in fp32 and bf16, then the largest bf16 batch that fits; --comm on NCCL;
#             which SDPA kernel runs (torch profiler on the same ATen op and shapes)
#   (d)       the demo end to end on the GPU (5 tasks, the carried backbone)
# Keep it within 8 minutes on that machine.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

if [ "${1:-}" = "--prepare" ]; then
  set -e
  scripts/fetch-gpu-deps.sh carry/gpu-debs
  # The demo's Fashion-MNIST, cut to what configs/demo.yaml reads (the first 2000 train
  # and 500 test images of each class), and its backbone: no network there.
  /usr/bin/python3 - carry/fashion-mnist-demo <<'PY'
import gzip, os, sys, numpy as np
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
os.makedirs(dst, exist_ok=True)
for split, per in (("train", 2000), ("t10k", 500)):
    with gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz") as f: lab = np.frombuffer(f.read(), np.uint8, offset=8)
    with gzip.open(f"{src}/{split}-images-idx3-ubyte.gz") as f: img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    keep = np.sort(np.concatenate([np.flatnonzero(lab == c)[:per] for c in range(10)]))
    n = len(keep)
    with gzip.open(f"{dst}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([0x801, n], ">u4").tobytes() + lab[keep].tobytes())
    with gzip.open(f"{dst}/{split}-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([0x803, n, 28, 28], ">u4").tobytes() + img[keep].tobytes())
    print(f"gpu-check: {split}: {n} images -> {dst}")
PY
  if [ ! -f runs/demo-backbone.safetensors ]; then
    scripts/build.sh lorasub_cli
    launch/mpirun.sh -n 2 pretrain -c configs/demo-pretrain.yaml --set pretrain.output=runs/demo-backbone.safetensors
  fi
  cp runs/demo-backbone.safetensors carry/demo-backbone.safetensors
  echo "gpu-check: carry/ is $(du -sh carry | cut -f1) (the device tool carries at most 64 MiB)"
  exit 0
fi

out="${OUT:-$root/gpu-check-out}"
mkdir -p "$out"
results="$out/results.txt"   # key<TAB>json-value lines, turned into gpu-check.json
: >"$results"
t_start=$(date +%s)
note() { printf '%s\t%s\n' "$1" "$2" >>"$results"; write_json; }
say() { echo "gpu-check [$(( $(date +%s) - t_start )) s] $*"; }
write_json() {
  "$PY" - "$results" "$out/gpu-check.json" <<'PY' 2>/dev/null || true
import json, sys
d = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("\t")
    try: d[k] = json.loads(v)
    except ValueError: d[k] = v
json.dump(d, open(sys.argv[2], "w"), indent=1, sort_keys=True)
PY
}
# step NAME LIMIT_S COMMAND...: runs, logs to $out/NAME.log, records status and seconds.
step() {
  local name="$1" limit="$2"; shift 2
  local s=$(date +%s) rc=0
  say "$name (limit ${limit} s)"
  timeout "$limit" "$@" >"$out/$name.log" 2>&1 || rc=$?
  note "$name.exit" "$rc"
  note "$name.seconds" "$(( $(date +%s) - s ))"
  [ "$rc" -eq 0 ] || { say "$name: exit $rc"; tail -5 "$out/$name.log"; }
  return "$rc"
}

# --- env
PY=/opt/torch/.venv/bin/python3; [ -x "$PY" ] || PY=python3
note env.gpu "\"$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)\""
note env.glibc "\"$(ldd --version 2>&1 | head -1)\""
note env.nvcc "\"$(nvcc --version 2>&1 | tail -1)\""
note env.cores "$(nproc)"
note env.torch "\"$("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1)\""

# --- deps: Debian 12 packages unpacked into a prefix
prefix="$root/carry/prefix"
if [ ! -d "$prefix/usr" ]; then
  mkdir -p "$prefix"
  for deb in carry/gpu-debs/*.deb; do
    if command -v dpkg >/dev/null; then dpkg -x "$deb" "$prefix"
    else (cd "$prefix" && ar p "$root/$deb" "$(ar t "$root/$deb" | grep '^data.tar')" | tar -x -a -f - 2>/dev/null ||
          ar p "$root/$deb" data.tar.xz | tar -xJ); fi
  done
fi
lib="$prefix/usr/lib/x86_64-linux-gnu"
ompi="$lib/openmpi"
torch_cmake=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_lib=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
nccl_dir=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)
export OPAL_PREFIX="$prefix/usr" PATH="$prefix/usr/bin:$PATH"
export LD_LIBRARY_PATH="$lib:$ompi/lib:$lib/hdf5/serial:$torch_lib:${nccl_dir:+$nccl_dir/lib:}${LD_LIBRARY_PATH:-}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
unloadable=$(for f in "$lib"/libmpi.so.40 "$lib"/libhdf5_serial.so.103 "$lib"/libyaml-cpp.so.0.7 \
                     "$lib"/libprometheus-cpp-core.so.1.0 "$lib"/libturbojpeg.so.0 "$prefix/usr/bin/orterun"; do
               ldd "$f" 2>&1 | grep -E "not found|GLIBC|version" | sed "s|^|$(basename "$f"): |"; done)
note deps.unloadable "$("$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip().splitlines()))' <<<"$unloadable")"
[ -z "$unloadable" ] || say "deps: libraries that do not load here:"$'\n'"$unloadable"

# --- build
build="$root/build-gpu"
step build 420 bash -c "
  cmake -S . -B '$build' -G Ninja -DCMAKE_BUILD_TYPE=Release -DLORASUB_CUDA=ON \
    -DCMAKE_PREFIX_PATH='$torch_cmake;$prefix/usr;$lib/cmake' \
    -DNCCL_INCLUDE_DIR='$nccl_dir/include' -DNCCL_LIBRARY='$nccl_dir/lib/libnccl.so.2' \
    -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_HEADER_DIR='$ompi/include' -DMPI_C_LIB_NAMES=mpi \
    -DMPI_CXX_HEADER_DIR='$ompi/include' -DMPI_CXX_LIB_NAMES=mpi -DMPI_mpi_LIBRARY='$ompi/lib/libmpi.so' \
    -DMPIEXEC_EXECUTABLE='$prefix/usr/bin/orterun' -DCMAKE_CUDA_ARCHITECTURES=90 &&
  cmake --build '$build' -j $(nproc)" || { say "build failed: see $out/build.log"; write_json; exit 1; }
grep -E "warning:" "$out/build.log" | sort -u >"$out/build-warnings.txt"
note build.warnings "$(wc -l <"$out/build-warnings.txt")"
bin="$build/lorasub"
mpirun="$prefix/usr/bin/orterun"

# --- contract: NCCL at size 1
step contract 120 "$mpirun" -np 1 "$build/tests/mpi/mpi_contract" nccl
note contract.summary "\"$(grep -E "PASS|FAIL|SKIP" "$out/contract.log" | tail -1)\""

# --- unit tests
step unit 180 ctest --test-dir "$build" -L unit -j "$(nproc)" --timeout 120
note unit.summary "\"$(grep -E "tests passed|tests failed" "$out/unit.log" | tail -1)\""

# --- (a) CPU vs CUDA on the demo config, 2 tasks
demo=(-c configs/demo.yaml --tasks 2 --set "data.root=$root/carry/fashion-mnist-demo"
      --set "model.weights=$root/carry/demo-backbone.safetensors" --set "run.dir=$out/runs" --set train.tf32=false
      --set train.precision=fp32)
step a_cpu 240 "$mpirun" -np 1 --bind-to none "$bin" train "${demo[@]}" --set run.name=a-cpu --set train.device=cpu
step a_cuda 240 "$mpirun" -np 1 --bind-to none "$bin" train "${demo[@]}" --set run.name=a-cuda --set train.device=cuda
"$PY" - "$out/runs" >"$out/a_compare.json" 2>"$out/a_compare.err" <<'PY'
import json, sys
import h5py, numpy as np
r = sys.argv[1]
worst, names = 0.0, []
with h5py.File(f"{r}/a-cpu/checkpoints/task_001.h5") as a, h5py.File(f"{r}/a-cuda/checkpoints/task_001.h5") as b:
    a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.split("/")[0] in ("adapters", "heads") else None)
    for n in names:
        x, y = a[n][()].astype(np.float64), b[n][()].astype(np.float64)
        worst = max(worst, float(np.linalg.norm(x - y) / (np.linalg.norm(x) or 1.0)))
acc = [json.load(open(f"{r}/{k}/results.json"))["A_last"] for k in ("a-cpu", "a-cuda")]
print(json.dumps({"max_rel_norm_diff": worst, "tensors": len(names), "limit": 1e-4, "pass": worst <= 1e-4,
                  "A_last_cpu": acc[0], "A_last_cuda": acc[1]}))
PY
note a.cpu_vs_cuda "$(cat "$out/a_compare.json" 2>/dev/null || echo null)"

# --- (c) ViT-B/16 bench, NCCL all-reduce sweep, SDPA kernel
vitb=(-c configs/bench-vitb16.yaml --tasks 2 --set "run.dir=$out/runs" --set data.workers=$(( $(nproc) - 2 )))
step c_fp32 150 "$mpirun" -np 1 --bind-to none "$bin" bench "${vitb[@]}" --set train.precision=fp32
step c_bf16 120 "$mpirun" -np 1 --bind-to none "$bin" bench "${vitb[@]}" --set train.precision=bf16
for b in 1024 512 256; do
  if step "c_bf16_b$b" 120 "$mpirun" -np 1 --bind-to none "$bin" bench "${vitb[@]}" --set train.precision=bf16 \
       --set train.batch_size=$b --set data.synthetic_per_class=$(( 2 * b )); then
    note c.largest_bf16_batch "$b"; break
  fi
done
step c_comm 90 "$mpirun" -np 1 --bind-to none "$bin" bench -c configs/bench-vitb16.yaml --comm --comm-max-mb 256
step c_sdpa 90 "$PY" - <<'PY'
import torch
from torch.profiler import profile, ProfilerActivity
for dtype in (torch.float32, torch.bfloat16):
    q, k, v = (torch.randn(128, 12, 197, 64, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()
        torch.cuda.synchronize()
    kernels = sorted({e.name for e in p.events() if any(s in e.name.lower() for s in ("flash", "fmha", "efficient", "attention", "cudnn", "softmax"))})
    print(f"SDPA {dtype}: {kernels[:6]}")
PY
for f in c_fp32 c_bf16 c_comm c_sdpa; do note "$f.text" "$("$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read()[-2500:]))' <"$out/$f.log")"; done

# --- (d) the demo end to end on the GPU
step d_demo 240 "$mpirun" -np 1 --bind-to none "$bin" train -c configs/demo.yaml --set "data.root=$root/carry/fashion-mnist-demo" \
  --set "model.weights=$root/carry/demo-backbone.safetensors" --set "run.dir=$out/runs" --set run.name=demo-gpu
note d.summary "\"$(grep -E "A_last" "$out/d_demo.log" | tail -1)\""
note total_seconds "$(( $(date +%s) - t_start ))"
rm -rf "$out/runs"/*/checkpoints/step_*.h5
say "done: $out/gpu-check.json"
