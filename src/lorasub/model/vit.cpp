#include "lorasub/model/vit.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cmath>
#include <sstream>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/io/safetensors.h"

namespace lorasub::model {

VitShape model_shape(const ModelConfig& m) {
  return {m.image_size, m.channels, m.patch, m.dim, m.depth, m.heads, m.mlp_dim};
}

namespace {

constexpr double kLnEps = 1e-6;

std::string block_key(int64_t i, const char* rest) { return "blocks." + std::to_string(i) + "." + rest; }

// Visits every tensor slot with its timm name and shape, in a fixed order.
template <typename Fn>
void for_each_slot(const VitShape& s, Fn&& fn, at::Tensor* patch_w, at::Tensor* patch_b, at::Tensor* cls,
                   at::Tensor* pos, std::vector<BlockWeights>* blocks, at::Tensor* norm_w, at::Tensor* norm_b) {
  const int64_t d = s.dim, m = s.mlp_dim;
  fn("patch_embed.proj.weight", std::vector<int64_t>{d, s.channels, s.patch, s.patch}, patch_w);
  fn("patch_embed.proj.bias", std::vector<int64_t>{d}, patch_b);
  fn("cls_token", std::vector<int64_t>{1, 1, d}, cls);
  fn("pos_embed", std::vector<int64_t>{1, s.tokens(), d}, pos);
  for (int64_t i = 0; i < s.depth; ++i) {
    BlockWeights& b = (*blocks)[i];
    fn(block_key(i, "norm1.weight"), std::vector<int64_t>{d}, &b.norm1_w);
    fn(block_key(i, "norm1.bias"), std::vector<int64_t>{d}, &b.norm1_b);
    fn(block_key(i, "attn.qkv.weight"), std::vector<int64_t>{3 * d, d}, &b.qkv_w);
    fn(block_key(i, "attn.qkv.bias"), std::vector<int64_t>{3 * d}, &b.qkv_b);
    fn(block_key(i, "attn.proj.weight"), std::vector<int64_t>{d, d}, &b.proj_w);
    fn(block_key(i, "attn.proj.bias"), std::vector<int64_t>{d}, &b.proj_b);
    fn(block_key(i, "norm2.weight"), std::vector<int64_t>{d}, &b.norm2_w);
    fn(block_key(i, "norm2.bias"), std::vector<int64_t>{d}, &b.norm2_b);
    fn(block_key(i, "mlp.fc1.weight"), std::vector<int64_t>{m, d}, &b.fc1_w);
    fn(block_key(i, "mlp.fc1.bias"), std::vector<int64_t>{m}, &b.fc1_b);
    fn(block_key(i, "mlp.fc2.weight"), std::vector<int64_t>{d, m}, &b.fc2_w);
    fn(block_key(i, "mlp.fc2.bias"), std::vector<int64_t>{d}, &b.fc2_b);
  }
  fn("norm.weight", std::vector<int64_t>{d}, norm_w);
  fn("norm.bias", std::vector<int64_t>{d}, norm_b);
}

std::string shape_str(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

// Truncated normal(0, std) in [-2std, 2std] by rejection, from one seeded stream.
at::Tensor trunc_normal(const std::vector<int64_t>& shape, double stddev, Rng& rng) {
  at::Tensor t = at::empty(shape, at::kFloat);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v;
    do {
      v = rng.normal(0.0, stddev);
    } while (std::abs(v) > 2.0 * stddev);
    p[i] = static_cast<float>(v);
  }
  return t;
}

}  // namespace

std::map<std::string, std::vector<int64_t>> timm_shapes(const VitShape& shape) {
  std::map<std::string, std::vector<int64_t>> out;
  Vit v(shape);
  for (const auto& [name, t] : v.named_tensors()) out[name] = t.sizes().vec();
  return out;
}

Vit::Vit(VitShape shape) : shape_(shape), blocks_(static_cast<size_t>(shape.depth)) {
  for_each_slot(
      shape_, [](const std::string&, const std::vector<int64_t>& sz, at::Tensor* t) { *t = at::zeros(sz, at::kFloat); },
      &patch_w_, &patch_b_, &cls_token_, &pos_embed_, &blocks_, &norm_w_, &norm_b_);
}

Vit Vit::random(const VitShape& shape, uint64_t seed) {
  Vit v(shape);
  Rng rng(Stream::kBackboneInit, {seed});
  for_each_slot(
      shape,
      [&](const std::string& name, const std::vector<int64_t>& sz, at::Tensor* t) {
        const bool is_norm = name.find("norm") != std::string::npos;
        const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        if (is_norm && !is_bias)
          *t = at::ones(sz, at::kFloat);
        else if (is_bias)
          *t = at::zeros(sz, at::kFloat);
        else
          *t = trunc_normal(sz, 0.02, rng);
      },
      &v.patch_w_, &v.patch_b_, &v.cls_token_, &v.pos_embed_, &v.blocks_, &v.norm_w_, &v.norm_b_);
  return v;
}

Vit Vit::load(const std::string& path, const VitShape& shape) { return load(io::SafeTensorsFile::read(path), shape); }

Vit Vit::load(const io::SafeTensorsFile& file, const VitShape& shape) {
  const std::string& path = file.path();
  Vit v(shape);
  std::vector<std::string> missing, misshaped;
  std::map<std::string, bool> used;
  for_each_slot(
      shape,
      [&](const std::string& name, const std::vector<int64_t>& sz, at::Tensor* t) {
        if (!file.has(name)) {
          missing.push_back(name);
          return;
        }
        used[name] = true;
        const io::TensorData& td = file.at(name);
        if (td.shape != sz) {
          misshaped.push_back(name + " is " + shape_str(td.shape) + ", expected " + shape_str(sz));
          return;
        }
        *t = at::from_blob(const_cast<float*>(td.values.data()), sz, at::kFloat).clone();
      },
      &v.patch_w_, &v.patch_b_, &v.cls_token_, &v.pos_embed_, &v.blocks_, &v.norm_w_, &v.norm_b_);
  std::vector<std::string> unexpected;
  for (const auto& [name, td] : file.tensors()) {
    // timm's classification head and pre-logits, and an export's lorasub.* extras, are not backbone weights.
    if (!used.count(name) && name.rfind("head", 0) != 0 && name.rfind("pre_logits", 0) != 0 &&
        name.rfind("lorasub.", 0) != 0 && name != "fc_norm.weight" && name != "fc_norm.bias")
      unexpected.push_back(name);
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) {
    // A NaN or Inf weight would surface only as "non-finite loss" at the first step.
    for (const auto& [name, t] : v.named_tensors()) {
      const int64_t bad = t.isfinite().logical_not().sum().item<int64_t>();
      if (bad > 0)
        throw FormatError("'" + path + "': tensor '" + name + "' holds " + std::to_string(bad) +
                          " NaN or infinite values (of " + std::to_string(t.numel()) + ")");
    }
    return v;
  }
  std::ostringstream os;
  os << "'" << path << "' does not match the configured ViT (model.dim " << shape.dim << ", depth " << shape.depth
     << ", patch " << shape.patch << ", image_size " << shape.image_size << ", channels " << shape.channels
     << ", mlp_dim " << shape.mlp_dim << ")";
  auto list = [&os](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    os << "\n  " << what << " (" << names.size() << "):";
    for (size_t i = 0; i < names.size() && i < 12; ++i) os << "\n    " << names[i];
    if (names.size() > 12) os << "\n    ... and " << names.size() - 12 << " more";
  };
  list("wrong shape", misshaped);
  list("missing keys", missing);
  list("unexpected keys", unexpected);
  throw FormatError(os.str());
}

void Vit::save(const std::string& path, const std::map<std::string, std::string>& meta) const {
  std::map<std::string, io::TensorData> out;
  for (const auto& [name, t] : named_tensors()) {
    at::Tensor c = t.detach().contiguous().to(at::kFloat);
    io::TensorData td;
    td.dtype = "F32";
    td.shape = c.sizes().vec();
    td.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.emplace(name, std::move(td));
  }
  io::write_safetensors(path, out, meta);
}

std::map<std::string, at::Tensor> Vit::named_tensors() const {
  std::map<std::string, at::Tensor> out;
  auto* self = const_cast<Vit*>(this);
  for_each_slot(
      shape_, [&](const std::string& name, const std::vector<int64_t>&, at::Tensor* t) { out.emplace(name, *t); },
      &self->patch_w_, &self->patch_b_, &self->cls_token_, &self->pos_embed_, &self->blocks_, &self->norm_w_,
      &self->norm_b_);
  return out;
}

std::vector<at::Tensor> Vit::parameters() const {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : named_tensors()) out.push_back(t);
  return out;
}

