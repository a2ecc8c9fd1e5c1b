// ViT: timm names and shapes, safetensors round trip, clear load errors, and a
// forward checked against an independent per-token implementation.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "lorasub/core/error.h"
#include "lorasub/io/safetensors.h"
#include "lorasub/model/vit.h"

namespace lorasub::model {
namespace {

VitShape tiny() { return VitShape{8, 3, 4, 12, 2, 3, 20}; }

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(getpid()) + "_" + name;
}

TEST(Vit, TimmNamesAndShapes) {
  auto shapes = timm_shapes(tiny());
  EXPECT_EQ(shapes.at("patch_embed.proj.weight"), (std::vector<int64_t>{12, 3, 4, 4}));
  EXPECT_EQ(shapes.at("pos_embed"), (std::vector<int64_t>{1, 5, 12}));
  EXPECT_EQ(shapes.at("cls_token"), (std::vector<int64_t>{1, 1, 12}));
  EXPECT_EQ(shapes.at("blocks.1.attn.qkv.weight"), (std::vector<int64_t>{36, 12}));
  EXPECT_EQ(shapes.at("blocks.0.mlp.fc1.weight"), (std::vector<int64_t>{20, 12}));
  EXPECT_EQ(shapes.at("norm.bias"), (std::vector<int64_t>{12}));
  EXPECT_EQ(shapes.size(), 4u + 2u * 12u + 2u);
}

TEST(Vit, SafetensorsRoundTripGivesSameFeatures) {
  Vit a = Vit::random(tiny(), 9);
  const std::string path = temp_path("vit.safetensors");
  a.save(path);
  Vit b = Vit::load(path, tiny());
  at::Tensor x = at::rand({2, 3, 8, 8});
  EXPECT_TRUE(a.features(x).equal(b.features(x)));
  std::remove(path.c_str());
}

TEST(Vit, LoadNamesMissingUnexpectedAndMisshapedKeys) {
  Vit a = Vit::random(tiny(), 9);
  auto tensors = a.named_tensors();
  std::map<std::string, io::TensorData> out;
  for (auto& [name, t] : tensors) {
    if (name == "norm.weight") continue;  // missing
    io::TensorData td{"F32", t.sizes().vec(), {}};
    at::Tensor c = t.contiguous();
    td.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    if (name == "pos_embed") td.shape = {1, 4, 12}, td.values.resize(48);  // wrong shape
    out.emplace(name, td);
  }
  out.emplace("blocks.0.attn.extra", io::TensorData{"F32", {1}, {0.f}});
  out.emplace("head.weight", io::TensorData{"F32", {1}, {0.f}});  // timm head: ignored
  const std::string path = temp_path("bad.safetensors");
  io::write_safetensors(path, out);
  try {
    Vit::load(path, tiny());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing keys (1)"), std::string::npos) << m;
    EXPECT_NE(m.find("norm.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("pos_embed is [1, 4, 12], expected [1, 5, 12]"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected keys (1)"), std::string::npos) << m;
    EXPECT_NE(m.find("blocks.0.attn.extra"), std::string::npos) << m;
    EXPECT_EQ(m.find("head.weight"), std::string::npos) << m;
  }
  std::remove(path.c_str());
}

// Independent forward in float64 with explicit per-token loops for attention.
at::Tensor reference_features(const Vit& v, const at::Tensor& img) {
  const auto& s = v.shape();
  auto w = v.named_tensors();
  auto W = [&](const std::string& n) { return w.at(n).to(at::kDouble); };
  const int64_t d = s.dim, H = s.heads, hd = d / H, g = s.image_size / s.patch;
  at::Tensor x = img.to(at::kDouble);
  std::vector<at::Tensor> toks{W("cls_token").reshape({d})};
  for (int64_t py = 0; py < g; ++py)
    for (int64_t px = 0; px < g; ++px) {
      at::Tensor patch = x.narrow(1, py * s.patch, s.patch).narrow(2, px * s.patch, s.patch);
      toks.push_back((W("patch_embed.proj.weight") * patch.unsqueeze(0)).sum({1, 2, 3}) + W("patch_embed.proj.bias"));
    }
  at::Tensor t = at::stack(toks) + W("pos_embed")[0];
  auto ln = [&](const at::Tensor& z, const std::string& p) {
    at::Tensor mu = z.mean(-1, true), var = (z - mu).pow(2).mean(-1, true);
    return (z - mu) / (var + 1e-6).sqrt() * W(p + ".weight") + W(p + ".bias");
  };
  for (int64_t i = 0; i < s.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    at::Tensor z = ln(t, b + "norm1");
    at::Tensor qkv = at::matmul(z, W(b + "attn.qkv.weight").t()) + W(b + "attn.qkv.bias");
    at::Tensor o = at::zeros_like(z);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t a = 0; a < t.size(0); ++a) {
        at::Tensor q = qkv[a].narrow(0, h * hd, hd);
        at::Tensor scores = at::zeros({t.size(0)}, at::kDouble);
        for (int64_t c = 0; c < t.size(0); ++c)
          scores[c] = (q * qkv[c].narrow(0, d + h * hd, hd)).sum() / std::sqrt(double(hd));
        at::Tensor p = at::softmax(scores, 0);
        for (int64_t c = 0; c < t.size(0); ++c)
          o[a].narrow(0, h * hd, hd) += p[c] * qkv[c].narrow(0, 2 * d + h * hd, hd);
      }
    t = t + at::matmul(o, W(b + "attn.proj.weight").t()) + W(b + "attn.proj.bias");
    at::Tensor m = at::matmul(ln(t, b + "norm2"), W(b + "mlp.fc1.weight").t()) + W(b + "mlp.fc1.bias");
    m = 0.5 * m * (1.0 + at::erf(m / std::sqrt(2.0)));
    t = t + at::matmul(m, W(b + "mlp.fc2.weight").t()) + W(b + "mlp.fc2.bias");
  }
  return ln(t, "norm")[0];
}

