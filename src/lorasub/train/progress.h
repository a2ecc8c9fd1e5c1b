// Terminal progress on rank 0: one updating line on a TTY, periodic lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace lorasub::train {

class Progress {
 public:
  Progress(bool enabled, int64_t log_every);
  // A new phase (e.g. "task 2/5 epoch 1/3"), total steps of it.
  void begin(const std::string& phase, int64_t total_steps);
  void step(int64_t step, double loss, int64_t images);
  // Prints the phase's closing line: last loss, images/s and seconds.
  void end(double last_loss);
  static void line(bool enabled, const std::string& text);

 private:
  bool enabled_, tty_;
  int64_t log_every_, total_ = 0, images_ = 0;
  std::string phase_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace lorasub::train
