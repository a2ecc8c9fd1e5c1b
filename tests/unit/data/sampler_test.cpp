#include "lorasub/data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

using V = std::vector<int64_t>;

// Indices 1000, 1003, ... so a sampler returning positions instead would fail.
V task_indices(int64_t n) {
  V v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 1000 + 3 * i;
  return v;
}

V sorted(V v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(GlobalSampler, EverySampleOncePerEpoch) {
  const GlobalSampler s(task_indices(103), 10, 42, 1, true);
  EXPECT_EQ(s.num_samples(), 103);
  EXPECT_EQ(s.num_batches(), 11);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    EXPECT_EQ(sorted(s.epoch_order(epoch)), task_indices(103));
    V seen;
    for (const V& b : s.rank_batches(epoch, 0, 1)) seen.insert(seen.end(), b.begin(), b.end());
    EXPECT_EQ(seen, s.epoch_order(epoch));
  }
}

TEST(GlobalSampler, EpochsTasksAndSeedsDiffer) {
  const GlobalSampler s(task_indices(50), 8, 42, 1, true);
  EXPECT_NE(s.epoch_order(0), s.epoch_order(1));
  EXPECT_NE(s.epoch_order(0), task_indices(50));
  EXPECT_EQ(s.epoch_order(2), GlobalSampler(task_indices(50), 8, 42, 1, true).epoch_order(2));
  EXPECT_NE(s.epoch_order(0), GlobalSampler(task_indices(50), 8, 42, 2, true).epoch_order(0));
  EXPECT_NE(s.epoch_order(0), GlobalSampler(task_indices(50), 8, 43, 1, true).epoch_order(0));
  // The order does not depend on the batch size.
  EXPECT_EQ(s.epoch_order(0), GlobalSampler(task_indices(50), 5, 42, 1, true).epoch_order(0));
}

TEST(GlobalSampler, NoShuffleKeepsOrder) {
  const GlobalSampler s(task_indices(20), 6, 42, 0, false);
  EXPECT_EQ(s.epoch_order(0), task_indices(20));
  EXPECT_EQ(s.epoch_order(5), task_indices(20));
  EXPECT_EQ(s.rank_batch(0, 1, 0, 1), (V{1018, 1021, 1024, 1027, 1030, 1033}));
}

TEST(GlobalSampler, LastShortBatch) {
  const GlobalSampler s(task_indices(23), 10, 1, 0, true);
  EXPECT_EQ(s.num_batches(), 3);
  EXPECT_EQ(s.batch_size(0), 10);
  EXPECT_EQ(s.batch_size(2), 3);
  EXPECT_EQ(s.rank_batch(0, 2, 0, 1).size(), 3u);
  const V order = s.epoch_order(0);
  EXPECT_EQ(s.rank_batch(0, 2, 0, 1), V(order.begin() + 20, order.end()));
  EXPECT_THROW(s.batch_size(3), std::out_of_range);
  EXPECT_THROW(s.rank_batch(0, 3, 0, 1), std::out_of_range);
}

// Concatenating the ranks' slices of each global batch gives the world-1 batch.
void expect_world_invariant(int64_t n, int64_t batch, int world) {
  const GlobalSampler s(task_indices(n), batch, 9, 2, true);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const auto single = s.rank_batches(epoch, 0, 1);
    std::vector<std::vector<V>> per_rank;
    for (int r = 0; r < world; ++r) per_rank.push_back(s.rank_batches(epoch, r, world));
    ASSERT_EQ(single.size(), static_cast<size_t>(s.num_batches()));
    for (size_t b = 0; b < single.size(); ++b) {
      V joined;
      for (int r = 0; r < world; ++r) {
        ASSERT_EQ(per_rank[r].size(), single.size());
        const V& part = per_rank[r][b];
        EXPECT_EQ(part, s.rank_batch(epoch, static_cast<int64_t>(b), r, world));
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, single[b]) << "n=" << n << " B=" << batch << " world=" << world << " batch " << b;
    }
  }
}

TEST(GlobalSampler, GlobalBatchIndependentOfWorld) {
  for (int world : {1, 2, 4}) {
    expect_world_invariant(64, 16, world);
    expect_world_invariant(103, 10, world);
    expect_world_invariant(23, 5, world);  // batch 5 not divisible by 2 or 4
    expect_world_invariant(7, 5, world);   // last batch of 2 with world 4: empty slices
  }
}

TEST(GlobalSampler, UnevenSliceSizes) {
  const GlobalSampler s(task_indices(5), 5, 0, 0, false);
  EXPECT_EQ(s.rank_batch(0, 0, 0, 2).size(), 2u);  // [0, 5/2)
  EXPECT_EQ(s.rank_batch(0, 0, 1, 2).size(), 3u);  // [2, 5)
  std::vector<size_t> sizes;
  for (int r = 0; r < 4; ++r) sizes.push_back(s.rank_batch(0, 0, r, 4).size());
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 1, 2}));
}

TEST(GlobalSampler, RankBatchesFromFirst) {
  const GlobalSampler s(task_indices(40), 8, 3, 0, true);
  const auto all = s.rank_batches(1, 1, 2);
  const auto tail = s.rank_batches(1, 1, 2, 3);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0], all[3]);
  EXPECT_EQ(tail[1], all[4]);
  EXPECT_TRUE(s.rank_batches(1, 1, 2, 5).empty());
}

TEST(GlobalSampler, Errors) {
  EXPECT_THROW(GlobalSampler(task_indices(4), 0, 0, 0, true), ConfigError);
  const GlobalSampler s(task_indices(4), 2, 0, 0, true);
  EXPECT_THROW(s.rank_batch(0, 0, 2, 2), std::out_of_range);
  EXPECT_THROW(s.rank_batch(0, 0, 0, 0), std::out_of_range);
  EXPECT_THROW(s.rank_batches(0, 0, 1, 3), std::out_of_range);
  const GlobalSampler empty(V{}, 4, 0, 0, true);
  EXPECT_EQ(empty.num_batches(), 0);
  EXPECT_TRUE(empty.rank_batches(0, 0, 1).empty());
}

}  // namespace
}  // namespace lorasub::data
