#include "lorasub/dist/job_end.h"

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace lorasub::dist {
namespace {

MPI_Comm g_end_comm = MPI_COMM_NULL;

// True when every rank of `comm` entered the barrier within `seconds`.
bool all_arrive(MPI_Comm comm, double seconds) {
  MPI_Request req = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(comm, &req) != MPI_SUCCESS) return false;
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Every rank's message, on rank 0 (empty elsewhere); all ranks call it.
std::vector<std::string> gather_messages(MPI_Comm comm, const std::string& mine, int rank, int size) {
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size)), offs(static_cast<size_t>(size), 0);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, comm);
  int total = 0;
  for (int r = 0; r < size && rank == 0; ++r) {
    offs[static_cast<size_t>(r)] = total;
    total += lens[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, comm);
  std::vector<std::string> out;
  for (int r = 0; r < size && rank == 0; ++r)
    out.push_back(all.substr(static_cast<size_t>(offs[static_cast<size_t>(r)]),
                             static_cast<size_t>(lens[static_cast<size_t>(r)])));
  return out;
}

// A message with every "rank N" as "rank #": ranks that failed for the same reason
// name themselves, and are said once.
std::string without_ranks(const std::string& m) {
  std::string out;
  for (size_t i = 0; i < m.size();) {
    if (m.compare(i, 5, "rank ") == 0 && i + 5 < m.size() && std::isdigit(static_cast<unsigned char>(m[i + 5]))) {
      out += "rank #";
      i += 5;
      while (i < m.size() && std::isdigit(static_cast<unsigned char>(m[i]))) ++i;
    } else {
      out += m[i++];
    }
  }
  return out;
}

std::string located(const World& w, const std::string& what) {
  return "lorasub: " + w.host + " rank " + std::to_string(w.rank) + " (pid " + std::to_string(getpid()) + "): " + what;
}

}  // namespace

void write_stderr_line(const std::string& line) {
  const std::string s = line + "\n";
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(STDERR_FILENO, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

namespace detail {
void set_job_end_comm(void* mpi_comm) { g_end_comm = *static_cast<MPI_Comm*>(mpi_comm); }
}  // namespace detail

void end_job(const World& world, const std::string& what, int exit_code, double grace_seconds) {
  for (int sig : {SIGUSR1, SIGTERM, SIGINT}) signal(sig, SIG_IGN);
  std::fflush(stdout);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  const bool mpi = initialized && !finalized && world.size > 1 && g_end_comm != MPI_COMM_NULL;
  if (!mpi) {
    write_stderr_line("lorasub: " + what);
    if (initialized && !finalized && world.size == 1) MPI_Finalize();  // alone: nobody to wait for
    std::_Exit(exit_code);
  }
  if (!all_arrive(g_end_comm, grace_seconds)) {
    write_stderr_line(located(world, what));
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }
  // Everyone failed: one report, rank 0's exit code everywhere.
  const std::vector<std::string> all = gather_messages(g_end_comm, what, world.rank, world.size);
  int code = exit_code;
  MPI_Bcast(&code, 1, MPI_INT, 0, g_end_comm);
  if (world.rank == 0) {
    std::string report = "lorasub: " + all[0];
    std::vector<std::string> said = {without_ranks(all[0])};
    for (size_t r = 1; r < all.size(); ++r) {
      const std::string m = without_ranks(all[r]);
      if (std::find(said.begin(), said.end(), m) != said.end()) continue;
      said.push_back(m);
      report += "\nlorasub: rank " + std::to_string(r) + ": " + all[r];
    }
    write_stderr_line(report);
  }
  std::fflush(stdout);
  MPI_Finalize();
  std::_Exit(code);
}

}  // namespace lorasub::dist
