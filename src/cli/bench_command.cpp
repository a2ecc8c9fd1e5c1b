// lorasub bench: throughput, step-time flatness and the task-boundary share on generated
// data (commands/bench.h), or the all-reduce sweep (--comm).
#include <cstdio>

#include "command.h"
#include "lorasub/commands/bench.h"
#include "lorasub/commands/bench_figures.h"
#include "lorasub/core/error.h"
#include "session.h"

namespace lorasub::cli {
namespace {

class BenchCommand final : public Command {
 public:
  explicit BenchCommand(CLI::App& app) {
    cmd_ =
        app.add_subcommand("bench", "print throughput, step-time flatness and task-boundary share on generated data");
    add_config_options(cmd_, args_);
    cmd_->add_option("--tasks", bench_.tasks, "tasks of the generated plan")->check(CLI::Range(2, 1000));
    cmd_->add_option("--classes-per-task", bench_.classes_per_task, "classes of every generated task")
        ->check(CLI::Range(1, 1000));
    cmd_->add_flag("--per-task", bench_.per_task,
                   "also print every task's step time, boundary by phase, peak and current resident memory "
                   "and checkpoint size, the last/task-2 ratios and what grows a task (configs/bench-vitb16-50.yaml: "
                   "the ViT-B/16 shape over 50 tasks)");
    cmd_->add_flag("--comm", comm_,
                   "instead: all-reduce time against bytes (4 KiB .. --comm-max-mb) on the training device, "
                   "with the configured dist.backend, nccl-tests style (algbw, busbw; every size checked)");
    cmd_->add_option("--comm-max-mb", comm_max_mb_, "largest all-reduce of --comm, MiB")
        ->check(CLI::Range(0.01, 4096.0));
    cmd_->add_option("--peak-bf16-tflops", peak_bf16_, "bf16 peak MFU is taken against (default: H200 SXM)")
        ->check(CLI::PositiveNumber);
    cmd_->add_option("--peak-tf32-tflops", peak_tf32_, "TF32 peak MFU is taken against (default: H200 SXM)")
        ->check(CLI::PositiveNumber);
    cmd_->add_flag("--data", data_,
                   "also measure the image pipeline: 224x224 JPEG decode+augment per core, the same from "
                   "the pre-decoded cache, and the loader-wait share of a train step (config's model at 224 px)");
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override {
    return run_guarded(world, [&] {
      Session s = open_session(args_, world);
      return comm_ ? comm_sweep(s, world) : bench(s, world);
    });
  }

 private:
  int comm_sweep(Session& s, const dist::World& world) const {
    const model::VitShape vitb{224, 3, 16, 768, 12, 12, 3072};
    const auto rows =
        commands::comm_sweep(*s.comm, s.device.device, 4096, static_cast<size_t>(comm_max_mb_ * 1024 * 1024));
    if (world.is_root())
      std::printf(
          "%s",
          commands::comm_table(rows, *s.comm, s.device.description, commands::lora_bucket_bytes(vitb, 10, 10)).c_str());
    for (const auto& row : rows)
      if (row.wrong != 0) return kExitFailure;
    return kExitOk;
  }
  int bench(Session& s, const dist::World& world) const {
    commands::BenchReport r = commands::run_bench(s.cfg, bench_, world, *s.comm, s.device);
    r.peak_bf16_tflops = peak_bf16_;
    r.peak_tf32_tflops = peak_tf32_;
    if (data_) commands::run_data_bench(s.cfg, r, world, *s.comm, s.device);
    if (world.is_root()) std::printf("\nbench (%d rank(s)):\n%s", world.size, r.text().c_str());
    return kExitOk;
  }

  CLI::App* cmd_ = nullptr;
  ConfigArgs args_;
  commands::BenchOptions bench_;
  bool comm_ = false, data_ = false;
  double comm_max_mb_ = 256, peak_bf16_ = 989, peak_tf32_ = 495;
};

}  // namespace

std::unique_ptr<Command> make_bench_command(CLI::App& app) { return std::make_unique<BenchCommand>(app); }

}  // namespace lorasub::cli
