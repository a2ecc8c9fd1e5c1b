#include "lorasub/data/decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <utility>

#include "lorasub/core/error.h"

namespace lorasub::data {

namespace {

// Refuse decompression bombs before allocating: a decoder's output buffer (3 bytes a
// pixel, 4 for CMYK) may not pass 256 MiB (89 megapixels of RGB) after scaling.
constexpr int64_t kMaxDecodeBytes = int64_t{1} << 28;
// Deflate expands at most 1032:1: a PNG whose raw image needs more than that of the
// whole file (plus a margin for headers) cannot be what it declares.
constexpr int64_t kMaxDeflateRatio = 1032;

[[noreturn]] void fail(const std::string& name, const std::string& why) {
  throw FormatError(name + ": cannot decode image: " + why);
}

struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  void reset() {
    if (h) tjDestroy(h);
    h = tjInitDecompress();
  }
};

}  // namespace

bool jpeg_has_adobe_marker(const uint8_t* data, size_t n) {
  size_t pos = 2;  // after SOI
  while (pos + 4 <= n) {
    if (data[pos] != 0xFF) return false;
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return false;  // SOS / EOI: headers are over
    const size_t len = (static_cast<size_t>(data[pos + 2]) << 8) | data[pos + 3];
    if (len < 2) return false;
    if (marker == 0xEE && len >= 7 && pos + 4 + 5 <= n && std::memcmp(data + pos + 4, "Adobe", 5) == 0) {
      return true;
    }
    pos += 2 + len;
  }
  return false;
}

namespace {

DecodedImage decode_jpeg(const uint8_t* data, size_t n, const std::string& name, int64_t min_short_side) {
  // One decompressor per thread, reused (TurboJPEG handles are not thread-safe).
  thread_local TjHandle tj;
  if (!tj.h) fail(name, "tjInitDecompress failed");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.h, data, static_cast<unsigned long>(n), &w, &h, &subsamp, &colorspace) != 0) {
    const std::string why = tjGetErrorStr2(tj.h);
    tj.reset();  // a failed decompressor is not reusable
    fail(name, "bad JPEG header (" + why + ")");
  }
  if (w <= 0 || h <= 0) fail(name, "JPEG has zero size");
  const auto [sh, sw] = jpeg_scaled_size(h, w, min_short_side);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  if (sh * sw * (cmyk ? 4 : 3) > kMaxDecodeBytes) {
    fail(name, "JPEG too large to decode (" + std::to_string(w) + "x" + std::to_string(h) + (cmyk ? " CMYK" : "") +
                   ": more than " + std::to_string(kMaxDecodeBytes >> 20) + " MiB decoded)");
  }
  DecodedImage img;
  img.height = sh;
  img.width = sw;
  const int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
  const int ps = cmyk ? 4 : 3;
  std::vector<uint8_t> buf(static_cast<size_t>(sh * sw * ps));
  // TJFLAG_STOPONWARNING: a truncated or corrupt stream is an error, not grey padding.
  if (tjDecompress2(tj.h, data, static_cast<unsigned long>(n), buf.data(), static_cast<int>(sw), 0,
                    static_cast<int>(sh), pf, TJFLAG_STOPONWARNING) != 0) {
    const std::string why = tjGetErrorStr2(tj.h);
    tj.reset();
    fail(name, "corrupt JPEG data (" + why + ")");
  }
  if (!cmyk) {
    img.pixels = std::move(buf);
    return img;
  }
  // With an Adobe APP14 marker (Photoshop, and libjpeg itself, write one for every
  // CMYK/YCCK JPEG) the stored values are inverted inks, as PIL assumes ("CMYK;I").
  const bool inverted = jpeg_has_adobe_marker(data, n);
  img.pixels.resize(static_cast<size_t>(sh * sw * 3));
  for (int64_t p = 0; p < sh * sw; ++p) {
    const uint8_t* q = &buf[p * 4];
    const int k = inverted ? q[3] : 255 - q[3];
    for (int c = 0; c < 3; ++c) {
      const int v = inverted ? q[c] : 255 - q[c];
      img.pixels[p * 3 + c] = static_cast<uint8_t>((v * k + 127) / 255);
    }
  }
  return img;
}

struct PngReadState {
  const uint8_t* data;
  size_t n;
  size_t pos;
  char message[256];
  std::jmp_buf jump;
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg ? msg : "libpng error");
  std::longjmp(st->jump, 1);
}

