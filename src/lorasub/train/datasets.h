// Opens the configured dataset as train/test ImageSets (labels as the dataset has them).
#pragma once
#include <string>

#include "lorasub/core/config.h"
#include "lorasub/data/image_set.h"

namespace lorasub::train {

struct DataSplits {
  data::ImageSet train, test;
};

// dataset: fashion-mnist | mnist-json | synthetic; root "" = the dataset's default
// location. Applies train/test_per_class limits. Throws ConfigError when the data is
// not where the config says, naming the key and how to install it.
DataSplits open_dataset(const std::string& dataset, const std::string& root,
                        const DataConfig& data, const ModelConfig& model, uint64_t seed);

// Default locations: Debian's dataset-fashion-mnist, and the MNIST digits the
// installer unpacks under $LORASUB_DATA_CACHE (default .cache/data).
std::string default_root(const std::string& dataset);

}  // namespace lorasub::train
