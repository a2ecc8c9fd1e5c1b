#include "lorasub/io/image_cache.h"
#include "lorasub/io/file_seal.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

#include "lorasub/core/error.h"
#include "lorasub/io/atomic_file.h"
#include "lorasub/io/h5_internal.h"
#include "lorasub/io/h5file.h"

namespace lorasub::io {

using detail::Handle;

namespace {

constexpr const char* kFormat = "lorasub-image-cache";
constexpr int64_t kVersion = 2;  // 2: sealed (io/file_seal.h)
constexpr hsize_t kChunk = 1 << 20;
std::recursive_mutex& h5_mutex() { return detail::hdf5_mutex(); }

}  // namespace

struct ImageCacheWriter::Impl {
  std::string path, tmp;
  ImageCacheMeta meta;
  hid_t file = -1;
  bool committed = false;
  struct Split {
    std::optional<Handle> pixels;
    int64_t bytes = 0;
    std::vector<int64_t> offset, shape, label, crc;
    std::string paths;
  };
  std::map<std::string, Split> splits;
};

ImageCacheWriter::ImageCacheWriter(const std::string& path, const ImageCacheMeta& meta) : impl_(new Impl) {
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  detail::silence_hdf5_errors();
  impl_->path = path;
  impl_->tmp = path + ".tmp-" + std::to_string(getpid());
  impl_->meta = meta;
  Handle fapl(LORASUB_H5(H5Pcreate(H5P_FILE_ACCESS), impl_->tmp), H5Pclose);
  LORASUB_H5(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), impl_->tmp);
  Handle fcpl(LORASUB_H5(H5Pcreate(H5P_FILE_CREATE), impl_->tmp), H5Pclose);
  LORASUB_H5(H5Pset_userblock(fcpl.get(), kSealBytes), impl_->tmp);
  impl_->file = LORASUB_H5(H5Fcreate(impl_->tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), impl_->tmp);
}

ImageCacheWriter::~ImageCacheWriter() {
  if (impl_->committed) return;
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  impl_->splits.clear();
  if (impl_->file >= 0) H5Fclose(impl_->file);
  std::remove(impl_->tmp.c_str());
}

void ImageCacheWriter::add(const std::string& split, const uint8_t* hwc, int64_t h, int64_t w, int64_t c, int64_t label,
                           const std::string& source_path) {
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  const std::string& p = impl_->tmp;
  auto it = impl_->splits.find(split);
  if (it == impl_->splits.end()) {
    Handle group(LORASUB_H5(H5Gcreate2(impl_->file, split.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), p),
                 H5Gclose);
    const hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    Handle space(LORASUB_H5(H5Screate_simple(1, &dims, &maxdims), p), H5Sclose);
    Handle dcpl(LORASUB_H5(H5Pcreate(H5P_DATASET_CREATE), p), H5Pclose);
    LORASUB_H5(H5Pset_chunk(dcpl.get(), 1, &kChunk), p);
    it = impl_->splits.emplace(split, Impl::Split{}).first;
    it->second.pixels.emplace(LORASUB_H5(H5Dcreate2(impl_->file, (split + "/pixels").c_str(), H5T_STD_U8LE, space.get(),
                                                    H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                         p),
                              H5Dclose);
  }
  Impl::Split& s = it->second;
  const hsize_t n = static_cast<hsize_t>(h * w * c), start = static_cast<hsize_t>(s.bytes);
  const hsize_t total = start + n;
  LORASUB_H5(H5Dset_extent(s.pixels->get(), &total), p);
  Handle fspace(LORASUB_H5(H5Dget_space(s.pixels->get()), p), H5Sclose);
  LORASUB_H5(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), p);
  Handle mspace(LORASUB_H5(H5Screate_simple(1, &n, nullptr), p), H5Sclose);
  LORASUB_H5(H5Dwrite(s.pixels->get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, hwc), p);
  s.offset.push_back(s.bytes);
  s.shape.insert(s.shape.end(), {h, w, c});
  s.label.push_back(label);
  s.crc.push_back(detail::crc32_bytes(hwc, n));
  s.paths += source_path + "\n";
  s.bytes += static_cast<int64_t>(n);
}

void ImageCacheWriter::commit() {
  {
    std::lock_guard<std::recursive_mutex> lock(h5_mutex());
    const std::string& p = impl_->tmp;
    auto write_i64 = [&](const std::string& name, const std::vector<int64_t>& v, int rank, hsize_t cols) {
      hsize_t dims[2] = {cols > 1 ? v.size() / cols : v.size(), cols};
      Handle space(LORASUB_H5(H5Screate_simple(rank, dims, nullptr), p), H5Sclose);
      Handle d(LORASUB_H5(H5Dcreate2(impl_->file, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT),
                          p),
               H5Dclose);
      if (!v.empty()) LORASUB_H5(H5Dwrite(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), p);
    };
    auto attr = [&](const char* key, const std::string& value) {
      Handle type = detail::string_type(0, p);
      Handle space(LORASUB_H5(H5Screate(H5S_SCALAR), p), H5Sclose);
      Handle a(LORASUB_H5(H5Acreate2(impl_->file, key, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), p),
               H5Aclose);
      const char* s = value.c_str();
      LORASUB_H5(H5Awrite(a.get(), type.get(), &s), p);
    };
    auto attr_i = [&](const char* key, int64_t value) {
      Handle space(LORASUB_H5(H5Screate(H5S_SCALAR), p), H5Sclose);
      Handle a(LORASUB_H5(H5Acreate2(impl_->file, key, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), p),
               H5Aclose);
      LORASUB_H5(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), p);
    };
    for (auto& [name, s] : impl_->splits) {
      write_i64(name + "/offset", s.offset, 1, 1);
      write_i64(name + "/shape", s.shape, 2, 3);
      write_i64(name + "/label", s.label, 1, 1);
      write_i64(name + "/crc32", s.crc, 1, 1);
      Handle type = detail::string_type(0, p);
      Handle space(LORASUB_H5(H5Screate(H5S_SCALAR), p), H5Sclose);
      Handle d(LORASUB_H5(H5Dcreate2(impl_->file, (name + "/paths").c_str(), type.get(), space.get(), H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT),
                          p),
               H5Dclose);
      const char* text = s.paths.c_str();
      LORASUB_H5(H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text), p);
      s.pixels.reset();
    }
    attr("format", kFormat);
    attr_i("format_version", kVersion);
    attr("dataset", impl_->meta.dataset);
    attr("root", impl_->meta.root);
    attr_i("short_side", impl_->meta.short_side);
    impl_->splits.clear();
    const herr_t rc = H5Fclose(impl_->file);
    impl_->file = -1;
    LORASUB_H5(rc, p);
  }
  seal_file(impl_->tmp);
  publish_tmp(impl_->tmp, impl_->path);
  impl_->committed = true;
}

