#include "lorasub/commands/prepare.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/data/decode.h"
#include "lorasub/data/file_datasets.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/data/open_dataset.h"
#include "lorasub/io/image_cache.h"

namespace lorasub::commands {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Everything that can be wrong before hours of decoding, not after.
void check_input(const Config& cfg, const std::string& output) {
  const DataConfig& d = cfg.data;
  if (!data::is_file_dataset(d.dataset))
    throw ConfigError("lorasub prepare caches decoded images of imagenet-r or domainnet; data.dataset is " + d.dataset);
  if (d.root.empty() || !is_dir(d.root))
    throw ConfigError("dataset '" + d.dataset + "': directory '" + d.root + "' does not exist (set data.root)");
  const auto slash = output.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : output.substr(0, slash));
  if (!is_dir(parent))
    throw ConfigError("lorasub prepare: cannot write '" + output + "': directory '" + parent + "' does not exist");
  if (is_dir(output)) throw ConfigError("lorasub prepare: '" + output + "' is a directory; give a file name");
}

// The same listing and split as training sees (open_real_dataset), without decoding.
data::TrainTest list_files(const Config& cfg) {
  const DataConfig& d = cfg.data;
  const data::RealDataset real =
      data::open_real_dataset(data::real_dataset_options(d.dataset, d.root, d, cfg.model.image_size));
  data::TrainTest lists;
  for (auto [source, list] : {std::pair{real.train.get(), &lists.train}, std::pair{real.test.get(), &lists.test}}) {
    const auto* files = dynamic_cast<const data::FileSampleSource*>(source);
    if (files == nullptr) throw std::logic_error("prepare: " + d.dataset + " is not read from image files");
    *list = files->files();
  }
  return lists;
}

// One image decoded and resized to `short_side`, as uint8 HWC RGB.
struct Decoded {
  std::vector<uint8_t> pixels;
  int64_t height = 0, width = 0;
  std::string error;  // set instead when it cannot be decoded
};

Decoded decode_resized(const std::string& path, int64_t short_side) {
  Decoded out;
  try {
    const data::DecodedImage im = data::decode_image_file(path, short_side);
    const auto [h, w] = data::resize_short_side(im.height, im.width, short_side);
    std::vector<float> f(static_cast<size_t>(h * w * 3));
    if (h == im.height && w == im.width) {
      for (size_t q = 0; q < f.size(); ++q) f[q] = im.pixels[q];
    } else {
      data::resample_bilinear(im.pixels.data(), im.height, im.width, 3, {0, 0, im.height, im.width}, h, w, f.data());
    }
    out.pixels.resize(f.size());
    for (size_t q = 0; q < f.size(); ++q)
      out.pixels[q] = static_cast<uint8_t>(std::lround(std::min(255.0f, std::max(0.0f, f[q]))));
    out.height = h;
    out.width = w;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// Images b0 .. b0+n of `list`, decoded by `workers` threads.
std::vector<Decoded> decode_block(const data::FileList& list, int64_t b0, int64_t n, int64_t short_side, int workers) {
  std::vector<Decoded> out(static_cast<size_t>(n));
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t k; (k = next++) < n;) out[static_cast<size_t>(k)] = decode_resized(list.full_path(b0 + k), short_side);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  return out;
}

}  // namespace

int64_t prepare_cache(const Config& cfg, const std::string& output) {
  check_input(cfg, output);
  const DataConfig& d = cfg.data;
  const data::TrainTest lists = list_files(cfg);
  io::ImageCacheWriter writer(output, {d.dataset, d.root, d.cache_short_side});
  const int workers = static_cast<int>(std::max<int64_t>(1, d.workers));
  const int64_t total = lists.train.size() + lists.test.size(), block = 64;
  int64_t written = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto* list : {&lists.train, &lists.test}) {
    const std::string split = list == &lists.train ? "train" : "test";
    for (int64_t b0 = 0; b0 < list->size(); b0 += block) {  // decoded in blocks, written in order
      const int64_t n = std::min(block, list->size() - b0);
      const std::vector<Decoded> images = decode_block(*list, b0, n, d.cache_short_side, workers);
      for (int64_t k = 0; k < n; ++k) {
        const Decoded& im = images[static_cast<size_t>(k)];
        if (!im.error.empty()) {
          if (d.on_bad_image != "skip") throw FormatError(im.error);
          std::fprintf(stderr, "lorasub prepare: skipping %s\n", im.error.c_str());
          continue;
        }
        const auto& e = list->entries[static_cast<size_t>(b0 + k)];
        writer.add(split, im.pixels.data(), im.height, im.width, 3, e.label, e.path);
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

}  // namespace lorasub::commands