void Vit::to(const at::Device& device) {
  for_each_slot(
      shape_, [&](const std::string&, const std::vector<int64_t>&, at::Tensor* t) { *t = t->to(device); }, &patch_w_,
      &patch_b_, &cls_token_, &pos_embed_, &blocks_, &norm_w_, &norm_b_);
}

void Vit::to(at::ScalarType dtype) {
  for_each_slot(
      shape_, [&](const std::string&, const std::vector<int64_t>&, at::Tensor* t) { *t = t->to(dtype); }, &patch_w_,
      &patch_b_, &cls_token_, &pos_embed_, &blocks_, &norm_w_, &norm_b_);
}

at::Device Vit::device() const { return patch_w_.device(); }

void Vit::set_requires_grad(bool on) {
  for (auto& t : parameters()) t.requires_grad_(on);
}

at::Tensor Vit::block_forward(int64_t i, const at::Tensor& x, const ForwardOptions& opt) const {
  const BlockWeights& b = blocks_[i];
  const int64_t B = x.size(0), T = x.size(1), d = shape_.dim, H = shape_.heads;
  at::Tensor z = at::layer_norm(x, {d}, b.norm1_w, b.norm1_b, kLnEps);
  if (opt.on_ln1) opt.on_ln1(i, z);
  const bool last = i + 1 == shape_.depth;
  if (last && opt.inputs_only) return {};
  const at::Tensor& w = opt.qkv_weights ? (*opt.qkv_weights)[i] : b.qkv_w;
  at::Tensor qkv = at::linear(z, w, b.qkv_b);
  at::Tensor q = qkv.narrow(-1, 0, d), k = qkv.narrow(-1, d, d), v = qkv.narrow(-1, 2 * d, d);
  at::Tensor& first = opt.adapt_query ? q : k;
  if (opt.adapters) {
    const KvAdapter& a = (*opt.adapters)[i];
    at::Tensor d1 = at::linear(at::linear(z, a.a_k), a.b_k), dv = at::linear(at::linear(z, a.a_v), a.b_v);
    if (opt.adapter_scale.defined()) {
      d1 = d1 * opt.adapter_scale;
      dv = dv * opt.adapter_scale;
    }
    first = first + d1;
    v = v + dv;
  }
  if (opt.stacked) {
    const StackedAdapter& s = (*opt.stacked)[i];
    first = first + at::linear(at::linear(z, s.a_k) * s.scale_k, s.b_k);
    v = v + at::linear(at::linear(z, s.a_v) * s.scale_v, s.b_v);
  }
  // cls_only: the last block's queries (and so everything after the attention) for the
  // CLS token alone; keys and values stay every token's.
  const bool one = last && opt.cls_only;
  const int64_t Tq = one ? 1 : T;
  const at::Tensor qq = one ? q.narrow(1, 0, 1) : q;
  auto heads = [&](const at::Tensor& t, int64_t n) { return t.reshape({B, n, H, d / H}).transpose(1, 2); };
#if TORCH_VERSION_MAJOR >= 2
  at::Tensor o = at::scaled_dot_product_attention(heads(qq, Tq), heads(k, T), heads(v, T));
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(d / H));
  at::Tensor attn = at::softmax(at::matmul(heads(qq, Tq), heads(k, T).transpose(-2, -1)) * scale, -1);
  at::Tensor o = at::matmul(attn, heads(v, T));
