// The export file: what write_export writes, read_export gives back, field for field
// and tensor for tensor; what is not a lorasub export, or another version of it, is
// refused naming the file.
#include <gtest/gtest.h>

#include <string>

#include "lorasub/commands/export_format.h"
#include "lorasub/core/error.h"
#include "unit/io/temp_dir.h"

namespace lorasub::commands {
namespace {

using io::test::TempDir;

io::TensorData tensor(std::vector<int64_t> shape, float first) {
  io::TensorData t;
  t.shape = std::move(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.values.push_back(first + 0.25f * static_cast<float>(i));
  return t;
}

ExportInfo sample_info() {
  ExportInfo m;
  m.shape = {32, 3, 16, 8, 2, 2, 16};
  m.transform = {true, "imagenet-r", 36, 32, 3};
  m.precision = "bf16";
  m.eval_batch_size = 17;
  m.prototypes = tensor({3, 8}, -1.0f);
  m.class_order = {5, 0, 199};
  m.prototype_counts = {10, 11, 12};
  m.run = "run-a";
  m.method = "lora-drs";
  m.dataset = "imagenet-r";
  m.backbone_sha256 = std::string(64, 'a');
  m.config_hash = "cafe";
  m.task = 1;
  m.tasks = 5;
  m.accuracy = 71.123456789012345;
  return m;
}

TEST(ExportFormat, WhatIsWrittenIsReadBack) {
  TempDir dir;
  const std::string path = dir.path() + "/model.safetensors";
  const std::map<std::string, io::TensorData> backbone = {{"cls_token", tensor({1, 1, 8}, 0.5f)},
                                                          {"blocks.0.attn.qkv.weight", tensor({24, 8}, 2.0f)}};
  const ExportInfo in = sample_info();
  write_export(path, backbone, in);
  const ExportFile got = read_export(path);
  const ExportInfo& out = got.info;
  EXPECT_EQ(out.shape.image_size, 32);
  EXPECT_EQ(out.shape.channels, 3);
  EXPECT_EQ(out.shape.patch, 16);
  EXPECT_EQ(out.shape.dim, 8);
  EXPECT_EQ(out.shape.depth, 2);
  EXPECT_EQ(out.shape.heads, 2);
  EXPECT_EQ(out.shape.mlp_dim, 16);
  EXPECT_TRUE(out.transform.pipeline);
  EXPECT_EQ(out.transform.pipeline_name, "imagenet-r");
  EXPECT_EQ(out.transform.resize_short, 36);
  EXPECT_EQ(out.transform.image_size, 32);
  EXPECT_EQ(out.transform.channels, 3);
  EXPECT_EQ(out.precision, "bf16");
  EXPECT_EQ(out.eval_batch_size, 17);
  EXPECT_EQ(out.prototypes.shape, in.prototypes.shape);
  EXPECT_EQ(out.prototypes.values, in.prototypes.values);  // float32 as written, bit for bit
  EXPECT_EQ(out.class_order, in.class_order);
  EXPECT_EQ(out.prototype_counts, in.prototype_counts);
  EXPECT_EQ(out.run, "run-a");
  EXPECT_EQ(out.method, "lora-drs");
  EXPECT_EQ(out.dataset, "imagenet-r");
  EXPECT_EQ(out.backbone_sha256, in.backbone_sha256);
  EXPECT_EQ(out.config_hash, "cafe");
  EXPECT_EQ(out.task, 1);
  EXPECT_EQ(out.tasks, 5);
  EXPECT_EQ(out.accuracy, in.accuracy);  // %.17g: the double exactly
  for (const auto& [name, t] : backbone) {
    ASSERT_TRUE(got.file.has(name)) << name;
    EXPECT_EQ(got.file.at(name).shape, t.shape) << name;
    EXPECT_EQ(got.file.at(name).values, t.values) << name;
  }
  EXPECT_EQ(got.file.at(kExportClassOrder).dtype, "I64");
}

TEST(ExportFormat, IdentityTransformRoundTrips) {
  TempDir dir;
  ExportInfo in = sample_info();
  in.transform = {false, "", 0, 28, 1};
  write_export(dir.path() + "/m.safetensors", {}, in);
  const ExportInfo out = read_export(dir.path() + "/m.safetensors").info;
  EXPECT_FALSE(out.transform.pipeline);
  EXPECT_EQ(out.transform.image_size, 28);
  EXPECT_EQ(out.transform.channels, 1);
}

TEST(ExportFormat, NotAnExportOrAnotherVersionIsRefused) {
  TempDir dir;
  const std::string plain = dir.path() + "/plain.safetensors";
  io::write_safetensors(plain, {{"w", tensor({2}, 1.0f)}});
  try {
    read_export(plain);
    FAIL() << "a plain safetensors file was read as an export";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a model written by lorasub export"), std::string::npos) << e.what();
  }
  const std::string old = dir.path() + "/old.safetensors";
  io::write_safetensors(old, {{"w", tensor({2}, 1.0f)}},
                        {{"lorasub.format", kExportFormat}, {"lorasub.format_version", "0"}});
  try {
    read_export(old);
    FAIL() << "another format version was read";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("export format version 0"), std::string::npos) << e.what();
  }
}

TEST(ExportFormat, PrototypesThatDisagreeWithTheClassOrderAreNotWritten) {
  TempDir dir;
  ExportInfo in = sample_info();
  in.class_order.pop_back();
  EXPECT_THROW(write_export(dir.path() + "/x.safetensors", {}, in), std::invalid_argument);
}

}  // namespace
}  // namespace lorasub::commands
