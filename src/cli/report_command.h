// `lorasub report RUN_DIR... -o FILE`, and the report `lorasub train` leaves in its run
// directory. Kept out of main.cpp so that main only registers and dispatches it.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace lorasub::cli {

struct ReportArgs {
  std::vector<std::string> runs;
  std::string output;
  bool overwrite = false;
};

CLI::App* add_report_command(CLI::App& app, ReportArgs& args);
// Writes the report; returns the exit code (2 for a bad run directory or output path).
int run_report_command(const ReportArgs& args);
// After a finished train run (rank 0): <run_dir>/report.html, its path printed. A
// failure is a warning: the run's results are complete without it.
void write_train_report(const std::string& run_dir);

}  // namespace lorasub::cli
