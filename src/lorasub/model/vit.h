// A ViT backbone with timm key names (see docs/METHOD.md): patch conv, CLS token,
// learned position embedding, pre-norm blocks with fused qkv (bias), exact GELU MLP,
// LayerNorm eps 1e-6; the feature is the CLS token after the final norm.
// The forward takes per-block effective qkv weights (merged or subtracted LoRA deltas)
// and optional low-rank k/v adapters, so the LoRA bookkeeping stays in LoraBank.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lorasub/core/config.h"

namespace lorasub::io {
class SafeTensorsFile;
}

namespace lorasub::model {

struct VitShape {
  int64_t image_size = 28, channels = 1, patch = 7, dim = 64, depth = 4, heads = 4, mlp_dim = 128;
  int64_t tokens() const { return (image_size / patch) * (image_size / patch) + 1; }
};

// The shape the config's model section describes.
VitShape model_shape(const ModelConfig& m);

struct BlockWeights {
  at::Tensor norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
  at::Tensor norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

// The current task's low-rank adapter of one block: k += (z A_k^T) B_k^T, same for v.
// With ForwardOptions::adapt_query (SD-LoRA's q and v), the a_k/b_k pair adapts q.
struct KvAdapter {
  at::Tensor a_k, b_k, a_v, b_v;  // A: r x d, B: d x r
};

// Several frozen adapters of one block stacked along the rank, each rank column scaled:
// k += ((z A^T) * scale) B^T with A: n x d, B: d x n, scale: n (may require grad); same
// for v. SD-LoRA's normalised earlier directions times their learnable magnitudes.
struct StackedAdapter {
  at::Tensor a_k, b_k, a_v, b_v;
  at::Tensor scale_k, scale_v;
};

struct ForwardOptions {
  // Per-block qkv weight to use instead of W0 (3d x d); null = W0.
  const std::vector<at::Tensor>* qkv_weights = nullptr;
  // Per-block current adapters; null = none.
  const std::vector<KvAdapter>* adapters = nullptr;
  // A scalar multiplying the current adapters' output (SD-LoRA's magnitude); undefined = 1.
  at::Tensor adapter_scale;
  // Per-block stacked scaled adapters, added besides the current ones; null = none.
  const std::vector<StackedAdapter>* stacked = nullptr;
  // The first adapter pair adapts q instead of k.
  bool adapt_query = false;
  // Called with each block's LN1 output (B x T x d), e.g. for the covariance pass.
  std::function<void(int64_t block, const at::Tensor& ln1_out)> on_ln1;
  // Stop after the last block's on_ln1 call: features() returns an undefined tensor
  // (a pass that only reads the blocks' inputs, such as the covariance pass).
  bool inputs_only = false;
  // The last block computes its attention output and MLP for the CLS token only, the one
  // row features() returns: the same features in exact arithmetic (the last bits may
  // differ, the matrix shapes do), at 1/T of that block's attention and MLP. Every
  // gradient-free pass (prototypes, evaluation, drift, predict) uses it.
  bool cls_only = false;
};

class Vit {
 public:
  explicit Vit(VitShape shape);
  // Random init for pre-training: trunc-normal(0.02) weights, zero biases, LN (1, 0).
  static Vit random(const VitShape& shape, uint64_t seed);
  // Loads timm-named weights; throws FormatError listing missing, unexpected and
  // mis-shaped keys. Tensors named "lorasub.*" (an exported model's prototypes and class
  // order, see train/export.h) and timm's head/pre_logits/fc_norm are not weights of the
  // backbone and are ignored.
  static Vit load(const std::string& path, const VitShape& shape);
  static Vit load(const io::SafeTensorsFile& file, const VitShape& shape);
  void save(const std::string& path, const std::map<std::string, std::string>& meta = {}) const;

  // CLS feature after the final norm: B x d. x: B x C x H x W floats.
  at::Tensor features(const at::Tensor& x, const ForwardOptions& opt = {}) const;
  // features() with ForwardOptions::cls_only: what gradient-free passes compute.
  at::Tensor eval_features(const at::Tensor& x, ForwardOptions opt = {}) const {
    opt.cls_only = true;
    return features(x, opt);
  }

  const VitShape& shape() const { return shape_; }
  // Moves every weight to `device` (fp32 kept); features() then expects inputs there.
  void to(const at::Device& device);
  // Converts every weight to `dtype` (float64 copies for reference computations in tests).
  void to(at::ScalarType dtype);
  at::Device device() const;
  const std::vector<BlockWeights>& blocks() const { return blocks_; }
  // Every tensor by its timm name.
  std::map<std::string, at::Tensor> named_tensors() const;
  // All parameters (for pre-training), in named_tensors() order.
  std::vector<at::Tensor> parameters() const;
  void set_requires_grad(bool on);

 private:
  at::Tensor block_forward(int64_t i, const at::Tensor& x, const ForwardOptions& opt) const;
  VitShape shape_;
  at::Tensor patch_w_, patch_b_, cls_token_, pos_embed_, norm_w_, norm_b_;
  std::vector<BlockWeights> blocks_;
};

// The expected timm names and shapes for a ViT shape.
std::map<std::string, std::vector<int64_t>> timm_shapes(const VitShape& shape);

}  // namespace lorasub::model
