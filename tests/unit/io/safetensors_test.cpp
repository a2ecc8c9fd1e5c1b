#include "lorasub/io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "lorasub/core/error.h"
#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {

using json = nlohmann::json;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// A safetensors file from a header and a data buffer, as any writer would lay it out.
std::string file_bytes(const std::string& header, const std::string& buffer) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + buffer;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

// The FormatError message of reading `bytes` as a safetensors file.
std::string read_error(const TempDir& dir, const std::string& bytes) {
  write_bytes(dir / "bad.safetensors", bytes);
  try {
    SafeTensorsFile::read(dir / "bad.safetensors");
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("'" + (dir / "bad.safetensors") + "': ", 0), 0u) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no FormatError";
  return "";
}

std::string entry(const char* dtype, const std::vector<int64_t>& shape, uint64_t begin, uint64_t end) {
  return json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}}.dump();
}

TEST(SafeTensors, RoundTripIsBitExact) {
  TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::map<std::string, TensorData> tensors = {
      {"blocks.0.attn.qkv.weight", {"F32", {2, 3}, {1.5f, -0.0f, 3e-39f, 1e30f, nan, -7.25f}}},
      {"cls_token", {"F32", {4}, {0.1f, 0.2f, 0.3f, 0.4f}}},
      {"empty", {"F32", {0, 5}, {}}},
      {"scale", {"F32", {}, {2.0f}}},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"task", "3"}};
  write_safetensors(dir / "w.safetensors", tensors, metadata);

  const SafeTensorsFile file = SafeTensorsFile::read(dir / "w.safetensors");
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const TensorData& got = file.at(name);
    EXPECT_EQ(got.dtype, "F32");
    EXPECT_EQ(got.shape, t.shape) << name;
    ASSERT_EQ(got.values.size(), t.values.size()) << name;
    for (size_t i = 0; i < t.values.size(); ++i) EXPECT_EQ(bits(got.values[i]), bits(t.values[i])) << name;
  }
  EXPECT_EQ(file.at("scale").numel(), 1);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"w.safetensors"});  // no temporary left
}

