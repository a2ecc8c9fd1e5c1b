#include "lorasub/train/bench.h"

#include <cstdio>

#include "lorasub/train/trainer.h"

namespace lorasub::train {

std::string BenchReport::text() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "train images/s          %.1f\n"
                "step ms, task 1         %.2f  (no projection yet)\n"
                "step ms, task 2         %.2f\n"
                "step ms, task %-3lld       %.2f\n"
                "step time ratio last/2  %.3f  (flat = 1)\n"
                "task-boundary share     %.1f%% of task time (covariance, prototypes, eval, checkpoint)\n",
                train_images_per_second, step_ms_task1, step_ms_task2, static_cast<long long>(tasks), step_ms_last,
                step_ms_task2 > 0 ? step_ms_last / step_ms_task2 : 0.0, 100.0 * boundary_share);
  return buf;
}

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
  return r;
}

}  // namespace lorasub::train
