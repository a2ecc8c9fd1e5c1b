// The checkpoint file: what write_checkpoint writes, read_checkpoint gives back, every
// field of the position, the learner's and the trainer's state; a damaged or foreign
// file is refused naming it; the directory lists newest first and prunes the oldest.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "lorasub/core/error.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/checkpoint_dir.h"
#include "unit/io/temp_dir.h"

namespace lorasub::train {
namespace {

using io::test::TempDir;

at::Tensor ramp(std::vector<int64_t> shape, float first) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return (at::arange(n, at::kFloat) * 0.125f + first).reshape(shape);
}

Checkpoint sample(int64_t global_step, bool task_done) {
  Checkpoint c;
  c.kind = task_done ? "task_end" : "step";
  c.pos = {1, 2, 3, global_step, task_done};
  method::LearnerState& l = c.learner;
  l.task = 1;
  l.trained = true;
  for (int64_t t = 0; t < 2; ++t) {
    model::TaskAdapters ta;
    for (int64_t b = 0; b < 2; ++b)
      ta.blocks.push_back({ramp({3, 4}, 1.0f * t + b), ramp({4, 3}, 2.0f), ramp({3, 4}, 3.0f), ramp({4, 3}, -4.0f)});
    l.adapters.push_back(ta);
    l.heads.push_back({ramp({2, 4}, 5.0f + t), ramp({2}, 6.0f)});
  }
  l.prototypes = ramp({4, 4}, 7.0f);
  l.proto_counts = {10, 11, 12, 13};
  l.kept_dims = {3, 2};
  l.projectors = {ramp({4, 4}, 8.0f), ramp({4, 4}, 9.0f)};
  l.adam_steps = 17;
  l.adam_m = {ramp({3, 4}, 0.5f)};
  l.adam_v = {ramp({3, 4}, 0.25f)};
  TrainSummary& s = c.trainer.summary;
  s.accuracy.add_row({90.0}, 90.0);
  s.accuracy.add_row({80.0, 70.5}, 75.25);
  s.seconds = {{1, 2, 3, 4, 5, 0.5, 0.25}, {6, 7, 8, 9, 10, 1.5, 0.125}};
  s.kept = {{4, 4}, {3, 2}};
  s.step_seconds = {0.5, 0.25};
  s.wall_seconds = 123.5;
  s.images_trained = 4567;
  s.drift = {{0, 1, 0.125, -1.5}};
  c.trainer.current = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5};
  c.trainer.current_step_seconds = 9.75;
  c.trainer.current_steps = 39;
  c.trainer.history_json = R"([{"from":"x","global_step":5}])";
  c.config_yaml = "run: {name: x}\n";
  c.config_hash = "abc";
  c.resume_hash = "def";
  c.backbone_sha256 = "random-init";
  c.lorasub_version = LORASUB_VERSION;
  c.class_order = {3, 1, 0, 2};
  c.task_sizes = {2, 2};
  c.ranks = 2;
  c.created_unix = 1700000000;
  c.drift_reference = ramp({4, 4}, -2.0f);
  c.drift_sample_reference = ramp({4, 4}, -3.0f);
  return c;
}

void expect_equal(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  EXPECT_TRUE(a.sizes().equals(b.sizes())) << what;
  EXPECT_TRUE(at::equal(a, b)) << what;  // float32 stored as float32: bit for bit
}

