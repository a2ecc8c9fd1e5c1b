#include "lorasub/train/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lorasub::train {
namespace {

// mpirun hands rank 0 a pseudo-terminal even when its own stdout is a pipe, so isatty
// cannot be trusted under a launcher: launch/mpirun.sh decides from its own stdout and
// passes LORASUB_PROGRESS=tty|lines; without it, isatty decides.
bool use_tty() {
  const char* mode = std::getenv("LORASUB_PROGRESS");
  if (mode != nullptr && std::strcmp(mode, "tty") == 0) return true;
  if (mode != nullptr && std::strcmp(mode, "lines") == 0) return false;
  return isatty(fileno(stdout)) != 0;
}

}  // namespace

Progress::Progress(bool enabled, int64_t log_every) : enabled_(enabled), tty_(use_tty()), log_every_(log_every) {}

void Progress::begin(const std::string& phase, int64_t total_steps) {
  phase_ = phase;
  total_ = total_steps;
  images_ = 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::step(int64_t step, double loss, int64_t images) {
  if (!enabled_) return;
  images_ += images;
  const auto now = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(now - start_).count();
  const bool last = step == total_;
  if (tty_) {
    if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
    std::printf("\r\033[K%s  step %lld/%lld  loss %.4f  %.0f img/s", phase_.c_str(), static_cast<long long>(step),
                static_cast<long long>(total_), loss, secs > 0 ? images_ / secs : 0.0);
  } else {
    if (!last && step % log_every_ != 0) return;
    std::printf("%s  step %lld/%lld  loss %.4f  %.0f img/s\n", phase_.c_str(), static_cast<long long>(step),
                static_cast<long long>(total_), loss, secs > 0 ? images_ / secs : 0.0);
  }
  last_draw_ = now;
  std::fflush(stdout);
}

void Progress::end(double last_loss) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) std::printf("\r\033[K");
  std::printf("%s  loss %.4f  %.0f img/s  %.1fs\n", phase_.c_str(), last_loss, secs > 0 ? images_ / secs : 0.0, secs);
  std::fflush(stdout);
}

void Progress::line(bool enabled, const std::string& text) {
  if (!enabled) return;
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

}  // namespace lorasub::train
