#include "lorasub/train/bench.h"

#include <cstdio>

#include "lorasub/io/run_dir.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/trainer.h"

#include <sys/stat.h>

#include <ATen/ATen.h>

#include <chrono>

namespace lorasub::train {

std::string BenchReport::text() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "train images/s          %.1f\n"
                "step ms, task 1         %.2f  (no projection yet)\n"
                "step ms, task 2         %.2f\n"
                "step ms, task %-3lld       %.2f\n"
                "step time ratio last/2  %.3f  (flat = 1)\n"
                "task-boundary share     %.1f%% of task time (covariance, prototypes, eval, checkpoint)\n"
                "checkpoint, this model  %.1f ms write, %.2f MB (last task end)\n"
                "checkpoint, ViT-B/16    %.0f ms write, %.0f ms read+verify, %.1f MB (20 tasks, r 10, generated)\n",
                train_images_per_second, step_ms_task1, step_ms_task2, static_cast<long long>(tasks), step_ms_last,
                step_ms_task2 > 0 ? step_ms_last / step_ms_task2 : 0.0, 100.0 * boundary_share,
                ckpt_demo_ms, ckpt_demo_mb, ckpt_vitb_write_ms, ckpt_vitb_read_ms, ckpt_vitb_mb);
  return buf;
}

namespace {

double file_mb(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / (1024.0 * 1024.0) : 0.0;
}

// A generated ViT-B/16 continual state in task 19 of 20, mid-task: what a checkpoint of
// a 20-task ImageNet-R run holds.
void bench_vitb_checkpoint(const std::string& path, BenchReport& r) {
  const int64_t d = 768, depth = 12, rank = 10, tasks = 20, classes = 200;
  at::manual_seed(0);
  Checkpoint c;
  c.kind = "step";
  c.pos = {tasks - 1, 3, 17, 12345, false};
  method::LearnerState& l = c.learner;
  l.task = tasks - 1;
  for (int64_t t = 0; t < tasks; ++t) {
    model::TaskAdapters ta;
    for (int64_t b = 0; b < depth; ++b)
      ta.blocks.push_back({at::randn({rank, d}), at::randn({d, rank}), at::randn({rank, d}), at::randn({d, rank})});
    l.adapters.push_back(std::move(ta));
    l.heads.push_back({at::randn({classes / tasks, d}), at::randn({classes / tasks})});
  }
  l.prototypes = at::randn({classes, d});
  l.proto_counts.assign(classes, 120);
  for (int64_t b = 0; b < depth; ++b) l.projectors.push_back(at::randn({d, d}));
  l.kept_dims.assign(depth, 300);
  l.adam_steps = 1000;
  for (const auto& p : l.adapters.back().blocks)
    for (const at::Tensor* x : {&p.a_k, &p.b_k, &p.a_v, &p.b_v}) {
      l.adam_m.push_back(at::randn_like(*x));
      l.adam_v.push_back(at::rand_like(*x));
    }
  for (const at::Tensor* x : {&l.heads.back().weight, &l.heads.back().bias}) {
    l.adam_m.push_back(at::randn_like(*x));
    l.adam_v.push_back(at::rand_like(*x));
  }
  for (int64_t t = 0; t < tasks - 1; ++t) {
    std::vector<double> row(static_cast<size_t>(t + 1), 80.0);
    c.summary.accuracy.add_row(row, 80.0);
    c.summary.seconds.push_back({});
    c.summary.step_seconds.push_back(0.1);
    c.summary.kept.push_back(l.kept_dims);
  }
  for (int64_t t = 0; t < tasks; ++t) c.task_sizes.push_back(classes / tasks);
  for (int64_t k = 0; k < classes; ++k) c.class_order.push_back(k);
  c.config_yaml = "generated";
  c.lorasub_version = LORASUB_VERSION;
  auto t0 = std::chrono::steady_clock::now();
  write_checkpoint(path, c);
  r.ckpt_vitb_write_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.ckpt_vitb_mb = file_mb(path);
  t0 = std::chrono::steady_clock::now();
  read_checkpoint(path);
  r.ckpt_vitb_read_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::remove(path.c_str());
}

}  // namespace

BenchReport run_bench(Config cfg, int64_t tasks, const dist::World& world, dist::Communicator& comm) {
  cfg.data.dataset = "synthetic";
  cfg.data.synthetic_classes = 2 * tasks;
  cfg.data.init_cls = 2;
  cfg.data.increment = 2;
  cfg.data.num_tasks = 0;
  cfg.run.name = cfg.run.name + "-bench";
  Trainer trainer(cfg, world, comm);
  TrainSummary s = trainer.run();
  BenchReport r;
  r.tasks = tasks;
  r.train_images_per_second = s.train_images_per_second();
  if (s.step_seconds.size() >= 2) {
    r.step_ms_task1 = 1e3 * s.step_seconds[0];
    r.step_ms_task2 = 1e3 * s.step_seconds[1];
    r.step_ms_last = 1e3 * s.step_seconds.back();
  }
  double boundary = 0, total = 0;
  for (const auto& p : s.seconds) {
    boundary += p.covariance + p.prototypes + p.eval + p.checkpoint;
    total += p.total();
  }
  r.boundary_share = total > 0 ? boundary / total : 0;
  if (world.is_root()) {
    char last[32];
    std::snprintf(last, sizeof(last), "/task_%03lld.h5", static_cast<long long>(tasks - 1));
    const std::string path = io::RunDir(cfg.run.dir, cfg.run.name).checkpoints_dir() + last;
    r.ckpt_demo_ms = 1e3 * s.seconds.back().checkpoint;
    r.ckpt_demo_mb = file_mb(path);
    bench_vitb_checkpoint(io::RunDir(cfg.run.dir, cfg.run.name).checkpoints_dir() + "/vitb-bench.h5", r);
  }
  comm.barrier();
  return r;
}

}  // namespace lorasub::train
