// timm ViT-B/16 weights: a model.safetensors laid out like timm's
// vit_base_patch16_224.augreg_in21k (F16 here, as many hubs ship them; the 21k head
// included) loads by timm key names, with F16 converted exactly; a wrong width or a
// missing block is refused with the keys named.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/model/vit.h"

namespace lorasub::model {
namespace {

const VitShape kVitB16{224, 3, 16, 768, 12, 12, 3072};

// An F16 value of `i`: finite, of either sign, in [-2, 2), exactly representable.
uint16_t half_bits(uint64_t i) {
  const uint16_t sign = static_cast<uint16_t>((i & 1) << 15);
  const uint16_t exp = static_cast<uint16_t>(5 + (i >> 1) % 11);  // 2^-10 .. 2^0
  const uint16_t mant = static_cast<uint16_t>((i * 2654435761u) >> 7) & 0x3ff;
  return static_cast<uint16_t>(sign | (exp << 10) | mant);
}

float half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const float v = std::ldexp(1.0f + static_cast<float>(mant) / 1024.0f, exp - 15);
  return (h & 0x8000) ? -v : v;
}

// Writes every tensor of `shapes` as F16 with values half_bits(global element index).
void write_f16(const std::string& path, const std::map<std::string, std::vector<int64_t>>& shapes) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t n = 1;
    std::string dims;
    for (int64_t d : shape) {
      n *= static_cast<uint64_t>(d);
      dims += (dims.empty() ? "" : ",") + std::to_string(d);
    }
    header += ",\"" + name + "\":{\"dtype\":\"F16\",\"shape\":[" + dims + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + 2 * n) + "]}";
    offset += 2 * n;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header;
  std::vector<uint16_t> buf;
  uint64_t index = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    buf.resize(n);
    for (uint64_t k = 0; k < n; ++k) buf[k] = half_bits(index++);
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(2 * n));
  }
}

std::map<std::string, std::vector<int64_t>> timm_vit_b16_keys() {
  auto shapes = timm_shapes(kVitB16);
  shapes["head.weight"] = {21843, 768};  // the 21k head: present in the file, not used
  shapes["head.bias"] = {21843};
  return shapes;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(getpid()) + "_" + name;
}

TEST(VitB16Weights, LoadsTimmF16FileByKeyName) {
  const auto shapes = timm_vit_b16_keys();
  ASSERT_EQ(shapes.size(), 4u + 12u * 12u + 2u + 2u);
  const std::string path = temp_path("vit_b16_f16.safetensors");
  write_f16(path, shapes);
  Vit v = Vit::load(path, kVitB16);
  // Element k of the file (in key order) is half_value(half_bits(k)): check the first
  // elements of a few tensors, placed by the sorted key order the writer used.
  uint64_t index = 0;
  std::map<std::string, uint64_t> first;
  for (const auto& [name, shape] : shapes) {
    first[name] = index;
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    index += n;
  }
  const auto named = v.named_tensors();
  for (const char* key : {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.7.attn.qkv.weight",
                          "blocks.11.mlp.fc2.bias", "norm.weight"}) {
    const at::Tensor t = named.at(key).contiguous();
    const float* p = t.data_ptr<float>();
    for (uint64_t k = 0; k < 5; ++k)
      EXPECT_EQ(p[k], half_value(half_bits(first.at(key) + k))) << key << "[" << k << "]";
  }
  at::Tensor f = v.features(at::rand({1, 3, 224, 224}));
  EXPECT_EQ(f.sizes(), (at::IntArrayRef{1, 768}));
  EXPECT_TRUE(at::isfinite(f).all().item<bool>());
  std::remove(path.c_str());
}

TEST(VitB16Weights, WrongWidthAndMissingBlockAreNamed) {
  // A ViT-S/16 file (dim 384) against the ViT-B/16 config: every tensor misshaped.
  const std::string small = temp_path("vit_s16.safetensors");
  write_f16(small, timm_shapes(VitShape{224, 3, 16, 384, 12, 6, 1536}));
  try {
    Vit::load(small, kVitB16);
    FAIL() << "a ViT-S/16 file loaded as ViT-B/16";
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("model.dim 768"), std::string::npos) << m;
    EXPECT_NE(m.find("wrong shape"), std::string::npos) << m;
    EXPECT_NE(m.find("cls_token is [1, 1, 384], expected [1, 1, 768]"), std::string::npos) << m;
  }
  std::remove(small.c_str());
  // Block 11 left out: its 12 tensors are named as missing.
  auto shapes = timm_vit_b16_keys();
  for (auto it = shapes.begin(); it != shapes.end();)
    it = it->first.rfind("blocks.11.", 0) == 0 ? shapes.erase(it) : std::next(it);
  const std::string cut = temp_path("vit_b16_cut.safetensors");
  write_f16(cut, shapes);
  try {
    Vit::load(cut, kVitB16);
    FAIL() << "a file without block 11 loaded";
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing keys (12)"), std::string::npos) << m;
    EXPECT_NE(m.find("blocks.11.attn.qkv.weight"), std::string::npos) << m;
  }
  std::remove(cut.c_str());
}

}  // namespace
}  // namespace lorasub::model
