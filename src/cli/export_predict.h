// The `export` and `predict` subcommands of the lorasub CLI (train/export.h,
// train/predict.h). They run on one process (rank 0 under mpirun) and need no config.
#pragma once
#include <CLI/CLI.hpp>

#include "lorasub/train/export.h"
#include "lorasub/train/predict.h"

namespace lorasub::cli {

class ExportPredictCommands {
 public:
  // Adds both subcommands to `app`.
  explicit ExportPredictCommands(CLI::App& app);
  bool parsed() const { return export_->parsed() || predict_->parsed(); }
  // Runs the parsed one; returns the exit code (2 for bad input, with a message naming it).
  int run();

 private:
  CLI::App* export_ = nullptr;
  CLI::App* predict_ = nullptr;
  train::ExportRequest export_req_;
  train::PredictOptions predict_opt_;
  int threads_ = 0;
};

}  // namespace lorasub::cli
