#include "lorasub/commands/bench.h"

#include <cstdio>

#include "lorasub/io/run_dir.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/trainer.h"

#include <sys/stat.h>

#include <ATen/ATen.h>

#include <turbojpeg.h>

#include <chrono>
#include <filesystem>

#include "lorasub/core/rng.h"
#include "lorasub/dist/cuda_device.h"
#include "lorasub/model/torch_cuda.h"
#include "lorasub/commands/bench_figures.h"
#include "lorasub/commands/bench_tasks.h"
#include "lorasub/commands/prepare.h"
#include "lorasub/data/open_dataset.h"

namespace lorasub::commands {

std::string BenchReport::text() const {
  char buf[1536];
  std::snprintf(buf, sizeof(buf),
                "train images/s          %.1f\n"
                "step ms, task 1         %.2f  (no projection yet)\n"
                "step ms, task 2         %.2f\n"
                "step ms, task %-3lld       %.2f\n"
                "step time ratio last/2  %.3f  (flat = 1)\n"
                "task-boundary share     %.1f%% of task time (covariance, prototypes, eval, drift, checkpoint)\n"
                "checkpoint, this model  %.1f ms write, %.2f MB (last task end)\n"
                "checkpoint, ViT-B/16    %.0f ms write, %.0f ms read+verify, %.1f MB (20 tasks, r 10, generated)\n",
                train_images_per_second, step_ms_task1, step_ms_task2, static_cast<long long>(tasks), step_ms_last,
                step_ms_task2 > 0 ? step_ms_last / step_ms_task2 : 0.0, 100.0 * boundary_share, ckpt_demo_ms,
                ckpt_demo_mb, ckpt_vitb_write_ms, ckpt_vitb_read_ms, ckpt_vitb_mb);
  std::string out = per_task.empty() ? std::string() : per_task + "\n";
  out += buf;
  const double step_s = step_ms_task2 / 1e3;
  const double achieved = step_s > 0 ? train_flops_per_image * static_cast<double>(batch) / step_s : 0;  // FLOP/s
  std::snprintf(buf, sizeof(buf),
                "device                  %s, %s, %s, global batch %lld\n"
                "train FLOPs per image   %.2f GFLOP (LoRA step: forward + input gradients)\n"
                "achieved (task 2 steps) %.1f TFLOP/s: MFU %.1f%% of bf16 peak (%.0f), %.1f%% of TF32 peak (%.0f)\n"
                "device memory, peak     %.0f MB held by tensors; %.0f MB in use after the run (allocator cache "
                "included; 0 on the CPU)\n"
                "data-wait share, steps  %.1f%% (loader wait / (wait + step))\n"
                "all-reduce share, steps %.1f%% (fused gradient all-reduce / step)\n"
                "task 2 boundary         covariance %.2f s over %lld images, prototypes %.2f s, eval %.2f s\n"
                "DRS projector (eigh)    %.1f ms on the host, %.1f ms on the device (d = model.dim, float64)\n",
                device.c_str(), precision.c_str(), comm.c_str(), static_cast<long long>(batch),
                train_flops_per_image / 1e9, achieved / 1e12, 100.0 * achieved / (peak_bf16_tflops * 1e12),
                peak_bf16_tflops, 100.0 * achieved / (peak_tf32_tflops * 1e12), peak_tf32_tflops, peak_tensor_mb,
                device_memory_mb, 100.0 * step_data_wait_share, 100.0 * step_allreduce_share, covariance_s,
                static_cast<long long>(covariance_images), prototypes_s, eval_s, projector_host_ms,
                projector_device_ms);
  out += buf;
  if (data) {
    std::snprintf(buf, sizeof(buf),
                  "decode+augment, JPEG    %.0f images/s per core (224x224 JPEG, imagenet-r train pipeline)\n"
                  "decode+augment, cache   %.0f images/s per core (pre-decoded by lorasub prepare)\n"
                  "data-wait share         %.1f%% of train-step time (JPEG, %lld loader thread(s) per rank)\n",
                  jpeg_images_per_core, cache_images_per_core, 100.0 * data_wait_share,
                  static_cast<long long>(data_workers));
    out += buf;
  }
  return out;
}

namespace {

double file_mb(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / (1024.0 * 1024.0) : 0.0;
}

// A generated ViT-B/16 continual state in task 19 of 20, mid-task: what a checkpoint of
// a 20-task ImageNet-R run holds.
void bench_vitb_checkpoint(const std::string& path, BenchReport& r) {
  const int64_t d = 768, depth = 12, rank = 10, tasks = 20, classes = 200;
  at::manual_seed(0);
  train::Checkpoint c;
  c.kind = "step";
  c.pos = {tasks - 1, 3, 17, 12345, false};
  method::LearnerState& l = c.learner;
  l.task = tasks - 1;
  for (int64_t t = 0; t < tasks; ++t) {
    model::TaskAdapters ta;
    for (int64_t b = 0; b < depth; ++b)
      ta.blocks.push_back({at::randn({rank, d}), at::randn({d, rank}), at::randn({rank, d}), at::randn({d, rank})});
    l.adapters.push_back(std::move(ta));
    l.heads.push_back({at::randn({classes / tasks, d}), at::randn({classes / tasks})});
  }
  l.prototypes = at::randn({classes, d});
  l.proto_counts.assign(classes, 120);
  for (int64_t b = 0; b < depth; ++b) l.projectors.push_back(at::randn({d, d}));
  l.kept_dims.assign(depth, 300);
  l.adam_steps = 1000;
  for (const auto& p : l.adapters.back().blocks)
    for (const at::Tensor* x : {&p.a_k, &p.b_k, &p.a_v, &p.b_v}) {
      l.adam_m.push_back(at::randn_like(*x));
      l.adam_v.push_back(at::rand_like(*x));
    }
  for (const at::Tensor* x : {&l.heads.back().weight, &l.heads.back().bias}) {
    l.adam_m.push_back(at::randn_like(*x));
    l.adam_v.push_back(at::rand_like(*x));
  }
  for (int64_t t = 0; t < tasks - 1; ++t) {
    std::vector<double> row(static_cast<size_t>(t + 1), 80.0);
    c.trainer.summary.accuracy.add_row(row, 80.0);
    c.trainer.summary.seconds.push_back({});
    c.trainer.summary.step_seconds.push_back(0.1);
    c.trainer.summary.kept.push_back(l.kept_dims);
  }
  for (int64_t t = 0; t < tasks; ++t) c.task_sizes.push_back(classes / tasks);
  for (int64_t k = 0; k < classes; ++k) c.class_order.push_back(k);
  c.config_yaml = "generated";
  c.lorasub_version = LORASUB_VERSION;
  auto t0 = std::chrono::steady_clock::now();
  train::write_checkpoint(path, c);
  r.ckpt_vitb_write_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.ckpt_vitb_mb = file_mb(path);
  t0 = std::chrono::steady_clock::now();
  train::read_checkpoint(path);
  r.ckpt_vitb_read_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::remove(path.c_str());
}

// 224x224 JPEGs of `classes` classes in ImageNet-R's folder layout.
void write_jpeg_folder(const std::string& root, int classes, int per_class) {
  tjhandle tj = tjInitCompress();
  std::vector<uint8_t> px(224 * 224 * 3);
  for (int c = 0; c < classes; ++c) {
    char wnid[16];
    std::snprintf(wnid, sizeof(wnid), "n%08d", 1000 + c);
    io::make_dirs(root + "/" + wnid);
    for (int k = 0; k < per_class; ++k) {
      for (size_t q = 0; q < px.size(); ++q)
        px[q] = static_cast<uint8_t>((q * (7 + c) + static_cast<size_t>(k) * 13 + (q / 671) * 29) % 256);
      unsigned char* buf = nullptr;
      unsigned long size = 0;
      if (tjCompress2(tj, px.data(), 224, 0, 224, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0) != 0)
        throw std::runtime_error(std::string("bench: JPEG encode: ") + tjGetErrorStr2(tj));
      FILE* f = std::fopen((root + "/" + wnid + "/" + std::to_string(k) + ".jpg").c_str(), "wb");
      if (f == nullptr) throw std::runtime_error("bench: cannot write under " + root);
      std::fwrite(buf, 1, size, f);
      std::fclose(f);
      tjFree(buf);
    }
  }
  tjDestroy(tj);
}

double produce_rate(const data::SampleSource& src) {
  std::vector<float> out(static_cast<size_t>(src.channels() * src.height() * src.width()));
  const auto t0 = std::chrono::steady_clock::now();
  int64_t n = 0;
  for (int rep = 0; rep < 2; ++rep)
    for (int64_t i = 0; i < src.size(); ++i, ++n) {
      Rng rng(Stream::kAugment, {1, 0, static_cast<uint64_t>(rep), static_cast<uint64_t>(i)});
      src.produce(i, true, rng, out.data());
    }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s > 0 ? static_cast<double>(n) / s : 0.0;
}

}  // namespace

void run_data_bench(Config cfg, BenchReport& r, const dist::World& world, dist::Communicator& comm,
                    const train::TrainDevice& device) {
  const std::string base = io::RunDir(cfg.run.dir, cfg.run.name + "-bench").path() + "/data";
  const std::string root = base + "/imagenet-r", cache = base + "/cache.h5";
  if (world.is_root()) write_jpeg_folder(root, 4, 64);
  comm.barrier();
  cfg.data.dataset = "imagenet-r";
  cfg.data.root = root;
  cfg.data.split_train = cfg.data.split_test = "";
  cfg.data.train_per_class = cfg.data.test_per_class = 0;
  cfg.model.image_size = 224;
  cfg.model.channels = 3;
  cfg.model.patch = 16;
  cfg.model.weights = "";
  cfg.data.init_cls = cfg.data.increment = 2;
  cfg.data.num_tasks = 1;
  cfg.train.init_epochs = cfg.train.epochs = 1;
  cfg.ckpt.task_end = false;
  cfg.run.name = cfg.run.name + "-bench-data";
  {
    data::DataSplits d = data::open_dataset(cfg.data.dataset, cfg.data.root, cfg.data, cfg.model, cfg.run.seed);
    r.jpeg_images_per_core = produce_rate(*d.train_source);
  }
  if (world.is_root()) prepare_cache(cfg, cache);
  comm.barrier();
  {
    Config cc = cfg;
    cc.data.cache = cache;
    data::DataSplits d = data::open_dataset(cc.data.dataset, cc.data.root, cc.data, cc.model, cc.run.seed);
    r.cache_images_per_core = produce_rate(*d.train_source);
  }
  train::Trainer trainer(cfg, world, comm, device);
  train::TrainSummary s = trainer.run();
  const double total = s.data_wait_seconds + s.step_compute_seconds;
  r.data_wait_share = total > 0 ? s.data_wait_seconds / total : 0.0;
  r.data_workers = cfg.data.workers;
  r.data = true;
  comm.barrier();
  if (world.is_root()) std::filesystem::remove_all(base);
}

BenchReport run_bench(Config cfg, const BenchOptions& o, const dist::World& world, dist::Communicator& comm,
                      const train::TrainDevice& device) {
  const int64_t tasks = o.tasks;
  cfg.data.dataset = "synthetic";
  cfg.data.synthetic_classes = o.classes_per_task * tasks;
  cfg.data.init_cls = o.classes_per_task;
  cfg.data.increment = o.classes_per_task;
  cfg.data.num_tasks = 0;
  cfg.run.name = cfg.run.name + "-bench";
  train::Trainer trainer(cfg, world, comm, device);
  model::reset_cuda_peak(trainer.device().device);
  train::TrainSummary s = trainer.run();
  BenchReport r;
  r.tasks = tasks;
  r.batch = cfg.train.batch_size;
  r.device = trainer.device().description;
  r.precision = cfg.train.precision + (cfg.train.tf32 ? " (TF32 on)" : "");
  r.comm = comm.name();
  const model::VitShape shape = model::model_shape(cfg.model);
  r.train_flops_per_image = vit_train_flops(shape, cfg.method.rank);
  if (trainer.device().spec.cuda) {
    r.device_memory_mb = static_cast<double>(dist::cuda_memory_used(trainer.device().spec.index)) / (1024.0 * 1024.0);
    r.peak_tensor_mb =
        static_cast<double>(model::cuda_peak_allocated_bytes(trainer.device().device)) / (1024.0 * 1024.0);
  }
  const double stepping = s.data_wait_seconds + s.step_compute_seconds;
  r.step_data_wait_share = stepping > 0 ? s.data_wait_seconds / stepping : 0;
  r.step_allreduce_share = s.step_compute_seconds > 0 ? s.allreduce_seconds / s.step_compute_seconds : 0;
  if (s.seconds.size() >= 2) {
    r.covariance_s = s.seconds[1].covariance;
    r.prototypes_s = s.seconds[1].prototypes;
    r.eval_s = s.seconds[1].eval;
    r.covariance_images = o.classes_per_task * cfg.data.synthetic_per_class;
  }
  r.projector_host_ms = projector_ms(cfg.model.dim, c10::Device(c10::kCPU));
  r.projector_device_ms =
      trainer.device().spec.cuda ? projector_ms(cfg.model.dim, trainer.device().device) : r.projector_host_ms;
  r.train_images_per_second = s.train_images_per_second();
  if (s.step_seconds.size() >= 2) {
    r.step_ms_task1 = 1e3 * s.step_seconds[0];
    r.step_ms_task2 = 1e3 * s.step_seconds[1];
    r.step_ms_last = 1e3 * s.step_seconds.back();
  }
  double boundary = 0, total = 0;
  for (const auto& p : s.seconds) {
    boundary += p.boundary();
    total += p.total();
  }
  r.boundary_share = total > 0 ? boundary / total : 0;
  if (o.per_task) r.per_task = per_task_table(s);
  if (world.is_root()) {
    char last[32];
    std::snprintf(last, sizeof(last), "/task_%03lld.h5", static_cast<long long>(tasks - 1));
    const std::string path = io::RunDir(cfg.run.dir, cfg.run.name).checkpoints_dir() + last;
    r.ckpt_demo_ms = 1e3 * s.seconds.back().checkpoint;
    r.ckpt_demo_mb = file_mb(path);
    bench_vitb_checkpoint(io::RunDir(cfg.run.dir, cfg.run.name).checkpoints_dir() + "/vitb-bench.h5", r);
  }
  comm.barrier();
  return r;
}

}  // namespace lorasub::commands
