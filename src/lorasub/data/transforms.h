// Transforms for small images (the demo): zero-pad + random crop back to size and a
// horizontal flip at train time; identity at test time. Output is float [0,1] CHW.
#pragma once
#include <cstdint>
#include "lorasub/core/rng.h"

namespace lorasub::data {

struct SmallImageTransform {
  bool train = false;
  int64_t padding = 0;  // crop offsets drawn uniformly in [0, 2*padding]
  bool flip = false;    // flip with probability 0.5

  // src: h x w x c uint8 (HWC). dst: c x h x w floats. rng is the sample's stream;
  // draws in order: crop y offset, crop x offset (only if padding > 0), flip (only if flip).
  void apply(const uint8_t* src, int64_t h, int64_t w, int64_t c, Rng& rng, float* dst) const;
};

}  // namespace lorasub::data
