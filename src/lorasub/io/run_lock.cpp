#include "lorasub/io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lorasub/core/error.h"
#include "lorasub/io/run_dir.h"

namespace lorasub::io {
namespace {

const char* const kOutputs[] = {"results.json", "accuracy_matrix.csv", "config.yaml", "report.html", "events.jsonl"};

std::string read_small(int fd) {
  char buf[64] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

RunLock::RunLock(const std::string& dir) : dir_(dir) {
  make_dirs(dir_);
  const std::string path = dir_ + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw ConfigError("run directory '" + dir_ + "' is not writable: open '" + path + "': " + std::strerror(errno) +
                      " (choose another run.dir)");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_small(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw ConfigError("run directory '" + dir_ + "' is in use by another lorasub" +
                        (holder.empty() ? std::string() : " (pid " + holder + ")") +
                        "; wait for it to finish, or choose another run.name");
    throw ConfigError("cannot lock run directory '" + dir_ + "': flock: " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw ConfigError("run directory '" + dir_ + "' is not writable: " + std::strerror(err) +
                      " (a full disk or a read-only file system?)");
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race)
}

std::vector<std::string> run_outputs(const std::string& dir) {
  std::vector<std::string> out;
  for (const char* name : kOutputs) {
    const std::string p = dir + "/" + name;
    if (::access(p.c_str(), F_OK) == 0) out.push_back(p);
  }
  for (const std::string& p : list_files(dir + "/checkpoints", ".h5"))
    if (p.find(".tmp-") == std::string::npos) out.push_back(p);
  return out;
}

void remove_run_outputs(const std::string& dir) {
  for (const std::string& p : run_outputs(dir)) std::remove(p.c_str());
  remove_stale_temporaries(dir);
}

void remove_stale_temporaries(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/checkpoints"})
    for (const std::string& p : list_files(d, ".tmp-")) std::remove(p.c_str());
}

}  // namespace lorasub::io
