// Rank 0's files: the task-end HDF5 checkpoint and the run directory's results.
#include <sys/stat.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "lorasub/io/h5file.h"
#include "lorasub/io/results.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/checkpoint_dir.h"
#include "lorasub/train/resume_check.h"
#include "lorasub/train/trainer.h"

#include <chrono>
#include <ctime>

namespace lorasub::train {
std::string Trainer::run_dir() const { return io::RunDir(cfg_.run.dir, cfg_.run.name).path(); }

Checkpoint Trainer::make_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch,
                                    bool task_done) const {
  Checkpoint c;
  c.kind = kind;
  c.pos = {t, epoch, batch, global_step_, task_done};
  c.learner = learner_->state(/*deep=*/false);  // written at once, while nothing trains
  if (task_done) {  // the optimizer of a finished task is not needed again
    c.learner.adam_m.clear();
    c.learner.adam_v.clear();
    c.learner.adam_steps = 0;
  }
  c.trainer = state_;
  c.trainer.summary.wall_seconds =
      wall_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
  c.config_yaml = dump_config(cfg_);
  c.config_hash = config_hash(cfg_);
  c.resume_hash = resume_hash(cfg_);
  c.backbone_sha256 = backbone_sha256_;
  c.lorasub_version = LORASUB_VERSION;
  c.class_order = plan_.class_order();
  c.task_sizes = plan_.task_sizes();
  c.ranks = world_.size;
  c.created_unix = static_cast<int64_t>(std::time(nullptr));
  c.drift_reference = drift_.reference();
  c.drift_sample_reference = drift_.sample_reference();
  return c;
}

void Trainer::save_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done) {
  if (!world_.is_root()) return;
  io::RunDir dir(cfg_.run.dir, cfg_.run.name);
  char name[64];
  if (kind == "task_end")
    std::snprintf(name, sizeof(name), "/task_%03lld.h5", static_cast<long long>(t));
  else
    std::snprintf(name, sizeof(name), "/step_%09lld.h5", static_cast<long long>(global_step_));
  const std::string path = dir.checkpoints_dir() + name;
  try {
    dir.create();
    write_checkpoint(path, make_checkpoint(kind, t, epoch, batch, task_done));
    struct stat st {};
    last_checkpoint_bytes_ = ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  } catch (const std::exception& e) {
    const bool earlier = !list_checkpoints(dir.checkpoints_dir()).empty();
    throw std::runtime_error(std::string("checkpoint not written (") +
                             (earlier ? "the previous ones are intact" : "there is no earlier one") + "): " + e.what());
  }
  prune_checkpoints(dir.checkpoints_dir(), cfg_.ckpt.keep, cfg_.ckpt.keep_task_ends, path);
  last_ckpt_time_ = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Trainer::write_outputs() const {
  const TrainSummary& s = state_.summary;

  io::RunDir dir(cfg_.run.dir, cfg_.run.name);
  dir.create();
  dir.write_text_atomic("config.yaml", dump_config(cfg_));
  dir.write_text_atomic("accuracy_matrix.csv", io::accuracy_matrix_csv(s.accuracy.matrix()));
  nlohmann::json j;
  j["run"] = cfg_.run.name;
  j["method"] = cfg_.method.name;
  j["dataset"] = cfg_.data.dataset;
  j["seed"] = cfg_.run.seed;
  j["ranks"] = world_.size;
  j["config_hash"] = config_hash(cfg_);
  j["A_last"] = s.accuracy.a_last();
  j["A_avg"] = s.accuracy.a_avg();
  j["forgetting"] = s.accuracy.forgetting();
  j["bwt"] = s.accuracy.bwt();
  j["wall_seconds"] = s.wall_seconds;
  j["train_images_per_second"] = s.train_images_per_second();
  j["skipped_image_loads"] = s.skipped_images;
  j["data_wait_seconds"] = s.data_wait_seconds;
  j["allreduce_seconds"] = s.allreduce_seconds;
  j["accuracy_matrix"] = s.accuracy.matrix();
  j["resumes"] = nlohmann::json::parse(state_.history_json, nullptr, false);
  for (size_t t = 0; t < s.seconds.size(); ++t) {
    const PhaseSeconds& p = s.seconds[t];
    j["tasks"].push_back({{"task", t},
                          {"classes", plan_.task_size(static_cast<int64_t>(t))},
                          {"A", s.accuracy.overall()[t]},
                          {"per_task", s.accuracy.matrix()[t]},
                          {"drs_kept_dims", s.kept[t]},
                          {"seconds",
                           {{"covariance", p.covariance},
                            {"train", p.train},
                            {"prototypes", p.prototypes},
                            {"eval", p.eval},
                            {"checkpoint", p.checkpoint},
                            {"drift", p.drift},
                            {"projector", p.projector},
                            {"total", p.total()}}}});
  }
  if (cfg_.train.drift) {
    j["drift_sample_per_class"] = drift_per_class_;  // 0: every earlier training image (train.drift_full)
    j["feature_drift"] = nlohmann::json::array();
    for (const DriftRecord& d : s.drift)
      j["feature_drift"].push_back({{"task", d.task},
                                    {"after_task", d.after_task},
                                    {"mean_cosine_distance", d.mean_cosine_distance},
                                    {"stale_accuracy_drop", d.stale_accuracy_drop}});
  }
  io::write_json(dir, "results.json", j);
}

}  // namespace lorasub::train
