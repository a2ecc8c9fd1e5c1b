#include "lorasub/commands/bench_tasks.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace lorasub::commands {
namespace {

constexpr double kMb = 1024.0 * 1024.0;

// Least-squares slope of y over x = 0, 1, ... (0 with fewer than 2 points).
double slope(const std::vector<double>& y) {
  const double n = static_cast<double>(y.size());
  if (y.size() < 2) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double x = static_cast<double>(i);
    sx += x;
    sy += y[i];
    sxx += x * x;
    sxy += x * y[i];
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

TaskGrowth task_growth(const train::TrainSummary& s) {
  TaskGrowth g;
  const size_t n = std::min(s.seconds.size(), s.resources.size());
  if (n < 2 || s.step_seconds.size() < n) return g;
  g.step_ratio = ratio(s.step_seconds[n - 1], s.step_seconds[1]);
  g.peak_rss_ratio =
      ratio(static_cast<double>(s.resources[n - 1].peak_rss_bytes), static_cast<double>(s.resources[1].peak_rss_bytes));
  g.boundary_ratio = ratio(s.seconds[n - 1].boundary(), s.seconds[1].boundary());
  std::vector<double> ckpt, rss, eval, drift;
  for (size_t t = 1; t < n; ++t) {
    ckpt.push_back(static_cast<double>(s.resources[t].checkpoint_bytes) / kMb);
    rss.push_back(static_cast<double>(s.resources[t].rss_bytes) / kMb);
    eval.push_back(s.seconds[t].eval);
    drift.push_back(s.seconds[t].drift);
  }
  g.ckpt_mb_per_task = slope(ckpt);
  g.rss_mb_per_task = slope(rss);
  g.eval_s_per_task = slope(eval);
  g.drift_s_per_task = slope(drift);
  return g;
}

std::string per_task_table(const train::TrainSummary& s) {
  std::string out =
      "task   step ms   cov s  (eigh)  protos s  eval s  drift s  ckpt s  boundary s  peak RSS MB  RSS MB  ckpt MB\n";
  char buf[256];
  const size_t n = std::min(s.seconds.size(), s.resources.size());
  for (size_t t = 0; t < n; ++t) {
    const train::PhaseSeconds& p = s.seconds[t];
    const train::TaskResources& r = s.resources[t];
    std::snprintf(buf, sizeof(buf), "%4lld  %8.1f  %6.2f  (%4.2f)  %8.2f  %6.2f  %7.2f  %6.2f  %10.2f  %11.0f  %6.0f  %7.2f\n",
                  static_cast<long long>(r.task + 1), t < s.step_seconds.size() ? 1e3 * s.step_seconds[t] : 0.0,
                  p.covariance, p.projector, p.prototypes, p.eval, p.drift, p.checkpoint, p.boundary(),
                  static_cast<double>(r.peak_rss_bytes) / kMb, static_cast<double>(r.rss_bytes) / kMb,
                  static_cast<double>(r.checkpoint_bytes) / kMb);
    out += buf;
  }
  const TaskGrowth g = task_growth(s);
  std::snprintf(buf, sizeof(buf),
                "last / task 2: step time %.3f, peak RSS %.3f, boundary %.2f\n"
                "growth a task (least squares, tasks 2..%zu): checkpoint %+.3f MB, RSS %+.2f MB, "
                "eval %+.3f s, drift %+.3f s\n",
                g.step_ratio, g.peak_rss_ratio, g.boundary_ratio, n, g.ckpt_mb_per_task, g.rss_mb_per_task,
                g.eval_s_per_task, g.drift_s_per_task);
  out += buf;
  return out;
}

}  // namespace lorasub::commands
