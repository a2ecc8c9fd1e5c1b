// An in-memory image dataset: uint8 HWC pixels and integer labels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lorasub::data {

struct ImageSet {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // size() * height * width * channels, HWC per image
  std::vector<int64_t> labels;  // one per image
  std::string source;           // where it came from, for messages

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return height * width * channels; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
  int64_t num_classes() const;  // max label + 1 (0 when empty)
};

// Keeps the first `per_class` images of every class (in dataset order); 0 keeps all.
ImageSet take_per_class(const ImageSet& set, int64_t per_class);

// A deterministic generated dataset (tests, benchmarks): class c images are a
// class-specific pattern plus noise drawn from Stream::kSynthetic keyed by (seed, index).
ImageSet make_synthetic(int64_t classes, int64_t per_class, int64_t height, int64_t width, int64_t channels,
                        uint64_t seed);

}  // namespace lorasub::data
