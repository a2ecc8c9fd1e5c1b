// One call from plain options to the train/test SampleSources of a real benchmark
// (ImageNet-R, DomainNet, CIFAR-100): what the trainer needs once it has read its config.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "lorasub/data/sample_source.h"

namespace lorasub::data {

struct RealDatasetOptions {
  std::string dataset;                  // "imagenet-r" | "domainnet" | "cifar100"
  std::string root;                     // see data/README.md for each layout
  std::string split_train, split_test;  // ImageNet-R split yamls; both empty = seeded split
  uint64_t split_seed = 0;              // ImageNet-R seeded split
  double train_fraction = 0.8;          // ImageNet-R seeded split
  std::vector<std::string> domains;     // DomainNet; empty = all six
  int64_t image_size = 224;             // pipeline output side
  OnBadImage on_bad_image = OnBadImage::kError;
};

struct RealDataset {
  std::shared_ptr<const SampleSource> train, test;
  std::vector<std::string> class_names;  // index = label
  int64_t num_classes = 0;               // 200 / 345 / 100 for the full datasets
  std::string description;               // one line for the log
};

// Lists (ImageNet-R, DomainNet) or reads (CIFAR-100, either version: cifar100_layout;
// binary: root/train.bin, root/test.bin, names from root/fine_label_names.txt when
// present, else "0".."99"; python: root/train, root/test, names from root/meta) the
// dataset and pairs it with make_pipeline(dataset, image_size). Only one of
// split_train/split_test given: ConfigError. Unknown dataset: ConfigError.
RealDataset open_real_dataset(const RealDatasetOptions& opt);

// The dataset names open_real_dataset accepts.
std::vector<std::string> real_dataset_names();

}  // namespace lorasub::data
