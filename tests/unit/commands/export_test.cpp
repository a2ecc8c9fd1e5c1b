// lorasub export and predict against independent computations: the exported qkv
// weights are W0 + sum_s B_s A_s summed here in plain float64 loops, the prototypes and
// class order are the checkpoint's, and predict's top-1 is NCM on the backbone run with
// those weights; every bad input is refused with nothing written.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/core/sha256.h"
#include "lorasub/io/safetensors.h"
#include "lorasub/method/ncm.h"
#include "lorasub/model/vit.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/commands/export.h"
#include "lorasub/commands/predict.h"
#include "unit/io/temp_dir.h"

namespace lorasub::commands {
namespace {

using io::test::TempDir;
using train::Checkpoint;
using train::write_checkpoint;

constexpr int64_t kDim = 8, kDepth = 2, kRank = 3, kSize = 8;

Config tiny_config(const std::string& weights) {
  Config cfg;
  cfg.run.name = "unit";
  cfg.data.dataset = "synthetic";
  cfg.data.init_cls = 2;
  cfg.data.increment = 2;
  cfg.model = {weights, kSize, 1, 4, kDim, kDepth, 2, 16};
  cfg.method.rank = kRank;
  cfg.train.eval_batch_size = 3;  // predict's default batch: several batches over 7 images
  return cfg;
}

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  Rng rng(Stream::kSynthetic, {seed});
  at::Tensor t = at::empty(shape, at::kFloat);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<float>()[i] = static_cast<float>(rng.normal(0.0, 0.3));
  return t;
}

// A run directory with the task-end checkpoints of tasks 0 and 1 (2 classes each).
struct FakeRun {
  TempDir dir;
  std::string backbone = dir / "backbone.safetensors", run = dir / "run";
  model::Vit vit = model::Vit::random({kSize, 1, 4, kDim, kDepth, 2, 16}, 7);
  std::vector<model::TaskAdapters> adapters;
  at::Tensor prototypes = randn({4, kDim}, 99);
  std::vector<int64_t> class_order = {2, 0, 3, 1};

  FakeRun() {
    vit.save(backbone);
    for (uint64_t s = 0; s < 2; ++s) {
      model::TaskAdapters ta;
      for (uint64_t b = 0; b < kDepth; ++b)
        ta.blocks.push_back({randn({kRank, kDim}, 10 * s + b), randn({kDim, kRank}, 100 + 10 * s + b),
                             randn({kRank, kDim}, 200 + 10 * s + b), randn({kDim, kRank}, 300 + 10 * s + b)});
      adapters.push_back(ta);
    }
    std::filesystem::create_directories(run + "/checkpoints");
    for (int64_t t = 0; t < 2; ++t) write_checkpoint(run + "/checkpoints/task_00" + std::to_string(t) + ".h5", make(t));
  }

  Checkpoint make(int64_t t) const {
    Checkpoint c;
    c.kind = "task_end";
    c.pos.task = t;
    c.pos.task_done = true;
    c.learner.task = t;
    c.learner.trained = true;
    for (int64_t s = 0; s <= t; ++s) {
      c.learner.adapters.push_back(adapters[static_cast<size_t>(s)]);
      c.learner.heads.push_back({at::zeros({2, kDim}), at::zeros({2})});
    }
    c.learner.prototypes = prototypes.clone();
    if (t == 0) c.learner.prototypes.narrow(0, 2, 2).zero_();
    c.learner.proto_counts = {5, 6, t == 1 ? 7 : 0, t == 1 ? 8 : 0};
    c.learner.kept_dims = {kDim, kDim};
    for (int64_t s = 0; s <= t; ++s)
      c.trainer.summary.accuracy.add_row(std::vector<double>(static_cast<size_t>(s + 1), 50.0), 40.0 + s);
    const Config cfg = tiny_config(backbone);
    c.config_yaml = dump_config(cfg);
    c.config_hash = config_hash(cfg);
    c.backbone_sha256 = sha256_file(backbone);
    c.lorasub_version = LORASUB_VERSION;
    c.class_order = class_order;
    c.task_sizes = {2, 2};
    return c;
  }

