# Shared by the phases of scripts/gpu-check.sh: where things are on the GPU machine (or
# the rehearsal's stand-in for it), the carried Debian 12 packages unpacked into a
# prefix and made usable there, and a JSON file that is rewritten after every step.
# Source it from the repository root after setting `out`.

root="$PWD"
carry="${LORASUB_CARRY:-$root/carry}"
prefix="$carry/prefix"                       # the carried .debs, unpacked
lib="$prefix/usr/lib/x86_64-linux-gnu"
pmix="$lib/pmix2"
build="${LORASUB_GPU_BUILD:-$root/build-gpu}"
PY="${LORASUB_PYTHON:-/opt/torch/.venv/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3)"
t_start=$(date +%s)

say() { echo "gpu-check [$(( $(date +%s) - t_start )) s] $*"; }

# note FILE KEY JSON-VALUE: records a result and rewrites FILE.json at once, so a run cut
# short still reports every step it finished.
note() {
  local file="$1" key="$2" value="$3"
  printf '%s\t%s\n' "$key" "$value" >>"$out/$file.tsv"
  "$PY" - "$out/$file.tsv" "$out/$file.json" <<'PY' || true
import json, sys
d = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("\t")
    try: d[k] = json.loads(v)
    except ValueError: d[k] = v
tmp = sys.argv[2] + ".tmp"
json.dump(d, open(tmp, "w"), indent=1, sort_keys=True)
import os; os.replace(tmp, sys.argv[2])
PY
}
# jstr TEXT: TEXT as a JSON string.
jstr() { "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))' <<<"$1"; }

# step FILE NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, its output in
# $out/NAME.log; records NAME.exit and NAME.seconds in FILE.json. An exit other than 0
# (or than $step_skip, "no device") is added to `failed`.
failed=()
step_skip=""
step() {
  local file="$1" name="$2" limit="$3"; shift 3
  local s rc=0
  s=$(date +%s)
  # The limits are the GPU machine's (16 cores); the rehearsal on 2 cores stretches them.
  limit=$(( limit * ${LORASUB_LIMIT_SCALE:-1} ))
  say "$name (limit ${limit} s)"
  if declare -F "$1" >/dev/null; then  # a shell function: timeout(1) cannot run it
    ( "$@" ) >"$out/$name.log" 2>&1 &
    local pid=$!
    ( for (( i = 0; i < limit; i++ )); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
      kill -TERM "$pid" 2>/dev/null ) &
    local watch=$!
    wait "$pid" || rc=$?
    wait "$watch" 2>/dev/null
  else
    timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1 || rc=$?
  fi
  note "$file" "$name.exit" "$rc"
  note "$file" "$name.seconds" "$(( $(date +%s) - s ))"
  if [ "$rc" -ne 0 ] && [ "$rc" != "$step_skip" ]; then
    failed+=("$name")
    say "$name: exit $rc$([ "$rc" -eq 124 ] && echo " (time limit)")"
    tail -5 "$out/$name.log"
  fi
  return "$rc"
}

# The LibTorch: the machine's pip torch (its CMake prefix and lib/), or what
# LORASUB_TORCH_PREFIX (a CMake prefix list) / LORASUB_TORCH_LIB (library directories,
# colon-separated) name (the rehearsal's Debian LibTorch).
torch_paths() {
  torch_cmake="${LORASUB_TORCH_PREFIX:-}"
  torch_lib="${LORASUB_TORCH_LIB:-}"
  if [ -z "$torch_cmake" ]; then
    torch_cmake=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || torch_cmake=""
    torch_lib=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
  fi
}

# Unpacks carry/gpu-debs/*.deb into the prefix (once) and repairs what dpkg -x leaves
# unusable outside /usr:
#  - mpirun/mpiexec: Debian makes them alternatives links at install time; dpkg -x
#    leaves only mpirun.openmpi and orterun;
#  - prometheus-cpp's CMake package looks for civetweb and CURL (its pull and push
#    parts, whose -dev packages are not carried): lorasub links prometheus-cpp::core only.
unpack_prefix() {
  if [ ! -f "$prefix/.unpacked" ]; then
    rm -rf "$prefix"
    mkdir -p "$prefix"
    local deb
    for deb in "$carry"/gpu-debs/*.deb; do
      if command -v dpkg >/dev/null; then dpkg -x "$deb" "$prefix" || return 1
      else (cd "$prefix" && ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x -a -f -) || return 1; fi
    done
    ln -sf mpirun.openmpi "$prefix/usr/bin/mpirun"
    ln -sf mpiexec.openmpi "$prefix/usr/bin/mpiexec"
    sed -i 's/^set(PROMETHEUS_CPP_ENABLE_PULL ON)/set(PROMETHEUS_CPP_ENABLE_PULL OFF)/;
            s/^set(PROMETHEUS_CPP_ENABLE_PUSH ON)/set(PROMETHEUS_CPP_ENABLE_PUSH OFF)/' \
      "$lib/cmake/prometheus-cpp/prometheus-cpp-config.cmake"
    touch "$prefix/.unpacked"
  fi
}

# The environment that makes the unpacked OpenMPI 4 + PMIx 4 run from the prefix.
# OPAL_PREFIX relocates OpenMPI (and its plugin path); PMIx has its own variables, and
# Debian's pmix-mca-params.conf names the plugin directory under /usr outright.
prefix_env() {
  export OPAL_PREFIX="$prefix/usr" PATH="$prefix/usr/bin:$PATH"
  export PMIX_PREFIX="$pmix" PMIX_LIBDIR="$pmix/lib" PMIX_DATAROOTDIR="$pmix/share" PMIX_SYSCONFDIR="$pmix/share"
  export PMIX_MCA_mca_base_component_path="$pmix/lib/pmix"
  export LD_LIBRARY_PATH="$lib:$lib/openmpi/lib:$lib/hdf5/serial:$pmix/lib${torch_lib:+:$torch_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
  export OMPI_MCA_rmaps_base_oversubscribe=1
}