void png_warning_fn(png_structp, png_const_charp) {}

void png_read_fn(png_structp png, png_bytep out, png_size_t len) {
  auto* st = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (len > st->n - st->pos) png_error(png, "file truncated (read past end of data)");
  std::memcpy(out, st->data + st->pos, len);
  st->pos += len;
}

// Runs libpng between setjmp and the last libpng call. Everything with a destructor
// (out, rows) belongs to the caller, so a longjmp back here skips no destructor.
bool png_decode_raw(PngReadState& st, std::vector<uint8_t>& out, std::vector<png_bytep>& rows, int64_t& height,
                    int64_t& width) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_fn, png_warning_fn);
  if (!png) {
    std::snprintf(st.message, sizeof st.message, "png_create_read_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(st.message, sizeof st.message, "png_create_info_struct failed");
    return false;
  }
  if (setjmp(st.jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &st, png_read_fn);
  png_set_user_limits(png, 1u << 16, 1u << 16);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info);
  const png_uint_32 h = png_get_image_height(png, info);
  if (static_cast<int64_t>(w) * h * 3 > kMaxDecodeBytes) png_error(png, "PNG too large to decode (more than 256 MiB)");
  // Raw rows (filter byte + packed samples, as stored) against what the file can hold.
  if (static_cast<int64_t>(h) * (static_cast<int64_t>(png_get_rowbytes(png, info)) + 1) >
      kMaxDeflateRatio * static_cast<int64_t>(st.n) + (int64_t{1} << 16))
    png_error(png, "PNG declares more pixels than its compressed data can hold (truncated or forged header)");
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  // Alpha (a real channel, or one a tRNS chunk adds on expansion) is dropped.
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) {
    png_set_strip_alpha(png);
  }
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(w) * 3) {
    png_error(png, "unexpected row layout after conversion to RGB");
  }
  out.resize(static_cast<size_t>(w) * h * 3);
  // Row pointers live in `out`'s storage: no allocation after setjmp survives a jump.
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = out.data() + static_cast<size_t>(y) * w * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  height = h;
  width = w;
  return true;
}

DecodedImage decode_png(const uint8_t* data, size_t n, const std::string& name) {
  PngReadState st{data, n, 0, {0}, {}};
  DecodedImage img;
  std::vector<png_bytep> rows;
  if (!png_decode_raw(st, img.pixels, rows, img.height, img.width)) fail(name, st.message);
  return img;
}

}  // namespace

ImageFormat sniff_format(const uint8_t* data, size_t n) {
  if (n >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

std::pair<int64_t, int64_t> jpeg_scaled_size(int64_t height, int64_t width, int64_t min_short_side) {
  std::pair<int64_t, int64_t> best{height, width};
  if (min_short_side <= 0) return best;
  int count = 0;
  tjscalingfactor* sf = tjGetScalingFactors(&count);
  double best_scale = 1.0;
  for (int k = 0; k < count; ++k) {
    const double s = static_cast<double>(sf[k].num) / sf[k].denom;
    if (s >= best_scale) continue;
    const int64_t sh = TJSCALED(height, sf[k]);
    const int64_t sw = TJSCALED(width, sf[k]);
    if (std::min(sh, sw) >= min_short_side) {
      best_scale = s;
      best = {sh, sw};
    }
  }
  return best;
}

DecodedImage decode_image_bytes(const uint8_t* data, size_t n, const std::string& name, int64_t min_short_side) {
  switch (sniff_format(data, n)) {
    case ImageFormat::kJpeg:
      return decode_jpeg(data, n, name, min_short_side);
    case ImageFormat::kPng:
      return decode_png(data, n, name);
    default:
      break;
  }
  fail(name, n == 0 ? "empty file" : "not a JPEG or PNG file (unknown magic bytes)");
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FormatError(path + ": cannot open file");
  const std::streamoff size = in.tellg();
  std::vector<uint8_t> bytes(static_cast<size_t>(size < 0 ? 0 : size));
  in.seekg(0);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw FormatError(path + ": read error");
  }
  return bytes;
}

DecodedImage decode_image_file(const std::string& path, int64_t min_short_side) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image_bytes(bytes.data(), bytes.size(), path, min_short_side);
}

}  // namespace lorasub::data