  // W0 + sum_{s<=t} B_s A_s on the k and v rows, in float64 loops.
  std::vector<float> expected_qkv(int64_t block, int64_t t) const {
    const at::Tensor w0 = vit.blocks()[static_cast<size_t>(block)].qkv_w.contiguous();
    std::vector<float> out(w0.data_ptr<float>(), w0.data_ptr<float>() + w0.numel());
    for (int64_t target = 0; target < 2; ++target) {
      for (int64_t i = 0; i < kDim; ++i)
        for (int64_t j = 0; j < kDim; ++j) {
          const int64_t row = (1 + target) * kDim + i;
          double v = w0[row][j].item<double>();
          double delta = 0;
          for (int64_t s = 0; s <= t; ++s) {
            const model::KvAdapter& a = adapters[static_cast<size_t>(s)].blocks[static_cast<size_t>(block)];
            const at::Tensor& A = target == 0 ? a.a_k : a.a_v;
            const at::Tensor& B = target == 0 ? a.b_k : a.b_v;
            for (int64_t r = 0; r < kRank; ++r) delta += B[i][r].item<double>() * A[r][j].item<double>();
          }
          out[static_cast<size_t>(row * kDim + j)] = static_cast<float>(v + delta);
        }
    }
    return out;
  }
};

TEST(Export, MergedWeightsPrototypesAndMetadata) {
  FakeRun run;
  for (int64_t task : {-1, 0}) {
    const std::string out = run.dir / ("model" + std::to_string(task) + ".safetensors");
    const ExportSummary s = export_model({run.run, task, out, false, ""});
    const int64_t t = task < 0 ? 1 : task;
    EXPECT_EQ(s.task, t);
    EXPECT_EQ(s.classes, 2 * (t + 1));
    EXPECT_DOUBLE_EQ(s.accuracy, 40.0 + t);
    const io::SafeTensorsFile f = io::SafeTensorsFile::read(out);
    for (const auto& [name, shape] : model::timm_shapes(run.vit.shape())) EXPECT_EQ(f.at(name).shape, shape) << name;
    for (int64_t b = 0; b < kDepth; ++b) {
      const std::vector<float> want = run.expected_qkv(b, t);
      const std::vector<float>& got = f.at("blocks." + std::to_string(b) + ".attn.qkv.weight").values;
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 1e-6f * (1 + std::abs(want[i]))) << b << " " << i;
      // q rows are W0's exactly, and every other weight too.
      const at::Tensor w0 = run.vit.blocks()[static_cast<size_t>(b)].qkv_w.contiguous();
      for (int64_t i = 0; i < kDim * kDim; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], w0.data_ptr<float>()[i]);
    }
    EXPECT_EQ(f.at("norm.weight").values, io::SafeTensorsFile::read(run.backbone).at("norm.weight").values);
    const io::TensorData& p = f.at(kExportPrototypes);
    EXPECT_EQ(p.shape, (std::vector<int64_t>{2 * (t + 1), kDim}));
    for (int64_t i = 0; i < p.numel(); ++i)
      EXPECT_EQ(p.values[static_cast<size_t>(i)], run.prototypes.data_ptr<float>()[i]);
    EXPECT_EQ(f.at(kExportClassOrder).dtype, "I64");
    const std::vector<float> order = t == 1 ? std::vector<float>{2, 0, 3, 1} : std::vector<float>{2, 0};
    EXPECT_EQ(f.at(kExportClassOrder).values, order);
    EXPECT_EQ(f.metadata().at("lorasub.task"), std::to_string(t));
    EXPECT_EQ(f.metadata().at("lorasub.dataset"), "synthetic");
    EXPECT_EQ(f.metadata().at("format"), "pt");
    // The export loads as a plain backbone (model.weights) too: lorasub.* is skipped.
    EXPECT_NO_THROW(model::Vit::load(out, run.vit.shape()));
  }
}

// A message of the ConfigError that `fn` throws, and that `out` was not created.
template <class Fn>
std::string refused(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "not refused";
  return "";
}

