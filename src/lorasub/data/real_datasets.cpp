#include "lorasub/data/real_datasets.h"

#include <filesystem>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/data/cifar_python.h"
#include "lorasub/data/file_datasets.h"

namespace lorasub::data {

namespace fs = std::filesystem;

std::vector<std::string> real_dataset_names() { return {"imagenet-r", "domainnet", "cifar100"}; }

namespace {

RealDataset from_lists(FileList train, FileList test, const RealDatasetOptions& opt) {
  RealDataset d;
  d.class_names = train.class_names;
  d.num_classes = static_cast<int64_t>(d.class_names.size());
  d.description = train.source + "; " + test.source;
  const ImagePipeline pipe = make_pipeline(opt.dataset, opt.image_size);
  d.train = std::make_shared<FileSampleSource>(std::move(train), pipe, opt.on_bad_image);
  d.test = std::make_shared<FileSampleSource>(std::move(test), pipe, opt.on_bad_image);
  return d;
}

// Either version (cifar100_layout), read into memory whole.
RealDataset open_cifar100(const RealDatasetOptions& opt) {
  const fs::path root(opt.root);
  const bool binary = cifar100_layout(opt.root) == Cifar100Layout::kBinary;
  const auto read = [&](const char* split) {
    const std::string path = (root / (std::string(split) + (binary ? ".bin" : ""))).string();
    return std::make_shared<const ImageSet>(binary ? read_cifar100_binary(path) : read_cifar100_python(path));
  };
  auto train = read("train"), test = read("test");
  RealDataset d;
  if (binary) {
    d.class_names = read_cifar100_names((root / "fine_label_names.txt").string());
    if (d.class_names.empty()) {
      for (int c = 0; c < 100; ++c) d.class_names.push_back(std::to_string(c));
    } else if (d.class_names.size() != 100) {
      throw FormatError((root / "fine_label_names.txt").string() + ": expected 100 names, got " +
                        std::to_string(d.class_names.size()));
    }
  } else {
    d.class_names = read_cifar100_python_names((root / "meta").string());
  }
  d.num_classes = 100;
  d.description = "CIFAR-100 " + std::string(binary ? "binary" : "python") + " version '" + opt.root + "' (" +
                  std::to_string(train->size()) + " train, " + std::to_string(test->size()) + " test)";
  const ImagePipeline pipe = make_pipeline("cifar100", opt.image_size);
  d.train = std::make_shared<ImageSetSampleSource>(train, pipe);
  d.test = std::make_shared<ImageSetSampleSource>(test, pipe);
  return d;
}

}  // namespace

RealDataset open_real_dataset(const RealDatasetOptions& opt) {
  if (opt.dataset == "imagenet-r") {
    if (opt.split_train.empty() != opt.split_test.empty()) {
      throw ConfigError("ImageNet-R: give both split files (data.split_train and "
                        "data.split_test) or neither (seeded split)");
    }
    if (!opt.split_train.empty()) {
      return from_lists(read_imagenet_r_split(opt.root, opt.split_train),
                        read_imagenet_r_split(opt.root, opt.split_test), opt);
    }
    TrainTest tt = split_imagenet_r(list_imagenet_r(opt.root), opt.split_seed, opt.train_fraction);
    return from_lists(std::move(tt.train), std::move(tt.test), opt);
  }
  if (opt.dataset == "domainnet") {
    const std::vector<std::string> domains = opt.domains.empty() ? domainnet_domains() : opt.domains;
    return from_lists(read_domainnet(opt.root, domains, true), read_domainnet(opt.root, domains, false), opt);
  }
  if (opt.dataset == "cifar100") return open_cifar100(opt);
  std::string known;
  for (const auto& k : real_dataset_names()) known += (known.empty() ? "" : ", ") + k;
  throw ConfigError("unknown real dataset '" + opt.dataset + "' (known: " + known + ")");
}

}  // namespace lorasub::data
