#include "lorasub/data/decode.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>

#include "image_test_util.h"
#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

using testing::TempDir;

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

std::string message_of(const std::string& path, int64_t min_short = 0) {
  try {
    decode_image_file(path, min_short);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Decode, JpegRgbSizeAndPixels) {
  TempDir dir;
  const auto px = testing::gradient_rgb(40, 24);
  testing::write_jpeg(dir.file("a.jpg"), px, 40, 24, TJPF_RGB, 100);
  const DecodedImage img = decode_image_file(dir.file("a.jpg"));
  EXPECT_EQ(img.height, 24);
  EXPECT_EQ(img.width, 40);
  EXPECT_LE(max_abs_diff(img.pixels, px), 6);
}

TEST(Decode, JpegGrayBecomesRgb) {
  TempDir dir;
  std::vector<uint8_t> g(16 * 8);
  for (int i = 0; i < 16 * 8; ++i) g[i] = static_cast<uint8_t>(40 + (i % 16) * 8);
  testing::write_jpeg(dir.file("g.jpg"), g, 16, 8, TJPF_GRAY, 100);
  const DecodedImage img = decode_image_file(dir.file("g.jpg"));
  ASSERT_EQ(img.pixels.size(), 16u * 8 * 3);
  for (int p = 0; p < 16 * 8; ++p) {
    EXPECT_EQ(img.pixels[p * 3], img.pixels[p * 3 + 1]);
    EXPECT_EQ(img.pixels[p * 3], img.pixels[p * 3 + 2]);
    EXPECT_NEAR(img.pixels[p * 3], g[p], 3);
  }
}

// Removes the APP14 "Adobe" segment from a JPEG.
std::vector<uint8_t> strip_adobe(const std::vector<uint8_t>& jpg) {
  size_t pos = 2;
  while (pos + 4 <= jpg.size()) {
    const size_t len = (static_cast<size_t>(jpg[pos + 2]) << 8) | jpg[pos + 3];
    if (jpg[pos + 1] == 0xEE) {
      std::vector<uint8_t> out(jpg.begin(), jpg.begin() + pos);
      out.insert(out.end(), jpg.begin() + pos + 2 + len, jpg.end());
      return out;
    }
    pos += 2 + len;
  }
  return jpg;
}

TEST(Decode, JpegCmykConvertedToRgbAsPil) {
  TempDir dir;
  // Stored values (top half / bottom half): (255, 0, 0, 255) and (255, 255, 255, 128).
  std::vector<uint8_t> stored;
  for (int p = 0; p < 16 * 16; ++p) {
    if (p < 16 * 8)
      stored.insert(stored.end(), {255, 0, 0, 255});
    else
      stored.insert(stored.end(), {255, 255, 255, 128});
  }
  const auto jpg = testing::encode_jpeg(stored, 16, 16, TJPF_CMYK, 100);
  ASSERT_TRUE(jpeg_has_adobe_marker(jpg.data(), jpg.size()));  // libjpeg writes one
  // Adobe marker: inverted inks. Top: inks C=0, M=Y=255, K=0 -> red. Bottom: K ink 127
  // -> grey 128 (255 * 128 / 255).
  DecodedImage img = decode_image_bytes(jpg.data(), jpg.size(), "c.jpg");
  ASSERT_EQ(img.height, 16);
  const uint8_t* top = &img.pixels[(2 * 16 + 5) * 3];
  EXPECT_NEAR(top[0], 255, 4);
  EXPECT_NEAR(top[1], 0, 4);
  EXPECT_NEAR(top[2], 0, 4);
  const uint8_t* bottom = &img.pixels[(13 * 16 + 5) * 3];
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(bottom[c], 128, 4);
  // Marker detection (the no-marker, plain-ink path cannot be produced with TurboJPEG,
  // which always writes YCCK + Adobe for CMYK input).
  const auto plain = strip_adobe(jpg);
  ASSERT_LT(plain.size(), jpg.size());
  EXPECT_FALSE(jpeg_has_adobe_marker(plain.data(), plain.size()));
  const auto rgb = testing::encode_jpeg(testing::gradient_rgb(8, 8), 8, 8, TJPF_RGB);
  EXPECT_FALSE(jpeg_has_adobe_marker(rgb.data(), rgb.size()));
}

TEST(Decode, JpegScaledSizeRule) {
  // 2000x1000 (w x h), short side 1000: 1/4 -> 250 >= 224, 1/8 -> 125 < 224.
  EXPECT_EQ(jpeg_scaled_size(1000, 2000, 224), (std::pair<int64_t, int64_t>{250, 500}));
  // Short side 2000: 1/8 -> 250 >= 224.
  EXPECT_EQ(jpeg_scaled_size(2000, 3000, 224), (std::pair<int64_t, int64_t>{250, 375}));
  // 500 short side, 256 wanted: 5/8 -> 313 (ceil 312.5), 1/2 -> 250 < 256.
  EXPECT_EQ(jpeg_scaled_size(500, 700, 256), (std::pair<int64_t, int64_t>{313, 438}));
  // No smaller factor qualifies / no minimum: full size.
  EXPECT_EQ(jpeg_scaled_size(230, 300, 224), (std::pair<int64_t, int64_t>{230, 300}));
  EXPECT_EQ(jpeg_scaled_size(1000, 2000, 0), (std::pair<int64_t, int64_t>{1000, 2000}));
}

TEST(Decode, JpegScaledDecodeKeepsContent) {
  TempDir dir;
  const int w = 640, h = 480;
  const auto px = testing::gradient_rgb(w, h);
  testing::write_jpeg(dir.file("big.jpg"), px, w, h, TJPF_RGB, 95);
  const DecodedImage img = decode_image_file(dir.file("big.jpg"), 100);
  EXPECT_EQ(img.height, 120);  // 1/4: 480/4 = 120 >= 100; 1/8 -> 60 < 100
  EXPECT_EQ(img.width, 160);
  // Pixel (y, x) of the 1/4 image ~ the mean of the 4x4 block (the gradient is linear).
  const int y = 50, x = 70;
  const double expect_r = (x * 4 + 1.5) * 255.0 / (w - 1);
  const double expect_g = (y * 4 + 1.5) * 255.0 / (h - 1);
  EXPECT_NEAR(img.pixels[(y * 160 + x) * 3 + 0], expect_r, 4);
  EXPECT_NEAR(img.pixels[(y * 160 + x) * 3 + 1], expect_g, 4);
  EXPECT_NEAR(img.pixels[(y * 160 + x) * 3 + 2], 128, 4);
}

TEST(Decode, ProgressiveAnd420JpegScaled) {
  TempDir dir;
  const int w = 320, h = 240;
  const auto px = testing::gradient_rgb(w, h);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, px.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, 95, TJFLAG_PROGRESSIVE), 0);
  const std::vector<uint8_t> jpg(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  const DecodedImage full = decode_image_bytes(jpg.data(), jpg.size(), "p.jpg");
  EXPECT_EQ(full.height, 240);
  EXPECT_LE(max_abs_diff(full.pixels, px), 8);
  const DecodedImage half = decode_image_bytes(jpg.data(), jpg.size(), "p.jpg", 100);
  EXPECT_EQ(half.height, 120);  // 1/2: 120 >= 100; 3/8 -> 90 < 100
  EXPECT_EQ(half.width, 160);
  EXPECT_NEAR(half.pixels[(60 * 160 + 80) * 3], (161.5 * 255.0) / (w - 1), 4);
}

