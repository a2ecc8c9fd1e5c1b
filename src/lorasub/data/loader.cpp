#include "lorasub/data/loader.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {

namespace {

// The batch of `indices` (samples of a set of `size`, described as `what`) in `memory`:
// sample i is written by produce(i, rng, dst) with its own augmentation stream (seed,
// task, epoch, i) and labelled label(i).
template <class Produce, class Label>
Batch fill_batch(int64_t channels, int64_t height, int64_t width, int64_t size, const std::string& what,
                 const std::vector<int64_t>& indices, StreamKey key, HostMemory* memory, Produce produce, Label label) {
  Batch b;
  b.pixels = PixelVector(HostAllocator<float>(memory));
  b.labels = LabelVector(HostAllocator<int64_t>(memory));
  b.n = static_cast<int64_t>(indices.size());
  b.channels = channels;
  b.height = height;
  b.width = width;
  const int64_t per = channels * height * width;
  b.pixels.resize(static_cast<size_t>(b.n * per));
  b.labels.resize(indices.size());
  b.indices = indices;
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t i = indices[k];
    if (i < 0 || i >= size) {
      throw std::out_of_range("make_batch: sample index " + std::to_string(i) + " out of range [0, " +
                              std::to_string(size) + ") of '" + what + "'");
    }
    Rng rng(Stream::kAugment,
            {key.seed, static_cast<uint64_t>(key.task), static_cast<uint64_t>(key.epoch), static_cast<uint64_t>(i)});
    produce(i, rng, b.pixels.data() + k * per);
    b.labels[k] = label(i);
  }
  return b;
}

}  // namespace

Batch make_batch(const ImageSet& set, const SmallImageTransform& transform, const std::vector<int64_t>& indices,
                 StreamKey key, HostMemory* memory) {
  return fill_batch(
      set.channels, set.height, set.width, set.size(), set.source, indices, key, memory,
      [&](int64_t i, Rng& rng, float* dst) {
        transform.apply(set.image(i), set.height, set.width, set.channels, rng, dst);
      },
      [&](int64_t i) { return set.labels[i]; });
}

Batch make_batch(const SampleSource& source, bool train, const std::vector<int64_t>& indices, StreamKey key,
                 HostMemory* memory) {
  return fill_batch(
      source.channels(), source.height(), source.width(), source.size(), source.describe(), indices, key, memory,
      [&](int64_t i, Rng& rng, float* dst) { source.produce(i, train, rng, dst); },
      [&](int64_t i) { return source.label(i); });
}

// One run = the batches given to start(). Workers claim batch numbers in order under
// the mutex, build them unlocked and park them in `ready` (or `failed`); next() hands
// them out in order. A worker claims batch k only while k < consumed + prefetch, so at
// most `prefetch` batches are built or being built ahead of the consumer. start()
// and the destructor stop the workers and join them before touching the run state.
struct Loader::Impl {
  // Builds one batch (make_batch over an ImageSet or a SampleSource).
  using Build = std::function<Batch(const std::vector<int64_t>&, StreamKey, HostMemory*)>;
  Build build;
  HostMemory* memory = nullptr;  // where batch pixels are allocated (null: the heap)
  int workers;
  int prefetch;

  std::mutex mu;
  std::condition_variable work_cv;   // workers: room to build, or stop
  std::condition_variable ready_cv;  // consumer: a batch was parked
  std::vector<std::vector<int64_t>> batches;
  StreamKey key;
  size_t claimed = 0;         // next batch number a worker will take
  size_t consumed = 0;        // next batch number next() returns
  size_t fail_at = SIZE_MAX;  // lowest batch number that threw
  std::map<size_t, Batch> ready;
  std::map<size_t, std::exception_ptr> failed;
  bool stop = false;
  std::vector<std::thread> threads;

  Impl(Build b, int w, int p) : build(std::move(b)), workers(w), prefetch(p) {}

  bool can_claim() const { return claimed < batches.size() && claimed < consumed + prefetch && claimed <= fail_at; }

  void worker() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [&] { return stop || can_claim() || claimed >= batches.size(); });
      if (stop || !can_claim()) return;
      const size_t k = claimed++;
      lock.unlock();
      std::optional<Batch> built;
      std::exception_ptr error;
      try {
        built = build(batches[k], key, memory);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error) {
        failed.emplace(k, error);
        fail_at = std::min(fail_at, k);
      } else {
        ready.emplace(k, std::move(*built));
      }
      ready_cv.notify_all();
    }
  }

  void halt() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    work_cv.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
  }

  void begin(std::vector<std::vector<int64_t>> list, StreamKey k) {
    halt();
    batches = std::move(list);
    key = k;
    claimed = consumed = 0;
    fail_at = SIZE_MAX;
    ready.clear();
    failed.clear();
    stop = false;
    for (int i = 0; i < workers; ++i) threads.emplace_back([this] { worker(); });
  }

  std::optional<Batch> take() {
    std::unique_lock<std::mutex> lock(mu);
    if (consumed >= batches.size()) return std::nullopt;
    const auto t0 = std::chrono::steady_clock::now();
    ready_cv.wait(lock, [&] { return ready.count(consumed) || failed.count(consumed); });
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (auto it = failed.find(consumed); it != failed.end()) {
      std::exception_ptr error = it->second;
      consumed = batches.size();  // the run ends with its first error
      lock.unlock();
      work_cv.notify_all();
      std::rethrow_exception(error);
    }
    auto node = ready.extract(consumed);
    ++consumed;
    lock.unlock();
    work_cv.notify_all();
    node.mapped().wait_seconds = waited;
    return std::move(node.mapped());
  }
};

Loader::Loader(const ImageSet& set, SmallImageTransform transform, int workers, int prefetch) {
  if (workers < 1 || prefetch < 1) {
    throw ConfigError("Loader: workers and prefetch must be >= 1, got workers=" + std::to_string(workers) +
                      ", prefetch=" + std::to_string(prefetch));
  }
  const ImageSet* s = &set;
  impl_ = std::make_unique<Impl>([s, transform](const std::vector<int64_t>& idx, StreamKey key,
                                                HostMemory* m) { return make_batch(*s, transform, idx, key, m); },
                                 workers, prefetch);
}

Loader::Loader(std::shared_ptr<const SampleSource> source, bool train, int workers, int prefetch) {
  if (workers < 1 || prefetch < 1) {
    throw ConfigError("Loader: workers and prefetch must be >= 1, got workers=" + std::to_string(workers) +
                      ", prefetch=" + std::to_string(prefetch));
  }
  if (!source) throw ConfigError("Loader: null sample source");
  impl_ = std::make_unique<Impl>([source, train](const std::vector<int64_t>& idx, StreamKey key,
                                                 HostMemory* m) { return make_batch(*source, train, idx, key, m); },
                                 workers, prefetch);
}

Loader::~Loader() { impl_->halt(); }

void Loader::start(std::vector<std::vector<int64_t>> batches, StreamKey key) { impl_->begin(std::move(batches), key); }

std::optional<Batch> Loader::next() { return impl_->take(); }

void Loader::use_host_memory(HostMemory* memory) {
  impl_->halt();  // no worker may be allocating while the memory changes
  impl_->memory = memory;
}

}  // namespace lorasub::data
