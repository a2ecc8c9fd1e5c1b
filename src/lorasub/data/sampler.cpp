#include "lorasub/data/sampler.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {

GlobalSampler::GlobalSampler(std::vector<int64_t> indices, int64_t global_batch, uint64_t seed, int64_t task,
                             bool shuffle)
    : indices_(std::move(indices)), global_batch_(global_batch), seed_(seed), task_(task), shuffle_(shuffle) {
  if (global_batch < 1) {
    throw ConfigError("global batch size must be >= 1, got " + std::to_string(global_batch));
  }
}

int64_t GlobalSampler::num_batches() const { return (num_samples() + global_batch_ - 1) / global_batch_; }

std::vector<int64_t> GlobalSampler::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order = indices_;
  if (!shuffle_) return order;
  Rng rng(Stream::kSampler, {seed_, static_cast<uint64_t>(task_), static_cast<uint64_t>(epoch)});
  for (int64_t i = num_samples() - 1; i > 0; --i) {
    std::swap(order[i], order[rng.below(i + 1)]);
  }
  return order;
}

int64_t GlobalSampler::batch_size(int64_t b) const {
  if (b < 0 || b >= num_batches()) {
    throw std::out_of_range("GlobalSampler: batch " + std::to_string(b) + " out of range [0, " +
                            std::to_string(num_batches()) + ")");
  }
  return std::min((b + 1) * global_batch_, num_samples()) - b * global_batch_;
}

namespace {

void check_rank(int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world) {
    throw std::out_of_range("GlobalSampler: rank " + std::to_string(rank) + " not in a world of " +
                            std::to_string(world));
  }
}

// Rank `rank`'s contiguous slice of the global batch at [b0, b0 + nb) of `order`.
std::vector<int64_t> slice(const std::vector<int64_t>& order, int64_t b0, int64_t nb, int rank, int world) {
  const Shard s = shard_of(nb, rank, world);
  return std::vector<int64_t>(order.begin() + b0 + s.first, order.begin() + b0 + s.end);
}

}  // namespace

Shard shard_of(int64_t n, int rank, int world) { return Shard{n * rank / world, n * (rank + 1) / world}; }

std::vector<std::vector<int64_t>> GlobalSampler::rank_batches(int64_t epoch, int rank, int world, int64_t first) const {
  check_rank(rank, world);
  if (first < 0 || first > num_batches()) {
    throw std::out_of_range("GlobalSampler: first batch " + std::to_string(first) + " out of range [0, " +
                            std::to_string(num_batches()) + "]");
  }
  const std::vector<int64_t> order = epoch_order(epoch);
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = first; b < num_batches(); ++b) {
    out.push_back(slice(order, b * global_batch_, batch_size(b), rank, world));
  }
  return out;
}

std::vector<int64_t> GlobalSampler::rank_batch(int64_t epoch, int64_t b, int rank, int world) const {
  check_rank(rank, world);
  const int64_t nb = batch_size(b);  // range-checks b
  return slice(epoch_order(epoch), b * global_batch_, nb, rank, world);
}

}  // namespace lorasub::data
