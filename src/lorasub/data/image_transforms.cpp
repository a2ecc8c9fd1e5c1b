#include "lorasub/data/image_transforms.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "lorasub/core/error.h"

namespace lorasub::data {

namespace {

// Python's round(): half to even (the default FE_TONEAREST mode of nearbyint).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

struct Taps {
  std::vector<int64_t> first, count;  // per output index
  std::vector<float> weights;         // per output index, `stride` slots
  int64_t stride = 0;
};

// PIL's precompute_coeffs for the bilinear (triangle) filter over `in` source pixels.
Taps make_taps(int64_t in, int64_t out) {
  Taps t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  t.stride = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out * t.stride), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    int64_t lo = static_cast<int64_t>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int64_t hi = static_cast<int64_t>(center + support + 0.5);
    if (hi > in) hi = in;
    const int64_t n = std::max<int64_t>(hi - lo, 0);
    double sum = 0.0;
    std::vector<double> w(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      const double x = (static_cast<double>(k + lo) - center + 0.5) / filterscale;
      const double ax = std::fabs(x);
      w[k] = ax < 1.0 ? 1.0 - ax : 0.0;
      sum += w[k];
    }
    t.first[i] = lo;
    t.count[i] = std::min(n, t.stride);
    for (int64_t k = 0; k < t.count[i]; ++k) {
      t.weights[i * t.stride + k] = static_cast<float>(sum > 0 ? w[k] / sum : 0.0);
    }
  }
  return t;
}

}  // namespace

