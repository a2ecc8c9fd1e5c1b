// `lorasub bench`: figures, not assertions. Runs the configured model on generated
// data and prints train images/s, the per-step time at task 2 vs the last task of a
// long plan (must be flat: old deltas are folded), and the task-boundary share.
#pragma once
#include <string>

#include "lorasub/core/config.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/dist/world.h"
#include "lorasub/train/device.h"

namespace lorasub::commands {

struct BenchReport {
  std::string device, precision, comm;  // where and how it ran
  double train_images_per_second = 0;
  double step_ms_task1 = 0, step_ms_task2 = 0, step_ms_last = 0;  // mean step time
  double boundary_share = 0;  // (covariance+protos+eval+drift+ckpt) / task time
  std::string per_task;       // with BenchOptions::per_task: bench_tasks.h's table
  int64_t tasks = 0;
  int64_t batch = 0;
  // Utilisation: FLOPs of one image's LoRA training step (from the model shape), and
  // the peaks MFU is taken against (H200 SXM by default: bf16 989, TF32 495 TFLOP/s).
  double train_flops_per_image = 0, peak_bf16_tflops = 989, peak_tf32_tflops = 495;
  double device_memory_mb = 0;      // CUDA: device memory in use after the run (allocator cache included)
  double peak_tensor_mb = 0;        // CUDA: peak memory held by tensors during the run
  double step_data_wait_share = 0;  // loader wait / (wait + step), train steps of this run
  double step_allreduce_share = 0;  // gradient all-reduce / step time
  // Task boundary of task 2: covariance pass over its training images, prototypes,
  // and the DRS projector (float64 eigh) timed on the host and on the device.
  double covariance_s = 0, prototypes_s = 0, eval_s = 0;
  int64_t covariance_images = 0;
  double projector_host_ms = 0, projector_device_ms = 0;
  // Checkpoint I/O: the last task-end checkpoint of the run above, and a generated
  // ViT-B/16-sized state (d 768, 12 blocks, r 10, 20 tasks, 200 classes, projectors
  // and Adam moments), written and read back (with verification) by rank 0.
  double ckpt_demo_ms = 0, ckpt_demo_mb = 0;
  double ckpt_vitb_write_ms = 0, ckpt_vitb_read_ms = 0, ckpt_vitb_mb = 0;
  // Data pipeline (only with run_data_bench): decode+augment images/s on one core for
  // 224x224 JPEGs (imagenet-r train pipeline), the same from the pre-decoded cache, and
  // the share of train-step time spent waiting for the loader in a short run on them.
  bool data = false;
  double jpeg_images_per_core = 0, cache_images_per_core = 0, data_wait_share = 0;
  int64_t data_workers = 0;
  std::string text() const;
};

// Adds the data-pipeline figures to `r` (writes its generated JPEGs and cache under the
// run directory and removes them).
void run_data_bench(Config cfg, BenchReport& r, const dist::World& world, dist::Communicator& comm,
                    const train::TrainDevice& device);

struct BenchOptions {
  int64_t tasks = 20;
  int64_t classes_per_task = 2;
  bool per_task = false;  // also the per-task table (step, boundary by phase, memory, checkpoint)
};

// Overrides the data section with a synthetic plan of the model's shape: o.tasks tasks
// of o.classes_per_task classes.
BenchReport run_bench(Config cfg, const BenchOptions& o, const dist::World& world, dist::Communicator& comm,
                      const train::TrainDevice& device);

}  // namespace lorasub::commands
