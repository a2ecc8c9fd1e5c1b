// The global-order sharded sampler (ARCHITECTURE invariant 1). For each (task, epoch)
// the task's sample indices are permuted with a stream keyed by (seed, task, epoch);
// global batch b is positions [b*B, min((b+1)*B, n)) of that order (the last may be
// short); rank r of R takes the contiguous slice [b0 + n_b*r/R, b0 + n_b*(r+1)/R).
// So a global batch is the same set of samples whatever R is.
#pragma once
#include <cstdint>
#include <vector>

namespace lorasub::data {

// Rank `rank`'s share of a global batch of `n` samples: the positions [first, end) of
// the batch, contiguous and in rank order (every rank can compute every rank's share).
struct Shard {
  int64_t first = 0, end = 0;
  int64_t size() const { return end - first; }
};
Shard shard_of(int64_t n, int rank, int world);

class GlobalSampler {
 public:
  GlobalSampler(std::vector<int64_t> indices, int64_t global_batch, uint64_t seed, int64_t task, bool shuffle);
  int64_t num_samples() const { return static_cast<int64_t>(indices_.size()); }
  int64_t num_batches() const;
  // The whole epoch order (length num_samples).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // Size of global batch b.
  int64_t batch_size(int64_t b) const;
  // This rank's sample indices of global batch b, in order.
  std::vector<int64_t> rank_batch(int64_t epoch, int64_t b, int rank, int world) const;
  // All of this rank's batches of the epoch starting at global batch `first`.
  std::vector<std::vector<int64_t>> rank_batches(int64_t epoch, int rank, int world, int64_t first = 0) const;

 private:
  std::vector<int64_t> indices_;
  int64_t global_batch_;
  uint64_t seed_;
  int64_t task_;
  bool shuffle_;
};

}  // namespace lorasub::data
