#include "lorasub/data/transforms.h"

namespace lorasub::data {

// Train mode: conceptually zero-pad by `padding` on every side, crop h x w at
// (oy, ox) with oy, ox drawn (in that order) from rng.below(2p + 1), then, when
// `flip` and rng.bernoulli(0.5), mirror the crop in x. So
//   out(y, x) = src(y + oy - p, x' + ox - p), x' = flipped ? w - 1 - x : x,
// and 0 where that falls outside the source. Test mode converts without drawing.
void SmallImageTransform::apply(const uint8_t* src, int64_t h, int64_t w, int64_t c, Rng& rng, float* dst) const {
  int64_t oy = 0, ox = 0;
  bool mirror = false;
  const int64_t p = train ? padding : 0;
  if (p > 0) {
    oy = rng.below(2 * p + 1) - p;
    ox = rng.below(2 * p + 1) - p;
  }
  if (train && flip) mirror = rng.bernoulli(0.5);
  for (int64_t ch = 0; ch < c; ++ch) {
    float* plane = dst + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + oy;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (mirror ? w - 1 - x : x) + ox;
        const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        plane[y * w + x] = inside ? src[(sy * w + sx) * c + ch] / 255.0f : 0.0f;
      }
    }
  }
}

}  // namespace lorasub::data
