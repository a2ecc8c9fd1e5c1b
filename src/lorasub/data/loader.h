// A threaded prefetching loader. Worker threads turn lists of sample indices into
// float batches ([0,1], NCHW) ahead of the consumer; batches come out in order.
// Each sample's augmentation draws from its own stream keyed by
// (seed, task, epoch, sample index), so results never depend on threads or ranks.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>
#include "lorasub/core/host_memory.h"
#include "lorasub/data/image_set.h"
#include "lorasub/data/sample_source.h"
#include "lorasub/data/transforms.h"

namespace lorasub::data {

struct Batch {
  int64_t n = 0, channels = 0, height = 0, width = 0;
  PixelVector pixels;            // n * channels * height * width (HostMemory of the loader)
  LabelVector labels;            // n (the same HostMemory)
  std::vector<int64_t> indices;  // dataset indices, n
  double wait_seconds = 0.0;     // how long next() waited for this batch
  // Pixels and labels are in page-locked memory: they may be copied to a device
  // without blocking (from pageable memory such a copy must block).
  bool page_locked() const {
    const HostMemory* m = pixels.get_allocator().memory;
    return m != nullptr && m->page_locked();
  }
};

struct StreamKey {
  uint64_t seed = 0;
  int64_t task = 0;
  int64_t epoch = 0;
};

class Loader {
 public:
  // `set` must outlive the loader. workers >= 1; prefetch >= 1 batches in flight.
  Loader(const ImageSet& set, SmallImageTransform transform, int workers, int prefetch);
  // Samples produced on demand by `source` (kept alive by the loader), in train or
  // test mode. Sample i of a batch draws from Rng(Stream::kAugment, {seed, task, epoch,
  // i}) exactly as for an ImageSet, i being the index into `source`.
  Loader(std::shared_ptr<const SampleSource> source, bool train, int workers, int prefetch);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts producing `batches` (lists of dataset indices); cancels any previous run.
  void start(std::vector<std::vector<int64_t>> batches, StreamKey key);
  // The next batch in order, or nullopt when the run is done. Rethrows a worker error.
  std::optional<Batch> next();
  // Batches built from now on allocate their pixels from `memory` (e.g. pinned memory
  // for asynchronous copies to a GPU); null = the heap. `memory` must outlive the
  // loader and every batch it hands out. Stops a run in progress: call before start().
  void use_host_memory(HostMemory* memory);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds one batch synchronously (what a worker does); exposed for tests.
Batch make_batch(const ImageSet& set, const SmallImageTransform& transform, const std::vector<int64_t>& indices,
                 StreamKey key, HostMemory* memory = nullptr);

// The same for a SampleSource: shape from source.channels()/height()/width(),
// labels from source.label(i); an index out of range is std::out_of_range.
Batch make_batch(const SampleSource& source, bool train, const std::vector<int64_t>& indices, StreamKey key,
                 HostMemory* memory = nullptr);

}  // namespace lorasub::data