CropBox random_resized_crop_params(int64_t height, int64_t width, double scale_lo, double scale_hi, double ratio_lo,
                                   double ratio_hi, Rng& rng) {
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_lo = std::log(ratio_lo), log_hi = std::log(ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_lo, scale_hi);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int64_t w = py_round(std::sqrt(target_area * aspect));
    const int64_t h = py_round(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = rng.below(height - h + 1);
      const int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < std::min(ratio_lo, ratio_hi)) {
    w = width;
    h = py_round(static_cast<double>(w) / std::min(ratio_lo, ratio_hi));
  } else if (in_ratio > std::max(ratio_lo, ratio_hi)) {
    h = height;
    w = py_round(static_cast<double>(h) * std::max(ratio_lo, ratio_hi));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

std::pair<int64_t, int64_t> resize_short_side(int64_t height, int64_t width, int64_t size) {
  if (width <= height) {
    return {static_cast<int64_t>(static_cast<double>(size) * height / width), size};
  }
  return {size, static_cast<int64_t>(static_cast<double>(size) * width / height)};
}

CropBox center_crop_box(int64_t height, int64_t width, int64_t crop_h, int64_t crop_w) {
  CropBox b{0, 0, crop_h, crop_w};
  b.top = crop_h > height ? -((crop_h - height) / 2) : py_round(static_cast<double>(height - crop_h) / 2.0);
  b.left = crop_w > width ? -((crop_w - width) / 2) : py_round(static_cast<double>(width - crop_w) / 2.0);
  return b;
}

namespace {

// Resamples `box` to an out_h x out_w grid but evaluates only the window of output rows
// [y0, y0 + nh) and columns [x0, x0 + nw) (indices outside the grid give 0), into dst
// (nh x nw x c). Scratch memory is per thread and reused.
void resample_window(const uint8_t* src, int64_t h, int64_t w, int64_t c, const CropBox& box, int64_t out_h,
                     int64_t out_w, int64_t y0, int64_t x0, int64_t nh, int64_t nw, float* dst) {
  const Taps tx = make_taps(box.width, out_w);
  const Taps ty = make_taps(box.height, out_h);
  auto in_y = [&](int64_t y) { return y >= 0 && y < out_h; };
  auto in_x = [&](int64_t x) { return x >= 0 && x < out_w; };
  // Horizontal pass over the box rows that the window's vertical taps use.
  int64_t row_lo = box.height, row_hi = 0;
  for (int64_t y = y0; y < y0 + nh; ++y) {
    if (!in_y(y)) continue;
    row_lo = std::min(row_lo, ty.first[y]);
    row_hi = std::max(row_hi, ty.first[y] + ty.count[y]);
  }
  thread_local std::vector<float> tmp;
  const int64_t rows = std::max<int64_t>(row_hi - row_lo, 0);
  if (tmp.size() < static_cast<size_t>(rows * nw * c)) tmp.resize(static_cast<size_t>(rows * nw * c));
  for (int64_t r = row_lo; r < row_hi; ++r) {
    const int64_t sy = box.top + r;
    float* trow = tmp.data() + (r - row_lo) * nw * c;
    if (sy < 0 || sy >= h) {  // padding rows are 0
      std::fill(trow, trow + nw * c, 0.0f);
      continue;
    }
    const uint8_t* srow = src + sy * w * c;
    for (int64_t xi = 0; xi < nw; ++xi) {
      const int64_t x = x0 + xi;
      float* t = trow + xi * c;
      for (int64_t ch = 0; ch < c; ++ch) t[ch] = 0.0f;
      if (!in_x(x)) continue;
      const float* wt = tx.weights.data() + x * tx.stride;
      const int64_t sx0 = box.left + tx.first[x];
      const int64_t n = tx.count[x];
      if (sx0 >= 0 && sx0 + n <= w) {
        const uint8_t* sp = srow + sx0 * c;
        for (int64_t k = 0; k < n; ++k) {
          for (int64_t ch = 0; ch < c; ++ch) t[ch] += wt[k] * static_cast<float>(sp[k * c + ch]);
        }
      } else {
        for (int64_t k = 0; k < n; ++k) {
          const int64_t sx = sx0 + k;
          if (sx < 0 || sx >= w) continue;
          for (int64_t ch = 0; ch < c; ++ch) t[ch] += wt[k] * static_cast<float>(srow[sx * c + ch]);
        }
      }
    }
  }
  for (int64_t yi = 0; yi < nh; ++yi) {
    const int64_t y = y0 + yi;
    float* drow = dst + yi * nw * c;
    std::fill(drow, drow + nw * c, 0.0f);
    if (!in_y(y)) continue;
    const float* wt = ty.weights.data() + y * ty.stride;
    for (int64_t k = 0; k < ty.count[y]; ++k) {
      const float* trow = tmp.data() + (ty.first[y] + k - row_lo) * nw * c;
      const float wk = wt[k];
      for (int64_t i = 0; i < nw * c; ++i) drow[i] += wk * trow[i];
    }
  }
}

}  // namespace

void resample_bilinear(const uint8_t* src, int64_t h, int64_t w, int64_t c, const CropBox& box, int64_t out_h,
                       int64_t out_w, float* dst) {
  resample_window(src, h, w, c, box, out_h, out_w, 0, 0, out_h, out_w, dst);
}

namespace {
inline float clamp01(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
}  // namespace

void adjust_brightness(float* rgb, int64_t pixels, double factor) {
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < pixels * 3; ++i) rgb[i] = clamp01(rgb[i] * f);
}

void adjust_contrast(float* rgb, int64_t pixels, double factor) {
  double sum = 0.0;
  for (int64_t p = 0; p < pixels; ++p) sum += grey_of(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
  const float mean = pixels > 0 ? static_cast<float>(sum / static_cast<double>(pixels)) : 0.0f;
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < pixels * 3; ++i) rgb[i] = clamp01(f * rgb[i] + (1.0f - f) * mean);
}

void adjust_saturation(float* rgb, int64_t pixels, double factor) {
  const float f = static_cast<float>(factor);
  for (int64_t p = 0; p < pixels; ++p) {
    float* q = rgb + 3 * p;
    const float g = grey_of(q[0], q[1], q[2]);
    for (int k = 0; k < 3; ++k) q[k] = clamp01(f * q[k] + (1.0f - f) * g);
  }
}

// torchvision's _rgb2hsv / _hsv2rgb (tensor path).
void adjust_hue(float* rgb, int64_t pixels, double hue_shift) {
  for (int64_t p = 0; p < pixels; ++p) {
    float* q = rgb + 3 * p;
    const float r = q[0], g = q[1], b = q[2];
    const float maxc = std::max({r, g, b}), minc = std::min({r, g, b});
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.0f : maxc);
    const float div = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    float hh;
    if (maxc == r)
      hh = bc - gc;
    else if (maxc == g)
      hh = 2.0f + rc - bc;
    else
      hh = 4.0f + gc - rc;
    hh = std::fmod(hh / 6.0f + 1.0f, 1.0f);
    const float v = maxc;
    // hue shift, Python-style modulo 1
    double hs = std::fmod(static_cast<double>(hh) + hue_shift, 1.0);
    if (hs < 0) hs += 1.0;
    const float h6 = static_cast<float>(hs) * 6.0f;
    const float fi = std::floor(h6);
    const float f = h6 - fi;
    int i = static_cast<int>(fi) % 6;
    if (i < 0) i += 6;
    const float pp = clamp01(v * (1.0f - s));
    const float qq = clamp01(v * (1.0f - s * f));
    const float tt = clamp01(v * (1.0f - s * (1.0f - f)));
    const float a1[6] = {v, qq, pp, pp, tt, v};
    const float a2[6] = {tt, v, v, qq, pp, pp};
    const float a3[6] = {pp, pp, tt, v, v, qq};
    q[0] = a1[i];
    q[1] = a2[i];
    q[2] = a3[i];
  }
}

void to_grayscale(float* rgb, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p) {
    float* q = rgb + 3 * p;
    const float g = grey_of(q[0], q[1], q[2]);
    q[0] = q[1] = q[2] = g;
  }
}

