// Internal to report.cpp: the HTML of one run's section and of the comparison.
#pragma once
#include <string>
#include <vector>

#include "lorasub/report/run_data.h"

namespace lorasub::report {

// <section> for runs[index]: summary table, plots, config. `config_open`: the config
// <details> starts unfolded.
std::string run_section(const RunData& run, size_t index, bool config_open);

// <section> comparing several runs: the mean +- std table per group and overlaid curves.
std::string compare_section(const std::vector<RunData>& runs);

// <figure> with a caption, the plot and an optional note under it.
std::string figure(const std::string& caption, const std::string& svg, const std::string& note = "");

}  // namespace lorasub::report
