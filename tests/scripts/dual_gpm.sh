#!/usr/bin/env bash
# InfLoRA's DualGPM memory and A_t design (src/lorasub/method/dual_gpm.cpp) against a
# numpy transcription of the reference (liangyanshuo/InfLoRA e08b00e, methods/inflora.py:
# the A_t design before a task and update_DualGPM after it), written here independently
# of the C++: 8-dimensional covariances with decaying spectra over 6 tasks, thresholds
# growing as the reference's, so that the first update, the 'remove' updates, the dual
# switch and the 'retain' updates all happen (the script checks that they did).
# The first update is 'remove' then the dual switch, as lorasub defines the reference's
# broken branch for a first basis of >= d/2 vectors (docs/method.md).
# Compared: every memory's kind and size, its projector M M^T (a basis is defined up to
# rotation) to 1e-10 (both float64), and the span of every A_t as 3 A^T A (a projector) to
# 1e-6: A_t is stored in float32, whose rounding (u = 6e-8 of entries near 0.58) moves
# 3 A^T A by about 2 r * 3 * 0.33 u = 2.4e-7.
# Usage: dual_gpm.sh DUAL_GPM_TOOL WORK_DIR
set -uo pipefail
tool="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" - "$tool" "$work" <<'PY'
import subprocess, sys
import numpy as np
tool, work = sys.argv[1:]
d, r, T = 8, 2, 6
rng = np.random.default_rng(5)

def covariance(t):
    # tokens with a decaying spectrum in a basis that turns with the task
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scale = np.exp(-np.arange(d) * (0.9 - 0.1 * t)) * (1 + 0.3 * rng.random(d))
    x = rng.standard_normal((200, d)) * scale @ q.T
    return x.T @ x / 200

def svd_u(m):
    u, s, _ = np.linalg.svd(m)
    return u, s

def design(c, feat, kind):
    if feat is None:
        cp = c
    elif kind == "remove":
        cp = c - feat @ feat.T @ c
    else:
        cp = feat @ feat.T @ c
    u, _ = svd_u(cp)
    return u[:, :r].T / np.sqrt(3)

def update(c, feat, kind, thr):  # update_DualGPM, one layer
    if feat is None:
        u, s = svd_u(c)
        ratio = s ** 2 / (s ** 2).sum()
        k = int((np.cumsum(ratio) < thr).sum())
        feat, kind = u[:, :max(k, 1)], "remove"
    else:
        tot = (svd_u(c)[1] ** 2).sum()
        if kind == "remove":
            u, s = svd_u(c - feat @ feat.T @ c)
            ratio = s ** 2 / tot
            acc, k = (tot - (s ** 2).sum()) / tot, 0
            for i in range(len(ratio)):
                if acc < thr:
                    acc += ratio[i]; k += 1
                else:
                    break
            if k > 0:
                feat = np.hstack([feat, u[:, :k]])[:, :d]
        else:
            u, s = svd_u(feat @ feat.T @ c)
            ratio = s ** 2 / tot
            acc, k = (s ** 2).sum() / tot, 0
            for i in range(len(ratio)):
                if acc >= 1 - thr:
                    acc -= ratio[i]; k += 1
                else:
                    break
            if k > 0:
                f = feat - u[:, :k] @ u[:, :k].T @ feat
                uf, _, _ = np.linalg.svd(f, full_matrices=True)
                feat = uf[:, :feat.shape[1] - k]
    if kind == "remove" and feat.shape[1] > d / 2:
        uf, _, _ = np.linalg.svd(feat, full_matrices=True)
        feat, kind = uf[:, feat.shape[1]:], "retain"
    return feat, kind

covs = [covariance(t) for t in range(T)]
thrs = [0.9 + (0.99 - 0.9) * t / T for t in range(T)]
text = f"{d} {r} {T}\n" + "".join(f"{thr!r}\n" + " ".join(repr(float(x)) for x in c.ravel()) + "\n" for thr, c in zip(thrs, covs))
out = subprocess.run([tool], input=text, capture_output=True, text=True, check=True).stdout.split("\n")
pos = 0
def take(n):
    global pos
    v = np.array([float(x) for x in out[pos:pos + n]]); pos += n; return v
feat, kind, worst_p, worst_a, kinds = None, None, 0.0, 0.0, []
for t in range(T):
    assert out[pos] == "design", out[pos]; pos += 1
    a = take(r * d).reshape(r, d)
    want_a = design(covs[t], feat, kind)
    worst_a = max(worst_a, np.abs(3 * a.T @ a - 3 * want_a.T @ want_a).max())
    feat, kind = update(covs[t], feat, kind, thrs[t])
    head = out[pos].split(); pos += 1
    p = take(d * d).reshape(d, d)
    assert head[1] == kind and int(head[2]) == feat.shape[1], (t, head, kind, feat.shape[1])
    worst_p = max(worst_p, np.abs(p - feat @ feat.T).max())
    kinds.append(f"{kind} {feat.shape[1]}")
print("memories after each task:", ", ".join(kinds))
assert kinds[0].startswith("remove") and any(k.startswith("retain") for k in kinds), "not every branch was taken"
grew = any(a.startswith("remove") and b.startswith("remove") and int(b.split()[1]) > int(a.split()[1]) for a, b in zip(kinds, kinds[1:]))
shrank = any(a.startswith("retain") and b.startswith("retain") and int(b.split()[1]) < int(a.split()[1]) for a, b in zip(kinds, kinds[1:]))
print(f"remove update grew the memory: {grew}; retain update shrank the complement: {shrank}")
ok = worst_p < 1e-10 and worst_a < 1e-6 and grew and shrank
print(f"{'ok  ' if ok else 'FAIL:'} C++ DualGPM vs numpy over {T} tasks: memory projectors differ by {worst_p:.2g} "
      f"(limit 1e-10), A_t spans by {worst_a:.2g} (limit 1e-6)")
sys.exit(0 if ok else 1)
PY