namespace {

// Mirrors a size x size interleaved RGB image left to right.
void flip_horizontal(float* rgb, int64_t size) {
  for (int64_t y = 0; y < size; ++y) {
    float* row = rgb + y * size * 3;
    for (int64_t x = 0; x < size / 2; ++x) {
      for (int k = 0; k < 3; ++k) std::swap(row[3 * x + k], row[3 * (size - 1 - x) + k]);
    }
  }
}

// torchvision's ColorJitter: the order of the four adjustments is drawn first, then
// each factor, then they are applied in that order (a zero strength is skipped).
void color_jitter(const ImagePipeline& p, float* rgb, int64_t n, Rng& rng) {
  int perm[4] = {0, 1, 2, 3};
  for (int k = 3; k >= 1; --k) std::swap(perm[k], perm[rng.below(k + 1)]);
  double f[4] = {1, 1, 1, 0};
  if (p.brightness > 0) f[0] = rng.uniform(std::max(0.0, 1 - p.brightness), 1 + p.brightness);
  if (p.contrast > 0) f[1] = rng.uniform(std::max(0.0, 1 - p.contrast), 1 + p.contrast);
  if (p.saturation > 0) f[2] = rng.uniform(std::max(0.0, 1 - p.saturation), 1 + p.saturation);
  if (p.hue > 0) f[3] = rng.uniform(-p.hue, p.hue);
  for (int op : perm) {
    switch (op) {
      case 0:
        if (p.brightness > 0) adjust_brightness(rgb, n, f[0]);
        break;
      case 1:
        if (p.contrast > 0) adjust_contrast(rgb, n, f[1]);
        break;
      case 2:
        if (p.saturation > 0) adjust_saturation(rgb, n, f[2]);
        break;
      default:
        if (p.hue > 0) adjust_hue(rgb, n, f[3]);
        break;
    }
  }
}

}  // namespace

void ImagePipeline::apply(const uint8_t* src, int64_t h, int64_t w, int64_t c, bool train, Rng& rng, float* dst) const {
  if (c != 1 && c != 3) {
    throw FormatError("ImagePipeline '" + name + "': expected 1 or 3 channels, got " + std::to_string(c));
  }
  const int64_t n = size * size;
  thread_local std::vector<float> img, rgb_buf;
  if (img.size() < static_cast<size_t>(n * c)) img.resize(static_cast<size_t>(n * c));
  if (train) {
    const CropBox box = random_resized_crop_params(h, w, scale_lo, scale_hi, ratio_lo, ratio_hi, rng);
    resample_window(src, h, w, c, box, size, size, 0, 0, size, size, img.data());
  } else {
    // Resize(resize_short) then CenterCrop(size): only the cropped window of the
    // resized grid is computed (outside the resized image = 0, torchvision's padding).
    const auto [rh, rw] = resize_short_side(h, w, resize_short);
    const CropBox crop = center_crop_box(rh, rw, size, size);
    resample_window(src, h, w, c, CropBox{0, 0, h, w}, rh, rw, crop.top, crop.left, size, size, img.data());
  }
  // To RGB in [0, 1].
  float* rgb;
  if (c == 3) {
    rgb = img.data();
    for (int64_t i = 0; i < n * 3; ++i) rgb[i] = clamp01(rgb[i] * (1.0f / 255.0f));
  } else {
    if (rgb_buf.size() < static_cast<size_t>(n * 3)) rgb_buf.resize(static_cast<size_t>(n * 3));
    rgb = rgb_buf.data();
    for (int64_t p = 0; p < n; ++p) {
      rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = clamp01(img[p] * (1.0f / 255.0f));
    }
  }
  if (train) {
    if (flip_p > 0 && rng.uniform() < flip_p) flip_horizontal(rgb, size);
    if (brightness > 0 || contrast > 0 || saturation > 0 || hue > 0) color_jitter(*this, rgb, n, rng);
    if (grayscale_p > 0 && rng.uniform() < grayscale_p) to_grayscale(rgb, n);
  }
  for (int64_t p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) dst[k * n + p] = rgb[3 * p + k];
  }
}

std::vector<std::string> pipeline_names() { return {"imagenet-r", "domainnet", "cifar100"}; }

ImagePipeline make_pipeline(const std::string& name, int64_t size) {
  if (size < 1) throw ConfigError("image pipeline: size must be >= 1, got " + std::to_string(size));
  ImagePipeline p;
  p.name = name;
  p.size = size;
  p.resize_short = size * 256 / 224;
  auto finish = [](ImagePipeline& q) {
    q.train_decode_short = static_cast<int64_t>(std::ceil(static_cast<double>(q.size) / std::sqrt(q.scale_lo)));
    return q;
  };
  if (name == "imagenet-r") return finish(p);
  if (name == "domainnet") {
    p.scale_lo = 0.7;
    p.brightness = p.contrast = p.saturation = p.hue = 0.3;
    p.grayscale_p = 0.1;
    return finish(p);
  }
  if (name == "cifar100") {
    p.resize_short = size;
    return finish(p);
  }
  std::string known;
  for (const auto& k : pipeline_names()) known += (known.empty() ? "" : ", ") + k;
  throw ConfigError("unknown image pipeline '" + name + "' (known: " + known + ")");
}

}  // namespace lorasub::data
