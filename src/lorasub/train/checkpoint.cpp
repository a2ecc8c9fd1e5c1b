#include "lorasub/train/checkpoint.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lorasub/core/error.h"
#include "lorasub/core/sha256.h"
#include "lorasub/io/h5file.h"

namespace lorasub::train {
namespace {

void put(io::H5Writer& w, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous();
  const std::vector<int64_t> shape = c.sizes().vec();
  if (c.scalar_type() == at::kDouble) w.write(name, shape, c.data_ptr<double>());
  else if (c.scalar_type() == at::kLong) w.write(name, shape, c.data_ptr<int64_t>());
  else if (c.scalar_type() == at::kFloat) w.write(name, shape, c.data_ptr<float>());
  else throw std::logic_error("checkpoint: unsupported tensor type for '" + name + "'");
}

void put_i64(io::H5Writer& w, const std::string& name, const std::vector<int64_t>& v) {
  w.write(name, {static_cast<int64_t>(v.size())}, v.data());
}

at::Tensor get_f32(const io::H5Reader& r, const std::string& name) {
  std::vector<float> v = r.read_f32(name);
  const std::vector<int64_t> shape = r.shape(name);
  return at::from_blob(v.data(), shape, at::kFloat).clone();
}

// R[i][j] square with NaN above the diagonal, so h5py users get one array.
std::vector<double> square(const std::vector<std::vector<double>>& m) {
  const size_t t = m.size();
  std::vector<double> out(t * t, std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < t; ++i)
    for (size_t j = 0; j < m[i].size() && j < t; ++j) out[i * t + j] = m[i][j];
  return out;
}

std::string task_group(int64_t s) { return "task_" + std::to_string(s); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

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

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  io::H5Writer w(path);
  w.set_attr("/", "format", std::string(kCheckpointFormat));
  w.set_attr("/", "format_version", kCheckpointFormatVersion);
  w.set_attr("/", "lorasub_version", c.lorasub_version);
  w.set_attr("/", "kind", c.kind);
  w.set_attr("/", "task", c.pos.task);
  w.set_attr("/", "epoch", c.pos.epoch);
  w.set_attr("/", "batch", c.pos.batch);
  w.set_attr("/", "global_step", c.pos.global_step);
  w.set_attr("/", "task_done", int64_t{c.pos.task_done ? 1 : 0});
  w.set_attr("/", "trained", int64_t{c.learner.trained ? 1 : 0});
  w.set_attr("/", "config_hash", c.config_hash);
  w.set_attr("/", "resume_hash", c.resume_hash);
  w.set_attr("/", "backbone_sha256", c.backbone_sha256);
  w.set_attr("/", "ranks", c.ranks);
  w.set_attr("/", "created_unix", c.created_unix);
  w.write_string("config_yaml", c.config_yaml);
  w.write_string("history_json", c.history_json);
  put_i64(w, "plan/class_order", c.class_order);
  put_i64(w, "plan/task_sizes", c.task_sizes);
  const method::LearnerState& l = c.learner;
  for (size_t s = 0; s < l.adapters.size(); ++s) {
    for (size_t b = 0; b < l.adapters[s].blocks.size(); ++b) {
      const std::string p = "adapters/" + task_group(static_cast<int64_t>(s)) + "/block_" + std::to_string(b) + "/";
      const auto& a = l.adapters[s].blocks[b];
      put(w, p + "a_k", a.a_k);
      put(w, p + "b_k", a.b_k);
      put(w, p + "a_v", a.a_v);
      put(w, p + "b_v", a.b_v);
    }
    put(w, "heads/" + task_group(static_cast<int64_t>(s)) + "/weight", l.heads.at(s).weight);
    put(w, "heads/" + task_group(static_cast<int64_t>(s)) + "/bias", l.heads.at(s).bias);
  }
  put(w, "prototypes/means", l.prototypes);
  put_i64(w, "prototypes/counts", l.proto_counts);
  put_i64(w, "drs/kept_dims", l.kept_dims);
  if (!l.projectors.empty()) put(w, "drs/projectors", at::stack(l.projectors));
  if (!l.adam_m.empty()) {
    w.write("optimizer/steps", {}, &l.adam_steps);
    for (size_t i = 0; i < l.adam_m.size(); ++i) {
      put(w, "optimizer/m_" + std::to_string(i), l.adam_m[i]);
      put(w, "optimizer/v_" + std::to_string(i), l.adam_v[i]);
    }
  }
  // Metrics and timings of the finished tasks, and of the one in progress.
  const TrainSummary& s = c.summary;
  const int64_t rows = s.accuracy.rows();
  w.write("accuracy/matrix", {rows, rows}, square(s.accuracy.matrix()));
  w.write("accuracy/overall", {rows}, s.accuracy.overall());
  std::vector<double> secs;
  for (const auto& p : s.seconds) secs.insert(secs.end(), {p.covariance, p.train, p.prototypes, p.eval, p.checkpoint});
  w.write("timing/phase_seconds", {static_cast<int64_t>(s.seconds.size()), 5}, secs);
  w.write("timing/step_seconds", {static_cast<int64_t>(s.step_seconds.size())}, s.step_seconds);
  const std::vector<double> cur = {c.current.covariance, c.current.train, c.current.prototypes,
                                   c.current.eval, c.current.checkpoint};
  w.write("timing/current_phase_seconds", {5}, cur);
  const double totals[3] = {s.wall_seconds, c.current_step_seconds, 0.0};
  w.write("timing/wall_seconds", {}, &totals[0]);
  w.write("timing/current_step_seconds", {}, &totals[1]);
  const int64_t counts[2] = {s.images_trained, c.current_steps};
  w.write("progress/images_trained", {}, &counts[0]);
  w.write("progress/current_steps", {}, &counts[1]);
  std::vector<int64_t> kept;
  for (const auto& k : s.kept) kept.insert(kept.end(), k.begin(), k.end());
  const int64_t depth = static_cast<int64_t>(l.kept_dims.size());
  w.write("drs/kept_history", {static_cast<int64_t>(s.kept.size()), depth}, kept);
  // Feature drift (train.drift): the records so far and the reference class means.
  if (c.drift_reference.defined()) {
    put(w, "drift/reference_means", c.drift_reference);
    std::vector<double> rec;
    for (const auto& d : s.drift)
      rec.insert(rec.end(), {static_cast<double>(d.task), static_cast<double>(d.after_task), d.mean_cosine_distance,
                             d.stale_accuracy_drop});
    w.write("drift/records", {static_cast<int64_t>(s.drift.size()), 4}, rec);
  }
  w.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
  io::H5Reader r(path, "lorasub checkpoint");  // FormatError: damaged, not HDF5, truncated
  auto fail = [&](const std::string& what) { throw FormatError("'" + path + "': " + what); };
  if (!r.has_attr("/", "format") || r.attr_string("/", "format") != kCheckpointFormat)
    fail(std::string("not a lorasub checkpoint (root attribute 'format' is not '") + kCheckpointFormat + "')");
  const int64_t version = r.attr_int("/", "format_version");
  if (version != kCheckpointFormatVersion)
    fail("checkpoint format version " + std::to_string(version) + ", this lorasub (" LORASUB_VERSION
         ") reads version " + std::to_string(kCheckpointFormatVersion));
  r.verify();  // FormatError: checksum mismatch / no checksum
  Checkpoint c;
  c.lorasub_version = r.attr_string("/", "lorasub_version");
  c.kind = r.attr_string("/", "kind");
  c.pos.task = r.attr_int("/", "task");
  c.pos.epoch = r.attr_int("/", "epoch");
  c.pos.batch = r.attr_int("/", "batch");
  c.pos.global_step = r.attr_int("/", "global_step");
  c.pos.task_done = r.attr_int("/", "task_done") != 0;
  c.config_hash = r.attr_string("/", "config_hash");
  c.resume_hash = r.attr_string("/", "resume_hash");
  c.backbone_sha256 = r.attr_string("/", "backbone_sha256");
  c.ranks = r.attr_int("/", "ranks");
  c.created_unix = r.attr_int("/", "created_unix");
  c.config_yaml = r.read_string("config_yaml");
  c.history_json = r.read_string("history_json");
  c.class_order = r.read_i64("plan/class_order");
  c.task_sizes = r.read_i64("plan/task_sizes");
  method::LearnerState& l = c.learner;
  l.task = c.pos.task;
  l.trained = r.attr_int("/", "trained") != 0;
  for (int64_t s = 0; s <= c.pos.task; ++s) {
    model::TaskAdapters ta;
    for (int64_t b = 0;; ++b) {
      const std::string p = "adapters/" + task_group(s) + "/block_" + std::to_string(b);
      if (!r.has(p)) break;
      ta.blocks.push_back({get_f32(r, p + "/a_k"), get_f32(r, p + "/b_k"), get_f32(r, p + "/a_v"),
                           get_f32(r, p + "/b_v")});
    }
    if (ta.blocks.empty()) fail("missing dataset group 'adapters/" + task_group(s) + "'");
    l.adapters.push_back(std::move(ta));
    l.heads.push_back({get_f32(r, "heads/" + task_group(s) + "/weight"), get_f32(r, "heads/" + task_group(s) + "/bias")});
  }
  l.prototypes = get_f32(r, "prototypes/means");
  l.proto_counts = r.read_i64("prototypes/counts");
  l.kept_dims = r.read_i64("drs/kept_dims");
  if (r.has("drs/projectors")) {
    at::Tensor all = get_f32(r, "drs/projectors");
    for (int64_t b = 0; b < all.size(0); ++b) l.projectors.push_back(all[b].clone());
  }
  if (r.has("optimizer/steps")) {
    l.adam_steps = r.read_i64("optimizer/steps").at(0);
    for (size_t i = 0;; ++i) {
      const std::string m = "optimizer/m_" + std::to_string(i);
      if (!r.has(m)) break;
      l.adam_m.push_back(get_f32(r, m));
      l.adam_v.push_back(get_f32(r, "optimizer/v_" + std::to_string(i)));
    }
  }
  // Metrics so far.
  const std::vector<double> overall = r.read_f64("accuracy/overall");
  const std::vector<double> matrix = r.read_f64("accuracy/matrix");
  const size_t rows = overall.size();
  for (size_t i = 0; i < rows; ++i)
    c.summary.accuracy.add_row(std::vector<double>(matrix.begin() + i * rows, matrix.begin() + i * rows + i + 1), overall[i]);
  const std::vector<double> secs = r.read_f64("timing/phase_seconds");
  for (size_t i = 0; i + 5 <= secs.size(); i += 5)
    c.summary.seconds.push_back({secs[i], secs[i + 1], secs[i + 2], secs[i + 3], secs[i + 4]});
  c.summary.step_seconds = r.read_f64("timing/step_seconds");
  const std::vector<double> cur = r.read_f64("timing/current_phase_seconds");
  if (cur.size() == 5) c.current = {cur[0], cur[1], cur[2], cur[3], cur[4]};
  c.summary.wall_seconds = r.read_f64("timing/wall_seconds").at(0);
  c.current_step_seconds = r.read_f64("timing/current_step_seconds").at(0);
  c.summary.images_trained = r.read_i64("progress/images_trained").at(0);
  c.current_steps = r.read_i64("progress/current_steps").at(0);
  const std::vector<int64_t> kept = r.read_i64("drs/kept_history");
  const size_t depth = l.kept_dims.size();
  for (size_t i = 0; depth > 0 && i + depth <= kept.size(); i += depth)
    c.summary.kept.emplace_back(kept.begin() + i, kept.begin() + i + depth);
  if (r.has("drift/reference_means")) {
    c.drift_reference = get_f32(r, "drift/reference_means");
    const std::vector<double> rec = r.read_f64("drift/records");
    for (size_t i = 0; i + 4 <= rec.size(); i += 4)
      c.summary.drift.push_back({static_cast<int64_t>(rec[i]), static_cast<int64_t>(rec[i + 1]), rec[i + 2], rec[i + 3]});
  }
  return c;
}

namespace {

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
    if (!e.readable) continue;  // not ours to judge: left for the user (inspect names the damage)
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
    o << "  integrity        ok (HDF5 structure, CRC-32 of every dataset, format "
      << kCheckpointFormat << " v" << kCheckpointFormatVersion << ")\n";
    o << "  kind             " << c.kind << " (written by lorasub " << c.lorasub_version << " on "
      << c.ranks << " rank(s))\n";
    o << "  position         task " << c.pos.task << (c.pos.task_done ? " (finished)" : "")
      << ", epoch " << c.pos.epoch << ", batch " << c.pos.batch << ", global step " << c.pos.global_step << "\n";
    int64_t classes = 0;
    for (int64_t s = 0; s <= c.pos.task && s < static_cast<int64_t>(c.task_sizes.size()); ++s) classes += c.task_sizes[s];
    o << "  plan             " << c.task_sizes.size() << " tasks; tasks 0.." << c.pos.task << " hold "
      << classes << " classes; rank " << (c.learner.adapters.empty() || c.learner.adapters[0].blocks.empty()
                                             ? 0 : c.learner.adapters[0].blocks[0].a_k.size(0))
      << " adapters on " << (c.learner.adapters.empty() ? 0 : c.learner.adapters[0].blocks.size()) << " blocks\n";
    o << "  optimizer        " << (c.learner.adam_m.empty() ? std::string("none (task finished)")
                                   : std::to_string(c.learner.adam_steps) + " Adam steps in the current task")
      << "\n";
    o << "  config hash      " << c.config_hash << " (resume hash " << c.resume_hash << ")\n";
    o << "  backbone         " << c.backbone_sha256 << "\n";
    const auto& acc = c.summary.accuracy;
    if (acc.rows() > 0) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "  metrics          A_t");
      o << buf;
      for (double a : acc.overall()) {
        std::snprintf(buf, sizeof(buf), " %.2f", a);
        o << buf;
      }
      std::snprintf(buf, sizeof(buf), "\n                   A_last %.2f  A_avg %.2f  forgetting %.2f\n",
                    acc.a_last(), acc.a_avg(), acc.forgetting());
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
