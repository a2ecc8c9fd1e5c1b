#include "lorasub/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "lorasub/data/loader.h"
#include "lorasub/data/sampler.h"
#include "lorasub/train/progress.h"

namespace lorasub::train {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Stream-key epochs for the passes that are not training epochs.
constexpr int64_t kCovarianceEpoch = 1 << 20;

data::SmallImageTransform train_transform(const DataConfig& d) {
  return data::SmallImageTransform{true, d.crop_padding, d.flip};
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

}  // namespace

double TrainSummary::train_images_per_second() const {
  double t = 0;
  for (const auto& s : seconds) t += s.train;
  return t > 0 ? static_cast<double>(images_trained) / t : 0.0;
}

void apply_class_order(DataSplits& data, const data::TaskPlan& plan) {
  const std::vector<int64_t> map = plan.label_map();
  for (data::ImageSet* set : {&data.train, &data.test}) {
    data::ImageSet out;
    out.height = set->height, out.width = set->width, out.channels = set->channels;
    out.source = set->source;
    const int64_t bytes = set->image_bytes();
    for (int64_t i = 0; i < set->size(); ++i) {
      const int64_t l = set->labels[i];
      if (l < 0 || l >= static_cast<int64_t>(map.size()) || map[l] < 0) continue;
      out.labels.push_back(map[l]);
      out.pixels.insert(out.pixels.end(), set->image(i), set->image(i) + bytes);
    }
    *set = std::move(out);
  }
}

Trainer::Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm)
    : cfg_(cfg), world_(world), comm_(comm) {
  data_ = open_dataset(cfg.data.dataset, cfg.data.root, cfg.data, cfg.model, cfg.run.seed);
  plan_ = data::TaskPlan::make(data_.train.num_classes(), cfg.data.init_cls, cfg.data.increment,
                               cfg.data.num_tasks, cfg.data.shuffle, cfg.run.seed);
  apply_class_order(data_, plan_);
  const model::VitShape shape{cfg.model.image_size, cfg.model.channels, cfg.model.patch,
                              cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.model.mlp_dim};
  vit_ = std::make_unique<model::Vit>(cfg.model.weights.empty()
                                          ? model::Vit::random(shape, cfg.run.seed)
                                          : model::Vit::load(cfg.model.weights, shape));
  learner_ = method::make_learner(*vit_, cfg_, plan_, comm_);
}

Trainer::~Trainer() = default;

TrainSummary Trainer::run(int64_t max_tasks) {
  const auto t0 = Clock::now();
  TrainSummary summary;
  const int64_t tasks = max_tasks > 0 ? std::min(max_tasks, plan_.num_tasks()) : plan_.num_tasks();
  Progress::line(world_.is_root(),
                 "lorasub: " + cfg_.method.name + " on " + cfg_.data.dataset + ", " +
                     std::to_string(tasks) + " tasks, " + std::to_string(world_.size) +
                     " rank(s), " + std::to_string(at::get_num_threads()) + " thread(s) each");
  for (int64_t t = 0; t < tasks; ++t) run_task(t, summary);
  summary.wall_seconds = since(t0);
  if (world_.is_root()) write_outputs(summary);
  return summary;
}

void Trainer::run_task(int64_t t, TrainSummary& summary) {
  PhaseSeconds sec;
  const auto train_idx = data::TaskPlan::indices_in_range(data_.train.labels, plan_.first_class(t), plan_.end_class(t));
  const auto test_idx = data::TaskPlan::indices_in_range(data_.test.labels, 0, plan_.end_class(t));
  const int workers = static_cast<int>(cfg_.data.workers), prefetch = static_cast<int>(cfg_.data.prefetch);
  data::Loader aug_loader(data_.train, train_transform(cfg_.data), workers, prefetch);
  data::Loader plain_train(data_.train, data::SmallImageTransform{}, workers, prefetch);
  data::Loader plain_test(data_.test, data::SmallImageTransform{}, workers, prefetch);
  auto source = [&](data::Loader& loader, const std::vector<int64_t>& idx, int64_t bs, int64_t epoch) {
    data::GlobalSampler s(idx, bs, cfg_.run.seed, t, false);
    loader.start(s.rank_batches(0, world_.rank, world_.size), data::StreamKey{cfg_.run.seed, t, epoch});
    return method::BatchSource([&loader] { return loader.next(); });
  };

  auto c0 = Clock::now();
  learner_->begin_task(t, source(aug_loader, train_idx, cfg_.train.batch_size, kCovarianceEpoch));
  sec.covariance = since(c0);
  c0 = Clock::now();
  train_epochs(t, train_idx, summary);
  learner_->end_training();
  sec.train = since(c0);
  c0 = Clock::now();
  learner_->add_prototypes(source(plain_train, train_idx, cfg_.train.eval_batch_size, 0));
  sec.prototypes = since(c0);
  c0 = Clock::now();
  method::EvalResult ev = learner_->evaluate(source(plain_test, test_idx, cfg_.train.eval_batch_size, 0));
  sec.eval = since(c0);
  summary.accuracy.add_row(ev.per_task(), ev.overall());
  summary.kept.push_back(learner_->kept_dims());
  c0 = Clock::now();
  if (world_.is_root() && cfg_.ckpt.task_end) write_task_checkpoint(t, summary);
  sec.checkpoint = since(c0);
  summary.seconds.push_back(sec);
  Progress::line(world_.is_root(),
                 "task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) +
                     fmt(": A_t %.2f%%  (cov %.1fs, train %.1fs, ", ev.overall(), sec.covariance, sec.train) +
                     fmt("protos %.1fs, eval %.1fs)", sec.prototypes, sec.eval));
}

void Trainer::train_epochs(int64_t t, const std::vector<int64_t>& indices, TrainSummary& summary) {
  const int64_t epochs = t == 0 ? cfg_.train.init_epochs : cfg_.train.epochs;
  data::GlobalSampler sampler(indices, cfg_.train.batch_size, cfg_.run.seed, t, true);
  data::Loader loader(data_.train, train_transform(cfg_.data), static_cast<int>(cfg_.data.workers),
                      static_cast<int>(cfg_.data.prefetch));
  Progress progress(world_.is_root(), cfg_.train.log_every);
  double step_time = 0;
  int64_t steps = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    learner_->begin_epoch(e);
    loader.start(sampler.rank_batches(e, world_.rank, world_.size), data::StreamKey{cfg_.run.seed, t, e});
    progress.begin("task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) +
                       " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs),
                   sampler.num_batches());
    double last_loss = 0;
    for (int64_t b = 0; b < sampler.num_batches(); ++b) {
      std::optional<data::Batch> batch = loader.next();
      if (!batch) throw std::logic_error("loader ended before the epoch did");
      if (cfg_.train.fail_step == global_step_ && cfg_.train.fail_rank == world_.rank)
        throw std::runtime_error("injected failure at global step " + std::to_string(global_step_) +
                                 " (train.fail_step)");
      const int64_t gb = sampler.batch_size(b);
      const auto s0 = Clock::now();
      method::StepResult r = learner_->train_step(*batch, gb, false);
      step_time += since(s0);
      ++steps;
      ++global_step_;
      if (on_step_) on_step_(t, global_step_, *learner_);
      summary.images_trained += gb;
      last_loss = r.loss;
      progress.step(b + 1, r.loss, gb);
    }
    progress.end(last_loss);
  }
  summary.step_seconds.push_back(steps > 0 ? step_time / static_cast<double>(steps) : 0.0);
}

}  // namespace lorasub::train
