# scripts/check-debian13.sh --cuda: lorasub configured, compiled and linked against
# Debian 13's CUDA LibTorch 2.6 (contrib), with the CUDA toolkit 12.4 and NCCL
# (non-free), in a root of its own. Sourced by check-debian13.sh (uses its phase, root
# helpers and variables).
#
# Two things here cannot be had from Debian's packages without a network or a GPU:
#  - nvidia-cudnn is an installer that downloads cuDNN from NVIDIA at install time.
#    An equivs package of the same name (and the version libtorch-cuda-2.6 asks for)
#    stands in for it, so apt installs the rest; nothing then provides libcudnn.so.9.
#  - libtorch_cuda.so needs libcudnn.so.9. The linker must see every library a shared
#    library needs, so the link gets a stub libcudnn.so.9 (on -rpath-link only, never
#    in the binary) that defines exactly the cudnn* symbols libtorch_cuda.so imports:
#    every other symbol is still resolved strictly. The binaries cannot start here (so
#    the gtest binaries list their tests when ctest runs, not after linking).

cuda_root="$d13_cache/debian13-cuda"
cuda_packages=(equivs binutils)  # beyond the CPU root's
cuda_stack=(libtorch-cuda-dev libtorch-cuda-2.6 nvidia-cuda-toolkit libnccl-dev)

# The stand-in for nvidia-cudnn, installed before the CUDA stack.
cudnn_standin() {
  if d13_chroot "$cuda_root" dpkg-query -W -f='${Version}' nvidia-cudnn 2>/dev/null | grep -q lorasub; then return 0; fi
  mkdir -p "$cuda_root/tmp/equivs"
  cat >"$cuda_root/tmp/equivs/nvidia-cudnn.ctl" <<'EOF'
Section: contrib/libs
Priority: optional
Standards-Version: 4.6.2
Package: nvidia-cudnn
Version: 9.0.0.312~cuda12+lorasub1
Provides: libcudnn.so.9
Description: stand-in for the nvidia-cudnn downloader (lorasub's offline CUDA link check)
 Installs nothing: cuDNN cannot be downloaded here. libcudnn.so.9 is absent.
EOF
  d13_chroot "$cuda_root" sh -c 'cd /tmp/equivs && equivs-build nvidia-cudnn.ctl >build.log 2>&1 && dpkg -i nvidia-cudnn_*.deb >/dev/null' || return 1
  rm -rf "$cuda_root/tmp/equivs"
}

cuda_stack_install() {
  local before after
  before=$(du -smx "$cuda_root" | cut -f1)
  cudnn_standin || return 1
  d13_mount "$cuda_root" || return 1
  local t0=$SECONDS
  d13_chroot "$cuda_root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only "${cuda_stack[@]}" \
    >"$cuda_root/tmp/download.log" 2>&1 || { tail -5 "$cuda_root/tmp/download.log"; return 1; }
  grep -E "^Need to get|newly installed" "$cuda_root/tmp/download.log"
  echo "downloaded in $((SECONDS - t0)) s"
  d13_install "$cuda_root" "${cuda_stack[@]}" || return 1
  after=$(du -smx "$cuda_root" | cut -f1)
  echo "the CUDA stack added $((after - before)) MB to the root"
}

# A stub libcudnn.so.9 defining the cudnn* functions libtorch_cuda.so imports.
cudnn_stub() {
  local so dir=/opt/cudnn-stub
  so=$(d13_chroot "$cuda_root" sh -c 'ls /usr/lib/x86_64-linux-gnu/libtorch_cuda.so* | head -1')
  # The imports carry the version node libcudnn.so.9 (cudnnCreate@libcudnn.so.9): the
  # stub defines it too.
  d13_chroot "$cuda_root" sh -c "mkdir -p $dir && nm -D --undefined-only $so | awk '{print \$2}' | grep '@libcudnn' |
    sed 's/@.*//' | grep '^cudnn' | sort -u | sed 's/.*/void &(void) {}/' >$dir/stub.c &&
    echo 'libcudnn.so.9 { global: *; };' >$dir/stub.map &&
    gcc -shared -fPIC -Wl,-soname,libcudnn.so.9 -Wl,--version-script=$dir/stub.map -o $dir/libcudnn.so.9 $dir/stub.c &&
    echo \"cudnn stub: \$(wc -l <$dir/stub.c) functions libtorch_cuda.so imports\""
}

cuda_configure_build() {
  local rc=0
  d13_chroot "$cuda_root" cmake -S "$work" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLORASUB_CUDA=ON -DLORASUB_WERROR=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,/opt/cudnn-stub" -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST \
    >"$cuda_root$work/configure-cuda.log" 2>&1 || rc=$?
  grep -E "lorasub:|CUDA|nvcc|NVTX|nvToolsExt|Torch|Error" "$cuda_root$work/configure-cuda.log" | grep -v "Looking for" | head -20
  [ "$rc" -eq 0 ] || { tail -30 "$cuda_root$work/configure-cuda.log"; return 1; }
  d13_chroot "$cuda_root" cmake --build "$work/build" -j "$(nproc)" >"$cuda_root$work/build.log" 2>&1 || {
    grep -E "error|FAILED|undefined reference" "$cuda_root$work/build.log" | head -30; return 1; }
  echo "warnings: $(grep -c "warning:" "$cuda_root$work/build.log")"
  echo "linked: $(cd "$cuda_root$work/build" && find . -maxdepth 3 -type f -perm -u+x \( -name lorasub -o -name 'unit_*' \
    -o -name 'mpi_*' -o -name 'gpu_*' \) | sort | tr '\n' ' ')"
}

# Which NCCL and cudart the binary takes, by its own records and by the loader.
cuda_links() {
  d13_chroot "$cuda_root" sh -c "cd $work/build &&
    echo 'NEEDED (lorasub):' && readelf -d lorasub | grep -E 'NEEDED|RUNPATH|RPATH' | sed 's/^ */  /' &&
    echo 'ldd (lorasub): NCCL, cudart, torch, cuDNN' &&
    ldd lorasub | grep -E 'nccl|cudart|torch_cuda|cudnn' | sed 's/^\t*/  /' &&
    echo 'NEEDED (libtorch_cuda.so):' && readelf -d /usr/lib/x86_64-linux-gnu/libtorch_cuda.so | grep -E 'nccl|cudart|cudnn' | sed 's/^ */  /'"
}

# The CUDA root starts as a copy of the CPU leg's root (made first when missing): same
# compiler and libraries, so the shared ccache serves every translation unit the CUDA
# LibTorch does not change.
cuda_root_from_cpu() {
  if [ ! -f "$cuda_root/.lorasub-root" ]; then
    d13_make_root "$root" "${cpu_packages[@]}" || return 1
    rm -rf "$cuda_root.new"
    cp -ax "$root" "$cuda_root.new" || return 1
    rm -rf "$cuda_root.new$work" && rm -rf "$cuda_root"
    mv "$cuda_root.new" "$cuda_root"
  fi
  d13_install "$cuda_root" "${cuda_packages[@]}"
}

d13_cuda_leg() {
  phase root-cuda cuda_root_from_cpu || return 1
  phase cuda-stack cuda_stack_install || return 1
  d13_mount "$cuda_root" || return 1
  phase copy d13_copy_tree "$src" "$cuda_root$work" || return 1
  phase cudnn-stub cudnn_stub || return 1
  phase configure-build cuda_configure_build || return 1
  phase links cuda_links
  [ "$keep" -eq 1 ] || rm -rf "$cuda_root$work"
}
