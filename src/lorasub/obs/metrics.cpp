#include "lorasub/obs/metrics.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "lorasub/core/error.h"
#include "lorasub/obs/bind_address.h"
#include "lorasub/obs/http_server.h"

namespace lorasub::obs {
namespace {

namespace pm = prometheus;

constexpr const char* kImages = "lorasub_images_processed_total";
constexpr const char* kSteps = "lorasub_steps_total";
constexpr const char* kLossCe = "lorasub_loss_ce";
constexpr const char* kLossAtl = "lorasub_loss_atl";
constexpr const char* kLoss = "lorasub_loss";
constexpr const char* kStepSeconds = "lorasub_step_duration_seconds";
constexpr const char* kDataWait = "lorasub_data_wait_seconds";
constexpr const char* kAllreduceSeconds = "lorasub_allreduce_duration_seconds";
constexpr const char* kAllreduceBytes = "lorasub_allreduce_bytes_total";
constexpr const char* kTask = "lorasub_current_task";
constexpr const char* kTasks = "lorasub_tasks";
constexpr const char* kTasksDone = "lorasub_tasks_completed";
constexpr const char* kEpoch = "lorasub_current_epoch";
constexpr const char* kEpochs = "lorasub_epochs";
constexpr const char* kProgress = "lorasub_task_progress_ratio";
constexpr const char* kTaskAcc = "lorasub_task_accuracy_ratio";
constexpr const char* kALast = "lorasub_accuracy_last_ratio";
constexpr const char* kAAvg = "lorasub_accuracy_average_ratio";
constexpr const char* kForgetting = "lorasub_forgetting_ratio";
constexpr const char* kKept = "lorasub_drs_kept_dimensions";
constexpr const char* kDrift = "lorasub_feature_drift";
constexpr const char* kStaleLoss = "lorasub_stale_prototype_accuracy_loss_ratio";
constexpr const char* kCovSeconds = "lorasub_covariance_pass_duration_seconds";
constexpr const char* kCkptSeconds = "lorasub_checkpoint_duration_seconds";
constexpr const char* kCkptTime = "lorasub_last_checkpoint_timestamp_seconds";
constexpr const char* kStart = "lorasub_start_time_seconds";
constexpr const char* kRss = "lorasub_process_resident_memory_bytes";

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// Reads the resident set size at scrape time.
class MemoryCollector : public pm::Collectable {
 public:
  explicit MemoryCollector(pm::Labels labels) : labels_(std::move(labels)) {}
  std::vector<pm::MetricFamily> Collect() const override {
    pm::MetricFamily f;
    f.name = kRss;
    f.help = "Resident memory of this rank's process (from /proc/self/statm)";
    f.type = pm::MetricType::Gauge;
    pm::ClientMetric m;
    for (const auto& [k, v] : labels_) m.label.push_back({k, v});
    m.gauge.value = static_cast<double>(resident_memory_bytes());
    f.metric.push_back(std::move(m));
    return {f};
  }

 private:
  pm::Labels labels_;
};

std::string read_auth(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("metrics.auth_file '" + path + "': cannot be read");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.pop_back();
  const auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size())
    throw ConfigError("metrics.auth_file '" + path + "': the first line must be user:password");
  return line;
}

}  // namespace

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {
      kImages,           kSteps,          kLossCe,      kLossAtl,  kLoss,       kStepSeconds, kDataWait,
      kAllreduceSeconds, kAllreduceBytes, kTask,        kTasks,    kTasksDone,  kEpoch,       kEpochs,
      kProgress,         kTaskAcc,        kALast,       kAAvg,     kForgetting, kKept,        kDrift,
      kStaleLoss,        kCovSeconds,     kCkptSeconds, kCkptTime, kStart,      kRss};
  return names;
}

struct Metrics::Impl {
  std::shared_ptr<pm::Registry> registry = std::make_shared<pm::Registry>();
  std::shared_ptr<MemoryCollector> memory;
  std::unique_ptr<HttpServer> server;
  int port = 0;

