// Helpers for the real-dataset tests: JPEG (TurboJPEG) and PNG (libpng) writers.
#pragma once
#include <png.h>
#include <turbojpeg.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "data_test_util.h"

namespace lorasub::data::testing {

// pixels: h*w*comps interleaved in pixel format pf (TJPF_RGB, TJPF_GRAY, TJPF_CMYK).
inline std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& pixels, int w, int h, int pf, int quality = 95,
                                        int subsamp = TJSAMP_444) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int ss = pf == TJPF_GRAY ? TJSAMP_GRAY : subsamp;
  if (tjCompress2(tj, pixels.data(), w, 0, h, pf, &buf, &size, ss, quality, TJFLAG_ACCURATEDCT) != 0) {
    std::string err = tjGetErrorStr2(tj);
    tjDestroy(tj);
    throw std::runtime_error("tjCompress2: " + err);
  }
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

inline void write_jpeg(const std::string& path, const std::vector<uint8_t>& pixels, int w, int h, int pf = TJPF_RGB,
                       int quality = 95) {
  write_bytes(path, encode_jpeg(pixels, w, h, pf, quality), false);
}

// Writes a PNG. rows: h rows of packed samples as libpng expects for (color, depth)
// (16-bit samples big-endian). palette: for PNG_COLOR_TYPE_PALETTE, rgb triples.
inline void write_png(const std::string& path, int w, int h, int color, int depth,
                      const std::vector<std::vector<uint8_t>>& rows, const std::vector<uint8_t>& palette = {},
                      bool interlace = false, const std::vector<uint8_t>& trns = {}) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    throw std::runtime_error("libpng write failed");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, depth, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> pal;
  if (color == PNG_COLOR_TYPE_PALETTE) {
    for (size_t i = 0; i + 2 < palette.size(); i += 3) {
      pal.push_back(png_color{palette[i], palette[i + 1], palette[i + 2]});
    }
    png_set_PLTE(png, info, pal.data(), static_cast<int>(pal.size()));
  }
  if (!trns.empty()) {
    png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), nullptr);
  }
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (const auto& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// RGB rows from an HWC rgb buffer.
inline std::vector<std::vector<uint8_t>> rgb_rows(const std::vector<uint8_t>& px, int w, int h, int comps = 3) {
  std::vector<std::vector<uint8_t>> rows(h);
  for (int y = 0; y < h; ++y) {
    rows[y].assign(px.begin() + y * w * comps, px.begin() + (y + 1) * w * comps);
  }
  return rows;
}

// A smooth colour gradient, h x w x 3.
inline std::vector<uint8_t> gradient_rgb(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      px[(y * w + x) * 3 + 0] = static_cast<uint8_t>(x * 255 / std::max(1, w - 1));
      px[(y * w + x) * 3 + 1] = static_cast<uint8_t>(y * 255 / std::max(1, h - 1));
      px[(y * w + x) * 3 + 2] = 128;
    }
  }
  return px;
}

}  // namespace lorasub::data::testing
