// Starting a run: taking the run directory (lock, earlier outputs) and resuming from a
// checkpoint (--resume auto | PATH), on every rank.
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <optional>

#include "lorasub/core/error.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/train/checkpoint.h"
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
                      " files, e.g. '" + earlier.front() + "'); pass --resume auto to continue it, --overwrite to "
                      "replace it, or choose another run.name");
  if (req.from == "auto" && list_checkpoints(dir.checkpoints_dir()).empty())
    throw ConfigError("--resume auto: run directory '" + dir.path() + "' holds an earlier run's outputs but no "
                      "checkpoint to continue from ('" + earlier.front() + "'); pass --overwrite to start it again");
}

std::string Trainer::resume(const ResumeRequest& req) {
  if (req.from.empty()) {
    claim_run_dir(req);
    return "";
  }
  const std::string dir = io::RunDir(cfg_.run.dir, cfg_.run.name).checkpoints_dir();
  auto say = [&](const std::string& text) { Progress::line(world_.is_root(), "lorasub: " + text); };
  // Refuses a checkpoint this run cannot continue from; returns whether the config changed.
  auto check = [&](const Checkpoint& c, const std::string& path) -> bool {
    const bool changed = c.resume_hash != resume_hash(cfg_);
    if (changed && !req.allow_config_change) {
      std::string keys;
      for (const std::string& d : resume_differences(c.config_yaml, cfg_)) keys += "\n  " + d;
      throw ConfigError("cannot resume from '" + path + "': written by a run with another config; the keys that "
                        "differ (checkpoint -> now):" + keys + "\npass --allow-config-change to continue anyway, "
                        "or --overwrite to start again");
    }
    if (c.backbone_sha256 != backbone_sha256_ && !req.allow_config_change)
      throw ConfigError("cannot resume from '" + path + "': trained on another backbone (SHA-256 " + c.backbone_sha256 +
                        ", model.weights has " + backbone_sha256_ + "); pass --allow-config-change to continue anyway");
    if (c.class_order != plan_.class_order() || c.task_sizes != plan_.task_sizes())
      throw ConfigError("cannot resume from '" + path + "': its task plan (class order, task sizes) differs from this "
                        "config's");
    return changed;
  };
  // A named checkpoint is read and checked before the run directory is taken: a bad one
  // leaves no new run directory behind.
  std::optional<Checkpoint> named;
  if (req.from != "auto") {
    try {
      named = read_checkpoint(req.from);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("cannot resume: ") + e.what());
    }
    check(*named, req.from);
  }
  claim_run_dir(req);
  std::vector<std::string> candidates;
  if (req.from == "auto") {
    candidates = list_checkpoints(dir);
    if (candidates.empty()) {
      say("--resume auto: no checkpoint in " + dir + "; starting from the beginning");
      return "";
    }
  } else {
    candidates = {req.from};
  }
  for (const std::string& path : candidates) {
    Checkpoint c;
    try {
      c = named ? std::move(*named) : read_checkpoint(path);
    } catch (const std::exception& e) {
      // A damaged file: --resume auto falls back to the previous good one (invariant 4).
      if (req.from != "auto") throw ConfigError(std::string("cannot resume: ") + e.what());
      say(std::string("--resume auto: skipping ") + e.what());
      continue;
    }
    const bool changed = check(c, path);
    try {
      learner_->restore(c.learner);
    } catch (const std::exception& e) {
      throw ConfigError("cannot resume from '" + path + "': " + e.what());
    }
    summary_ = c.summary;
    if (c.drift_reference.defined()) drift_.set_reference(c.drift_reference);
    global_step_ = c.pos.global_step;
    wall_before_ = c.summary.wall_seconds;
    if (c.pos.task_done) {
      start_task_ = c.pos.task + 1;
    } else {
      start_task_ = c.pos.task;
      resumed_mid_task_ = true;
      resume_epoch_ = c.pos.epoch;
      resume_batch_ = c.pos.batch;
      current_ = c.current;
      current_step_seconds_ = c.current_step_seconds;
      current_steps_ = c.current_steps;
    }
    nlohmann::json hist = nlohmann::json::parse(c.history_json, nullptr, false);
    if (!hist.is_array()) hist = nlohmann::json::array();
    hist.push_back({{"from", path}, {"global_step", c.pos.global_step}, {"ranks", world_.size},
                    {"written_by_ranks", c.ranks}, {"config_changed", changed}});
    history_json_ = hist.dump();
    say("resuming from " + path + " (" + c.kind + ": task " + std::to_string(c.pos.task + 1) + "/" +
        std::to_string(plan_.num_tasks()) + (c.pos.task_done ? " finished" : ", epoch " + std::to_string(c.pos.epoch + 1) +
        ", batch " + std::to_string(c.pos.batch)) + ", global step " + std::to_string(c.pos.global_step) +
        (changed ? "; config changed, recorded" : "") + ")");
    return path;
  }
  throw ConfigError("--resume auto: every checkpoint in " + dir + " is damaged (see above); pass --overwrite to "
                    "start the run again");
}

}  // namespace lorasub::train
