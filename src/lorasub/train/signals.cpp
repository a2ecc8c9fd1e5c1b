#include "lorasub/train/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "lorasub/core/error.h"

namespace lorasub::train {
namespace {

volatile sig_atomic_t g_signal = 0;    // first stop signal
volatile sig_atomic_t g_count = 0;     // stop signals seen (USR1, TERM, INT)
volatile sig_atomic_t g_announce = 0;  // training has begun: say what a stop does
std::atomic<double> g_deadline{0.0};
std::atomic<bool> g_installed{false};

void say(const char* msg) {
  // write(2) is async-signal-safe; printf is not.
  ssize_t ignored = write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

void on_signal(int sig) {
  // Any second stop signal (a second Ctrl-C, Slurm's TERM at the limit after its USR1)
  // means there is no time for the agreed stop: exit now.
  g_count = g_count + 1;
  if (g_count >= 2) {
    say("lorasub: second stop signal: exiting now (the last good checkpoint is intact)\n");
    _exit(kExitForced);
  }
  if (g_signal == 0) {
    g_signal = sig;
    // During start-up there is nothing to checkpoint yet, and the TERM may be the
    // launcher ending the job for a peer's bad input: the trainer says it if it acts on it.
    if (g_announce == 0) return;
    say(sig == SIGUSR1 ? "lorasub: SIGUSR1: stopping at the next step, checkpointing\n"
                       : "lorasub: stop signal: stopping at the next step, checkpointing "
                         "(send it again to exit at once)\n");
  }
}

void watchdog() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point since{};
  bool armed = false;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (g_signal == 0) continue;
    if (!armed) {
      since = Clock::now();
      armed = true;
    }
    const double limit = g_deadline.load();
    if (limit > 0 && std::chrono::duration<double>(Clock::now() - since).count() > limit) {
      std::fprintf(stderr,
                   "lorasub: the agreed stop did not finish within ckpt.stop_deadline_seconds = %g s; "
                   "exiting now (the last good checkpoint is intact)\n",
                   limit);
      std::fflush(stderr);
      _exit(kExitForced);
    }
  }
}

}  // namespace

void set_stop_deadline(double deadline_seconds) { g_deadline = deadline_seconds; }

void install_stop_handlers(double deadline_seconds) {
  if (g_installed.exchange(true)) throw std::logic_error("install_stop_handlers: the handlers are installed already");
  g_deadline = deadline_seconds;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGUSR1, SIGTERM, SIGINT}) sigaction(sig, &sa, nullptr);
  std::thread(watchdog).detach();
}

void announce_stops() {
  g_announce = 1;
  if (g_signal != 0) say("lorasub: a stop signal came during start-up: stopping at the first step, checkpointing\n");
}
bool stop_requested() { return g_signal != 0; }
int stop_signal() { return g_signal; }
void request_stop(int sig) { on_signal(sig); }

}  // namespace lorasub::train
