#include "lorasub/commands/bench_figures.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "lorasub/method/drs_projector.h"
#include "lorasub/method/grad_sync.h"
#include "lorasub/method/tensor_comm.h"

namespace lorasub::commands {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Forward FLOPs of the matmuls between activations (scores and attention x V).
double attention_flops(const model::VitShape& s) {
  const double t = static_cast<double>(s.tokens()), d = static_cast<double>(s.dim);
  return static_cast<double>(s.depth) * 2.0 * (2.0 * t * t * d);
}

}  // namespace

double vit_forward_flops(const model::VitShape& s, int64_t lora_rank) {
  const double n = static_cast<double>((s.image_size / s.patch) * (s.image_size / s.patch));
  const double t = static_cast<double>(s.tokens()), d = static_cast<double>(s.dim);
  const double m = static_cast<double>(s.mlp_dim), r = static_cast<double>(lora_rank);
  const double patch = 2.0 * n * static_cast<double>(s.channels * s.patch * s.patch) * d;
  const double block = 2.0 * t * d * 3.0 * d            // qkv
                       + 2.0 * 2.0 * (2.0 * t * d * r)  // k and v adapters: z A^T, then B
                       + 2.0 * t * d * d                // projection
                       + 2.0 * 2.0 * t * d * m;         // MLP
  return patch + static_cast<double>(s.depth) * block + attention_flops(s);
}

double vit_train_flops(const model::VitShape& s, int64_t lora_rank) {
  return 2.0 * vit_forward_flops(s, lora_rank) + attention_flops(s);
}

size_t lora_bucket_bytes(const model::VitShape& s, int64_t lora_rank, int64_t head_classes) {
  const size_t adapters = static_cast<size_t>(s.depth * 4 * lora_rank * s.dim);
  const size_t head = static_cast<size_t>(head_classes * (s.dim + 1));
  return (adapters + head + method::kNumSlots) * sizeof(float);
}

double projector_ms(int64_t d, const c10::Device& device, int reps) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({4 * d, d}, at::kDouble);
  const at::Tensor cov = (x.t().matmul(x) / static_cast<double>(4 * d)).to(device);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    method::DrsProjector p = method::make_projector(cov, 0.99);
    (void)p.p.sum().item<float>();  // wait for the device
    ms.push_back(1e3 * since(t0));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::vector<CommRow> comm_sweep(dist::Communicator& comm, const c10::Device& device, size_t min_bytes,
                                size_t max_bytes) {
  std::vector<CommRow> rows;
  const double n = static_cast<double>(comm.size());
  for (size_t bytes = std::max<size_t>(min_bytes, 4); bytes <= max_bytes; bytes *= 4) {
    CommRow row;
    row.bytes = bytes;
    const int64_t count = static_cast<int64_t>(bytes / sizeof(float));
    at::Tensor buf =
        at::full({count}, static_cast<float>(comm.rank() + 1), at::TensorOptions(at::kFloat).device(device));
    // Correctness: one reduce of rank + 1 gives n (n + 1) / 2 everywhere, exactly.
    method::allreduce_sum(comm, buf);
    at::Tensor wrong = buf.ne(static_cast<float>(n * (n + 1) / 2)).sum().to(at::kCPU);
    row.wrong = wrong.item<int64_t>();
    comm.allreduce_sum(&row.wrong, 1);
    row.iters = static_cast<int>(std::clamp<size_t>((size_t{1} << 28) / bytes, 5, 200));
    buf.fill_(1.0f / static_cast<float>(n));  // stays 1 however often it is summed
    method::allreduce_sum(comm, buf);         // warm-up
    comm.wait();
    comm.barrier();
    const auto t0 = Clock::now();
    for (int i = 0; i < row.iters; ++i) method::allreduce_sum(comm, buf);
    comm.wait();
    int64_t ns = static_cast<int64_t>(1e9 * since(t0) / row.iters);
    comm.allreduce_max(&ns, 1);  // the slowest rank's time is the collective's
    row.us = static_cast<double>(ns) / 1e3;
    row.algbw = static_cast<double>(bytes) / (row.us * 1e3);
    row.busbw = row.algbw * 2.0 * (n - 1.0) / n;
    rows.push_back(row);
  }
  return rows;
}

std::string comm_table(const std::vector<CommRow>& rows, const dist::Communicator& comm, const std::string& device,
                       size_t vitb_bucket_bytes) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "all-reduce (sum, float, in place): %s on %d rank(s), buffers on %s\n",
                comm.name().c_str(), comm.size(), device.c_str());
  std::string out = buf;
  out += "       bytes   iters     time(us)  algbw(GB/s)  busbw(GB/s)  #wrong\n";
  size_t previous = 0;
  for (const CommRow& r : rows) {
    const bool bucket = previous < vitb_bucket_bytes && vitb_bucket_bytes <= r.bytes;
    std::snprintf(buf, sizeof(buf), "%12zu  %6d  %11.1f  %11.3f  %11.3f  %6lld%s\n", r.bytes, r.iters, r.us, r.algbw,
                  r.busbw, static_cast<long long>(r.wrong),
                  bucket ? "  <- first size >= the ViT-B/16 LoRA bucket" : "");
    out += buf;
    previous = r.bytes;
  }
  std::snprintf(buf, sizeof(buf),
                "ViT-B/16 LoRA bucket (r 10, k and v, 12 blocks, 10-class head): %zu bytes per step\n",
                vitb_bucket_bytes);
  return out + buf;
}

}  // namespace lorasub::commands