TEST(Checkpoint, EveryFieldIsReadBackAsWritten) {
  TempDir dir;
  const std::string path = dir.path() + "/c.h5";
  const Checkpoint in = sample(42, false);
  write_checkpoint(path, in);
  const Checkpoint out = read_checkpoint(path);
  EXPECT_EQ(out.kind, "step");
  EXPECT_EQ(out.pos.task, 1);
  EXPECT_EQ(out.pos.epoch, 2);
  EXPECT_EQ(out.pos.batch, 3);
  EXPECT_EQ(out.pos.global_step, 42);
  EXPECT_FALSE(out.pos.task_done);
  const method::LearnerState& l = out.learner;
  ASSERT_EQ(l.adapters.size(), 2u);
  for (size_t t = 0; t < 2; ++t)
    for (size_t b = 0; b < 2; ++b) {
      const auto& x = l.adapters[t].blocks.at(b);
      const auto& y = in.learner.adapters[t].blocks[b];
      expect_equal(x.a_k, y.a_k, "a_k");
      expect_equal(x.b_k, y.b_k, "b_k");
      expect_equal(x.a_v, y.a_v, "a_v");
      expect_equal(x.b_v, y.b_v, "b_v");
    }
  expect_equal(l.heads.at(1).weight, in.learner.heads[1].weight, "head weight");
  expect_equal(l.prototypes, in.learner.prototypes, "prototypes");
  EXPECT_EQ(l.proto_counts, in.learner.proto_counts);
  EXPECT_EQ(l.kept_dims, in.learner.kept_dims);
  ASSERT_EQ(l.projectors.size(), 2u);
  expect_equal(l.projectors[1], in.learner.projectors[1], "projector");
  EXPECT_EQ(l.adam_steps, 17);
  expect_equal(l.adam_v.at(0), in.learner.adam_v[0], "adam v");
  EXPECT_TRUE(l.trained);
  const TrainSummary& s = out.trainer.summary;
  EXPECT_EQ(s.accuracy.matrix(), in.trainer.summary.accuracy.matrix());
  EXPECT_EQ(s.accuracy.overall(), in.trainer.summary.accuracy.overall());
  ASSERT_EQ(s.seconds.size(), 2u);
  EXPECT_EQ(s.seconds[1].checkpoint, 10);
  EXPECT_EQ(s.seconds[1].drift, 1.5);
  EXPECT_EQ(s.seconds[1].projector, 0.125);
  EXPECT_EQ(out.trainer.current.drift, 5.5);
  EXPECT_EQ(out.trainer.current.projector, 6.5);
  EXPECT_EQ(s.kept, in.trainer.summary.kept);
  EXPECT_EQ(s.step_seconds, in.trainer.summary.step_seconds);
  EXPECT_EQ(s.wall_seconds, 123.5);
  EXPECT_EQ(s.images_trained, 4567);
  ASSERT_EQ(s.drift.size(), 1u);
  EXPECT_EQ(s.drift[0].stale_accuracy_drop, -1.5);
  EXPECT_EQ(out.trainer.current.eval, 3.5);
  EXPECT_EQ(out.trainer.current_step_seconds, 9.75);
  EXPECT_EQ(out.trainer.current_steps, 39);
  EXPECT_EQ(out.trainer.history_json, in.trainer.history_json);
  EXPECT_EQ(out.config_yaml, in.config_yaml);
  EXPECT_EQ(out.config_hash, "abc");
  EXPECT_EQ(out.resume_hash, "def");
  EXPECT_EQ(out.backbone_sha256, "random-init");
  EXPECT_EQ(out.class_order, in.class_order);
  EXPECT_EQ(out.task_sizes, in.task_sizes);
  EXPECT_EQ(out.ranks, 2);
  EXPECT_EQ(out.created_unix, 1700000000);
  expect_equal(out.drift_reference, in.drift_reference, "drift reference");
  expect_equal(out.drift_sample_reference, in.drift_sample_reference, "drift sample reference");
}

TEST(Checkpoint, AFlippedByteOrAForeignFileIsRefusedNamingIt) {
  TempDir dir;
  const std::string path = dir.path() + "/c.h5";
  write_checkpoint(path, sample(7, true));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff mid = f.tellg() / 2;
    f.seekg(mid);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(mid);
    f.write(&c, 1);
  }
  try {
    read_checkpoint(path);
    FAIL() << "a damaged checkpoint was read";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  const std::string text = dir.path() + "/text.h5";
  std::ofstream(text) << "not a checkpoint";
  EXPECT_THROW(read_checkpoint(text), FormatError);
}

TEST(CheckpointDir, NewestFirstDamagedFirstAndPruning) {
  TempDir dir;
  const std::string d = dir.path();
  write_checkpoint(d + "/step_000000005.h5", sample(5, false));
  write_checkpoint(d + "/step_000000009.h5", sample(9, false));
  write_checkpoint(d + "/task_001.h5", sample(9, true));  // the task end after the step of the same step
  std::ofstream(d + "/step_000000011.h5") << "garbage";
  const std::vector<std::string> all = list_checkpoints(d);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0], d + "/step_000000011.h5");  // unreadable: first, for the caller to name and skip
  EXPECT_EQ(all[1], d + "/task_001.h5");
  EXPECT_EQ(all[2], d + "/step_000000009.h5");
  EXPECT_EQ(all[3], d + "/step_000000005.h5");
  const std::vector<std::string> gone = prune_checkpoints(d, 1, /*keep_task_ends=*/true, d + "/step_000000005.h5");
  EXPECT_TRUE(gone.empty());  // keeps the newest step one and the protected one
  const std::vector<std::string> gone2 = prune_checkpoints(d, 1, true, "");
  ASSERT_EQ(gone2.size(), 1u);
  EXPECT_EQ(gone2[0], d + "/step_000000005.h5");
  EXPECT_EQ(list_checkpoints(d).size(), 3u);  // the damaged file is not ours to delete
}

}  // namespace
}  // namespace lorasub::train
