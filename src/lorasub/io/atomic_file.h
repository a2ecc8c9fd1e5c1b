// Crash-safe file replacement: write to "<path>.tmp-<pid>" in the same directory,
// fsync it, rename it over <path>, fsync the directory. A reader sees either the
// old file or the complete new one, never a half-written file (invariant 4).
#pragma once
#include <cstddef>
#include <string>

namespace lorasub::io {

// The temporary name a writer of `path` uses: same directory, so rename is atomic.
std::string tmp_path_for(const std::string& path);

// fsync(2) a file or a directory by path. Throws std::runtime_error naming the path.
void fsync_path(const std::string& path);

// The directory holding `path` ("." when it has no slash).
std::string parent_dir(const std::string& path);

// fsync `tmp`, rename it to `path`, fsync the directory. Throws std::runtime_error.
void publish_tmp(const std::string& tmp, const std::string& path);

// A file written through a temporary name. Not committed -> the temporary is removed
// by the destructor and `path` keeps its previous content. Not thread-safe.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // Closes, fsyncs and renames onto the final path. Throws std::runtime_error.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Convenience: the whole content at once.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace lorasub::io
