#include "lorasub/train/checkpoint.h"

#include <ATen/ATen.h>

#include <limits>

#include "lorasub/core/error.h"
#include "lorasub/io/h5file.h"

namespace lorasub::train {
namespace {

void put(io::H5Writer& w, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous();
  const std::vector<int64_t> shape = c.sizes().vec();
  if (c.scalar_type() == at::kDouble)
    w.write(name, shape, c.data_ptr<double>());
  else if (c.scalar_type() == at::kLong)
    w.write(name, shape, c.data_ptr<int64_t>());
  else if (c.scalar_type() == at::kFloat)
    w.write(name, shape, c.data_ptr<float>());
  else
    throw std::logic_error("checkpoint: unsupported tensor type for '" + name + "'");
}

void put_i64(io::H5Writer& w, const std::string& name, const std::vector<int64_t>& v) {
  w.write(name, {static_cast<int64_t>(v.size())}, v.data());
}

at::Tensor get_f32(const io::H5Reader& r, const std::string& name) {
  std::vector<float> v = r.read_f32(name);
  const std::vector<int64_t> shape = r.shape(name);
  return at::from_blob(v.data(), shape, at::kFloat).clone();
}

// A dataset of any of the types put() writes, as a tensor of that type.
at::Tensor get_any(const io::H5Reader& r, const std::string& name) {
  const std::string type = r.type(name);
  const std::vector<int64_t> shape = r.shape(name);
  if (type == "float64") {
    std::vector<double> v = r.read_f64(name);
    return at::from_blob(v.data(), shape, at::kDouble).clone();
  }
  if (type == "int64") {
    std::vector<int64_t> v = r.read_i64(name);
    return at::from_blob(v.data(), shape, at::kLong).clone();
  }
  return get_f32(r, name);  // FormatError for any other type
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

std::vector<double> phases(const PhaseSeconds& p) {
  return {p.covariance, p.train, p.prototypes, p.eval, p.checkpoint};
}
PhaseSeconds phases_of(const std::vector<double>& v, size_t i) {
  PhaseSeconds p;
  p.covariance = v[i];
  p.train = v[i + 1];
  p.prototypes = v[i + 2];
  p.eval = v[i + 3];
  p.checkpoint = v[i + 4];
  return p;
}

// Root attributes and the plan: what the checkpoint is and where training stands.
void write_identity(io::H5Writer& w, const Checkpoint& c) {
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
  w.write_string("history_json", c.trainer.history_json);
  put_i64(w, "plan/class_order", c.class_order);
  put_i64(w, "plan/task_sizes", c.task_sizes);
}

// Adapters, heads, prototypes, the DRS state and the optimizer of the task in progress.
void write_learner(io::H5Writer& w, const method::LearnerState& l) {
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
  for (const auto& [name, t] : l.method) put(w, "method/" + name, t);
  if (!l.adam_m.empty()) {
    w.write("optimizer/steps", {}, &l.adam_steps);
    for (size_t i = 0; i < l.adam_m.size(); ++i) {
      put(w, "optimizer/m_" + std::to_string(i), l.adam_m[i]);
      put(w, "optimizer/v_" + std::to_string(i), l.adam_v[i]);
    }
  }
}

// Metrics and timings of the finished tasks, and of the one in progress; the drift.
void write_trainer(io::H5Writer& w, const TrainerState& t, int64_t depth, const at::Tensor& drift_reference,
                   const at::Tensor& drift_sample_reference) {
  const TrainSummary& s = t.summary;
  const int64_t rows = s.accuracy.rows();
  w.write("accuracy/matrix", {rows, rows}, square(s.accuracy.matrix()));
  w.write("accuracy/overall", {rows}, s.accuracy.overall());
  std::vector<double> secs;
  for (const auto& p : s.seconds)
    for (double x : phases(p)) secs.push_back(x);
  w.write("timing/phase_seconds", {static_cast<int64_t>(s.seconds.size()), 5}, secs);
  w.write("timing/step_seconds", {static_cast<int64_t>(s.step_seconds.size())}, s.step_seconds);
  w.write("timing/current_phase_seconds", {5}, phases(t.current));
  std::vector<double> more;
  for (const auto& p : s.seconds) more.insert(more.end(), {p.drift, p.projector});
  w.write("timing/drift_projector_seconds", {static_cast<int64_t>(s.seconds.size()), 2}, more);
  w.write("timing/current_drift_projector_seconds", {2}, std::vector<double>{t.current.drift, t.current.projector});
  w.write("timing/wall_seconds", {}, &s.wall_seconds);
  w.write("timing/current_step_seconds", {}, &t.current_step_seconds);
  w.write("progress/images_trained", {}, &s.images_trained);
  w.write("progress/current_steps", {}, &t.current_steps);
  std::vector<int64_t> kept;
  for (const auto& k : s.kept) kept.insert(kept.end(), k.begin(), k.end());
  w.write("drs/kept_history", {static_cast<int64_t>(s.kept.size()), depth}, kept);
  if (!drift_reference.defined()) return;  // train.drift off
  put(w, "drift/reference_means", drift_reference);
  if (drift_sample_reference.defined()) put(w, "drift/sample_reference_means", drift_sample_reference);
  std::vector<double> rec;
  for (const auto& d : s.drift)
    rec.insert(rec.end(), {static_cast<double>(d.task), static_cast<double>(d.after_task), d.mean_cosine_distance,
                           d.stale_accuracy_drop});
  w.write("drift/records", {static_cast<int64_t>(s.drift.size()), 4}, rec);
}

// The format name and version, then every dataset's checksum.
void check_format(io::H5Reader& r, const std::string& path) {
  if (!r.has_attr("/", "format") || r.attr_string("/", "format") != kCheckpointFormat)
    throw FormatError("'" + path + "': not a lorasub checkpoint (root attribute 'format' is not '" + kCheckpointFormat +
                      "')");
  const int64_t version = r.attr_int("/", "format_version");
  if (version != kCheckpointFormatVersion)
    throw FormatError("'" + path + "': checkpoint format version " + std::to_string(version) +
                      ", this lorasub (" LORASUB_VERSION ") reads version " + std::to_string(kCheckpointFormatVersion));
  r.verify();  // FormatError: checksum mismatch / no checksum
}

void read_identity(const io::H5Reader& r, Checkpoint& c) {
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
  c.trainer.history_json = r.read_string("history_json");
  c.class_order = r.read_i64("plan/class_order");
  c.task_sizes = r.read_i64("plan/task_sizes");
}

method::LearnerState read_learner(const io::H5Reader& r, const std::string& path, int64_t task) {
  method::LearnerState l;
  l.task = task;
  l.trained = r.attr_int("/", "trained") != 0;
  for (int64_t s = 0; s <= task; ++s) {
    model::TaskAdapters ta;
    for (int64_t b = 0;; ++b) {
      const std::string p = "adapters/" + task_group(s) + "/block_" + std::to_string(b);
      if (!r.has(p)) break;
      ta.blocks.push_back(
          {get_f32(r, p + "/a_k"), get_f32(r, p + "/b_k"), get_f32(r, p + "/a_v"), get_f32(r, p + "/b_v")});
    }
    if (ta.blocks.empty()) throw FormatError("'" + path + "': missing dataset group 'adapters/" + task_group(s) + "'");
    l.adapters.push_back(std::move(ta));
    l.heads.push_back(
        {get_f32(r, "heads/" + task_group(s) + "/weight"), get_f32(r, "heads/" + task_group(s) + "/bias")});
  }
  l.prototypes = get_f32(r, "prototypes/means");
  l.proto_counts = r.read_i64("prototypes/counts");
  l.kept_dims = r.read_i64("drs/kept_dims");
  if (r.has("drs/projectors")) {
    at::Tensor all = get_f32(r, "drs/projectors");
    for (int64_t b = 0; b < all.size(0); ++b) l.projectors.push_back(all[b].clone());
  }
  if (r.has("method"))
    for (const std::string& name : r.list("method")) l.method[name] = get_any(r, "method/" + name);
  if (r.has("optimizer/steps")) {
    l.adam_steps = r.read_i64("optimizer/steps").at(0);
    for (size_t i = 0; r.has("optimizer/m_" + std::to_string(i)); ++i) {
      l.adam_m.push_back(get_f32(r, "optimizer/m_" + std::to_string(i)));
      l.adam_v.push_back(get_f32(r, "optimizer/v_" + std::to_string(i)));
    }
  }
  return l;
}

void read_trainer(const io::H5Reader& r, size_t depth, Checkpoint& c) {
  TrainSummary& s = c.trainer.summary;
  const std::vector<double> overall = r.read_f64("accuracy/overall");
  const std::vector<double> matrix = r.read_f64("accuracy/matrix");
  const size_t rows = overall.size();
  for (size_t i = 0; i < rows; ++i)
    s.accuracy.add_row(std::vector<double>(matrix.begin() + i * rows, matrix.begin() + i * rows + i + 1), overall[i]);
  const std::vector<double> secs = r.read_f64("timing/phase_seconds");
  for (size_t i = 0; i + 5 <= secs.size(); i += 5) s.seconds.push_back(phases_of(secs, i));
  s.step_seconds = r.read_f64("timing/step_seconds");
  const std::vector<double> cur = r.read_f64("timing/current_phase_seconds");
  if (cur.size() == 5) c.trainer.current = phases_of(cur, 0);
  if (r.has("timing/drift_projector_seconds")) {  // absent in older checkpoints
    const std::vector<double> more = r.read_f64("timing/drift_projector_seconds");
    for (size_t i = 0; 2 * i + 1 < more.size() && i < s.seconds.size(); ++i) {
      s.seconds[i].drift = more[2 * i];
      s.seconds[i].projector = more[2 * i + 1];
    }
    const std::vector<double> cm = r.read_f64("timing/current_drift_projector_seconds");
    if (cm.size() == 2) {
      c.trainer.current.drift = cm[0];
      c.trainer.current.projector = cm[1];
    }
  }
  s.wall_seconds = r.read_f64("timing/wall_seconds").at(0);
  c.trainer.current_step_seconds = r.read_f64("timing/current_step_seconds").at(0);
  s.images_trained = r.read_i64("progress/images_trained").at(0);
  c.trainer.current_steps = r.read_i64("progress/current_steps").at(0);
  const std::vector<int64_t> kept = r.read_i64("drs/kept_history");
  for (size_t i = 0; depth > 0 && i + depth <= kept.size(); i += depth)
    s.kept.emplace_back(kept.begin() + i, kept.begin() + i + depth);
  if (!r.has("drift/reference_means")) return;
  c.drift_reference = get_f32(r, "drift/reference_means");
  if (r.has("drift/sample_reference_means")) c.drift_sample_reference = get_f32(r, "drift/sample_reference_means");
  const std::vector<double> rec = r.read_f64("drift/records");
  for (size_t i = 0; i + 4 <= rec.size(); i += 4)
    s.drift.push_back({static_cast<int64_t>(rec[i]), static_cast<int64_t>(rec[i + 1]), rec[i + 2], rec[i + 3]});
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  io::H5Writer w(path);
  write_identity(w, c);
  write_learner(w, c.learner);
  write_trainer(w, c.trainer, static_cast<int64_t>(c.learner.kept_dims.size()), c.drift_reference, c.drift_sample_reference);
  w.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
  io::H5Reader r(path, "lorasub checkpoint");  // FormatError: damaged, not HDF5, truncated
  check_format(r, path);
  Checkpoint c;
  read_identity(r, c);
  c.learner = read_learner(r, path, c.pos.task);
  read_trainer(r, c.learner.kept_dims.size(), c);
  return c;
}

}  // namespace lorasub::train
