#include "lorasub/io/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace lorasub::io {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw std::runtime_error("'" + path + "': " + what + ": " + std::strerror(errno));
}

}  // namespace

std::string tmp_path_for(const std::string& path) { return path + ".tmp-" + std::to_string(::getpid()); }

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open for fsync", path);
  // Some file systems refuse fsync on a directory (EINVAL); nothing more can be done there.
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    throw_errno("fsync failed", path);
  }
  ::close(fd);
}

void publish_tmp(const std::string& tmp, const std::string& path) {
  fsync_path(tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("cannot rename '" + tmp + "' to it", path);
  fsync_path(parent_dir(path));
}

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_(tmp_path_for(path)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot create", tmp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw std::logic_error("'" + path_ + "': write after commit");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write failed", tmp_);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw std::logic_error("'" + path_ + "': commit twice");
  if (::fsync(fd_) != 0) throw_errno("fsync failed", tmp_);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw_errno("close failed", tmp_);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) throw_errno("cannot rename '" + tmp_ + "' to it", path_);
  committed_ = true;
  fsync_path(parent_dir(path_));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace lorasub::io
