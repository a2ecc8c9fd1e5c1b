#include "lorasub/train/checkpoint_dir.h"

#include <ATen/core/Tensor.h>
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "lorasub/core/config.h"
#include "lorasub/io/h5file.h"
#include "lorasub/train/checkpoint.h"

namespace lorasub::train {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Entry {
  std::string path;
  int64_t step = -1, done = 0;
  bool readable = false;
};

std::vector<Entry> checkpoint_entries(const std::string& dir) {
  std::vector<Entry> all;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (!ends_with(name, ".h5") || name.find(".tmp-") != std::string::npos) continue;
      Entry en{dir + "/" + name};
      try {
        io::H5Reader r(en.path, "lorasub checkpoint");
        en.step = r.attr_int("/", "global_step");
        en.done = r.attr_int("/", "task_done");
        en.readable = true;
      } catch (const std::exception&) {
      }
      all.push_back(en);
    }
    closedir(d);
  }
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    // Unreadable files first: the caller names each as it skips it.
    if (a.readable != b.readable) return !a.readable;
    if (a.step != b.step) return a.step > b.step;
    if (a.done != b.done) return a.done > b.done;
    return a.path > b.path;
  });
  return all;
}

std::string method_name(const std::string& config_yaml) {
  try {
    return parse_config(config_yaml, "checkpoint config").method.name;
  } catch (const std::exception&) {
    return "(config not readable by this lorasub)";
  }
}

// The method's own state: InfLoRA's DualGPM memory, SD-LoRA's magnitudes.
std::string describe_method_state(const method::LearnerState& l) {
  std::ostringstream o;
  const auto kinds = l.method.find("gpm_kind"), columns = l.method.find("gpm_columns");
  if (kinds != l.method.end() && columns != l.method.end()) {
    const int64_t d = l.prototypes.defined() ? l.prototypes.size(1) : 0;
    o << "  DualGPM memory   per block, input dimensions earlier tasks use (of " << d << "):";
    bool any_retained = false;
    for (int64_t b = 0; b < kinds->second.numel(); ++b) {
      const int64_t k = columns->second[b].item<int64_t>();
      const bool retain = kinds->second[b].item<int64_t>() == 1;
      any_retained = any_retained || retain;
      o << " " << (retain ? d - k : k) << (retain ? "r" : "");
    }
    o << (any_retained ? "  (r: stored as its complement)\n" : "\n");
  }
  const auto mags = l.method.find("magnitudes");
  if (mags != l.method.end()) {
    o << "  magnitudes       alpha_0..alpha_" << mags->second.numel() - 1 << ":";
    char buf[32];
    for (int64_t j = 0; j < mags->second.numel(); ++j) {
      std::snprintf(buf, sizeof(buf), " %.4f", mags->second[j].item<double>());
      o << buf;
    }
    o << "\n";
  }
  return o.str();
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : checkpoint_entries(dir)) out.push_back(e.path);
  return out;
}

std::vector<std::string> prune_checkpoints(const std::string& dir, int64_t keep, bool keep_task_ends,
                                           const std::string& protect) {
  std::vector<std::string> pool;
  for (const Entry& e : checkpoint_entries(dir)) {  // newest first
    if (!e.readable) continue;                      // not ours to judge: left for the user (inspect names the damage)
    const std::string& p = e.path;
    const std::string name = p.substr(p.find_last_of('/') + 1);
    const bool task_end = name.rfind("task_", 0) == 0;
    if (task_end && keep_task_ends) continue;
    pool.push_back(p);
  }
  std::vector<std::string> deleted;
  int64_t kept = 0;
  for (const std::string& p : pool) {
    if (p == protect || kept < keep) {
      ++kept;
      continue;
    }
    if (std::remove(p.c_str()) == 0) deleted.push_back(p);
  }
  return deleted;
}

std::string describe_checkpoint(const std::string& path, bool* ok) {
  std::ostringstream o;
  *ok = false;
  try {
    Checkpoint c = read_checkpoint(path);
    *ok = true;
    o << path << "\n";
    o << "  integrity        ok (HDF5 structure, CRC-32 of every dataset, format " << kCheckpointFormat << " v"
      << kCheckpointFormatVersion << ")\n";
    o << "  kind             " << c.kind << " (written by lorasub " << c.lorasub_version << " on " << c.ranks
      << " rank(s))\n";
    o << "  position         task " << c.pos.task << (c.pos.task_done ? " (finished)" : "") << ", epoch " << c.pos.epoch
      << ", batch " << c.pos.batch << ", global step " << c.pos.global_step << "\n";
    int64_t classes = 0;
    for (int64_t s = 0; s <= c.pos.task && s < static_cast<int64_t>(c.task_sizes.size()); ++s)
      classes += c.task_sizes[s];
    o << "  plan             " << c.task_sizes.size() << " tasks; tasks 0.." << c.pos.task << " hold " << classes
      << " classes; rank "
      << (c.learner.adapters.empty() || c.learner.adapters[0].blocks.empty()
              ? 0
              : c.learner.adapters[0].blocks[0].a_k.size(0))
      << " adapters on " << (c.learner.adapters.empty() ? 0 : c.learner.adapters[0].blocks.size()) << " blocks\n";
    o << "  method           " << method_name(c.config_yaml) << "\n";
    o << describe_method_state(c.learner);
    o << "  optimizer        "
      << (c.learner.adam_m.empty() ? std::string("none (task finished)")
                                   : std::to_string(c.learner.adam_steps) + " steps in the current task")
      << "\n";
    o << "  config hash      " << c.config_hash << " (resume hash " << c.resume_hash << ")\n";
    o << "  backbone         " << c.backbone_sha256 << "\n";
    const auto& acc = c.trainer.summary.accuracy;
    if (acc.rows() > 0) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "  metrics          A_t");
      o << buf;
      for (double a : acc.overall()) {
        std::snprintf(buf, sizeof(buf), " %.2f", a);
        o << buf;
      }
      std::snprintf(buf, sizeof(buf), "\n                   A_last %.2f  A_avg %.2f  forgetting %.2f\n", acc.a_last(),
                    acc.a_avg(), acc.forgetting());
      o << buf;
    } else {
      o << "  metrics          none yet (first task in progress)\n";
    }
  } catch (const std::exception& e) {
    o << path << "\n  integrity        FAILED: " << e.what() << "\n";
  }
  return o.str();
}

}  // namespace lorasub::train
