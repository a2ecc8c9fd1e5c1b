// The subcommands of the lorasub binary. Each adds itself to the CLI app (its options,
// --help and footer) and runs when the command line chose it; main only dispatches.
// One file per command: train_command.cpp (train, pretrain), bench_command.cpp,
// prepare_command.cpp, inspect_command.cpp, export_predict.cpp, report_command.cpp.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "lorasub/dist/world.h"

namespace lorasub::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Whether the command line chose this command.
  virtual bool parsed() const = 0;
  // Runs it on every rank of `world`; returns the process's exit code.
  virtual int run(const dist::World& world) = 0;
};

// -c/--config and --set, shared by the commands that take a config.
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
};
void add_config_options(CLI::App* cmd, ConfigArgs& args);

std::unique_ptr<Command> make_train_command(CLI::App& app);
std::unique_ptr<Command> make_pretrain_command(CLI::App& app);
std::unique_ptr<Command> make_prepare_command(CLI::App& app);
std::unique_ptr<Command> make_inspect_command(CLI::App& app);
std::unique_ptr<Command> make_bench_command(CLI::App& app);
std::unique_ptr<Command> make_export_predict_command(CLI::App& app);
std::unique_ptr<Command> make_report_command(CLI::App& app);

// After a finished train run (rank 0): <run_dir>/report.html, its path printed. A
// failure is a warning: the run's results are complete without it.
void write_train_report(const std::string& run_dir);

}  // namespace lorasub::cli
