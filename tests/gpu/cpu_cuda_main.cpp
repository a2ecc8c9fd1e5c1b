// CPU ≡ CUDA: the same tiny two-task run (pre-trained backbone, covariance pass, DRS
// projection, triplet loss, prototypes) on the CPU and on the GPU, fp32 with TF32 off,
// one rank, compared after every optimizer step. Prints one JSON line.
//
// The bound: fp32 rounds at u = 6e-8. On the GPU every reduction runs in another order
// (cuBLAS, CUDA reductions) than on the CPU. The model is small (dim 16, MLP 32, 5
// tokens, global batch 7): the longest sum has n = 35 terms, so one op moves its output
// by at most sqrt(n) u = 3.5e-7 relative, typically; a step chains about 10 such ops
// (depth 2 x qkv, attention, proj, fc1, fc2), so a step's gradient moves by ~3.5e-6
// relative. Adam's normalised steps carry that into the parameters and the 16 steps add
// up to 16 x 3.5e-6 = 5.6e-5 of the state: limit 1e-4 on ||a - b|| / ||b|| over all
// adapters and heads, after every step (the 1-vs-2-rank test holds 1e-5 for the batch
// sums alone). TF32 would round matmul inputs at 2^-11 = 5e-4 and is off.
//
// Exit 0 when the states agree, 1 when they do not, 77 when no CUDA device can be used
// (the CPU half still runs and is reported: scripts/gpu-check.sh --rehearse).
// Usage: gpu_cpu_cuda WORK_DIR   (under mpirun -np 1)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/core/error.h"
#include "lorasub/dist/world.h"
#include "lorasub/train/device.h"
#include "lorasub/commands/pretrainer.h"
#include "lorasub/train/trainer.h"

namespace {

using namespace lorasub;

constexpr double kLimit = 1e-4;  // see the top of this file

Config run_config(const std::string& dir, const std::string& name, const std::string& device,
                  const std::string& weights) {
  const std::string yaml =
      "run: {name: " + name + ", dir: '" + dir +
      "', seed: 7}\n"
      "data: {dataset: synthetic, synthetic_classes: 4, synthetic_per_class: 12,\n"
      "       synthetic_test_per_class: 6, init_cls: 2, increment: 2, workers: 1}\n"
      "model: {image_size: 14, channels: 1, patch: 7, dim: 16, depth: 2, heads: 2, mlp_dim: 32, weights: '" +
      weights +
      "'}\n"
      "method: {rank: 3}\n"
      "train: {batch_size: 7, init_epochs: 2, epochs: 2, init_lr: 0.001, lrate: 0.001, fc_lrate: 0.001,\n"
      "        eval_batch_size: 5, threads: 1, device: " +
      device +
      ", precision: fp32, tf32: false, drift: false}\n"
      "ckpt: {task_end: false, every_minutes: 0}\n"
      "pretrain: {dataset: synthetic, epochs: 30, lr: 0.003, batch_size: 16, output: '" +
      dir + "/backbone.safetensors'}\n";
  return parse_config(yaml, "cpu-cuda check", {});
}

std::vector<at::Tensor> state_of(const method::Learner& l) {
  std::vector<at::Tensor> out;
  for (int64_t t = 0; t < l.bank().num_tasks(); ++t)
    for (const auto& b : l.bank().task(t).blocks)
      for (const auto* x : {&b.a_k, &b.b_k, &b.a_v, &b.b_v}) out.push_back(x->detach().to(at::kCPU).clone());
  for (const auto& h : l.heads()) {
    out.push_back(h.weight.detach().to(at::kCPU).clone());
    out.push_back(h.bias.detach().to(at::kCPU).clone());
  }
  return out;
}

// ||a - b|| / ||b|| over all tensors as one float64 vector (norm-based: small tensors
// such as the B matrices cannot blow it up).
double rel_diff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff2 = 0, norm2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].sizes().equals(b[i].sizes())) return INFINITY;
    const at::Tensor x = a[i].to(at::kDouble), y = b[i].to(at::kDouble);
    diff2 += (x - y).pow(2).sum().item<double>();
    norm2 += y.pow(2).sum().item<double>();
  }
  return norm2 > 0 ? std::sqrt(diff2 / norm2) : std::sqrt(diff2);
}

struct Run {
  std::vector<std::vector<at::Tensor>> states;  // after every step
  double a_last = 0;
};

Run train_on(const Config& cfg, const dist::World& world) {
  dist::LocalCommunicator local;
  const train::TrainDevice device = train::resolve_device(cfg, world);
  train::activate_device(device, cfg);
  train::Trainer trainer(cfg, world, local, device);
  Run r;
  trainer.set_step_observer([&](int64_t, int64_t, const method::Learner& l) { r.states.push_back(state_of(l)); });
  r.a_last = trainer.run().accuracy.a_last();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiRuntime mpi(&argc, &argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: gpu_cpu_cuda WORK_DIR (under mpirun -np 1)\n");
    return 2;
  }
  at::set_num_threads(1);
  const std::string dir = argv[1];
  std::filesystem::remove_all(dir);
  dist::World world = mpi.world();
  try {
    dist::LocalCommunicator local;
    Config pre = run_config(dir, "pretrain", "cpu", "");
    const std::string weights = commands::pretrain(pre, world, local).output;
    const Run cpu = train_on(run_config(dir, "cpu", "cpu", weights), world);
    const Config cuda_cfg = run_config(dir, "cuda", "auto", weights);
    const train::TrainDevice device = train::resolve_device(cuda_cfg, world);
    if (!device.spec.cuda) {
      std::printf("{\"steps\": %zu, \"a_last_cpu\": %.2f, \"cuda\": \"no device\", \"why\": \"%s\"}\n",
                  cpu.states.size(), cpu.a_last, device.spec.why_not_cuda.c_str());
      return 77;
    }
    const Run gpu = train_on(run_config(dir, "cuda", "cuda", weights), world);
    double worst = cpu.states.size() == gpu.states.size() && !cpu.states.empty() ? 0.0 : INFINITY;
    std::string per_step;
    for (size_t s = 0; s < cpu.states.size() && s < gpu.states.size(); ++s) {
      const double d = rel_diff(gpu.states[s], cpu.states[s]);
      worst = std::max(worst, d);
      per_step += (s == 0 ? "" : ", ") + std::to_string(d);
    }
    const bool pass = worst <= kLimit;
    std::printf("{\"steps\": %zu, \"steps_cuda\": %zu, \"max_rel_diff\": %.3g, \"limit\": %g, \"pass\": %s, "
                "\"a_last_cpu\": %.2f, \"a_last_cuda\": %.2f, \"device\": \"%s\", \"per_step\": [%s]}\n",
                cpu.states.size(), gpu.states.size(), worst, kLimit, pass ? "true" : "false", cpu.a_last, gpu.a_last,
                device.description.c_str(), per_step.c_str());
    return pass ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_cpu_cuda: %s\n", e.what());
    return 1;
  }
}