TEST(SafeTensors, WriterLayoutFollowsTheReference) {
  TempDir dir;
  write_safetensors(dir / "w.safetensors", {{"b", {"F32", {1}, {2.0f}}}, {"a", {"F32", {2}, {0.0f, 1.0f}}}});
  const std::string bytes = read_bytes(dir / "w.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));  // padded with spaces only
  const json h = json::parse(header);
  EXPECT_EQ(h["a"]["data_offsets"], json({0, 8}));  // keys sorted: "a" first in the buffer
  EXPECT_EQ(h["b"]["data_offsets"], json({8, 12}));
  EXPECT_FALSE(h.contains("__metadata__"));
  EXPECT_EQ(bytes.size(), 8 + n + 12);
}

TEST(SafeTensors, ConvertsHalfPrecisionAndDouble) {
  TempDir dir;
  // F16: 1.0, -2.5, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, inf.
  const std::string f16 = raw<uint16_t>({0x3C00, 0xC100, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00});
  // BF16: 1.0, -2.5, 0.5, 3.0.
  const std::string bf16 = raw<uint16_t>({0x3F80, 0xC020, 0x3F00, 0x4040});
  const std::string f64 = raw<double>({1.0, -2.5, 0.1});
  const std::string header = "{\"h\":" + entry("F16", {7}, 0, 14) + ",\"b\":" + entry("BF16", {2, 2}, 14, 22) +
                             ",\"d\":" + entry("F64", {3}, 22, 46) + "}";
  write_bytes(dir / "h.safetensors", file_bytes(header, f16 + bf16 + f64));

  const SafeTensorsFile file = SafeTensorsFile::read(dir / "h.safetensors");
  const std::vector<float> h = file.at("h").values;
  EXPECT_EQ(file.at("h").dtype, "F16");
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_EQ(h[2], 0.5f);
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_EQ(h[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(bits(h[5]), bits(-0.0f));
  EXPECT_TRUE(std::isinf(h[6]) && h[6] > 0);
  EXPECT_EQ(file.at("b").values, (std::vector<float>{1.0f, -2.5f, 0.5f, 3.0f}));
  EXPECT_EQ(file.at("b").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(file.at("d").values, (std::vector<float>{1.0f, -2.5f, 0.1f}));
}

TEST(SafeTensors, HalfSubnormalsAndNan) {
  TempDir dir;
  // 0x03FF: largest subnormal = 1023 * 2^-24; 0x0200 = 2^-15; 0x7E00 = NaN.
  const std::string header = "{\"h\":" + entry("F16", {3}, 0, 6) + "}";
  write_bytes(dir / "s.safetensors", file_bytes(header, raw<uint16_t>({0x03FF, 0x0200, 0x7E00})));
  const std::vector<float> h = SafeTensorsFile::read(dir / "s.safetensors").at("h").values;
  EXPECT_EQ(h[0], 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(h[1], std::ldexp(1.0f, -15));
  EXPECT_TRUE(std::isnan(h[2]));
  const TensorData moved = SafeTensorsFile::read(dir / "s.safetensors").at("h");  // from a temporary
  EXPECT_EQ(moved.values.size(), 3u);
}

TEST(SafeTensors, ScalarTensor) {
  TempDir dir;
  const std::string header = "{\"s\":" + entry("F32", {}, 0, 4) + "}";
  write_bytes(dir / "s.safetensors", file_bytes(header, raw<float>({4.5f})));
  const SafeTensorsFile file = SafeTensorsFile::read(dir / "s.safetensors");
  const TensorData& s = file.at("s");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.values, std::vector<float>{4.5f});
}

TEST(SafeTensors, UnsupportedDtypeNamesTensorAndDtype) {
  TempDir dir;
  const std::string msg =
      read_error(dir, file_bytes("{\"ids\":" + entry("I32", {2}, 0, 8) + "}", raw<int32_t>({7, 8})));
  EXPECT_NE(msg.find("tensor 'ids'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported dtype 'I32'"), std::string::npos) << msg;
}

// Integer tensors (class ids of an exported model): written as int64 bytes, read back
// exactly; a value float32 cannot hold is refused, not rounded.
TEST(SafeTensors, Int64RoundTripAndLimits) {
  TempDir dir;
  write_safetensors(dir / "i.safetensors",
                    {{"ids", {"I64", {3}, {7.0f, -2.0f, 16777216.0f}}}, {"w", {"F32", {1}, {0.5f}}}});
  const std::string bytes = read_bytes(dir / "i.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  const json h = json::parse(bytes.substr(8, n));
  EXPECT_EQ(h["ids"]["dtype"], "I64");
  EXPECT_EQ(bytes.substr(8 + n, 24), raw<int64_t>({7, -2, 16777216}));  // keys sorted: "ids" first
  const SafeTensorsFile file = SafeTensorsFile::read(dir / "i.safetensors");
  EXPECT_EQ(file.at("ids").dtype, "I64");
  EXPECT_EQ(file.at("ids").values, (std::vector<float>{7.0f, -2.0f, 16777216.0f}));
  EXPECT_EQ(file.at("w").values, std::vector<float>{0.5f});

  const std::string msg =
      read_error(dir, file_bytes("{\"ids\":" + entry("I64", {2}, 0, 16) + "}", raw<int64_t>({1, 16777217})));
  EXPECT_NE(msg.find("tensor 'ids': I64 element 1 = 16777217 is beyond 2^24"), std::string::npos) << msg;
  EXPECT_THROW(write_safetensors(dir / "x.safetensors", {{"ids", {"I64", {1}, {0.5f}}}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(dir / "x.safetensors", {{"ids", {"I64", {1}, {3e7f}}}}), std::invalid_argument);
  EXPECT_FALSE(dir.entries().count("x.safetensors"));
}

TEST(SafeTensors, MalformedFilesEachSayWhat) {
  TempDir dir;
  const std::string four = raw<float>({1.0f});
  auto one = [&](const std::string& e) { return "{\"t\":" + e + "}"; };
  const uint64_t huge = 200ull * 1000 * 1000;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abcde", "file shorter than 8 bytes (5 bytes)"},
      {file_bytes("{}", "").substr(0, 8) + "{", "header length 2 larger than the file (9 bytes)"},
      {std::string(reinterpret_cast<const char*>(&huge), 8), "exceeds the 100 MB limit"},
      {file_bytes("{\"t\": [", ""), "header is not valid JSON"},
      {file_bytes("[1, 2]", ""), "header is not a JSON object"},
      {file_bytes(one("{\"shape\":[1],\"data_offsets\":[0,4]}"), four), "tensor 't': missing 'dtype'"},
      {file_bytes(one("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), four), "tensor 't': missing 'shape'"},
      {file_bytes(one("{\"dtype\":\"F32\",\"shape\":[1]}"), four), "tensor 't': missing 'data_offsets'"},
      {file_bytes(one(entry("F32", {2}, 0, 8)), four), "data_offsets [0, 8] out of bounds of the 4-byte"},
      {file_bytes(one(entry("F32", {0}, 4, 0)), four), "data_offsets [4, 0] end before begin"},
      {file_bytes(one(entry("F32", {2}, 0, 4)), four), "hold 4 bytes but shape [2] of F32 needs 8"},
      {file_bytes(one(entry("F32", {-2}, 0, 4)), four), "negative dimension -2 in shape"},
      {file_bytes("{\"a\":" + entry("F32", {2}, 0, 8) + ",\"b\":" + entry("F32", {1}, 4, 8) + "}", four + four),
       "tensor 'b' overlaps tensor 'a'"},
      {file_bytes("{\"a\":" + entry("F32", {1}, 0, 4) + ",\"b\":" + entry("F32", {1}, 8, 12) + "}", four + four + four),
       "gap of 4 bytes in the data buffer before tensor 'b'"},
      {file_bytes(one(entry("F32", {1}, 0, 4)), four + four), "4 bytes at the end of the data buffer belong to no"},
      {file_bytes("{\"__metadata__\":{\"k\":1}}", ""), "'__metadata__' value for 'k' is not a string"},
  };
  for (const auto& [bytes, expected] : cases) {
    const std::string msg = read_error(dir, bytes);
    EXPECT_NE(msg.find(expected), std::string::npos) << "expected '" << expected << "' in: " << msg;
  }
}

TEST(SafeTensors, MissingFileAndMissingTensor) {
  TempDir dir;
  EXPECT_THROW(SafeTensorsFile::read(dir / "absent.safetensors"), FormatError);
  write_safetensors(dir / "w.safetensors", {{"a", {"F32", {1}, {1.0f}}}, {"b", {"F32", {1}, {2.0f}}}});
  const SafeTensorsFile file = SafeTensorsFile::read(dir / "w.safetensors");
  EXPECT_TRUE(file.has("a"));
  EXPECT_FALSE(file.has("nope"));
  try {
    file.at("nope");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor 'nope' (available: a, b)"), std::string::npos) << e.what();
  }
}

TEST(SafeTensors, WriterRejectsInconsistentTensors) {
  TempDir dir;
  EXPECT_THROW(write_safetensors(dir / "w.safetensors", {{"a", {"F32", {2, 2}, {1.0f}}}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(dir / "w.safetensors", {{"__metadata__", {"F32", {}, {1.0f}}}}),
               std::invalid_argument);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace lorasub::io
