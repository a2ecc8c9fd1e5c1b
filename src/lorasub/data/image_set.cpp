#include "lorasub/data/image_set.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {

int64_t ImageSet::num_classes() const {
  if (labels.empty()) return 0;
  return *std::max_element(labels.begin(), labels.end()) + 1;
}

ImageSet take_per_class(const ImageSet& set, int64_t per_class) {
  if (per_class < 0) {
    throw ConfigError("take_per_class: per_class must be >= 0, got " + std::to_string(per_class));
  }
  if (per_class == 0) return set;
  ImageSet out;
  out.height = set.height;
  out.width = set.width;
  out.channels = set.channels;
  out.source = set.source;
  std::unordered_map<int64_t, int64_t> taken;
  const int64_t bytes = set.image_bytes();
  for (int64_t i = 0; i < set.size(); ++i) {
    int64_t& count = taken[set.labels[i]];
    if (count >= per_class) continue;
    ++count;
    out.labels.push_back(set.labels[i]);
    out.pixels.insert(out.pixels.end(), set.image(i), set.image(i) + bytes);
  }
  return out;
}

namespace {

// Class c draws a horizontal band whose row depends on c and a vertical band whose
// column depends on (3c + 1) mod classes, so every class has a distinct pair.
struct Pattern {
  int64_t row0, col0, thick_y, thick_x;
  bool on(int64_t y, int64_t x) const { return (y >= row0 && y < row0 + thick_y) || (x >= col0 && x < col0 + thick_x); }
};

Pattern pattern_of(int64_t c, int64_t classes, int64_t h, int64_t w) {
  Pattern p;
  p.thick_y = std::max<int64_t>(1, h / 8);
  p.thick_x = std::max<int64_t>(1, w / 8);
  p.row0 = (c * h) / classes;
  p.col0 = (((3 * c + 1) % classes) * w) / classes;
  return p;
}

}  // namespace

// Images are interleaved: image i has label i % classes. Pixel values: pattern pixels
// 192 + U[0,64), background U[0,64), drawn per image from Rng(kSynthetic, {seed, i})
// in HWC order, so image i does not depend on how many images precede it.
ImageSet make_synthetic(int64_t classes, int64_t per_class, int64_t height, int64_t width, int64_t channels,
                        uint64_t seed) {
  if (classes < 1 || per_class < 0 || height < 1 || width < 1 || channels < 1) {
    throw ConfigError("make_synthetic: invalid shape (classes=" + std::to_string(classes) +
                      ", per_class=" + std::to_string(per_class) + ", " + std::to_string(height) + "x" +
                      std::to_string(width) + "x" + std::to_string(channels) + ")");
  }
  ImageSet set;
  set.height = height;
  set.width = width;
  set.channels = channels;
  set.source = "synthetic(seed=" + std::to_string(seed) + ")";
  const int64_t n = classes * per_class;
  set.labels.resize(n);
  set.pixels.resize(n * set.image_bytes());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % classes;
    set.labels[i] = c;
    const Pattern pat = pattern_of(c, classes, height, width);
    Rng rng(Stream::kSynthetic, {seed, static_cast<uint64_t>(i)});
    uint8_t* px = set.pixels.data() + i * set.image_bytes();
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        const int64_t base = pat.on(y, x) ? 192 : 0;
        for (int64_t ch = 0; ch < channels; ++ch) {
          *px++ = static_cast<uint8_t>(base + rng.below(64));
        }
      }
    }
  }
  return set;
}

}  // namespace lorasub::data
