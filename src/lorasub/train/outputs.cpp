// Rank 0's files: the task-end HDF5 checkpoint and the run directory's results.
#include <ATen/ATen.h>

#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "lorasub/io/h5file.h"
#include "lorasub/io/results.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/train/trainer.h"

namespace lorasub::train {
namespace {

void write_tensor(io::H5Writer& w, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous();
  const std::vector<int64_t> shape = c.sizes().vec();
  if (c.scalar_type() == at::kLong) w.write(name, shape, c.data_ptr<int64_t>());
  else if (c.scalar_type() == at::kDouble) w.write(name, shape, c.data_ptr<double>());
  else w.write(name, shape, c.to(at::kFloat).contiguous().data_ptr<float>());
}

void write_i64(io::H5Writer& w, const std::string& name, const std::vector<int64_t>& v) {
  w.write(name, {static_cast<int64_t>(v.size())}, v.data());
}

// T x T with NaN above the diagonal (not yet trained tasks).
std::vector<double> square_matrix(const method::AccuracyMatrix& acc) {
  const size_t t = static_cast<size_t>(acc.rows());
  std::vector<double> m(t * t, std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < t; ++i)
    for (size_t j = 0; j <= i; ++j) m[i * t + j] = acc.matrix()[i][j];
  return m;
}

}  // namespace

std::string Trainer::run_dir() const { return io::RunDir(cfg_.run.dir, cfg_.run.name).path(); }

void Trainer::write_task_checkpoint(int64_t t, const TrainSummary& summary) const {
  io::RunDir dir(cfg_.run.dir, cfg_.run.name);
  dir.create();
  char name[64];
  std::snprintf(name, sizeof(name), "/task_%03lld.h5", static_cast<long long>(t));
  io::H5Writer w(dir.checkpoints_dir() + name);
  w.set_attr("/", "format", std::string("lorasub-task-end"));
  w.set_attr("/", "format_version", int64_t{1});
  w.set_attr("/", "lorasub_version", std::string(LORASUB_VERSION));
  w.set_attr("/", "task", t);
  w.set_attr("/", "method", cfg_.method.name);
  w.set_attr("/", "config_hash", config_hash(cfg_));
  w.write_string("config_yaml", dump_config(cfg_));
  write_i64(w, "plan/class_order", plan_.class_order());
  write_i64(w, "plan/task_sizes", plan_.task_sizes());
  const method::Learner& l = *learner_;
  for (int64_t s = 0; s <= t; ++s) {
    const std::string task = "task_" + std::to_string(s);
    const auto& blocks = l.bank().task(s).blocks;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const std::string p = "adapters/" + task + "/block_" + std::to_string(b) + "/";
      write_tensor(w, p + "a_k", blocks[b].a_k);
      write_tensor(w, p + "b_k", blocks[b].b_k);
      write_tensor(w, p + "a_v", blocks[b].a_v);
      write_tensor(w, p + "b_v", blocks[b].b_v);
    }
    write_tensor(w, "heads/" + task + "/weight", l.heads()[s].weight);
    write_tensor(w, "heads/" + task + "/bias", l.heads()[s].bias);
  }
  const int64_t seen = plan_.end_class(t);
  write_tensor(w, "prototypes/means", l.prototypes().narrow(0, 0, seen));
  write_i64(w, "prototypes/counts", std::vector<int64_t>(l.proto_counts().begin(), l.proto_counts().begin() + seen));
  write_i64(w, "drs/kept_dims", l.kept_dims());
  const int64_t rows = summary.accuracy.rows();
  w.write("accuracy/matrix", {rows, rows}, square_matrix(summary.accuracy).data());
  w.write("accuracy/overall", {rows}, summary.accuracy.overall().data());
  w.commit();
}

void Trainer::write_outputs(const TrainSummary& s) const {
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
  j["accuracy_matrix"] = s.accuracy.matrix();
  for (size_t t = 0; t < s.seconds.size(); ++t) {
    const PhaseSeconds& p = s.seconds[t];
    j["tasks"].push_back({{"task", t},
                          {"classes", plan_.task_size(static_cast<int64_t>(t))},
                          {"A", s.accuracy.overall()[t]},
                          {"per_task", s.accuracy.matrix()[t]},
                          {"drs_kept_dims", s.kept[t]},
                          {"seconds", {{"covariance", p.covariance}, {"train", p.train},
                                       {"prototypes", p.prototypes}, {"eval", p.eval},
                                       {"checkpoint", p.checkpoint}, {"total", p.total()}}}});
  }
  io::write_json(dir, "results.json", j);
}

}  // namespace lorasub::train
