// Starting a run: taking the run directory (lock, earlier outputs) and resuming from a
// checkpoint (--resume auto | PATH), on every rank.
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <optional>

#include "lorasub/core/error.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/checkpoint_dir.h"
#include "lorasub/train/resume_check.h"
#include "lorasub/train/progress.h"
#include "lorasub/train/root_check.h"
#include "lorasub/train/trainer.h"

namespace lorasub::train {

void Trainer::claim_run_dir(const ResumeRequest& req) {
  claimed_ = true;
  checked_on_root(comm_, [&] { claim_run_dir_on_root(req); });  // all ranks refuse together
}

void Trainer::claim_run_dir_on_root(const ResumeRequest& req) {
  const io::RunDir dir(cfg_.run.dir, cfg_.run.name);  // refuses an empty name or ".."
  created_run_dir_ = ::access(dir.path().c_str(), F_OK) != 0;
  lock_ = std::make_unique<io::RunLock>(dir.path());
  io::make_dirs(dir.checkpoints_dir());
  io::remove_stale_temporaries(dir.path());  // writers that died; nobody else writes here
  const std::vector<std::string> earlier = io::run_outputs(dir.path());
  if (earlier.empty()) return;
  if (req.overwrite) {
    io::remove_run_outputs(dir.path());
    Progress::line(true, "lorasub: --overwrite: removed " + std::to_string(earlier.size()) +
                             " files of the earlier run in " + dir.path());
    return;
  }
  if (req.from.empty())
    throw ConfigError("run directory '" + dir.path() + "' already holds a run (" + std::to_string(earlier.size()) +
                      " files, e.g. '" + earlier.front() +
                      "'); pass --resume auto to continue it, --overwrite to "
                      "replace it, or choose another run.name");
  if (req.from == "auto" && list_checkpoints(dir.checkpoints_dir()).empty())
    throw ConfigError("--resume auto: run directory '" + dir.path() +
                      "' holds an earlier run's outputs but no "
                      "checkpoint to continue from ('" +
                      earlier.front() + "'); pass --overwrite to start it again");
}

namespace {

// Refuses a checkpoint this run cannot continue from; returns whether the config changed.
bool check_resumable(const Checkpoint& c, const std::string& path, const ResumeRequest& req, const Config& cfg,
                     const std::string& backbone_sha256, const data::TaskPlan& plan) {
  const bool changed = c.resume_hash != resume_hash(cfg);
  if (changed && !req.allow_config_change) {
    std::string keys;
    for (const std::string& d : resume_differences(c.config_yaml, cfg)) keys += "\n  " + d;
    throw ConfigError("cannot resume from '" + path +
                      "': written by a run with another config; the keys that "
                      "differ (checkpoint -> now):" +
                      keys +
                      "\npass --allow-config-change to continue anyway, "
                      "or --overwrite to start again");
  }
  if (c.backbone_sha256 != backbone_sha256 && !req.allow_config_change)
    throw ConfigError("cannot resume from '" + path + "': trained on another backbone (SHA-256 " + c.backbone_sha256 +
                      ", model.weights has " + backbone_sha256 + "); pass --allow-config-change to continue anyway");
  if (c.class_order != plan.class_order() || c.task_sizes != plan.task_sizes())
    throw ConfigError("cannot resume from '" + path +
                      "': its task plan (class order, task sizes) differs from this "
                      "config's");
  return changed;
}

Checkpoint read_or_refuse(const std::string& path) {
  try {
    return read_checkpoint(path);
  } catch (const std::exception& e) {
    throw ConfigError(std::string("cannot resume: ") + e.what());
  }
}

}  // namespace

std::string Trainer::resume(const ResumeRequest& req) {
  if (req.from.empty()) {
    claim_run_dir(req);
    return "";
  }
  auto say = [&](const std::string& text) { Progress::line(world_.is_root(), "lorasub: " + text); };
  // A named checkpoint is read and checked before the run directory is taken: a bad one
  // leaves no new run directory behind.
  std::optional<Checkpoint> named;
  if (req.from != "auto") {
    named = read_or_refuse(req.from);
    check_resumable(*named, req.from, req, cfg_, backbone_sha256_, plan_);
  }
  claim_run_dir(req);
  const std::string dir = io::RunDir(cfg_.run.dir, cfg_.run.name).checkpoints_dir();
  const std::vector<std::string> candidates = named ? std::vector<std::string>{req.from} : list_checkpoints(dir);
  if (candidates.empty()) {
    say("--resume auto: no checkpoint in " + dir + "; starting from the beginning");
    return "";
  }
  for (const std::string& path : candidates) {
    Checkpoint c;
    if (named) {
      c = std::move(*named);
    } else {
      try {
        c = read_checkpoint(path);
      } catch (const std::exception& e) {  // damaged: fall back to the previous good one (invariant 4)
        say(std::string("--resume auto: skipping ") + e.what());
        continue;
      }
    }
    restore_from(c, path, check_resumable(c, path, req, cfg_, backbone_sha256_, plan_));
    return path;
  }
  throw ConfigError("--resume auto: every checkpoint in " + dir +
                    " is damaged (see above); pass --overwrite to "
                    "start the run again");
}

void Trainer::restore_from(const Checkpoint& c, const std::string& path, bool config_changed) {
  try {
    learner_->restore(c.learner);
  } catch (const std::exception& e) {
    throw ConfigError("cannot resume from '" + path + "': " + e.what());
  }
  state_ = c.trainer;
  if (c.drift_reference.defined()) drift_.set_reference(c.drift_reference);
  if (c.drift_sample_reference.defined()) drift_.set_sample_reference(c.drift_sample_reference);
  global_step_ = c.pos.global_step;
  wall_before_ = c.trainer.summary.wall_seconds;
  start_task_ = c.pos.task_done ? c.pos.task + 1 : c.pos.task;
  resumed_mid_task_ = !c.pos.task_done;
  resume_epoch_ = c.pos.epoch;
  resume_batch_ = c.pos.batch;
  nlohmann::json hist = nlohmann::json::parse(c.trainer.history_json, nullptr, false);
  if (!hist.is_array()) hist = nlohmann::json::array();
  hist.push_back({{"from", path},
                  {"global_step", c.pos.global_step},
                  {"ranks", world_.size},
                  {"written_by_ranks", c.ranks},
                  {"config_changed", config_changed}});
  state_.history_json = hist.dump();
  Progress::line(world_.is_root(), "lorasub: resuming from " + path + " (" + c.kind + ": task " +
                                       std::to_string(c.pos.task + 1) + "/" + std::to_string(plan_.num_tasks()) +
                                       (c.pos.task_done ? " finished"
                                                        : ", epoch " + std::to_string(c.pos.epoch + 1) + ", batch " +
                                                              std::to_string(c.pos.batch)) +
                                       ", global step " + std::to_string(c.pos.global_step) +
                                       (config_changed ? "; config changed, recorded" : "") + ")");
}

}  // namespace lorasub::train
