// Reference image transforms for the real benchmarks, with torchvision semantics
// (tensor path, float arithmetic): RandomResizedCrop, Resize (int = short side),
// CenterCrop, RandomHorizontalFlip, ColorJitter, RandomGrayscale, bilinear resampling
// that is antialiased when downscaling (PIL/torchvision "antialias=True": a triangle
// filter whose support grows with the downscale factor; when upscaling it reduces to
// plain bilinear with align_corners=False). Random draws come from the sample's Rng
// stream; the order of draws is documented at ImagePipeline::apply.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "lorasub/core/rng.h"

namespace lorasub::data {

// A crop window in pixels: rows [top, top+height), columns [left, left+width).
// top/left may be negative (and the window larger than the image) for a CenterCrop
// bigger than its input; pixels outside the image are 0, as torchvision pads.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

// torchvision RandomResizedCrop.get_params. Up to 10 tries, each drawing (in order)
//   s = rng.uniform(scale_lo, scale_hi); area = s * H * W
//   r = exp(rng.uniform(log(ratio_lo), log(ratio_hi)))
//   w = round(sqrt(area * r)), h = round(sqrt(area / r))   (round half to even)
// and, if 0 < w <= W and 0 < h <= H: top = rng.below(H - h + 1), left = rng.below(W - w + 1)
// (in that order). After 10 rejected tries: the centre crop with the aspect ratio clamped
// to [ratio_lo, ratio_hi]: W/H < ratio_lo -> w = W, h = round(w / ratio_lo); W/H >
// ratio_hi -> h = H, w = round(h * ratio_hi); else the whole image; top = (H - h) / 2,
// left = (W - w) / 2 (floor). The fallback draws nothing more.
CropBox random_resized_crop_params(int64_t height, int64_t width, double scale_lo, double scale_hi, double ratio_lo,
                                   double ratio_hi, Rng& rng);

// torchvision Resize(size: int): the short side becomes `size`, the long side
// int(size * long / short) (truncated). Returns {height, width}.
std::pair<int64_t, int64_t> resize_short_side(int64_t height, int64_t width, int64_t size);

// torchvision CenterCrop(th, tw): top = int(round((H - th) / 2.0)), left likewise
// (round half to even). When the crop is larger than the image torchvision pads first
// (left pad (tw - W) / 2, top pad (th - H) / 2, floor), then crops at 0: that is
// returned as a negative offset -pad.
CropBox center_crop_box(int64_t height, int64_t width, int64_t crop_h, int64_t crop_w);

// Resamples `box` of an HWC uint8 image (h x w x c) to out_h x out_w with the
// PIL/torchvision antialiased bilinear filter; output float HWC in [0, 255] (unclamped
// rounding is not applied). Horizontal pass first, then vertical, both in float.
// Filter: per output coordinate, centre = (i + 0.5) * in/out, support = max(in/out, 1),
// taps j in [int(centre - support + 0.5), int(centre + support + 0.5)) clipped to the
// box, weight = max(0, 1 - |(j + 0.5 - centre) / support|), normalised to sum 1.
// Box pixels outside the image read as 0.
void resample_bilinear(const uint8_t* src, int64_t h, int64_t w, int64_t c, const CropBox& box, int64_t out_h,
                       int64_t out_w, float* dst_hwc);

// ColorJitter and grayscale helpers on float RGB HWC images scaled to [0, 1]
// (torchvision tensor semantics; every blend is clamped to [0, 1]).
void adjust_brightness(float* rgb, int64_t pixels, double factor);  // x * f
void adjust_contrast(float* rgb, int64_t pixels, double factor);    // blend with mean grey
void adjust_saturation(float* rgb, int64_t pixels, double factor);  // blend with grey
void adjust_hue(float* rgb, int64_t pixels, double hue_shift);      // hue += shift (mod 1)
void to_grayscale(float* rgb, int64_t pixels);                      // R=G=B=grey
// grey = 0.299 R + 0.587 G + 0.114 B
inline float grey_of(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// A named train/test pipeline (see make_pipeline). Output: 3 x size x size float CHW in
// [0, 1], no mean/std normalisation.
struct ImagePipeline {
  std::string name;
  int64_t size = 224;  // output side
  // train
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  double flip_p = 0.5;
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;  // 0 = not jittered
  double grayscale_p = 0;                                        // 0 = never
  // test: Resize(resize_short) then CenterCrop(size)
  int64_t resize_short = 256;

  // The smallest short side the JPEG decoder must deliver (DCT scaled decoding).
  // Test: resize_short. Train: train_decode_short, by default ceil(size / sqrt(scale_lo))
  // (792 for 224 at scale 0.08, 268 at 0.7), so that a crop of the smallest area still
  // has about `size` source pixels a side, as when the reference decodes at full size;
  // set it to `size` to decode smaller and faster at the cost of detail in small crops.
  int64_t train_decode_short = 0;
  int64_t min_decode_short_side(bool train) const { return train ? train_decode_short : resize_short; }

  // src: HWC uint8 RGB (c == 3) or grey (c == 1, replicated to RGB). dst: 3*size*size.
  // Train draws, in order: RandomResizedCrop (random_resized_crop_params), flip
  // (rng.uniform() < flip_p, only if flip_p > 0), ColorJitter (only if any factor > 0:
  // a permutation of the 4 ops by Fisher-Yates — for k = 3..1: swap(perm[k],
  // perm[rng.below(k + 1)]) from [0,1,2,3] — then brightness, contrast, saturation
  // factors uniform in [max(0, 1-x), 1+x] and hue uniform in [-x, x], each drawn only if
  // its x > 0; applied in the permuted order, 0=brightness 1=contrast 2=saturation
  // 3=hue), grayscale (rng.uniform() < grayscale_p, only if grayscale_p > 0).
  // Test draws nothing.
  void apply(const uint8_t* src, int64_t h, int64_t w, int64_t c, bool train, Rng& rng, float* dst) const;
};

// "imagenet-r": train RandomResizedCrop(size) + flip; test Resize(size*256/224) +
//   CenterCrop(size).
// "domainnet": train RandomResizedCrop(size, scale (0.7, 1)) + flip +
//   ColorJitter(0.3, 0.3, 0.3, 0.3) + RandomGrayscale(0.1); test as imagenet-r.
// "cifar100": train RandomResizedCrop(size) + flip; test Resize(size) (+ CenterCrop(size),
//   a no-op on square inputs, so the output is always square).
// Unknown name: ConfigError listing the known ones.
ImagePipeline make_pipeline(const std::string& name, int64_t size = 224);
std::vector<std::string> pipeline_names();

}  // namespace lorasub::data