  pm::Counter* images = nullptr;
  pm::Counter* steps = nullptr;
  pm::Gauge *ce = nullptr, *atl = nullptr, *loss = nullptr;
  pm::Histogram *step_seconds = nullptr, *data_wait = nullptr, *allreduce_seconds = nullptr;
  pm::Counter* allreduce_bytes = nullptr;
  pm::Gauge *task = nullptr, *tasks = nullptr, *tasks_done = nullptr, *epoch = nullptr, *epochs = nullptr;
  pm::Gauge* progress = nullptr;
  pm::Family<pm::Gauge>* task_acc = nullptr;
  pm::Gauge *a_last = nullptr, *a_avg = nullptr, *forgetting = nullptr;
  pm::Family<pm::Gauge>* kept = nullptr;
  pm::Family<pm::Gauge>* drift = nullptr;
  pm::Family<pm::Gauge>* stale_loss = nullptr;
  std::vector<pm::Gauge*> kept_blocks;
  pm::Family<pm::Histogram>* cov_seconds = nullptr;
  pm::Family<pm::Histogram>* ckpt_seconds = nullptr;
  pm::Family<pm::Gauge>* ckpt_time = nullptr;
  pm::Gauge* ckpt_time_g = nullptr;
  std::map<std::string, pm::Histogram*> ckpt_by_kind;
  std::mutex mu;  // only for the rare lazy Add()s (task boundaries, checkpoints)

  template <class B>
  auto& family(B builder, const char* name, const char* help, const pm::Labels& labels) {
    return builder.Name(name).Help(help).Labels(labels).Register(*registry);
  }
  // Steps, losses, their timing and where the run is (labels: run, rank).
  void register_training(const pm::Labels& L);
  // Accuracy, the DRS, drift, checkpoints, start time and memory.
  void register_results(const pm::Labels& L);
};