TEST(Vit, ForwardMatchesPerTokenReference) {
  Vit v = Vit::random(tiny(), 4);
  {  // non-trivial norms and biases
    at::NoGradGuard ng;
    for (auto& [n, t] : v.named_tensors()) t.add_(at::randn_like(t) * 0.05);
  }
  at::Tensor x = at::rand({2, 3, 8, 8});
  at::Tensor got = v.features(x);
  for (int64_t i = 0; i < 2; ++i) {
    at::Tensor ref = reference_features(v, x[i]);
    EXPECT_LT((got[i].to(at::kDouble) - ref).abs().max().item<double>(), 1e-4);
  }
}

TEST(Vit, ClsOnlyLastBlockGivesTheSameFeatures) {
  // The per-token reference computes every token through every block; the CLS-only last
  // block must land on it too, with adapters on q (SD-LoRA) as well as k.
  Vit v = Vit::random(tiny(), 5);
  {
    at::NoGradGuard ng;
    for (auto& [n, t] : v.named_tensors()) t.add_(at::randn_like(t) * 0.05);
  }
  at::Tensor x = at::rand({3, 3, 8, 8});
  const at::Tensor got = v.eval_features(x);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_LT((got[i].to(at::kDouble) - reference_features(v, x[i])).abs().max().item<double>(), 1e-4);
  // Against the full last block: fp32 rounding only (features are O(1) after the final
  // LayerNorm; d = 12 terms per dot product at u = 6e-8, a few layers deep).
  std::vector<KvAdapter> adapters;
  for (int b = 0; b < 2; ++b)
    adapters.push_back({at::randn({2, 12}), at::randn({12, 2}) * 0.1, at::randn({2, 12}), at::randn({12, 2}) * 0.1});
  for (bool query : {false, true}) {
    ForwardOptions o;
    o.adapters = &adapters;
    o.adapt_query = query;
    const at::Tensor full = v.features(x, o), one = v.eval_features(x, o);
    EXPECT_LT((full - one).norm().item<double>(), 1e-5 * full.norm().item<double>()) << "adapt_query " << query;
  }
}

TEST(Vit, InputsOnlyStopsAfterTheLastBlocksInputs) {
  Vit v = Vit::random(tiny(), 6);
  at::Tensor x = at::rand({2, 3, 8, 8});
  std::vector<at::Tensor> full, stopped;
  ForwardOptions o;
  o.on_ln1 = [&full](int64_t, const at::Tensor& z) { full.push_back(z.clone()); };
  v.features(x, o);
  o.on_ln1 = [&stopped](int64_t, const at::Tensor& z) { stopped.push_back(z.clone()); };
  o.inputs_only = true;
  EXPECT_FALSE(v.features(x, o).defined());
  ASSERT_EQ(stopped.size(), 2u);
  ASSERT_EQ(full.size(), 2u);
  for (size_t b = 0; b < 2; ++b) EXPECT_TRUE(stopped[b].equal(full[b])) << "block " << b;
}

TEST(Vit, RejectsWrongInputShape) {
  Vit v = Vit::random(tiny(), 4);
  EXPECT_THROW(v.features(at::rand({1, 1, 8, 8})), std::invalid_argument);
}

}  // namespace
}  // namespace lorasub::model
