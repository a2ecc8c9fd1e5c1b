#include "lorasub/data/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "data_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/data/sampler.h"

namespace lorasub::data {
namespace {

using Batches = std::vector<std::vector<int64_t>>;

const ImageSet& dataset() {
  static const ImageSet set = make_synthetic(5, 40, 12, 10, 3, 99);
  return set;
}

const SmallImageTransform kTrain{true, 2, true};

Batches epoch_batches(int64_t epoch, int64_t batch = 7) {
  std::vector<int64_t> all(dataset().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return GlobalSampler(all, batch, 5, 1, true).rank_batches(epoch, 0, 1);
}

void expect_same(const Batch& got, const Batch& want) {
  EXPECT_EQ(got.n, want.n);
  EXPECT_EQ(got.channels, want.channels);
  EXPECT_EQ(got.height, want.height);
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.indices, want.indices);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_TRUE(got.pixels == want.pixels);
}

// Drains a run and checks each batch against make_batch, in order.
void expect_run_matches(Loader& loader, const Batches& batches, StreamKey key) {
  for (const auto& indices : batches) {
    auto b = loader.next();
    ASSERT_TRUE(b.has_value());
    expect_same(*b, make_batch(dataset(), kTrain, indices, key));
    EXPECT_GE(b->wait_seconds, 0.0);
  }
  EXPECT_FALSE(loader.next().has_value());
  EXPECT_FALSE(loader.next().has_value());
}

TEST(MakeBatch, ShapeLabelsAndKeying) {
  const StreamKey key{3, 1, 2};
  const Batch b = make_batch(dataset(), kTrain, {4, 0, 17}, key);
  EXPECT_EQ(b.n, 3);
  EXPECT_EQ(b.channels, 3);
  EXPECT_EQ(b.height, 12);
  EXPECT_EQ(b.width, 10);
  EXPECT_EQ(b.pixels.size(), 3u * 3 * 12 * 10);
  EXPECT_EQ(b.labels, (LabelVector{4, 0, 2}));
  // A sample's pixels depend on its index and key only, not on its batch.
  const Batch other = make_batch(dataset(), kTrain, {17}, key);
  EXPECT_TRUE(std::equal(other.pixels.begin(), other.pixels.end(), b.pixels.begin() + 2 * 360));
  const Batch next_epoch = make_batch(dataset(), kTrain, {4, 0, 17}, StreamKey{3, 1, 3});
  EXPECT_NE(next_epoch.pixels, b.pixels);
}

// A HostMemory that hands out heap blocks and remembers which ones are live.
class TrackingMemory final : public HostMemory {
 public:
  void* allocate(size_t bytes) override {
    void* p = ::operator new(bytes);
    std::lock_guard<std::mutex> lock(mu);
    live[p] = bytes;
    ++allocations;
    return p;
  }
  void deallocate(void* p, size_t bytes) noexcept override {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (live.count(p) && live[p] == bytes)
        live.erase(p);
      else
        ++mismatched;
    }
    ::operator delete(p);
  }
  bool page_locked() const override { return locked; }
  bool owns(const void* p) {
    std::lock_guard<std::mutex> lock(mu);
    return live.count(const_cast<void*>(p)) > 0;
  }
  std::mutex mu;
  std::map<void*, size_t> live;
  int allocations = 0, mismatched = 0;
  bool locked = false;  // claims to be page-locked (as the CUDA pinned pool does)
};

TEST(Loader, BatchesComeFromTheGivenHostMemory) {
  TrackingMemory memory;
  {
    Loader loader(dataset(), kTrain, 2, 3);
    loader.use_host_memory(&memory);
    const Batches batches = epoch_batches(0);
    const StreamKey key{5, 1, 0};
    loader.start(batches, key);
    for (const auto& indices : batches) {
      auto b = loader.next();
      ASSERT_TRUE(b.has_value());
      EXPECT_TRUE(memory.owns(b->pixels.data()));  // the very memory, not a copy
      EXPECT_TRUE(memory.owns(b->labels.data()));  // labels too: both may be copied non-blocking
      EXPECT_FALSE(b->page_locked());
      expect_same(*b, make_batch(dataset(), kTrain, indices, key));
    }
  }
  EXPECT_GE(memory.allocations, static_cast<int>(epoch_batches(0).size()));
  EXPECT_TRUE(memory.live.empty());  // every block went back, with its size
  EXPECT_EQ(memory.mismatched, 0);
}

TEST(MakeBatch, PageLockedOnlyFromPageLockedMemory) {
  // The learner copies a batch to the device without blocking only when this is true.
  TrackingMemory pinned;
  pinned.locked = true;
  EXPECT_TRUE(make_batch(dataset(), kTrain, {1, 2}, StreamKey{}, &pinned).page_locked());
  TrackingMemory pageable;
  EXPECT_FALSE(make_batch(dataset(), kTrain, {1, 2}, StreamKey{}, &pageable).page_locked());
  EXPECT_FALSE(make_batch(dataset(), kTrain, {1, 2}, StreamKey{}).page_locked());  // the heap
}

TEST(MakeBatch, IndexOutOfRange) {
  try {
    make_batch(dataset(), kTrain, {0, 200}, StreamKey{});
    FAIL() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    EXPECT_CONTAINS(e.what(), "sample index 200 out of range [0, 200)");
  }
}

TEST(Loader, MatchesMakeBatchForAnyWorkersAndPrefetch) {
  const StreamKey key{11, 1, 0};
  const Batches batches = epoch_batches(0);
  for (int workers : {1, 3}) {
    for (int prefetch : {1, 2, 8}) {
      SCOPED_TRACE("workers " + std::to_string(workers) + " prefetch " + std::to_string(prefetch));
      Loader loader(dataset(), kTrain, workers, prefetch);
      loader.start(batches, key);
      expect_run_matches(loader, batches, key);
    }
  }
}

TEST(Loader, SeveralEpochsOnOneLoader) {
  Loader loader(dataset(), kTrain, 2, 3);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const StreamKey key{11, 1, epoch};
    loader.start(epoch_batches(epoch), key);
    expect_run_matches(loader, epoch_batches(epoch), key);
  }
}

