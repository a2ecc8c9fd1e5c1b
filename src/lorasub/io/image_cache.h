// The pre-decoded image cache written by `lorasub prepare`: images already resized once
// (short side = a configured size, aspect kept) stored as uint8 HWC in an HDF5 file, so
// that an epoch reads no JPEG. Layout (docs/image-cache.md), per split group
// "train"/"test":
//   pixels  uint8 [total bytes], chunked (1 MiB), every image's HWC bytes back to back
//   offset  int64 [N]       where image i starts in `pixels`
//   shape   int64 [N, 3]    height, width, channels
//   label   int64 [N]
//   crc32   int64 [N]       zlib CRC-32 of image i's bytes (checked on every read)
//   paths   string          the source files, one per line
// Root attributes: format "lorasub-image-cache", format_version 1, dataset, root,
// short_side. Written under a temporary name and renamed on commit.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lorasub::io {

struct ImageCacheMeta {
  std::string dataset, root;
  int64_t short_side = 0;
};

class ImageCacheWriter {
 public:
  ImageCacheWriter(const std::string& path, const ImageCacheMeta& meta);
  ~ImageCacheWriter();  // not committed: the temporary file is removed
  ImageCacheWriter(const ImageCacheWriter&) = delete;
  ImageCacheWriter& operator=(const ImageCacheWriter&) = delete;
  // Appends one image (h x w x c uint8) to `split` ("train" or "test").
  void add(const std::string& split, const uint8_t* hwc, int64_t h, int64_t w, int64_t c, int64_t label,
           const std::string& source_path);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ImageCacheReader {
 public:
  // Throws FormatError naming the file when it is not a sealed version-2 image cache.
  explicit ImageCacheReader(const std::string& path);
  ~ImageCacheReader();
  struct Image {
    int64_t height = 0, width = 0, channels = 0, label = 0;
  };
  const ImageCacheMeta& meta() const;
  int64_t size(const std::string& split) const;
  const Image& info(const std::string& split, int64_t i) const;
  const std::string& source_path(const std::string& split, int64_t i) const;
  // Reads image i's HWC bytes into dst (height * width * channels bytes) and checks its
  // CRC-32 (FormatError naming the image and its source file). Thread-safe.
  void read(const std::string& split, int64_t i, uint8_t* dst) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lorasub::io
