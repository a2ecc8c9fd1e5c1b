"""timm key -> shape of a ViT's tensors, for tests that write backbone files by hand."""


def vit_shapes(d=16, depth=2, mlp=32, tokens=5, channels=1, patch=7):
    """The tiny test ViT by default (dim 16, depth 2, mlp 32, 14 px, patch 7: 5 tokens)."""
    shapes = {"patch_embed.proj.weight": [d, channels, patch, patch], "patch_embed.proj.bias": [d],
              "cls_token": [1, 1, d], "pos_embed": [1, tokens, d], "norm.weight": [d], "norm.bias": [d]}
    for i in range(depth):
        for k, s in (("norm1.weight", [d]), ("norm1.bias", [d]), ("attn.qkv.weight", [3 * d, d]),
                     ("attn.qkv.bias", [3 * d]), ("attn.proj.weight", [d, d]), ("attn.proj.bias", [d]),
                     ("norm2.weight", [d]), ("norm2.bias", [d]), ("mlp.fc1.weight", [mlp, d]),
                     ("mlp.fc1.bias", [mlp]), ("mlp.fc2.weight", [d, mlp]), ("mlp.fc2.bias", [d])):
            shapes[f"blocks.{i}.{k}"] = s
    return shapes
