#include "lorasub/train/resume_check.h"

#include "lorasub/core/sha256.h"

namespace lorasub::train {
namespace {
// The config without the keys a run may change between attempts (paths, threads,
// devices, checkpoint and metrics settings, fault injection).
Config resume_relevant(const Config& cfg) {
  Config c = cfg;
  const Config d;
  c.run.dir = d.run.dir;
  c.run.name = d.run.name;
  c.data.workers = d.data.workers;
  c.data.prefetch = d.data.prefetch;
  c.train.log_every = d.train.log_every;
  c.train.threads = d.train.threads;
  c.train.device = d.train.device;  // a run may move between CPU and GPU machines
  c.train.fail_step = d.train.fail_step;
  c.train.fail_rank = d.train.fail_rank;
  c.train.fail_kind = d.train.fail_kind;
  c.pretrain = d.pretrain;
  c.dist = d.dist;
  c.ckpt = d.ckpt;
  c.metrics = d.metrics;
  return c;
}
}  // namespace

std::string resume_hash(const Config& cfg) { return config_hash(resume_relevant(cfg)); }

std::vector<std::string> resume_differences(const std::string& saved_yaml, const Config& now) {
  try {
    return config_differences(resume_relevant(parse_config(saved_yaml, "the checkpoint's config")),
                              resume_relevant(now));
  } catch (const std::exception& e) {  // written by a version with other keys
    return {std::string("(its config does not parse here: ") + e.what() + ")"};
  }
}

std::string backbone_identity(const std::string& weights_path) {
  return weights_path.empty() ? std::string("random-init") : sha256_file(weights_path);
}

}  // namespace lorasub::train