TEST(Export, BadInputIsRefusedAndNothingWritten) {
  FakeRun run;
  const std::string out = run.dir / "m.safetensors";
  EXPECT_NE(refused([&] {
              export_model({run.dir / "none", -1, out, false, ""});
            }).find("'" + run.dir / "none" + "' does not exist"),
            std::string::npos);
  EXPECT_NE(refused([&] {
              export_model({run.run, 5, out, false, ""});
            }).find("--task 5 is not a finished task"),
            std::string::npos);
  std::filesystem::create_directories(run.dir / "empty/checkpoints");
  EXPECT_NE(refused([&] {
              export_model({run.dir / "empty", -1, out, false, ""});
            }).find("holds no finished task"),
            std::string::npos);
  const io::SafeTensorsFile other_file = io::SafeTensorsFile::read(run.backbone);
  model::Vit::random(run.vit.shape(), 8).save(run.dir / "other.safetensors");
  EXPECT_NE(refused([&] {
              export_model({run.run, -1, out, false, run.dir / "other.safetensors"});
            }).find("but the run was trained on"),
            std::string::npos);
  EXPECT_NE(refused([&] {
              export_model({run.run, -1, out, false, run.dir / "gone.safetensors"});
            }).find("does not exist"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out));
  io::test::write_bytes(out, "keep me");
  EXPECT_NE(refused([&] {
              export_model({run.run, -1, out, false, ""});
            }).find("exists; pass --overwrite"),
            std::string::npos);
  EXPECT_EQ(io::test::read_bytes(out), "keep me");
  export_model({run.run, -1, out, true, ""});
  EXPECT_EQ(io::SafeTensorsFile::read(out).metadata().at("lorasub.task"), "1");
}

// An IDX image file of n random kSize x kSize images.
void write_idx(const std::string& path, int64_t n) {
  std::string bytes = {
      0, 0, 8, 3, 0, 0, 0, static_cast<char>(n), 0, 0, 0, static_cast<char>(kSize), 0, 0, 0, static_cast<char>(kSize)};
  Rng rng(5);
  for (int64_t i = 0; i < n * kSize * kSize; ++i) bytes.push_back(static_cast<char>(rng.below(256)));
  io::test::write_bytes(path, bytes);
}

TEST(Predict, TopOneIsNcmOnTheMergedBackbone) {
  FakeRun run;
  const std::string model_path = run.dir / "m.safetensors", idx = run.dir / "x-idx3-ubyte";
  export_model({run.run, -1, model_path, false, ""});
  write_idx(idx, 7);
  std::FILE* out = std::tmpfile();
  const PredictSummary s = predict({model_path, {idx}, 3, "", 0}, out);
  EXPECT_EQ(s.images, 7);
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);

  // Independently: the backbone with W0 + deltas as its qkv, features, cosine NCM.
  std::vector<at::Tensor> qkv;
  for (int64_t b = 0; b < kDepth; ++b)
    qkv.push_back(at::from_blob(run.expected_qkv(b, 1).data(), {3 * kDim, kDim}, at::kFloat).clone());
  model::ForwardOptions view;
  view.qkv_weights = &qkv;
  const std::string pixels = io::test::read_bytes(idx).substr(16);
  at::Tensor x = at::empty({7, 1, kSize, kSize}, at::kFloat);
  for (size_t k = 0; k < pixels.size(); ++k) x.data_ptr<float>()[k] = static_cast<uint8_t>(pixels[k]) / 255.0f;
  const at::Tensor pred = method::ncm_predict(run.vit.features(x, view), run.prototypes);
  std::istringstream lines(text);
  int64_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["input"], idx);
    EXPECT_EQ(j["index"], i);
    EXPECT_EQ(j["item"], i);
    ASSERT_EQ(j["top"].size(), 3u);
    EXPECT_EQ(j["top"][0]["class"], run.class_order[static_cast<size_t>(pred[i].item<int64_t>())]) << line;
    EXPECT_GE(j["top"][0]["score"].get<double>(), j["top"][1]["score"].get<double>());
    EXPECT_GE(j["top"][1]["score"].get<double>(), j["top"][2]["score"].get<double>());
  }
  EXPECT_EQ(i, 7);

  // Bad inputs name the file.
  auto fails = [&](const std::vector<std::string>& inputs, const std::string& want) {
    std::FILE* sink = std::tmpfile();
    const std::string msg = refused([&] { predict({model_path, inputs, 1, "", 0}, sink); });
    std::fclose(sink);
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  };
  io::test::write_bytes(run.dir / "junk.jpg", "not an image at all");
  fails({run.dir / "junk.jpg"}, "'" + run.dir / "junk.jpg" + "': not a JPEG, PNG or IDX image file");
  fails({run.dir / "missing.png"}, "'" + run.dir / "missing.png" + "': cannot open");
  std::FILE* sink = std::tmpfile();
  EXPECT_NE(refused([&] {
              predict({run.backbone, {idx}, 1, "", 0}, sink);
            }).find("not a model written by lorasub export"),
            std::string::npos);
  std::fclose(sink);
}

}  // namespace
}  // namespace lorasub::commands