void Metrics::Impl::register_training(const pm::Labels& L) {
  Impl& m = *this;
  using HB = pm::Histogram::BucketBoundaries;
  m.images = &m.family(pm::BuildCounter(), kImages, "Training images processed by this rank", L).Add({});
  m.steps = &m.family(pm::BuildCounter(), kSteps, "Optimizer steps done", L).Add({});
  m.ce = &m.family(pm::BuildGauge(), kLossCe, "Cross-entropy of the last step (global-batch mean)", L).Add({});
  m.atl = &m.family(pm::BuildGauge(), kLossAtl,
                    "Augmented triplet loss of the last step (global-batch mean, before its weight)", L)
               .Add({});
  m.loss = &m.family(pm::BuildGauge(), kLoss, "Total loss of the last step (CE + weight * ATL)", L).Add({});
  m.step_seconds = &m.family(pm::BuildHistogram(), kStepSeconds,
                             "Wall time of one training step (forward, backward, all-reduce, update)", L)
                        .Add({}, HB{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  m.data_wait = &m.family(pm::BuildHistogram(), kDataWait, "Time a step waited for its batch from the loader", L)
                     .Add({}, HB{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5});
  m.allreduce_seconds =
      &m.family(pm::BuildHistogram(), kAllreduceSeconds, "Time of the fused gradient all-reduce of one step", L)
           .Add({}, HB{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5});
  m.allreduce_bytes =
      &m.family(pm::BuildCounter(), kAllreduceBytes, "Bytes of gradient buffer all-reduced by this rank", L).Add({});
  m.task = &m.family(pm::BuildGauge(), kTask, "Task in progress (1-based)", L).Add({});
  m.tasks = &m.family(pm::BuildGauge(), kTasks, "Tasks in the run's plan", L).Add({});
  m.tasks_done = &m.family(pm::BuildGauge(), kTasksDone, "Tasks finished (trained and evaluated)", L).Add({});
  m.epoch = &m.family(pm::BuildGauge(), kEpoch, "Epoch in progress within the current task (1-based)", L).Add({});
  m.epochs = &m.family(pm::BuildGauge(), kEpochs, "Epochs of the current task", L).Add({});
  m.progress = &m.family(pm::BuildGauge(), kProgress, "Share of the current task's training steps done", L).Add({});
}

void Metrics::Impl::register_results(const pm::Labels& L) {
  Impl& m = *this;
  m.task_acc =
      &m.family(pm::BuildGauge(), kTaskAcc, "Accuracy on each seen task's classes after the latest finished task", L);
  m.a_last =
      &m.family(pm::BuildGauge(), kALast, "A_last so far: accuracy over all seen classes after the latest task", L)
           .Add({});
  m.a_avg = &m.family(pm::BuildGauge(), kAAvg, "A_avg so far: mean of A_1..A_t", L).Add({});
  m.forgetting = &m.family(pm::BuildGauge(), kForgetting, "Average forgetting so far", L).Add({});
  m.kept = &m.family(pm::BuildGauge(), kKept, "DRS kept dimensions per block for the current task", L);
  m.drift = &m.family(
      pm::BuildGauge(), kDrift,
      "Mean cosine distance of each earlier task's test-feature class means from where they were when it ended", L);
  m.stale_loss =
      &m.family(pm::BuildGauge(), kStaleLoss,
                "NCM accuracy each earlier task loses with its stored prototypes against recomputed ones", L);
  m.cov_seconds = &m.family(pm::BuildHistogram(), kCovSeconds, "Duration of a task's covariance pass", L);
  m.ckpt_seconds = &m.family(pm::BuildHistogram(), kCkptSeconds, "Duration of writing a checkpoint (rank 0)", L);
  m.ckpt_time = &m.family(pm::BuildGauge(), kCkptTime, "Unix time of the last successful checkpoint (rank 0 only)", L);
  m.family(pm::BuildGauge(), kStart, "Unix time this rank started", L).Add({}).Set(unix_now());
  m.memory = std::make_shared<MemoryCollector>(L);
}

Metrics::Metrics() = default;
Metrics::~Metrics() = default;
Metrics::Metrics(Metrics&&) noexcept = default;
Metrics& Metrics::operator=(Metrics&&) noexcept = default;

Metrics::Metrics(const MetricsOptions& o) {
  if (!o.enabled) return;
  auto im = std::make_unique<Impl>();
  Impl& m = *im;
  const pm::Labels L{{"run", o.run}, {"rank", std::to_string(o.rank)}};
  m.register_training(L);
  m.register_results(L);

  const int port = o.port == 0 ? 0 : o.port + o.local_rank;
  std::string auth;
  if (!o.auth_file.empty()) auth = read_auth(o.auth_file);
  const std::string bind = bind_address(o.bind);  // a malformed or foreign network: ConfigError
  Impl* raw = &m;
  try {
    m.server = std::make_unique<HttpServer>(bind, port, auth, [raw] {
      std::vector<pm::MetricFamily> families = raw->registry->Collect();
      for (auto& f : raw->memory->Collect()) families.push_back(std::move(f));
      return pm::TextSerializer().Serialize(families);
    });
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("metrics: ") + e.what() + " (rank " + std::to_string(o.rank) +
                             ", metrics.port + local rank " + std::to_string(o.local_rank) + ")");
  }
  m.port = m.server->port();
  impl_ = std::move(im);
}

int Metrics::port() const { return impl_ ? impl_->port : 0; }

void Metrics::step_impl(double ce, double atl, double loss, int64_t images, double step_seconds,
                        double data_wait_seconds, double allreduce_seconds, size_t allreduce_bytes) {
  Impl& m = *impl_;
  m.images->Increment(static_cast<double>(images));
  m.steps->Increment();
  m.ce->Set(ce);
  m.atl->Set(atl);
  m.loss->Set(loss);
  m.step_seconds->Observe(step_seconds);
  m.data_wait->Observe(data_wait_seconds);
  m.allreduce_seconds->Observe(allreduce_seconds);
  m.allreduce_bytes->Increment(static_cast<double>(allreduce_bytes));
}

void Metrics::task_started_impl(int64_t t, int64_t num_tasks) {
  impl_->task->Set(static_cast<double>(t + 1));
  impl_->tasks->Set(static_cast<double>(num_tasks));
  impl_->tasks_done->Set(static_cast<double>(t));
  impl_->progress->Set(0);
}

void Metrics::epoch_impl(int64_t e, int64_t epochs) {
  impl_->epoch->Set(static_cast<double>(e + 1));
  impl_->epochs->Set(static_cast<double>(epochs));
}

void Metrics::task_progress_impl(double ratio) { impl_->progress->Set(ratio); }

void Metrics::covariance_pass_impl(int64_t t, double seconds) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->cov_seconds->Add({}, pm::Histogram::BucketBoundaries{0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600})
      .Observe(seconds);
  (void)t;
}

