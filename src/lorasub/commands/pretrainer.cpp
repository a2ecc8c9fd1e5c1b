#include "lorasub/commands/pretrainer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lorasub/core/error.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "lorasub/data/loader.h"
#include "lorasub/data/sampler.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/method/grad_sync.h"
#include "lorasub/method/learner.h"
#include "lorasub/method/projected_adam.h"
#include "lorasub/model/vit.h"
#include "lorasub/data/open_dataset.h"
#include "lorasub/train/progress.h"
#include "lorasub/train/root_check.h"

namespace lorasub::commands {
namespace {

struct Net {
  model::Vit vit;
  at::Tensor head_w, head_b;
  at::Tensor logits(const data::Batch& b) const {
    at::Tensor x = at::from_blob(const_cast<float*>(b.pixels.data()), {b.n, b.channels, b.height, b.width}, at::kFloat);
    return at::linear(vit.features(x), head_w, head_b);
  }
};

double linear_head_accuracy(const Net& net, const data::DataSplits& data, const Config& cfg, const dist::World& world,
                            dist::Communicator& comm) {
  const data::ImageSet& test = data.test;
  at::NoGradGuard no_grad;
  std::vector<int64_t> idx(static_cast<size_t>(test.size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  data::GlobalSampler s(idx, cfg.train.eval_batch_size, cfg.run.seed, 0, false);
  auto loader_p = data::make_loader(data, true, data::SmallImageTransform{}, static_cast<int>(cfg.data.workers), 2);
  data::Loader& loader = *loader_p;
  loader.start(s.rank_batches(0, world.rank, world.size), data::StreamKey{cfg.run.seed, 0, 0});
  std::vector<int64_t> counts{0, 0};
  while (auto b = loader.next()) {
    if (b->n == 0) continue;
    at::Tensor pred = net.logits(*b).argmax(1);
    at::Tensor lab = at::from_blob(b->labels.data(), {b->n}, at::kLong);
    counts[0] += pred.eq(lab).sum().item<int64_t>();
    counts[1] += b->n;
  }
  comm.allreduce_sum(counts.data(), 2);
  return counts[1] > 0 ? 100.0 * static_cast<double>(counts[0]) / static_cast<double>(counts[1]) : 0.0;
}

}  // namespace

namespace {
// pretrain.output is checked before any training: a directory in its place, or a
// parent that cannot be created or written, would otherwise fail after every epoch.
void check_output(const std::string& out) {
  struct stat st {};
  if (out.empty()) throw ConfigError("pretrain.output is empty: give the file the backbone is written to");
  if (::stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw ConfigError("pretrain.output '" + out + "' is a directory; give a file name, e.g. '" + out +
                      "/backbone.safetensors'");
  const auto slash = out.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : out.substr(0, slash));
  io::make_dirs(parent);
  if (::access(parent.c_str(), W_OK) != 0)
    throw ConfigError("pretrain.output '" + out + "': directory '" + parent +
                      "' is not writable: " + std::strerror(errno));
}
}  // namespace

namespace {

// The net, its trainable parameters, their optimizer and gradient bucket.
struct Pretraining {
  Net net;
  std::vector<at::Tensor> params;
  method::ProjectedAdam adam;
  std::unique_ptr<method::GradSync> sync;
};

std::unique_ptr<Pretraining> make_pretraining(const Config& cfg, int64_t classes) {
  const model::VitShape shape = model::model_shape(cfg.model);
  auto p = std::unique_ptr<Pretraining>(new Pretraining{
      {model::Vit::random(shape, cfg.run.seed), at::zeros({classes, shape.dim}), at::zeros({classes})}, {}, {}, {}});
  p->net.vit.set_requires_grad(true);
  p->net.head_w.requires_grad_(true);
  p->net.head_b.requires_grad_(true);
  p->params = p->net.vit.parameters();
  p->params.push_back(p->net.head_w);
  p->params.push_back(p->net.head_b);
  for (auto& t : p->params) p->adam.add(t, 0);
  p->sync = std::make_unique<method::GradSync>(p->params);
  return p;
}

// One data-parallel step at rate `lr`; returns the global batch's mean cross-entropy.
double pretrain_step(Pretraining& p, const data::Batch& batch, int64_t global_batch, double lr, const Config& cfg,
                     dist::Communicator& comm) {
  p.sync->zero();
  at::Tensor ce_sum;
  if (batch.n > 0) {
    at::Tensor lab = at::from_blob(const_cast<int64_t*>(batch.labels.data()), {batch.n}, at::kLong);
    at::Tensor ce = at::cross_entropy_loss(p.net.logits(batch), lab, {}, at::Reduction::Sum);
    ce_sum = ce.detach();
    (ce / static_cast<double>(global_batch)).backward();
  }
  const std::vector<float> sums = p.sync->allreduce(comm, {at::Tensor(), ce_sum, at::Tensor()});
  if (cfg.pretrain.weight_decay > 0) {
    at::NoGradGuard ng;
    for (auto& t : p.params) t.mul_(1.0 - lr * cfg.pretrain.weight_decay);
  }
  p.adam.step({lr});
  return sums[method::kSlotCeSum] / static_cast<double>(global_batch);
}

void write_backbone(const Net& net, const Config& cfg, const PretrainResult& r) {
  const auto slash = r.output.find_last_of('/');
  if (slash != std::string::npos && slash > 0) io::make_dirs(r.output.substr(0, slash));
  net.vit.save(r.output, {{"format", "pt"},
                          {"lorasub_pretrain_dataset", cfg.pretrain.dataset},
                          {"lorasub_test_accuracy", std::to_string(r.test_accuracy)}});
}

}  // namespace

PretrainResult pretrain(const Config& cfg, const dist::World& world, dist::Communicator& comm) {
  train::checked_on_root(comm, [&] { check_output(cfg.pretrain.output); });  // all ranks refuse together
  const auto t0 = std::chrono::steady_clock::now();
  data::DataSplits data =
      data::open_dataset(cfg.pretrain.dataset, cfg.pretrain.root, cfg.data, cfg.model, cfg.run.seed);
  const std::unique_ptr<Pretraining> p = make_pretraining(cfg, data.train.num_classes());
  std::vector<int64_t> idx(static_cast<size_t>(data.train.size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  data::GlobalSampler sampler(idx, cfg.pretrain.batch_size, cfg.run.seed, 0, true);
  auto loader = data::make_loader(data, false, data::SmallImageTransform{true, cfg.data.crop_padding, false},
                                  static_cast<int>(cfg.data.workers), static_cast<int>(cfg.data.prefetch));
  const int64_t total = cfg.pretrain.epochs * sampler.num_batches();
  train::Progress progress(world.is_root(), cfg.train.log_every);
  PretrainResult r;
  int64_t step = 0, images = 0;
  for (int64_t e = 0; e < cfg.pretrain.epochs; ++e) {
    loader->start(sampler.rank_batches(e, world.rank, world.size), data::StreamKey{cfg.run.seed, 0, e});
    progress.begin("pretrain epoch " + std::to_string(e + 1) + "/" + std::to_string(cfg.pretrain.epochs),
                   sampler.num_batches());
    for (int64_t b = 0; b < sampler.num_batches(); ++b, ++step) {
      const auto batch = loader->next();
      const int64_t gb = sampler.batch_size(b);
      // Cosine decay per step.
      const double lr =
          cfg.pretrain.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total)));
      r.final_loss = pretrain_step(*p, *batch, gb, lr, cfg, comm);
      images += gb;
      progress.step(b + 1, r.final_loss, gb);
    }
    progress.end(r.final_loss);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.images_per_second = secs > 0 ? static_cast<double>(images) / secs : 0;
  r.test_accuracy = linear_head_accuracy(p->net, data, cfg, world, comm);
  r.output = cfg.pretrain.output;
  if (world.is_root()) write_backbone(p->net, cfg, r);
  comm.barrier();
  return r;
}

}  // namespace lorasub::commands
