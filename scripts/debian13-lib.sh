# Shared by scripts/check-debian13.sh and scripts/gpu-check.sh --rehearse: a Debian 13
# (trixie) root made with debootstrap from Debian's packages only, cached outside the
# clone, and commands run inside it with the mounts they need, stopped by pid.
# Source it; it defines d13_* functions and sets nothing else but d13_* variables.

d13_mirror="${LORASUB_DEBIAN13_MIRROR:-http://deb.debian.org/debian}"
d13_cache="${LORASUB_DEBIAN13_CACHE:-/var/cache/lorasub}"
d13_mounted=()   # mount points to undo, newest last
d13_pids=()      # chroot commands running, to stop by pid

d13_say() { echo "debian13 [$(date +%H:%M:%S)] $*"; }

# d13_make_root ROOT PACKAGES...: ROOT exists with PACKAGES installed. A missing or
# unfinished root is made afresh (debootstrap into ROOT.new, then renamed, so a run cut
# short never leaves a half-made ROOT); missing packages are installed into an existing one.
d13_make_root() {
  local root="$1"; shift
  if [ ! -f "$root/.lorasub-root" ]; then
    rm -rf "$root.new"
    mkdir -p "$(dirname "$root")"
    d13_say "debootstrap trixie into $root (minbase, main contrib non-free)"
    debootstrap --variant=minbase --components=main,contrib,non-free trixie "$root.new" "$d13_mirror" \
      >"$(dirname "$root")/debootstrap-$(basename "$root").log" 2>&1 || {
      echo "debian13: debootstrap failed; its log: $(dirname "$root")/debootstrap-$(basename "$root").log" >&2
      tail -5 "$(dirname "$root")/debootstrap-$(basename "$root").log" >&2; return 1; }
    # Install nothing that was only recommended, and never ask.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root.new/etc/apt/apt.conf.d/90lorasub"
    rm -rf "$root"
    mv "$root.new" "$root"
    touch "$root/.lorasub-root"
  fi
  d13_install "$root" "$@"
}

# d13_install ROOT PACKAGES...: installs whichever of PACKAGES the root lacks.
d13_install() {
  local root="$1"; shift
  local missing
  missing=$(chroot "$root" dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
            awk '$NF == "installed" {print $1}' | sort >"$root/tmp/.have"; printf '%s\n' "$@" | sort |
            comm -23 - "$root/tmp/.have")
  [ -n "$missing" ] || return 0
  d13_say "apt-get install in $(basename "$root"): $(echo $missing | wc -w) packages"
  d13_mount "$root" || return 1
  d13_chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
  # shellcheck disable=SC2086
  d13_chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || return 1
  d13_chroot "$root" apt-get clean
}

# d13_mount ROOT: /proc, /sys, /dev (shared memory for OpenMPI) bound into ROOT, once.
d13_mount() {
  local root="$1" m
  for m in proc sys dev dev/shm dev/pts; do
    mountpoint -q "$root/$m" && continue
    mkdir -p "$root/$m"
    mount --bind "/$m" "$root/$m" || { echo "debian13: cannot bind /$m into $root (needs root with mount rights)" >&2; return 1; }
    d13_mounted+=("$root/$m")
  done
  # One ccache for every root: the CUDA leg reuses what the CPU leg compiled.
  mkdir -p "$d13_cache/ccache" "$root/var/cache/lorasub-ccache"
  if ! mountpoint -q "$root/var/cache/lorasub-ccache"; then
    mount --bind "$d13_cache/ccache" "$root/var/cache/lorasub-ccache" || return 1
    d13_mounted+=("$root/var/cache/lorasub-ccache")
  fi
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

# d13_chroot ROOT COMMAND...: runs COMMAND inside ROOT in the background and waits for
# it, so that d13_cleanup can stop it by pid (and its process group) if we are stopped.
d13_chroot() {
  local root="$1"; shift
  local rc=0
  setsid chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" CCACHE_DIR=/var/cache/lorasub-ccache "$@" &
  local pid=$!
  d13_pids+=("$pid")
  wait "$pid" || rc=$?
  local kept=() p
  for p in "${d13_pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  d13_pids=("${kept[@]}")
  return "$rc"
}

# Stops whatever d13_chroot started (by pid, then its process group) and undoes the mounts.
d13_cleanup() {
  local pid i
  for pid in "${d13_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${d13_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  d13_pids=()
  for (( i=${#d13_mounted[@]}-1; i>=0; i-- )); do
    umount "${d13_mounted[$i]}" 2>/dev/null || umount -l "${d13_mounted[$i]}" 2>/dev/null || true
  done
  d13_mounted=()
}

# d13_copy_tree SRC DEST: a clean copy of the source tree (tracked files and untracked
# ones git does not ignore: what a clone holds plus uncommitted work, no build outputs).
d13_copy_tree() {
  local src="$1" dest="$2"
  rm -rf "$dest"
  mkdir -p "$dest"
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
     tar --null -T - -cf -) | tar -xf - -C "$dest"
}