void Metrics::drs_kept_impl(const std::vector<int64_t>& kept) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& m = *impl_;
  while (m.kept_blocks.size() < kept.size())
    m.kept_blocks.push_back(&m.kept->Add({{"block", std::to_string(m.kept_blocks.size())}}));
  for (size_t b = 0; b < kept.size(); ++b) m.kept_blocks[b]->Set(static_cast<double>(kept[b]));
}

void Metrics::task_finished_impl(int64_t t, const std::vector<double>& per_task, double a_last, double a_avg,
                                 double forgetting) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& m = *impl_;
  for (size_t j = 0; j < per_task.size(); ++j) m.task_acc->Add({{"task", std::to_string(j + 1)}}).Set(per_task[j]);
  m.a_last->Set(a_last);
  m.a_avg->Set(a_avg);
  m.forgetting->Set(forgetting);
  m.tasks_done->Set(static_cast<double>(t + 1));
  m.progress->Set(1);
}

void Metrics::feature_drift_impl(int64_t task, double distance, double stale_loss) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->drift->Add({{"task", std::to_string(task + 1)}}).Set(distance);
  impl_->stale_loss->Add({{"task", std::to_string(task + 1)}}).Set(stale_loss);
}

void Metrics::checkpoint_written_impl(const std::string& kind, double seconds, double unix_time) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& m = *impl_;
  auto it = m.ckpt_by_kind.find(kind);
  if (it == m.ckpt_by_kind.end()) {
    pm::Histogram& h = m.ckpt_seconds->Add(
        {{"kind", kind}}, pm::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120});
    it = m.ckpt_by_kind.emplace(kind, &h).first;
  }
  it->second->Observe(seconds);
  if (!m.ckpt_time_g) m.ckpt_time_g = &m.ckpt_time->Add({});
  m.ckpt_time_g->Set(unix_time);
}

int64_t resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<int64_t>(resident) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

int64_t peak_resident_memory_bytes() {
  rusage u {};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<int64_t>(u.ru_maxrss) * 1024;  // Linux: kilobytes
}

std::string advertised_target(const std::string& bind, const std::string& host, int port) {
  std::string h = bind_address(bind);
  if (h.empty() || h == "0.0.0.0" || h == "::" || h == "[::]") h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

std::string FileSdTargets::file_name(const std::string& run) {
  std::string s = run;
  for (char& c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return "lorasub-" + s + ".json";
}

std::string FileSdTargets::json(const std::string& run, const std::vector<std::string>& targets) {
  nlohmann::json groups = nlohmann::json::array();
  for (size_t r = 0; r < targets.size(); ++r) {
    groups.push_back({{"targets", {targets[r]}}, {"labels", {{"run", run}, {"rank", std::to_string(r)}}}});
  }
  return groups.dump(2) + "\n";
}

FileSdTargets::FileSdTargets(const std::string& dir, const std::string& run, const std::vector<std::string>& targets) {
  // mkdir -p
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  }
  const std::string path = dir + "/" + file_name(run);
  const std::string tmp = dir + "/.tmp-" + file_name(run) + "." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json(run, targets);
    out.flush();
    if (!out) {
      const int err = errno;
      std::remove(tmp.c_str());
      // A path that is not a writable directory is a bad metrics.file_sd_dir: exit 2.
      throw ConfigError("metrics.file_sd_dir '" + dir + "': cannot write the file_sd target file there (" +
                        std::strerror(err ? err : EIO) + ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("metrics: cannot rename '" + tmp + "' to '" + path + "'");
  }
  path_ = path;
}

FileSdTargets& FileSdTargets::operator=(FileSdTargets&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

void FileSdTargets::remove() {
  if (!path_.empty()) std::remove(path_.c_str());
  path_.clear();
}

FileSdTargets::~FileSdTargets() { remove(); }

}  // namespace lorasub::obs
