// Prometheus metrics of one training rank, and the file_sd target file that lets a
// Prometheus server find every rank.
//
// A disabled Metrics is a null object: every update is one inline pointer test, with no
// registry, no locks and no allocation, so metrics.enabled=false costs nothing in the
// step. An enabled one owns a registry and an HTTP exposer serving /metrics on
// bind:(port + local_rank), optionally behind basic auth. Every series carries the
// constant labels run and rank; per-task series also carry task (1-based, as in the
// progress lines), DRS series carry block. Units are base units: seconds, bytes,
// ratios in [0, 1] (accuracies are passed as ratios, not percent).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lorasub::obs {

struct MetricsOptions {
  bool enabled = false;
  std::string bind = "127.0.0.1";
  int port = 9400;        // base port; this rank listens on port + local_rank (0 = any free port)
  std::string auth_file;  // "user:password" on its first line ("" = no auth)
  std::string run;        // label run
  int rank = 0;           // label rank
  int local_rank = 0;
};

// Every metric family name the exposer registers (the monitoring files may use only these,
// plus Prometheus' own `up`).
const std::vector<std::string>& metric_names();

class Metrics {
 public:
  Metrics();  // disabled
  // Disabled when !opts.enabled. Throws ConfigError on an unreadable or malformed auth
  // file or a bind network that is malformed or holds no address of this host
  // (bind_address.h), and std::runtime_error when the port cannot be bound.
  explicit Metrics(const MetricsOptions& opts);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  Metrics(Metrics&&) noexcept;
  Metrics& operator=(Metrics&&) noexcept;

  bool enabled() const { return impl_ != nullptr; }
  // The port actually listened on (0 when disabled).
  int port() const;

  // One optimizer step: losses are global-batch means; images = this rank's images.
  void step(double ce, double atl, double loss, int64_t images, double step_seconds, double data_wait_seconds,
            double allreduce_seconds, size_t allreduce_bytes) {
    if (impl_) step_impl(ce, atl, loss, images, step_seconds, data_wait_seconds, allreduce_seconds, allreduce_bytes);
  }
  // Task t (0-based) of num_tasks begins (or resumes).
  void task_started(int64_t t, int64_t num_tasks) {
    if (impl_) task_started_impl(t, num_tasks);
  }
  void epoch(int64_t e, int64_t epochs) {
    if (impl_) epoch_impl(e, epochs);
  }
  // Share of task t's training steps done, in [0, 1].
  void task_progress(double ratio) {
    if (impl_) task_progress_impl(ratio);
  }
  void covariance_pass(int64_t t, double seconds) {
    if (impl_) covariance_pass_impl(t, seconds);
  }
  // DRS kept dimensions per block after task t's covariance pass.
  void drs_kept(const std::vector<int64_t>& kept) {
    if (impl_) drs_kept_impl(kept);
  }
  // After task t: per-task accuracies (ratios, one per task seen) and the summaries so far.
  void task_finished(int64_t t, const std::vector<double>& per_task, double a_last, double a_avg, double forgetting) {
    if (impl_) task_finished_impl(t, per_task, a_last, a_avg, forgetting);
  }
  // Feature drift of earlier task `task` (0-based; label 1-based): mean cosine distance
  // and the accuracy (ratio) its stale prototypes lose.
  void feature_drift(int64_t task, double distance, double stale_loss) {
    if (impl_) feature_drift_impl(task, distance, stale_loss);
  }
  // A checkpoint of `kind` (task_end, step, stop) written in `seconds`, finished at unix time `unix_time`.
  void checkpoint_written(const std::string& kind, double seconds, double unix_time) {
    if (impl_) checkpoint_written_impl(kind, seconds, unix_time);
  }

 private:
  struct Impl;
  void step_impl(double, double, double, int64_t, double, double, double, size_t);
  void task_started_impl(int64_t, int64_t);
  void epoch_impl(int64_t, int64_t);
  void task_progress_impl(double);
  void covariance_pass_impl(int64_t, double);
  void drs_kept_impl(const std::vector<int64_t>&);
  void task_finished_impl(int64_t, const std::vector<double>&, double, double, double);
  void checkpoint_written_impl(const std::string&, double, double);
  void feature_drift_impl(int64_t, double, double);
  std::unique_ptr<Impl> impl_;
};

// Resident set size of this process in bytes, from /proc/self/statm (0 if unreadable).
int64_t resident_memory_bytes();
// The largest resident set size this process has had so far, in bytes (getrusage).
int64_t peak_resident_memory_bytes();

// The file_sd target file of one run: rank 0 writes it once every rank's "host:port" is
// known; it is removed when the object is destroyed (or by remove()).
class FileSdTargets {
 public:
  FileSdTargets() = default;
  // Writes <dir>/lorasub-<run>.json atomically (temporary file, then rename): one target
  // group per rank, labels run and rank. Creates dir if missing. Throws std::runtime_error.
  FileSdTargets(const std::string& dir, const std::string& run, const std::vector<std::string>& targets);
  ~FileSdTargets();
  FileSdTargets(const FileSdTargets&) = delete;
  FileSdTargets& operator=(const FileSdTargets&) = delete;
  FileSdTargets(FileSdTargets&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  FileSdTargets& operator=(FileSdTargets&& o) noexcept;
  const std::string& path() const { return path_; }
  void remove();

  // The JSON text written (for tests and documentation).
  static std::string json(const std::string& run, const std::vector<std::string>& targets);
  // The file name used for a run ("lorasub-<run>.json"; characters outside [A-Za-z0-9._-] become '_').
  static std::string file_name(const std::string& run);

 private:
  std::string path_;
};

// The host:port other machines reach this rank on: the bind address (for a network, this
// host's address in it: bind_address.h), or `host` when the bind address is a wildcard
// (0.0.0.0, ::, empty).
std::string advertised_target(const std::string& bind, const std::string& host, int port);

}  // namespace lorasub::obs