struct ImageCacheReader::Impl {
  std::string path;
  ImageCacheMeta meta;
  hid_t file = -1;
  struct Split {
    std::optional<Handle> pixels;
    std::vector<int64_t> offset, crc;
    std::vector<Image> images;
    std::vector<std::string> paths;
  };
  std::map<std::string, Split> splits;
  const Split& split(const std::string& name) const {
    auto it = splits.find(name);
    if (it == splits.end()) throw FormatError("'" + path + "': no split '" + name + "' in the image cache");
    return it->second;
  }
};

ImageCacheReader::ImageCacheReader(const std::string& path) : impl_(new Impl) {
  impl_->path = path;
  {
    // Attributes and metadata through H5Reader (its checks and messages).
    H5Reader r(path, "lorasub image cache");
    if (!r.has_attr("/", "format") || r.attr_string("/", "format") != kFormat)
      throw FormatError("'" + path + "': not a lorasub image cache (written by `lorasub prepare`)");
    if (r.attr_int("/", "format_version") != kVersion)
      throw FormatError("'" + path + "': image cache format version " +
                        std::to_string(r.attr_int("/", "format_version")) + ", this lorasub reads " +
                        std::to_string(kVersion) + " (run `lorasub prepare` again)");
    impl_->meta = {r.attr_string("/", "dataset"), r.attr_string("/", "root"), r.attr_int("/", "short_side")};
    for (const std::string& name : r.list("/")) {
      Impl::Split s;
      s.offset = r.read_i64(name + "/offset");
      s.crc = r.read_i64(name + "/crc32");
      const std::vector<int64_t> shape = r.read_i64(name + "/shape"), label = r.read_i64(name + "/label");
      for (size_t i = 0; i < label.size(); ++i)
        s.images.push_back({shape[3 * i], shape[3 * i + 1], shape[3 * i + 2], label[i]});
      std::istringstream lines(r.read_string(name + "/paths"));
      for (std::string l; std::getline(lines, l);) s.paths.push_back(l);
      if (s.offset.size() != s.images.size() || s.crc.size() != s.images.size() || s.paths.size() != s.images.size())
        throw FormatError("'" + path + "': split '" + name + "' has inconsistent index datasets");
      impl_->splits.emplace(name, std::move(s));
    }
  }
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  impl_->file = LORASUB_H5_READ(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path);
  for (auto& [name, s] : impl_->splits)
    s.pixels.emplace(LORASUB_H5_READ(H5Dopen2(impl_->file, (name + "/pixels").c_str(), H5P_DEFAULT), path), H5Dclose);
}

ImageCacheReader::~ImageCacheReader() {
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  impl_->splits.clear();
  if (impl_->file >= 0) H5Fclose(impl_->file);
}

const ImageCacheMeta& ImageCacheReader::meta() const { return impl_->meta; }
int64_t ImageCacheReader::size(const std::string& split) const {
  return static_cast<int64_t>(impl_->split(split).images.size());
}
const ImageCacheReader::Image& ImageCacheReader::info(const std::string& split, int64_t i) const {
  return impl_->split(split).images.at(static_cast<size_t>(i));
}
const std::string& ImageCacheReader::source_path(const std::string& split, int64_t i) const {
  return impl_->split(split).paths.at(static_cast<size_t>(i));
}

void ImageCacheReader::read(const std::string& split, int64_t i, uint8_t* dst) const {
  const Impl::Split& s = impl_->split(split);
  const Image& im = s.images.at(static_cast<size_t>(i));
  const hsize_t n = static_cast<hsize_t>(im.height * im.width * im.channels);
  const hsize_t start = static_cast<hsize_t>(s.offset[static_cast<size_t>(i)]);
  {
    std::lock_guard<std::recursive_mutex> lock(h5_mutex());
    const std::string& p = impl_->path;
    Handle fspace(LORASUB_H5_READ(H5Dget_space(s.pixels->get()), p), H5Sclose);
    LORASUB_H5_READ(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), p);
    Handle mspace(LORASUB_H5_READ(H5Screate_simple(1, &n, nullptr), p), H5Sclose);
    LORASUB_H5_READ(H5Dread(s.pixels->get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, dst), p);
  }
  if (static_cast<int64_t>(detail::crc32_bytes(dst, n)) != s.crc[static_cast<size_t>(i)])
    throw FormatError("'" + impl_->path + "': checksum mismatch for image " + std::to_string(i) + " of split '" +
                      split + "' (" + s.paths[static_cast<size_t>(i)] + "); run `lorasub prepare` again");
}

}  // namespace lorasub::io
