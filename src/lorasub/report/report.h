// The HTML report of one or more finished runs: one self-contained file, plots as
// inline SVG, no scripts, nothing fetched. Per run: the accuracy matrix, A_t, each
// task's accuracy over time, forgetting per task, feature drift (when recorded), DRS
// kept dimensions (when the method has them), time per phase, throughput and the
// config. With several runs, first a comparison: mean +- sample std per group of
// repeated runs (stats.h) and every run's A_t curve, colored by group.
#pragma once
#include <string>
#include <vector>

#include "lorasub/report/run_data.h"

namespace lorasub::report {

std::string render_report(const std::vector<RunData>& runs);

// Loads every run directory (ConfigError/FormatError naming a bad one), renders, and
// writes `out` atomically. An existing `out` is refused (ConfigError) unless
// `overwrite`; so is a missing parent directory. Returns the number of plots written.
int write_report(const std::vector<std::string>& run_dirs, const std::string& out, bool overwrite);

// The run's own report, <run_dir>/report.html (replaced: it belongs to the run).
// Returns its path.
std::string write_run_report(const std::string& run_dir);

// Number of <svg data-plot=...> elements in a rendered report.
int count_plots(const std::string& html);

}  // namespace lorasub::report
