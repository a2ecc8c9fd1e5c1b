#include "report_command.h"

#include <cstdio>

#include "lorasub/core/error.h"
#include "lorasub/report/report.h"

namespace lorasub::cli {

CLI::App* add_report_command(CLI::App& app, ReportArgs& args) {
  CLI::App* cmd = app.add_subcommand("report", "write one self-contained HTML report (inline SVG plots) of finished runs");
  cmd->add_option("runs", args.runs, "run directories (each holds results.json; config.yaml when present)")
      ->required()
      ->type_name("RUN_DIR");
  cmd->add_option("-o,--output", args.output, "HTML file to write")->required();
  cmd->add_flag("--overwrite", args.overwrite, "replace the output file if it exists (without it, an existing one is refused)");
  cmd->footer(
      "Per run: the accuracy matrix, A_t, each task's accuracy over time, forgetting per task, feature drift\n"
      "and DRS kept dimensions (when results.json has them), time per phase, throughput, the config.\n"
      "Several runs add a table of mean +- sample std (n - 1) of A_last, A_avg and forgetting per group, every\n"
      "run's A_t curve and throughput. A group is the runs of one method whose configs differ only in seed,\n"
      "names, paths, threads, checkpoints and metrics (without config.yaml: one method and the run name without\n"
      "its seed suffix).\n"
      "lorasub train writes the same report of its own run to <run dir>/report.html.\n"
      "Exit codes: 0 written; 2 a bad run directory, results.json or output path (named); 1 other failures.");
  return cmd;
}

int run_report_command(const ReportArgs& args) {
  try {
    const int plots = report::write_report(args.runs, args.output, args.overwrite);
    std::printf("report: %zu run(s), %d plots -> %s\n", args.runs.size(), plots, args.output.c_str());
    return kExitOk;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "lorasub report: error: %s\n", e.what());
    return kExitUsage;
  } catch (const FormatError& e) {
    std::fprintf(stderr, "lorasub report: error: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorasub report: error: %s\n", e.what());
    return kExitFailure;
  }
}

void write_train_report(const std::string& run_dir) {
  try {
    std::printf("report: %s\n", report::write_run_report(run_dir).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorasub: warning: %s/report.html not written: %s\n", run_dir.c_str(), e.what());
  }
}

}  // namespace lorasub::cli