TEST(Decode, PngRgbExact) {
  TempDir dir;
  const auto px = testing::gradient_rgb(13, 7);
  testing::write_png(dir.file("a.png"), 13, 7, PNG_COLOR_TYPE_RGB, 8, testing::rgb_rows(px, 13, 7));
  const DecodedImage img = decode_image_file(dir.file("a.png"));
  EXPECT_EQ(img.height, 7);
  EXPECT_EQ(img.width, 13);
  EXPECT_EQ(img.pixels, px);
  // The format comes from the bytes, not the name.
  std::rename(dir.file("a.png").c_str(), dir.file("a.jpg").c_str());
  EXPECT_EQ(decode_image_file(dir.file("a.jpg")).pixels, px);
}

TEST(Decode, PngInterlacedExact) {
  TempDir dir;
  const auto px = testing::gradient_rgb(19, 11);
  testing::write_png(dir.file("i.png"), 19, 11, PNG_COLOR_TYPE_RGB, 8, testing::rgb_rows(px, 19, 11), {}, true);
  EXPECT_EQ(decode_image_file(dir.file("i.png")).pixels, px);
}

TEST(Decode, PngGrayAlphaPalette16BitToRgb) {
  TempDir dir;
  // Gray 8-bit.
  testing::write_png(dir.file("g.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 8, {{10, 200}});
  EXPECT_EQ(decode_image_file(dir.file("g.png")).pixels, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
  // Gray 1-bit: bits 1,0 -> 255, 0.
  testing::write_png(dir.file("g1.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 1, {{0x80}});
  EXPECT_EQ(decode_image_file(dir.file("g1.png")).pixels, (std::vector<uint8_t>{255, 255, 255, 0, 0, 0}));
  // Gray + alpha: alpha dropped, not composited.
  testing::write_png(dir.file("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {{50, 0, 60, 128}});
  EXPECT_EQ(decode_image_file(dir.file("ga.png")).pixels, (std::vector<uint8_t>{50, 50, 50, 60, 60, 60}));
  // RGBA.
  testing::write_png(dir.file("rgba.png"), 2, 1, PNG_COLOR_TYPE_RGBA, 8, {{1, 2, 3, 0, 4, 5, 6, 255}});
  EXPECT_EQ(decode_image_file(dir.file("rgba.png")).pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  // Palette (8-bit indices), with a tRNS chunk that must not leave alpha behind.
  testing::write_png(dir.file("p.png"), 3, 1, PNG_COLOR_TYPE_PALETTE, 8, {{2, 0, 1}},
                     {10, 20, 30, 40, 50, 60, 70, 80, 90}, false, {0, 128, 255});
  EXPECT_EQ(decode_image_file(dir.file("p.png")).pixels, (std::vector<uint8_t>{70, 80, 90, 10, 20, 30, 40, 50, 60}));
  // 16-bit RGB: high byte kept.
  testing::write_png(dir.file("r16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, {{0x12, 0x34, 0xAB, 0xCD, 0xFF, 0xFF}});
  EXPECT_EQ(decode_image_file(dir.file("r16.png")).pixels, (std::vector<uint8_t>{0x12, 0xAB, 0xFF}));
  // 16-bit gray.
  testing::write_png(dir.file("g16.png"), 1, 1, PNG_COLOR_TYPE_GRAY, 16, {{0x80, 0x01}});
  EXPECT_EQ(decode_image_file(dir.file("g16.png")).pixels, (std::vector<uint8_t>{0x80, 0x80, 0x80}));
}

TEST(Decode, BadFilesNameTheFileAndReason) {
  TempDir dir;
  const auto px = testing::gradient_rgb(64, 48);
  const auto jpg = testing::encode_jpeg(px, 64, 48, TJPF_RGB);
  testing::write_bytes(dir.file("trunc.jpg"), {jpg.begin(), jpg.begin() + jpg.size() / 2}, false);
  std::string m = message_of(dir.file("trunc.jpg"));
  EXPECT_CONTAINS(m, dir.file("trunc.jpg"));
  EXPECT_CONTAINS(m, "corrupt JPEG");

  // The same thread decodes a good file right after a failure.
  testing::write_bytes(dir.file("good.jpg"), jpg, false);
  EXPECT_EQ(decode_image_file(dir.file("good.jpg")).width, 64);

  testing::write_bytes(dir.file("hdr.jpg"), {0xFF, 0xD8, 0xFF, 0xE0, 0, 1}, false);
  m = message_of(dir.file("hdr.jpg"));
  EXPECT_CONTAINS(m, dir.file("hdr.jpg"));
  EXPECT_CONTAINS(m, "JPEG");
  EXPECT_EQ(decode_image_file(dir.file("good.jpg")).height, 48);

  testing::write_png(dir.file("ok.png"), 64, 48, PNG_COLOR_TYPE_RGB, 8, testing::rgb_rows(px, 64, 48));
  auto png = read_file_bytes(dir.file("ok.png"));
  png.resize(png.size() - 40);
  testing::write_bytes(dir.file("trunc.png"), png, false);
  m = message_of(dir.file("trunc.png"));
  EXPECT_CONTAINS(m, dir.file("trunc.png"));
  EXPECT_CONTAINS(m, "cannot decode image");

  testing::write_bytes(dir.file("garbage.jpg"), {'h', 'e', 'l', 'l', 'o'}, false);
  m = message_of(dir.file("garbage.jpg"));
  EXPECT_CONTAINS(m, dir.file("garbage.jpg"));
  EXPECT_CONTAINS(m, "not a JPEG or PNG");

  // A header that claims 60000 x 60000 pixels is refused before any allocation.
  std::vector<uint8_t> bomb = testing::encode_jpeg(testing::gradient_rgb(8, 8), 8, 8, TJPF_RGB);
  for (size_t i = 2; i + 8 < bomb.size(); ++i) {
    if (bomb[i] == 0xFF && bomb[i + 1] == 0xC0) {  // SOF0: len(2) precision(1) h(2) w(2)
      bomb[i + 5] = 0xEA, bomb[i + 6] = 0x60, bomb[i + 7] = 0xEA, bomb[i + 8] = 0x60;
      break;
    }
  }
  testing::write_bytes(dir.file("bomb.jpg"), bomb, false);
  EXPECT_CONTAINS(message_of(dir.file("bomb.jpg")), "too large");

  // Fuzzing: a tiny CMYK JPEG declaring 16384 x 16384 made the decoder allocate 1 GiB
  // (the old cap counted pixels as 3 bytes), RGB 805 MB. Both are past the byte cap now,
  // at full size (min_short_side 0) and refused from the header alone.
  for (const int pf : {TJPF_CMYK, TJPF_RGB}) {
    std::vector<uint8_t> big =
        testing::encode_jpeg(std::vector<uint8_t>(8 * 8 * (pf == TJPF_CMYK ? 4 : 3), 9), 8, 8, pf);
    for (size_t i = 2; i + 8 < big.size(); ++i) {
      if (big[i] == 0xFF && (big[i + 1] == 0xC0 || big[i + 1] == 0xC1)) {
        big[i + 5] = 0x40, big[i + 6] = 0x00, big[i + 7] = 0x40, big[i + 8] = 0x00;  // 16384 x 16384
        break;
      }
    }
    try {
      decode_image_bytes(big.data(), big.size(), "big.jpg", 0);
      ADD_FAILURE() << "a 16384 x 16384 JPEG of " << big.size() << " bytes was decoded";
    } catch (const FormatError& e) {
      EXPECT_CONTAINS(e.what(), "too large to decode (16384x16384");
    }
  }

  // A PNG whose header declares far more pixels than its compressed data can hold
  // (deflate expands at most 1032:1) is refused before a row buffer is allocated.
  testing::write_png(dir.file("small.png"), 4, 4, PNG_COLOR_TYPE_RGB, 8,
                     testing::rgb_rows(testing::gradient_rgb(4, 4), 4, 4));
  std::vector<uint8_t> forged = read_file_bytes(dir.file("small.png"));
  // IHDR data at 16: width(4) height(4) ...; its CRC at 29 covers "IHDR" + 13 bytes.
  for (int k : {16, 20}) forged[k] = 0x00, forged[k + 1] = 0x00, forged[k + 2] = 0x20, forged[k + 3] = 0x00;  // 8192
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), forged.data() + 12, 17);
  for (int k = 0; k < 4; ++k) forged[29 + k] = static_cast<uint8_t>(crc >> (24 - 8 * k));
  try {
    decode_image_bytes(forged.data(), forged.size(), "forged.png", 0);
    ADD_FAILURE() << "a forged 8192 x 8192 PNG was decoded";
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), "declares more pixels than its compressed data can hold");
  }

  testing::write_bytes(dir.file("empty.png"), {}, false);
  EXPECT_CONTAINS(message_of(dir.file("empty.png")), "empty file");

  m = message_of(dir.file("missing.jpg"));
  EXPECT_CONTAINS(m, dir.file("missing.jpg"));
  EXPECT_CONTAINS(m, "cannot open");
}

}  // namespace
}  // namespace lorasub::data
