// Cross-key validation: every key's own range, then the rules that tie keys together.
#include "lorasub/core/config.h"
#include "lorasub/core/config_schema.h"
#include "lorasub/core/error.h"

namespace lorasub {
namespace {
[[noreturn]] void fail(const std::string& msg) { throw ConfigError(msg); }
}  // namespace

void validate_config(const Config& cfg, const std::string& origin) {
  for (const auto& k : config_detail::schema()) {
    const std::string bad = config_detail::check_value(k, k.get(cfg));
    if (!bad.empty()) fail(origin + ": key '" + k.full + "' " + bad);
  }
  const ModelConfig& m = cfg.model;
  if (m.dim % m.heads != 0) {
    fail(origin + ": model.dim (" + std::to_string(m.dim) + ") must be divisible by model.heads (" +
         std::to_string(m.heads) + ")");
  }
  if (m.image_size % m.patch != 0) {
    fail(origin + ": model.image_size (" + std::to_string(m.image_size) + ") must be divisible by model.patch (" +
         std::to_string(m.patch) + ")");
  }
  if (cfg.method.rank > m.dim) {
    fail(origin + ": method.rank (" + std::to_string(cfg.method.rank) + ") must be <= model.dim (" +
         std::to_string(m.dim) + ")");
  }
  const std::string& ds = cfg.data.dataset;
  if ((ds == "imagenet-r" || ds == "domainnet" || ds == "cifar100") && m.channels != 3) {
    fail(origin + ": data.dataset " + ds + " has RGB images: model.channels must be 3, got " +
         std::to_string(m.channels));
  }
  if (cfg.data.split_train.empty() != cfg.data.split_test.empty()) {
    fail(origin + ": data.split_train and data.split_test go together (give both, or neither for "
                  "the seeded 80/20 split)");
  }
  if (cfg.dist.backend == "nccl" && cfg.train.device == "cpu") {
    fail(origin + ": dist.backend nccl reduces GPU buffers and needs train.device cuda (or auto on a "
                  "GPU machine); with train.device cpu use dist.backend mpi or auto");
  }
  if (cfg.train.drift && cfg.train.drift_full && cfg.train.drift_sample > 0) {
    fail(origin + ": train.drift_full reads every earlier training image, so train.drift_sample (" +
         std::to_string(cfg.train.drift_sample) + ") has no effect; set one of them");
  }
}

}  // namespace lorasub