TEST(Loader, NothingBeforeStartAndEmptyRun) {
  Loader loader(dataset(), kTrain, 2, 2);
  EXPECT_FALSE(loader.next().has_value());
  loader.start({}, StreamKey{});
  EXPECT_FALSE(loader.next().has_value());
  loader.start({{}}, StreamKey{});
  auto b = loader.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->n, 0);
  EXPECT_FALSE(loader.next().has_value());
}

TEST(Loader, WorkerErrorIsRethrownInOrder) {
  for (int workers : {1, 3}) {
    Batches batches = epoch_batches(0);
    batches[3].push_back(12345);
    const StreamKey key{1, 0, 0};
    Loader loader(dataset(), kTrain, workers, 4);
    loader.start(batches, key);
    for (int k = 0; k < 3; ++k) {
      auto b = loader.next();
      ASSERT_TRUE(b.has_value());
      expect_same(*b, make_batch(dataset(), kTrain, batches[k], key));
    }
    try {
      loader.next();
      FAIL() << "expected the worker's std::out_of_range";
    } catch (const std::out_of_range& e) {
      EXPECT_CONTAINS(e.what(), "sample index 12345");
    }
    EXPECT_FALSE(loader.next().has_value());
    // The loader is usable again after a failed run.
    loader.start(epoch_batches(1), key);
    expect_run_matches(loader, epoch_batches(1), key);
  }
}

TEST(Loader, RestartMidRun) {
  Loader loader(dataset(), kTrain, 3, 4);
  loader.start(epoch_batches(0), StreamKey{1, 0, 0});
  ASSERT_TRUE(loader.next().has_value());
  ASSERT_TRUE(loader.next().has_value());
  const StreamKey key{1, 0, 1};
  const Batches fresh = epoch_batches(1, 9);
  loader.start(fresh, key);
  expect_run_matches(loader, fresh, key);
}

TEST(Loader, DestructorMidRunDoesNotHang) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int prefetch : {1, 4}) {
    {
      Loader loader(dataset(), kTrain, 3, prefetch);
      loader.start(epoch_batches(0, 1), StreamKey{});
      ASSERT_TRUE(loader.next().has_value());
    }
    {
      Loader loader(dataset(), kTrain, 3, prefetch);
      loader.start(epoch_batches(0, 1), StreamKey{});  // never consumed
    }
    { Loader idle(dataset(), kTrain, 2, prefetch); }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(Loader, InvalidArguments) {
  EXPECT_THROW(Loader(dataset(), kTrain, 0, 1), ConfigError);
  EXPECT_THROW(Loader(dataset(), kTrain, 1, 0), ConfigError);
}

}  // namespace
}  // namespace lorasub::data
