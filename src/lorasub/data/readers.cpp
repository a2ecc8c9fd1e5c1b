#include "lorasub/data/readers.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FormatError("'" + path + "': " + what);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// A gzip or plain file (gzread passes plain files through unchanged).
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      fail(path, std::string("cannot open: ") + (errno != 0 ? std::strerror(errno) : "out of memory"));
    }
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (short only at end of data).
  // A stream that merely ends early is not an error here: the caller reports it.
  uint64_t read(uint8_t* dst, uint64_t n) {
    uint64_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - got, 1u << 30));
      const int r = gzread(file_, dst + got, chunk);
      if (r < 0) {
        int err = 0;
        const char* msg = gzerror(file_, &err);
        fail(path_, std::string("read error: ") + (msg ? msg : "unknown zlib error"));
      }
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    return got;
  }

  bool at_end() {
    uint8_t extra = 0;
    return read(&extra, 1) == 0;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Reads an IDX header of `dims` dimensions after checking its magic.
std::vector<uint32_t> read_header(GzFile& f, const std::string& path, uint32_t magic, int dims, const char* kind) {
  std::vector<uint8_t> head(4 + 4 * static_cast<size_t>(dims));
  const uint64_t got = f.read(head.data(), head.size());
  if (got < 4) {
    fail(path, "truncated: expected a " + std::to_string(head.size()) + "-byte IDX header, got " + std::to_string(got) +
                   " bytes");
  }
  const uint32_t m = be32(head.data());
  if (m != magic) {
    fail(path, "bad magic " + hex32(m) + ", expected " + hex32(magic) + " (IDX " + kind + ")");
  }
  if (got < head.size()) {
    fail(path, "truncated: expected a " + std::to_string(head.size()) + "-byte IDX header, got " + std::to_string(got) +
                   " bytes");
  }
  std::vector<uint32_t> out(dims);
  for (int d = 0; d < dims; ++d) out[d] = be32(head.data() + 4 + 4 * d);
  return out;
}

// Reads exactly `n` payload bytes and checks nothing follows them.
std::vector<uint8_t> read_payload(GzFile& f, const std::string& path, uint64_t n, const char* kind) {
  // Grows in chunks so that a corrupt header claiming huge counts fails as truncated
  // rather than allocating the claimed size up front.
  constexpr uint64_t kChunk = uint64_t{16} << 20;
  std::vector<uint8_t> data;
  uint64_t got = 0;
  while (got < n) {
    const uint64_t want = std::min(kChunk, n - got);
    data.resize(got + want);
    const uint64_t r = f.read(data.data() + got, want);
    got += r;
    if (r < want) break;
  }
  if (got < n) {
    fail(path, "truncated: expected " + std::to_string(n) + " " + kind + " bytes, got " + std::to_string(got));
  }
  if (!f.at_end()) {
    fail(path, "trailing data: expected exactly " + std::to_string(n) + " " + kind + " bytes after the header");
  }
  return data;
}

}  // namespace

ImageSet read_idx_images(const std::string& images_path) {
  GzFile fi(images_path);
  const auto dims = read_header(fi, images_path, 0x00000803u, 3, "images");
  if (dims[1] == 0 || dims[2] == 0 || dims[1] > 65535 || dims[2] > 65535) {
    fail(images_path, "bad image size " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]));
  }
  const uint64_t n = dims[0];
  if (n == 0) fail(images_path, "holds no images (an IDX header with a count of 0)");
  ImageSet set;
  set.height = dims[1];
  set.width = dims[2];
  set.channels = 1;
  set.source = images_path;
  set.pixels = read_payload(fi, images_path, n * dims[1] * dims[2], "image");
  set.labels.assign(n, -1);
  return set;
}

namespace {

// Labels of an IDX1 file; with `images`, their count must match (checked before the payload).
std::vector<int64_t> read_labels(const std::string& labels_path, const ImageSet* images) {
  GzFile fl(labels_path);
  const auto ldims = read_header(fl, labels_path, 0x00000801u, 1, "labels");
  if (images != nullptr && ldims[0] != static_cast<uint64_t>(images->size())) {
    throw FormatError("count mismatch: '" + images->source + "' has " + std::to_string(images->size()) +
                      " images but '" + labels_path + "' has " + std::to_string(ldims[0]) + " labels");
  }
  const auto labels = read_payload(fl, labels_path, ldims[0], "label");
  return std::vector<int64_t>(labels.begin(), labels.end());
}

}  // namespace

std::vector<int64_t> read_idx_labels(const std::string& labels_path) { return read_labels(labels_path, nullptr); }

ImageSet read_idx(const std::string& images_path, const std::string& labels_path) {
  ImageSet set = read_idx_images(images_path);
  set.labels = read_labels(labels_path, &set);
  return set;
}

namespace {

// dir/name.gz if present, else dir/name.
std::string find_idx(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path plain = fs::path(dir) / name;
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(plain, ec)) return plain.string();
  throw FormatError("'" + plain.string() + "[.gz]': not found (Fashion-MNIST directory '" + dir + "')");
}

}  // namespace

ImageSet read_fashion_mnist(const std::string& dir, const std::string& split) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test") {
    prefix = "t10k";
  } else {
    throw ConfigError("Fashion-MNIST split must be 'train' or 'test', got '" + split + "'");
  }
  const std::string images = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx(dir, prefix + "-labels-idx1-ubyte");
  ImageSet set = read_idx(images, labels);
  for (int64_t i = 0; i < set.size(); ++i) {
    if (set.labels[i] >= 10) {
      fail(labels,
           "label " + std::to_string(set.labels[i]) + " at index " + std::to_string(i) + " out of range [0, 10)");
    }
  }
  set.source = dir + " (" + split + ")";
  return set;
}

}  // namespace lorasub::data
