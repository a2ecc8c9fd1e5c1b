// lorasub train (the task sequence) and lorasub pretrain (the backbone from scratch).
#include <cstdio>

#include "command.h"
#include "lorasub/commands/pretrainer.h"
#include "lorasub/core/error.h"
#include "lorasub/train/signals.h"
#include "lorasub/train/trainer.h"
#include "session.h"

namespace lorasub::cli {
namespace {

void print_summary(const Config& cfg, const train::TrainSummary& s, const std::string& run_dir) {
  std::printf("\naccuracy matrix (%% on task j's classes after task i):\n");
  for (size_t i = 0; i < s.accuracy.matrix().size(); ++i) {
    std::printf("  after task %-3zu", i + 1);
    for (double a : s.accuracy.matrix()[i]) std::printf(" %6.2f", a);
    std::printf("\n");
  }
  std::printf("%s: A_last %.2f  A_avg %.2f  forgetting %.2f  BWT %.2f  (%.1f s, %.0f train img/s)\n",
              cfg.method.name.c_str(), s.accuracy.a_last(), s.accuracy.a_avg(), s.accuracy.forgetting(),
              s.accuracy.bwt(), s.wall_seconds, s.train_images_per_second());
  std::printf("outputs: %s/{config.yaml,results.json,accuracy_matrix.csv,checkpoints/}\n", run_dir.c_str());
}

class TrainCommand final : public Command {
 public:
  explicit TrainCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("train", "run a continual-learning task sequence");
    add_config_options(cmd_, args_);
    cmd_->add_option("--tasks", max_tasks_, "stop after this many tasks (0 = all)")->check(CLI::NonNegativeNumber);
    CLI::Option* resume = cmd_->add_option("--resume", resume_.from,
                                           "continue from a checkpoint: 'auto' (the newest good one of the run "
                                           "directory, falling back past damaged ones; none: start fresh) or a path");
    cmd_->add_flag("--overwrite", resume_.overwrite,
                   "start afresh in a run directory that holds an earlier run, removing its checkpoints and results "
                   "(without it, such a directory is refused)")
        ->excludes(resume);
    cmd_->add_flag("--allow-config-change", resume_.allow_config_change,
                   "resume although the config or backbone differs from the checkpoint's (recorded in results.json)");
    cmd_->footer("Exit codes: 0 done; 1 runtime failure; 2 bad config, command line or checkpoint;\n"
                 "3 NaN/Inf in loss or gradients (no checkpoint written, the last good one kept);\n"
                 "75 stopped by SIGUSR1/SIGTERM at an agreed step, checkpoint written: requeue with --resume auto;\n"
                 "76 forced stop (second signal or ckpt.stop_deadline_seconds): the last good checkpoint is intact.");
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override {
    return run_guarded(world, [&] {
      Session s = open_session(args_, world);
      train::Trainer trainer(s.cfg, world, *s.comm, s.device);
      trainer.resume(resume_);
      train::TrainSummary summary;
      try {
        summary = trainer.run(max_tasks_);
      } catch (const train::StopRequested&) {
        return kExitRequeue;
      }
      if (world.is_root()) {
        print_summary(s.cfg, summary, trainer.run_dir());
        write_train_report(trainer.run_dir());
      }
      return kExitOk;
    });
  }

 private:
  CLI::App* cmd_ = nullptr;
  ConfigArgs args_;
  int64_t max_tasks_ = 0;
  train::ResumeRequest resume_;
};

class PretrainCommand final : public Command {
 public:
  explicit PretrainCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("pretrain", "pre-train the ViT from scratch and write pretrain.output");
    add_config_options(cmd_, args_);
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override {
    return run_guarded(world, [&] {
      Session s = open_session(args_, world);
      const commands::PretrainResult r = commands::pretrain(s.cfg, world, *s.comm);
      if (world.is_root())
        std::printf("pretrain: final loss %.4f, linear-head test accuracy %.2f%%, %.0f img/s -> %s\n", r.final_loss,
                    r.test_accuracy, r.images_per_second, r.output.c_str());
      return kExitOk;
    });
  }

 private:
  CLI::App* cmd_ = nullptr;
  ConfigArgs args_;
};

}  // namespace

std::unique_ptr<Command> make_train_command(CLI::App& app) { return std::make_unique<TrainCommand>(app); }
std::unique_ptr<Command> make_pretrain_command(CLI::App& app) { return std::make_unique<PretrainCommand>(app); }

}  // namespace lorasub::cli
