// Opens the configured dataset as train/test splits. In-memory datasets (Fashion-MNIST,
// MNIST digits, synthetic) are ImageSets with pixels; the real benchmarks (ImageNet-R,
// DomainNet, CIFAR-100) are SampleSources that decode and augment on demand with the
// reference pipelines, and their ImageSets carry the labels only.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/data/image_set.h"
#include "lorasub/data/loader.h"
#include "lorasub/data/sample_source.h"
#include "lorasub/data/task_plan.h"

namespace lorasub::train {

struct DataSplits {
  // Labels (always) and pixels (in-memory datasets only); height/width/channels are the
  // model input.
  data::ImageSet train, test;
  // Set for pipeline datasets: sample i of `train` is train_source's sample i.
  std::shared_ptr<const data::SampleSource> train_source, test_source;
};

// dataset: fashion-mnist | mnist-json | synthetic | imagenet-r | domainnet | cifar100;
// root "" = the dataset's default location (embedded datasets only). Applies
// train/test_per_class limits. Throws ConfigError when the data is not where the config
// says, naming the key and how to install it.
DataSplits open_dataset(const std::string& dataset, const std::string& root,
                        const DataConfig& data, const ModelConfig& model, uint64_t seed);

// Default locations: Debian's dataset-fashion-mnist, and the MNIST digits the
// installer unpacks under $LORASUB_DATA_CACHE (default .cache/data).
std::string default_root(const std::string& dataset);

// A loader over one split: the SampleSource when there is one (the small-image
// transform's `train` flag picks the train or test pipeline), else the ImageSet with
// the small-image transform. Batch pixels come from `memory` (null: the heap).
std::unique_ptr<data::Loader> make_loader(const DataSplits& d, bool test_split,
                                          const data::SmallImageTransform& t, int workers, int prefetch,
                                          HostMemory* memory = nullptr);

// Relabels both splits to class-order positions (dropping classes not in the plan).
void apply_class_order(DataSplits& data, const data::TaskPlan& plan);

// A SampleSource that shows `inner` through an index map with new labels (class order,
// per-class subsets).
class MappedSource final : public data::SampleSource {
 public:
  MappedSource(std::shared_ptr<const data::SampleSource> inner, std::vector<int64_t> index,
               std::vector<int64_t> labels);
  int64_t size() const override { return static_cast<int64_t>(index_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  int64_t channels() const override { return inner_->channels(); }
  int64_t height() const override { return inner_->height(); }
  int64_t width() const override { return inner_->width(); }
  void produce(int64_t i, bool train, Rng& rng, float* dst) const override {
    inner_->produce(index_.at(static_cast<size_t>(i)), train, rng, dst);
  }
  std::string describe() const override { return inner_->describe(); }
  int64_t skipped() const override { return inner_->skipped(); }

 private:
  std::shared_ptr<const data::SampleSource> inner_;
  std::vector<int64_t> index_, labels_;
};

// `lorasub prepare`: decodes every image of the configured file dataset once, resizes it
// to data.cache_short_side and writes the cache (docs/image-cache.md) to `output`.
// Progress on stdout; returns the number of images written.
int64_t prepare_cache(const Config& cfg, const std::string& output);

}  // namespace lorasub::train
