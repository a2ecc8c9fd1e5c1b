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
#include "lorasub/data/real_datasets.h"
#include "lorasub/data/sample_source.h"
#include "lorasub/data/task_plan.h"

namespace lorasub::data {

struct DataSplits {
  // Labels (always) and pixels (in-memory datasets only); height/width/channels are the
  // model input.
  ImageSet train, test;
  // Set for pipeline datasets: sample i of `train` is train_source's sample i.
  std::shared_ptr<const SampleSource> train_source, test_source;
};

// dataset: fashion-mnist | mnist-json | synthetic | imagenet-r | domainnet | cifar100;
// root "" = the dataset's default location (embedded datasets only). Applies
// train/test_per_class limits. Throws ConfigError when the data is not where the config
// says, naming the key and how to install it.
DataSplits open_dataset(const std::string& dataset, const std::string& root, const DataConfig& data,
                        const ModelConfig& model, uint64_t seed);

// Default locations: Debian's dataset-fashion-mnist, and the MNIST digits the
// installer unpacks under $LORASUB_DATA_CACHE (default .cache/data).
std::string default_root(const std::string& dataset);

// A loader over one split: the SampleSource when there is one (the small-image
// transform's `train` flag picks the train or test pipeline), else the ImageSet with
// the small-image transform. Batch pixels come from `memory` (null: the heap).
std::unique_ptr<Loader> make_loader(const DataSplits& d, bool test_split, const SmallImageTransform& t, int workers,
                                    int prefetch, HostMemory* memory = nullptr);

// Relabels both splits to class-order positions (dropping classes not in the plan).
void apply_class_order(DataSplits& data, const TaskPlan& plan);

// imagenet-r and domainnet: datasets of image files (what `lorasub prepare` caches).
bool is_file_dataset(const std::string& dataset);
// The options open_real_dataset takes, from the config.
RealDatasetOptions real_dataset_options(const std::string& dataset, const std::string& root, const DataConfig& d,
                                        int64_t image_size);

}  // namespace lorasub::data
