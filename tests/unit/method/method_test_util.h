// Shared by the learner tests: a tiny ViT shape and seeded batches of it.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "lorasub/core/rng.h"
#include "lorasub/data/loader.h"
#include "lorasub/method/learner.h"
#include "lorasub/model/vit.h"

namespace lorasub::method::test {

// 8x8 RGB images in 4x4 patches, d = 12, 2 blocks.
inline model::VitShape tiny() { return model::VitShape{8, 3, 4, 12, 2, 3, 20}; }

// Uniform(-1, 1) pixels from the seeded stream, the given labels.
inline data::Batch batch_of(const std::vector<int64_t>& labels, uint64_t seed) {
  const model::VitShape s = tiny();
  data::Batch b;
  b.n = static_cast<int64_t>(labels.size());
  b.channels = s.channels;
  b.height = b.width = s.image_size;
  Rng rng(Stream::kSynthetic, {seed});
  b.pixels.resize(static_cast<size_t>(b.n * s.channels * s.image_size * s.image_size));
  for (float& p : b.pixels) p = static_cast<float>(rng.uniform(-1.0, 1.0));
  b.labels.assign(labels.begin(), labels.end());
  return b;
}

inline at::Tensor images_of(const data::Batch& b) {
  return at::from_blob(const_cast<float*>(b.pixels.data()), {b.n, b.channels, b.height, b.width}, at::kFloat).clone();
}

// A source that yields `batches` once.
inline BatchSource source_of(std::vector<data::Batch> batches) {
  auto next = std::make_shared<size_t>(0);
  auto all = std::make_shared<std::vector<data::Batch>>(std::move(batches));
  return [next, all]() -> std::optional<data::Batch> {
    if (*next >= all->size()) return std::nullopt;
    return (*all)[(*next)++];
  };
}

inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() / b.to(at::kDouble).norm().item<double>();
}

}  // namespace lorasub::method::test
