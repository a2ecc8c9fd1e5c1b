// Figures `lorasub bench` derives from a model's shape and the training device: the
// FLOPs of a LoRA training step (for MFU), the all-reduce sweep of `bench --comm`, and
// the eigen-decomposition time of the DRS on the host and on the device.
#pragma once
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lorasub/dist/communicator.h"
#include "lorasub/model/vit.h"

namespace lorasub::commands {

// FLOPs (multiply-adds count 2) of one image's forward pass: patch embedding, qkv with
// the rank-r k/v adapters, attention, projection and MLP of every block.
double vit_forward_flops(const model::VitShape& s, int64_t lora_rank);
// One image's LoRA training step: the backward of a frozen layer needs only the input
// gradient (one more product), attention's two activation products need two each.
double vit_train_flops(const model::VitShape& s, int64_t lora_rank);
// Bytes of the fused gradient bucket: every block's A_k, B_k, A_v, B_v, one head of
// `head_classes`, and the control slots.
size_t lora_bucket_bytes(const model::VitShape& s, int64_t lora_rank, int64_t head_classes);

// Milliseconds for the DRS projector (float64 eigh of a d x d covariance and V_k V_k^T)
// on `device`, median of `reps`.
double projector_ms(int64_t d, const c10::Device& device, int reps = 5);

struct CommRow {
  size_t bytes = 0;
  int iters = 0;
  double us = 0;      // per all-reduce
  double algbw = 0;   // GB/s: bytes / time
  double busbw = 0;   // GB/s: algbw * 2 (n - 1) / n, comparable across rank counts
  int64_t wrong = 0;  // elements that did not sum to n (n + 1) / 2 (all ranks)
};
// In-place float all-reduces from min_bytes to max_bytes (x4), on buffers where the
// trainer keeps its gradients (`device`), nccl-tests style. Every size is also checked.
std::vector<CommRow> comm_sweep(dist::Communicator& comm, const c10::Device& device, size_t min_bytes,
                                size_t max_bytes);
std::string comm_table(const std::vector<CommRow>& rows, const dist::Communicator& comm, const std::string& device,
                       size_t vitb_bucket_bytes);

}  // namespace lorasub::commands
