#include "lorasub/io/run_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/io/atomic_file.h"

namespace lorasub::io {
namespace {

bool has_dotdot(const std::string& rel) {
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    if (rel.compare(start, slash - start, "..") == 0) return true;
    start = slash + 1;
  }
  return false;
}

}  // namespace

void make_dirs(const std::string& dir) {
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (part.empty() || ::mkdir(part.c_str(), 0755) == 0) continue;
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(part.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      err = ENOTDIR;  // a file is in the way: say so rather than "File exists"
    }
    throw ConfigError("cannot create directory '" + dir + "': mkdir '" + part + "': " + std::strerror(err));
  }
}

RunDir::RunDir(const std::string& parent, const std::string& name) {
  if (name.empty() || has_dotdot(name)) {
    throw ConfigError("run name '" + name + "' must be non-empty and hold no '..' component");
  }
  path_ = parent.empty() ? name : (parent.back() == '/' ? parent : parent + "/") + name;
}

void RunDir::create() const {
  make_dirs(path_);
  make_dirs(checkpoints_dir());
}

std::string RunDir::file(const std::string& rel) const {
  if (rel.empty() || rel.front() == '/' || has_dotdot(rel)) {
    throw std::invalid_argument("'" + rel + "' is not a path relative to the run directory '" + path_ + "'");
  }
  return path_ + "/" + rel;
}

void RunDir::write_text_atomic(const std::string& rel, const std::string& content) const {
  const std::string target = file(rel);
  make_dirs(parent_dir(target));
  write_file_atomic(target, content);
}

std::vector<std::string> list_files(const std::string& dir, const std::string& part) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name.find(part) == std::string::npos) continue;
    struct stat st {};
    const std::string path = dir + "/" + name;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(path);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lorasub::io
