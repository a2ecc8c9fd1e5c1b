// The numbers a report derives from runs: per-task forgetting, mean and sample
// standard deviation, and which runs count as repeats of one set-up (a group).
#pragma once
#include <string>
#include <vector>

#include "lorasub/report/run_data.h"

namespace lorasub::report {

double mean(const std::vector<double>& x);        // NaN for []
double sample_std(const std::vector<double>& x);  // n - 1 in the denominator; NaN for n < 2

// f_j = max over j <= i < T-1 of R[i][j], minus R[T-1][j], for j < T-1 (the terms whose
// mean is results.json's "forgetting"); [] with fewer than two tasks.
std::vector<double> per_task_forgetting(const std::vector<std::vector<double>>& r);

// Runs that repeat one set-up (seeds): the same method and the same config except for
// bookkeeping (run.*, ckpt.*, metrics.*, dist.*, pretrain.*, paths, threads, device).
// The label is the method, plus the keys that tell this group apart from the method's
// other groups ("lora-drs drs.project=false"). A run without config.yaml is grouped
// by method and run name without its seed suffix ("demo-s2" -> "demo").
struct Group {
  std::string label;
  std::vector<size_t> runs;  // indices into the runs given, in order
};
std::vector<Group> group_runs(const std::vector<RunData>& runs);

// "demo-s2", "demo_seed2", "demo-2" -> "demo"; a name of only digits stays as it is.
std::string name_stem(const std::string& run_name);

// Config keys that do not change what a run computes, as far as grouping is concerned.
bool is_bookkeeping_key(const std::string& key);

}  // namespace lorasub::report
