// lorasub: one binary, subcommands (cli/command.h; one file per command). Every rank
// parses the same command line; a bad config is reported once with exit code 2; a
// failure after start-up brings the whole job down so no rank waits forever on a dead
// peer (cli/session.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "lorasub/core/config.h"
#include "lorasub/core/error.h"
#include "lorasub/dist/world.h"
#include "lorasub/train/signals.h"

namespace {

constexpr const char* kSubcommands = "train, pretrain, prepare, inspect, bench, export, predict, report";

bool known(const std::string& sub) {
  for (const char* s : {"train", "pretrain", "prepare", "inspect", "bench", "export", "predict", "report"})
    if (sub == s) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = lorasub::cli;
  // A stop signal (Slurm's --signal, preemption, Ctrl-C) may come while MPI, the data
  // and the backbone load: from the first instruction on it is an orderly stop.
  if (argc > 1 && std::string(argv[1]) == "train") lorasub::train::install_stop_handlers(120);
  lorasub::dist::MpiRuntime mpi(&argc, &argv);
  const lorasub::dist::World& world = mpi.world();
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    if (world.is_root())
      std::fprintf(stderr, "lorasub: unknown subcommand '%s' (one of: %s; lorasub --help)\n", argv[1], kSubcommands);
    return lorasub::kExitUsage;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--help-config") continue;
    if (world.is_root()) std::printf("%s", lorasub::describe_config().c_str());
    return lorasub::kExitOk;
  }
  CLI::App app{"lorasub: exemplar-free continual learning with LoRA subtraction (LoRA-/DRS)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lorasub ") + LORASUB_VERSION);
  app.footer("Config keys: lorasub --help-config lists every key with its type, default and meaning.\n"
             "Exit codes: 0 ok, 1 runtime failure, 2 bad config or command line; train --help lists 3, 75 and 76.");
  std::vector<std::unique_ptr<cli::Command>> commands;
  for (auto make :
       {cli::make_train_command, cli::make_prepare_command, cli::make_inspect_command, cli::make_export_predict_command,
        cli::make_report_command, cli::make_pretrain_command, cli::make_bench_command})
    commands.push_back(make(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (!world.is_root()) return e.get_exit_code() == 0 ? lorasub::kExitOk : lorasub::kExitUsage;
    return app.exit(e) == 0 ? lorasub::kExitOk : lorasub::kExitUsage;
  }
  for (auto& c : commands)
    if (c->parsed()) return c->run(world);
  return lorasub::kExitUsage;
}
