// lorasub export and lorasub predict: an exported model and its use (commands/export.h,
// commands/predict.h). They run on one process (rank 0 under mpirun) and need no config.
#include <ATen/Parallel.h>

#include <cstdio>
#include <thread>

#include "command.h"
#include "lorasub/commands/export.h"
#include "lorasub/commands/predict.h"
#include "lorasub/core/error.h"

namespace lorasub::cli {
namespace {

class ExportPredictCommand final : public Command {
 public:
  explicit ExportPredictCommand(CLI::App& app);
  bool parsed() const override { return export_->parsed() || predict_->parsed(); }
  int run(const dist::World& world) override { return world.is_root() ? run_on_root() : kExitOk; }

 private:
  // Runs the parsed one; returns the exit code (2 for bad input, with a message naming it).
  int run_on_root();

  CLI::App* export_ = nullptr;
  CLI::App* predict_ = nullptr;
  commands::ExportRequest export_req_;
  commands::PredictOptions predict_opt_;
  int threads_ = 0;
};

ExportPredictCommand::ExportPredictCommand(CLI::App& app) {
  export_ = app.add_subcommand(
      "export", "write a finished task's model as safetensors: the backbone with the merged LoRA deltas (W0 + sum of "
                "deltas) under timm names, plus the NCM prototypes and class order");
  export_->add_option("run_dir", export_req_.run_dir, "the run directory (runs/<name>)")->required();
  export_
      ->add_option("--task", export_req_.task,
                   "the finished task to export, 0-based as in checkpoints/task_TTT.h5 (default: the last one)")
      ->check(CLI::NonNegativeNumber);
  export_->add_option("-o,--output", export_req_.output, "the safetensors file to write")->required();
  export_->add_flag("--overwrite", export_req_.overwrite, "replace the output file if it exists (else refused)");
  export_->add_option("--backbone", export_req_.backbone,
                      "the backbone file, if it is no longer at the run's model.weights (its SHA-256 must match "
                      "the checkpoint's)");
  export_->footer(
      "Extra tensors: lorasub.prototypes [C, d], lorasub.class_order (int64 [C]: dataset class ids),\n"
      "lorasub.prototype_counts; __metadata__ holds the run, task, method, dataset, model shape and test\n"
      "transform. Layout: docs/export.md. Exit codes: 0 written; 2 bad input (nothing written); 1 failure.");

  predict_ = app.add_subcommand(
      "predict", "classify images with an exported model as the run's evaluation did (test transform, cosine NCM); "
                 "one JSON line per image");
  predict_->add_option("-m,--model", predict_opt_.model, "a file written by lorasub export")->required();
  predict_->add_option("inputs", predict_opt_.inputs, "JPEG/PNG image files and IDX image files (gzip or plain)")
      ->required();
  predict_->add_option("--top-k", predict_opt_.top_k, "classes per image, best first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  predict_->add_option("--labels", predict_opt_.labels,
                       "IDX label file with one dataset class id per input image, in order: adds \"label\" to every "
                       "line and prints the top-1 accuracy to stderr");
  predict_->add_option("--batch-size", predict_opt_.batch_size, "images per forward (default: the run's eval batch)")
      ->check(CLI::PositiveNumber);
  predict_->add_option("--threads", threads_, "CPU threads (default: all cores)")->check(CLI::PositiveNumber);
  predict_->footer(
      "Each line: {\"input\": FILE, \"index\": I, \"top\": [{\"class\": C, \"score\": S}, ...]}: I counts the images\n"
      "of all inputs from 0, IDX images add \"item\" (their position in the file); C is the dataset's class id,\n"
      "S the cosine similarity to its prototype. Exit codes: 0 ok; 2 bad input (the message names the file); 1 "
      "failure.");
}

int ExportPredictCommand::run_on_root() {
  const char* what = export_->parsed() ? "export" : "predict";
  try {
    if (export_->parsed()) {
      const commands::ExportSummary s = commands::export_model(export_req_);
      std::printf("export: task %lld (%lld classes; the run's accuracy after it %.2f%%) from %s\n"
                  "        backbone %s + the merged deltas of tasks 0..%lld -> %s\n",
                  static_cast<long long>(s.task), static_cast<long long>(s.classes), s.accuracy, s.checkpoint.c_str(),
                  s.backbone.c_str(), static_cast<long long>(s.task), s.output.c_str());
      return kExitOk;
    }
    const unsigned cores = std::thread::hardware_concurrency();
    at::set_num_threads(threads_ > 0 ? threads_ : static_cast<int>(cores > 0 ? cores : 1));
    const commands::PredictSummary s = commands::predict(predict_opt_, stdout);
    if (!predict_opt_.labels.empty())
      std::fprintf(stderr,
                   "predict: accuracy %.4f%% = %lld/%lld (images whose label is one of the model's %lld classes; "
                   "%lld other images not counted)\n",
                   s.accuracy(), static_cast<long long>(s.correct), static_cast<long long>(s.labelled),
                   static_cast<long long>(s.classes), static_cast<long long>(s.outside));
    return kExitOk;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "lorasub %s: error: %s\n", what, e.what());
    return kExitUsage;
  } catch (const FormatError& e) {
    std::fprintf(stderr, "lorasub %s: error: %s\n", what, e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorasub %s: error: %s\n", what, e.what());
    return kExitFailure;
  }
}

}  // namespace

std::unique_ptr<Command> make_export_predict_command(CLI::App& app) {
  return std::make_unique<ExportPredictCommand>(app);
}

}  // namespace lorasub::cli
