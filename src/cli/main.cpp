// lorasub: one binary, subcommands. Every rank parses the same command line; a bad
// config is reported once (rank 0) with exit code 2; a failure after start-up brings
// the whole job down (MPI_Abort) so no rank waits forever on a dead peer.
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/core/error.h"
#include "lorasub/dist/job_end.h"
#include "lorasub/dist/world.h"
#include "lorasub/train/bench.h"
#include "lorasub/train/bench_figures.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/datasets.h"
#include "lorasub/train/device.h"
#include "lorasub/train/signals.h"
#include "lorasub/train/pretrainer.h"
#include "lorasub/train/trainer.h"
#include "export_predict.h"
#include "report_command.h"

namespace {

using lorasub::Config;
namespace dist = lorasub::dist;
namespace train = lorasub::train;

struct Common {
  std::string config;
  std::vector<std::string> overrides;
};

void add_common(CLI::App* app, Common& c) {
  app->add_option("-c,--config", c.config, "YAML config file (see configs/)")->required();
  app->add_option("--set", c.overrides, "override a key: section.key=value (repeatable)")
      ->type_name("KEY=VALUE");
}

int run_train(const Config& cfg, const dist::World& w, dist::Communicator& comm, int64_t tasks,
              const train::ResumeRequest& resume) {
  train::Trainer trainer(cfg, w, comm);
  trainer.resume(resume);
  train::TrainSummary s;
  try {
    s = trainer.run(tasks);
  } catch (const train::StopRequested&) {
    return lorasub::kExitRequeue;
  }
  if (w.is_root()) {
    std::printf("\naccuracy matrix (%% on task j's classes after task i):\n");
    for (size_t i = 0; i < s.accuracy.matrix().size(); ++i) {
      std::printf("  after task %-3zu", i + 1);
      for (double a : s.accuracy.matrix()[i]) std::printf(" %6.2f", a);
      std::printf("\n");
    }
    std::printf("%s: A_last %.2f  A_avg %.2f  forgetting %.2f  BWT %.2f  (%.1f s, %.0f train img/s)\n",
                cfg.method.name.c_str(), s.accuracy.a_last(), s.accuracy.a_avg(),
                s.accuracy.forgetting(), s.accuracy.bwt(), s.wall_seconds, s.train_images_per_second());
    std::printf("outputs: %s/{config.yaml,results.json,accuracy_matrix.csv,checkpoints/}\n",
                trainer.run_dir().c_str());
    lorasub::cli::write_train_report(trainer.run_dir());
  }
  return lorasub::kExitOk;
}

int run_pretrain(const Config& cfg, const dist::World& w, dist::Communicator& comm) {
  train::PretrainResult r = train::pretrain(cfg, w, comm);
  if (w.is_root())
    std::printf("pretrain: final loss %.4f, linear-head test accuracy %.2f%%, %.0f img/s -> %s\n",
                r.final_loss, r.test_accuracy, r.images_per_second, r.output.c_str());
  return lorasub::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // A stop signal (Slurm's --signal, preemption, Ctrl-C) may come while MPI, the data
  // and the backbone load: from the first instruction on it is an orderly stop.
  if (argc > 1 && std::string(argv[1]) == "train") train::install_stop_handlers(120);
  dist::MpiRuntime mpi(&argc, &argv);
  const dist::World& world = mpi.world();
  CLI::App app{"lorasub: exemplar-free continual learning with LoRA subtraction (LoRA-/DRS)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lorasub ") + LORASUB_VERSION);
  app.footer("Config keys: lorasub --help-config lists every key with its type, default and meaning.\n"
             "Exit codes: 0 ok, 1 runtime failure, 2 bad config or command line; train --help lists 3, 75 and 76.");
  if (argc > 1 && argv[1][0] != '-') {
    const std::string sub = argv[1];
    if (sub != "train" && sub != "pretrain" && sub != "prepare" && sub != "inspect" && sub != "bench" &&
        sub != "export" && sub != "predict" && sub != "report") {
      if (world.is_root())
        std::fprintf(stderr, "lorasub: unknown subcommand '%s' (one of: train, pretrain, prepare, inspect, bench, "
                             "export, predict, report; lorasub --help)\n", sub.c_str());
      return lorasub::kExitUsage;
    }
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help-config") {
      if (world.is_root()) std::printf("%s", lorasub::describe_config().c_str());
      return lorasub::kExitOk;
    }
  }
  Common tc, pc, bc;
  int64_t max_tasks = 0, bench_tasks = 20;
  train::ResumeRequest resume;
  std::string inspect_path;
  CLI::App* train_cmd = app.add_subcommand("train", "run a continual-learning task sequence");
  add_common(train_cmd, tc);
  train_cmd->add_option("--tasks", max_tasks, "stop after this many tasks (0 = all)")->check(CLI::NonNegativeNumber);
  CLI::Option* resume_opt = train_cmd->add_option("--resume", resume.from,
                        "continue from a checkpoint: 'auto' (the newest good one of the run "
                        "directory, falling back past damaged ones; none: start fresh) or a path");
  train_cmd->add_flag("--overwrite", resume.overwrite,
                      "start afresh in a run directory that holds an earlier run, removing its checkpoints and results "
                      "(without it, such a directory is refused)")
      ->excludes(resume_opt);
  train_cmd->add_flag("--allow-config-change", resume.allow_config_change,
                      "resume although the config or backbone differs from the checkpoint's (recorded in results.json)");
  train_cmd->footer(
      "Exit codes: 0 done; 1 runtime failure; 2 bad config, command line or checkpoint;\n"
      "3 NaN/Inf in loss or gradients (no checkpoint written, the last good one kept);\n"
      "75 stopped by SIGUSR1/SIGTERM at an agreed step, checkpoint written: requeue with --resume auto;\n"
      "76 forced stop (second signal or ckpt.stop_deadline_seconds): the last good checkpoint is intact.");
  Common prc;
  std::string prepare_out;
  CLI::App* prepare_cmd = app.add_subcommand(
      "prepare", "decode every image of an imagenet-r/domainnet dataset once into an HDF5 cache (data.cache)");
  add_common(prepare_cmd, prc);
  prepare_cmd->add_option("-o,--output", prepare_out, "cache file to write (default: data.cache)");
  prepare_cmd->footer("Images are resized to data.cache_short_side (aspect kept) and stored as uint8; train with\n"
                      "--set data.cache=FILE to read no JPEG in an epoch. Runs on one process (rank 0), with\n"
                      "data.workers decode threads. Layout: docs/image-cache.md.");
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "print what a checkpoint holds and check its integrity (exit 1 if damaged)");
  inspect_cmd->add_option("checkpoint", inspect_path, "checkpoint file (.h5)")->required();
  lorasub::cli::ExportPredictCommands export_predict(app);
  lorasub::cli::ReportArgs report_args;
  CLI::App* report_cmd = lorasub::cli::add_report_command(app, report_args);
  CLI::App* pre_cmd = app.add_subcommand("pretrain", "pre-train the ViT from scratch and write pretrain.output");
  add_common(pre_cmd, pc);
  CLI::App* bench_cmd = app.add_subcommand("bench", "print throughput, step-time flatness and task-boundary share on generated data");
  add_common(bench_cmd, bc);
  bench_cmd->add_option("--tasks", bench_tasks, "tasks of the generated plan")->check(CLI::Range(2, 1000));
  bool bench_data = false, bench_comm = false;
  double comm_max_mb = 256, peak_bf16 = 989, peak_tf32 = 495;
  bench_cmd->add_flag("--comm", bench_comm,
                      "instead: all-reduce time against bytes (4 KiB .. --comm-max-mb) on the training device, "
                      "with the configured dist.backend, nccl-tests style (algbw, busbw; every size checked)");
  bench_cmd->add_option("--comm-max-mb", comm_max_mb, "largest all-reduce of --comm, MiB")->check(CLI::Range(0.01, 4096.0));
  bench_cmd->add_option("--peak-bf16-tflops", peak_bf16, "bf16 peak MFU is taken against (default: H200 SXM)")
      ->check(CLI::PositiveNumber);
  bench_cmd->add_option("--peak-tf32-tflops", peak_tf32, "TF32 peak MFU is taken against (default: H200 SXM)")
      ->check(CLI::PositiveNumber);
  bench_cmd->add_flag("--data", bench_data,
                      "also measure the image pipeline: 224x224 JPEG decode+augment per core, the same from "
                      "the pre-decoded cache, and the loader-wait share of a train step (config's model at 224 px)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (!world.is_root()) return e.get_exit_code() == 0 ? lorasub::kExitOk : lorasub::kExitUsage;
    return app.exit(e) == 0 ? lorasub::kExitOk : lorasub::kExitUsage;
  }
  if (inspect_cmd->parsed()) {
    if (!world.is_root()) return lorasub::kExitOk;
    bool ok = false;
    std::printf("%s", train::describe_checkpoint(inspect_path, &ok).c_str());
    return ok ? lorasub::kExitOk : lorasub::kExitFailure;
  }
  if (export_predict.parsed()) return world.is_root() ? export_predict.run() : lorasub::kExitOk;
  if (report_cmd->parsed()) return world.is_root() ? lorasub::cli::run_report_command(report_args) : lorasub::kExitOk;
  Common& c = train_cmd->parsed() ? tc : pre_cmd->parsed() ? pc : prepare_cmd->parsed() ? prc : bc;
  Config cfg;
  try {
    cfg = lorasub::load_config(c.config, c.overrides);
  } catch (const lorasub::ConfigError& e) {
    if (world.is_root()) std::fprintf(stderr, "lorasub: config error: %s\n", e.what());
    return lorasub::kExitUsage;  // every rank sees the same error: exit without aborting
  }
  if (train_cmd->parsed()) train::install_stop_handlers(cfg.ckpt.stop_deadline_seconds);  // its deadline
  try {
    std::string threads_warning;
    at::set_num_threads(dist::threads_per_rank(static_cast<int>(cfg.train.threads), world, &threads_warning));
    if (!threads_warning.empty() && world.is_root()) std::fprintf(stderr, "lorasub: warning: %s\n", threads_warning.c_str());
    const train::TrainDevice device = train::resolve_device(cfg, world);
    train::activate_device(device, cfg);
    auto comm = dist::make_communicator(cfg.dist.backend, world, device.spec, cfg.dist.timeout_seconds);
    if (train_cmd->parsed()) return run_train(cfg, world, *comm, max_tasks, resume);
    if (pre_cmd->parsed()) return run_pretrain(cfg, world, *comm);
    if (prepare_cmd->parsed()) {
      if (!world.is_root()) return lorasub::kExitOk;
      const std::string out = prepare_out.empty() ? cfg.data.cache : prepare_out;
      if (out.empty()) throw lorasub::ConfigError("lorasub prepare: give --output FILE or set data.cache");
      const int64_t n = train::prepare_cache(cfg, out);
      std::printf("prepare: %lld images -> %s (train with --set data.cache=%s)\n", static_cast<long long>(n),
                  out.c_str(), out.c_str());
      return lorasub::kExitOk;
    }
    if (bench_comm) {
      const lorasub::model::VitShape vitb{224, 3, 16, 768, 12, 12, 3072};
      const auto rows = train::comm_sweep(*comm, device.device, 4096, static_cast<size_t>(comm_max_mb * 1024 * 1024));
      if (world.is_root())
        std::printf("%s", train::comm_table(rows, *comm, device.description, train::lora_bucket_bytes(vitb, 10, 10)).c_str());
      for (const auto& row : rows)
        if (row.wrong != 0) return lorasub::kExitFailure;
      return lorasub::kExitOk;
    }
    train::BenchReport r = train::run_bench(cfg, bench_tasks, world, *comm);
    r.peak_bf16_tflops = peak_bf16;
    r.peak_tf32_tflops = peak_tf32;
    if (bench_data) train::run_data_bench(cfg, r, world, *comm);
    if (world.is_root()) std::printf("\nbench (%d rank(s)):\n%s", world.size, r.text().c_str());
    return lorasub::kExitOk;
  } catch (const lorasub::ConfigError& e) {
    // Usually every rank hits the same bad input (a missing dataset directory): then the
    // ranks agree, rank 0 says it once and all exit 2; a rank alone with it aborts the job.
    dist::end_job(world, std::string("config error: ") + e.what(), lorasub::kExitUsage);
  } catch (const lorasub::FormatError& e) {
    // A malformed input file (weights, dataset, checkpoint) is bad input, as a config is.
    dist::end_job(world, std::string("error: ") + e.what(), lorasub::kExitUsage);
  } catch (const lorasub::NonFiniteError& e) {
    // Every rank sees the same all-reduced sums.
    dist::end_job(world, std::string("error: ") + e.what(), lorasub::kExitNonFinite);
  } catch (const std::exception& e) {
    dist::end_job(world, std::string("error: ") + e.what(), lorasub::kExitFailure);
  }
}
