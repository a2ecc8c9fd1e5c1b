// lorasub report RUN_DIR... -o FILE, and the report lorasub train leaves in its run
// directory (report/report.h).
#include <cstdio>

#include "command.h"
#include "lorasub/core/error.h"
#include "lorasub/report/report.h"

namespace lorasub::cli {
namespace {

class ReportCommand final : public Command {
 public:
  explicit ReportCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("report", "write one self-contained HTML report (inline SVG plots) of finished runs");
    cmd_->add_option("runs", runs_, "run directories (each holds results.json; config.yaml when present)")
        ->required()
        ->type_name("RUN_DIR");
    cmd_->add_option("-o,--output", output_, "HTML file to write")->required();
    cmd_->add_flag("--overwrite", overwrite_,
                   "replace the output file if it exists (without it, an existing one is refused)");
    cmd_->footer(
        "Per run: the accuracy matrix, A_t, each task's accuracy over time, forgetting per task, feature drift\n"
        "and DRS kept dimensions (when results.json has them), time per phase, throughput, the config.\n"
        "Several runs add a table of mean +- sample std (n - 1) of A_last, A_avg and forgetting per group, every\n"
        "run's A_t curve and throughput. A group is the runs of one method whose configs differ only in seed,\n"
        "names, paths, threads, checkpoints and metrics (without config.yaml: one method and the run name without\n"
        "its seed suffix).\n"
        "lorasub train writes the same report of its own run to <run dir>/report.html.\n"
        "Exit codes: 0 written; 2 a bad run directory, results.json or output path (named); 1 other failures.");
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override { return world.is_root() ? write() : kExitOk; }

 private:
  int write() const {
    try {
      const int plots = report::write_report(runs_, output_, overwrite_);
      std::printf("report: %zu run(s), %d plots -> %s\n", runs_.size(), plots, output_.c_str());
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

  CLI::App* cmd_ = nullptr;
  std::vector<std::string> runs_;
  std::string output_;
  bool overwrite_ = false;
};

}  // namespace

std::unique_ptr<Command> make_report_command(CLI::App& app) { return std::make_unique<ReportCommand>(app); }

void write_train_report(const std::string& run_dir) {
  try {
    std::printf("report: %s\n", report::write_run_report(run_dir).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorasub: warning: %s/report.html not written: %s\n", run_dir.c_str(), e.what());
  }
}

}  // namespace lorasub::cli