#endif
  o = o.transpose(1, 2).reshape({B, Tq, d});
  at::Tensor h = (one ? x.narrow(1, 0, 1) : x) + at::linear(o, b.proj_w, b.proj_b);
  at::Tensor m = at::layer_norm(h, {d}, b.norm2_w, b.norm2_b, kLnEps);
  m = at::linear(at::gelu(at::linear(m, b.fc1_w, b.fc1_b)), b.fc2_w, b.fc2_b);
  return h + m;
}

at::Tensor Vit::features(const at::Tensor& x, const ForwardOptions& opt) const {
  if (x.dim() != 4 || x.size(1) != shape_.channels || x.size(2) != shape_.image_size || x.size(3) != shape_.image_size)
    throw std::invalid_argument("Vit::features: input " + shape_str(x.sizes().vec()) + " does not match channels " +
                                std::to_string(shape_.channels) + " and image_size " +
                                std::to_string(shape_.image_size));
  const int64_t B = x.size(0);
  at::Tensor t = at::conv2d(x, patch_w_, patch_b_, {shape_.patch, shape_.patch});
  t = t.flatten(2).transpose(1, 2);
  t = at::cat({cls_token_.expand({B, 1, shape_.dim}), t}, 1) + pos_embed_;
  for (int64_t i = 0; i < shape_.depth; ++i) t = block_forward(i, t, opt);
  if (opt.inputs_only) return {};
  t = at::layer_norm(t, {shape_.dim}, norm_w_, norm_b_, kLnEps);
  return t.select(1, 0);
}

}  // namespace lorasub::model
