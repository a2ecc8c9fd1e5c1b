// Image decoding for the real-dataset pipeline: JPEG (libjpeg-turbo, TurboJPEG API, with
// DCT-domain scaled decoding) and PNG (libpng). Output is always 8-bit RGB, HWC.
// Every failure is a lorasub::FormatError whose message starts with the file name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lorasub::data {

struct DecodedImage {
  int64_t height = 0, width = 0;  // channels are always 3 (RGB)
  std::vector<uint8_t> pixels;    // height * width * 3, HWC
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

// From the leading bytes (magic numbers), not the file name.
ImageFormat sniff_format(const uint8_t* data, size_t n);

// The size a JPEG of `height` x `width` decodes to when asked for a short side of at
// least `min_short_side`: the smallest TurboJPEG scaling factor <= 1 (1/8, 1/4, 3/8,
// 1/2, 5/8, 3/4, 7/8, 1 in libjpeg-turbo 2.x) whose scaled short side
// (ceil(dim * num / denom), TJSCALED) is still >= min_short_side; full size when
// min_short_side <= 0 or no smaller factor qualifies. Returns {height, width}.
std::pair<int64_t, int64_t> jpeg_scaled_size(int64_t height, int64_t width, int64_t min_short_side);

// True if the JPEG header (before the first SOS) has an APP14 "Adobe" segment.
bool jpeg_has_adobe_marker(const uint8_t* data, size_t n);

// Decodes JPEG or PNG bytes (format sniffed). `name` is used in error messages only.
// min_short_side applies to JPEG only (PNG is always decoded at full size).
// Conversions to RGB: grayscale -> R=G=B; CMYK/YCCK JPEG as PIL's convert("RGB"):
// R = (255-C)(255-K)/255 (rounded) on ink values, where the stored values are taken as
// inverted inks (C = 255 - stored) when the file has an Adobe APP14 marker, as
// Photoshop's and libjpeg's CMYK files do, and as plain inks otherwise; PNG: palette expanded, 1/2/4-bit grey
// expanded, 16-bit reduced to 8 (high byte, as libpng's strip_16), alpha dropped
// (not composited, as PIL's convert("RGB")), interlaced handled.
DecodedImage decode_image_bytes(const uint8_t* data, size_t n, const std::string& name, int64_t min_short_side = 0);

// Reads the whole file and decodes it; an unreadable file is a FormatError naming it.
DecodedImage decode_image_file(const std::string& path, int64_t min_short_side = 0);

// Whole file as bytes; FormatError naming the file if it cannot be opened or read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace lorasub::data
