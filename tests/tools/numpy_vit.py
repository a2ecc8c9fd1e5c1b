"""A timm-semantics ViT forward in float64 numpy over timm-named tensors (as
read_safetensors.load returns them): patch conv, CLS token, position embedding, pre-norm
blocks with fused qkv [q | k | v], exact-erf GELU MLP, LayerNorm eps 1e-6; the feature is
the CLS token after the final norm. Independent of lorasub's C++ forward, for checking
that an exported file is a plain ViT.
"""
import math

import numpy as np

_erf = np.vectorize(math.erf)


def _arr(tensors, name):
    t = tensors[name]
    return np.asarray(t.values, dtype=np.float64).reshape(t.shape)


def _layer_norm(x, w, b, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def features(tensors, images, heads):
    """images: N x C x H x W floats in [0, 1]; returns N x d CLS features."""
    t = lambda name: _arr(tensors, name)  # noqa: E731
    w = t("patch_embed.proj.weight")  # d x C x p x p
    d, c, p, _ = w.shape
    n, _, h, _ = images.shape
    g = h // p
    patches = images.reshape(n, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(n, g * g, c * p * p)
    x = patches @ w.reshape(d, -1).T + t("patch_embed.proj.bias")
    cls = np.broadcast_to(t("cls_token").reshape(1, 1, d), (n, 1, d))
    x = np.concatenate([cls, x], 1) + t("pos_embed")
    depth = len({k.split(".")[1] for k in tensors if k.startswith("blocks.")})
    hd = d // heads
    for i in range(depth):
        b = lambda name: t(f"blocks.{i}.{name}")  # noqa: E731
        z = _layer_norm(x, b("norm1.weight"), b("norm1.bias"))
        qkv = z @ b("attn.qkv.weight").T + b("attn.qkv.bias")
        q, k, v = (qkv[..., j * d:(j + 1) * d].reshape(n, -1, heads, hd).transpose(0, 2, 1, 3) for j in range(3))
        a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(n, -1, d)
        x = x + o @ b("attn.proj.weight").T + b("attn.proj.bias")
        m = _layer_norm(x, b("norm2.weight"), b("norm2.bias"))
        m = m @ b("mlp.fc1.weight").T + b("mlp.fc1.bias")
        m = 0.5 * m * (1 + _erf(m / math.sqrt(2)))
        x = x + m @ b("mlp.fc2.weight").T + b("mlp.fc2.bias")
    return _layer_norm(x, t("norm.weight"), t("norm.bias"))[:, 0]


def ncm(feats, prototypes):
    """Cosine nearest class mean: indices into prototypes."""
    f = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-8)
    p = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-8)
    return np.argmax(f @ p.T, axis=1)
