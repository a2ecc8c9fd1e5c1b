// H5Reader: every failure, HDF5's own included, is a FormatError naming the file.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/io/h5_internal.h"
#include "lorasub/io/h5file.h"
#include "lorasub/io/file_seal.h"

namespace lorasub::io {
namespace {

using detail::Handle;

herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

// Reads a scalar string (fixed or variable length) through `read(mem_type, buffer)`.
std::string read_string_value(hid_t stored, const std::function<herr_t(hid_t, void*)>& read, const std::string& path) {
  if (H5Tis_variable_str(stored) > 0) {
    Handle mem = detail::string_type(0, path);
    char* text = nullptr;
    LORASUB_H5_READ(read(mem.get(), &text), path);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(stored), '\0');
  LORASUB_H5_READ(read(stored, value.data()), path);
  while (!value.empty() && value.back() == '\0') value.pop_back();  // NUL terminator / padding
  return value;
}

}  // namespace

H5Reader::H5Reader(const std::string& path, const std::string& what) : path_(path) {
  verify_seal(path, what);  // HDF5 never sees a damaged file
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) file_bytes_ = static_cast<int64_t>(st.st_size);
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  detail::silence_hdf5_errors();
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) {
    const std::string stack = detail::take_error_stack();
    throw FormatError("'" + path + "': not an HDF5 file or truncated" + (stack.empty() ? "" : " (" + stack + ")"));
  }
}

H5Reader::~H5Reader() {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (file_ >= 0) H5Fclose(file_);
}

H5Reader::H5Reader(H5Reader&& other) noexcept
    : path_(std::move(other.path_)), file_(std::exchange(other.file_, -1)), file_bytes_(other.file_bytes_) {}

bool H5Reader::has(const std::string& name) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  return detail::object_exists(file_, name);
}

namespace {

Handle open_dataset(hid_t file, const std::string& name, const std::string& path) {
  if (!detail::object_exists(file, name)) throw FormatError("'" + path + "': missing dataset '" + name + "'");
  Handle obj(LORASUB_H5_READ(H5Oopen(file, name.c_str(), H5P_DEFAULT), path), H5Oclose);
  if (H5Iget_type(obj.get()) != H5I_DATASET) throw FormatError("'" + path + "': '" + name + "' is not a dataset");
  return obj;
}

int64_t element_count(hid_t dset, const std::string& path) {
  Handle space(LORASUB_H5_READ(H5Dget_space(dset), path), H5Sclose);
  return LORASUB_H5_READ(H5Sget_simple_extent_npoints(space.get()), path);
}

}  // namespace

size_t H5Reader::checked_bytes(int64_t dset, size_t elem_size, const std::string& name) const {
  const int64_t n = element_count(dset, path_);
  uint64_t bytes = 0;
  if (n < 0 || __builtin_mul_overflow(static_cast<uint64_t>(n), static_cast<uint64_t>(elem_size), &bytes) ||
      bytes > static_cast<uint64_t>(file_bytes_))
    throw FormatError("'" + path_ + "': dataset '" + name + "' declares " + std::to_string(n) + " elements of " +
                      std::to_string(elem_size) + " bytes, more than the file's " + std::to_string(file_bytes_) +
                      " bytes");
  return static_cast<size_t>(bytes);
}

std::vector<int64_t> H5Reader::shape(const std::string& name) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle dset = open_dataset(file_, name, path_);
  Handle space(LORASUB_H5_READ(H5Dget_space(dset.get()), path_), H5Sclose);
  const int rank = LORASUB_H5_READ(H5Sget_simple_extent_ndims(space.get()), path_);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  LORASUB_H5_READ(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path_);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::string H5Reader::type(const std::string& name) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle dset = open_dataset(file_, name, path_);
  Handle stored(LORASUB_H5_READ(H5Dget_type(dset.get()), path_), H5Tclose);
  return detail::type_name(stored.get());
}

template <class T>
std::vector<T> H5Reader::read_numeric(const std::string& name, const char* type, hid_t mem_type) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle dset = open_dataset(file_, name, path_);
  Handle stored(LORASUB_H5_READ(H5Dget_type(dset.get()), path_), H5Tclose);
  const std::string stored_name = detail::type_name(stored.get());
  if (stored_name != type) {
    throw FormatError("'" + path_ + "': dataset '" + name + "' holds " + stored_name + ", not " + type);
  }
  std::vector<T> values(checked_bytes(dset.get(), sizeof(T), name) / sizeof(T));
  if (!values.empty()) {
    LORASUB_H5_READ(H5Dread(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path_);
  }
  return values;
}

std::vector<float> H5Reader::read_f32(const std::string& name) const {
  return read_numeric<float>(name, "float32", H5T_NATIVE_FLOAT);
}
std::vector<double> H5Reader::read_f64(const std::string& name) const {
  return read_numeric<double>(name, "float64", H5T_NATIVE_DOUBLE);
}
std::vector<int64_t> H5Reader::read_i64(const std::string& name) const {
  return read_numeric<int64_t>(name, "int64", H5T_NATIVE_INT64);
}
std::vector<uint8_t> H5Reader::read_u8(const std::string& name) const {
  return read_numeric<uint8_t>(name, "uint8", H5T_NATIVE_UINT8);
}

std::string H5Reader::read_string(const std::string& name) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle dset = open_dataset(file_, name, path_);
  Handle stored(LORASUB_H5_READ(H5Dget_type(dset.get()), path_), H5Tclose);
  if (H5Tget_class(stored.get()) != H5T_STRING || element_count(dset.get(), path_) != 1) {
    throw FormatError("'" + path_ + "': dataset '" + name + "' holds " + detail::type_name(stored.get()) +
                      ", not a scalar string");
  }
  const hid_t id = dset.get();
  return read_string_value(
      stored.get(), [id](hid_t mem, void* buf) { return H5Dread(id, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); }, path_);
}

bool H5Reader::has_attr(const std::string& object, const std::string& key) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (!detail::object_exists(file_, object)) return false;
  return LORASUB_H5_READ(H5Aexists_by_name(file_, object.c_str(), key.c_str(), H5P_DEFAULT), path_) > 0;
}

hid_t H5Reader::open_attr(const std::string& object, const std::string& key) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (!has_attr(object, key)) {
    throw FormatError("'" + path_ + "': missing attribute '" + key + "' on '" + object + "'");
  }
  return LORASUB_H5_READ(H5Aopen_by_name(file_, object.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT), path_);
}

namespace {

// The attribute's stored type, checked against the accepted classes.
Handle attr_type(hid_t attr, std::initializer_list<H5T_class_t> accepted, const char* wanted, const std::string& where,
                 const std::string& path) {
  Handle type(LORASUB_H5_READ(H5Aget_type(attr), path), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  for (H5T_class_t ok : accepted) {
    if (cls == ok) return type;
  }
  throw FormatError("'" + path + "': attribute " + where + " holds " + detail::type_name(type.get()) + ", not " +
                    wanted);
}

}  // namespace

std::string H5Reader::attr_string(const std::string& object, const std::string& key) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle attr(open_attr(object, key), H5Aclose);
  Handle type = attr_type(attr.get(), {H5T_STRING}, "a string", "'" + key + "' on '" + object + "'", path_);
  const hid_t id = attr.get();
  return read_string_value(
      type.get(), [id](hid_t mem, void* buf) { return H5Aread(id, mem, buf); }, path_);
}

int64_t H5Reader::attr_int(const std::string& object, const std::string& key) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle attr(open_attr(object, key), H5Aclose);
  attr_type(attr.get(), {H5T_INTEGER}, "an integer", "'" + key + "' on '" + object + "'", path_);
  int64_t value = 0;
  LORASUB_H5_READ(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path_);
  return value;
}

double H5Reader::attr_double(const std::string& object, const std::string& key) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle attr(open_attr(object, key), H5Aclose);
  attr_type(attr.get(), {H5T_FLOAT, H5T_INTEGER}, "a number", "'" + key + "' on '" + object + "'", path_);
  double value = 0;
  LORASUB_H5_READ(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), path_);
  return value;
}

std::vector<std::string> H5Reader::list(const std::string& group) const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (!detail::object_exists(file_, group)) throw FormatError("'" + path_ + "': missing group '" + group + "'");
  Handle obj(LORASUB_H5_READ(H5Oopen(file_, group.c_str(), H5P_DEFAULT), path_), H5Oclose);
  if (H5Iget_type(obj.get()) != H5I_GROUP) throw FormatError("'" + path_ + "': '" + group + "' is not a group");
  std::vector<std::string> names;
  LORASUB_H5_READ(H5Literate(obj.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &names), path_);
  return names;
}

void H5Reader::verify() const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  std::vector<std::string> names;
  LORASUB_H5_READ(H5Lvisit(file_, H5_INDEX_NAME, H5_ITER_INC, collect_link, &names), path_);
  for (const std::string& name : names) {
    Handle obj(LORASUB_H5_READ(H5Oopen(file_, name.c_str(), H5P_DEFAULT), path_), H5Oclose);
    if (H5Iget_type(obj.get()) != H5I_DATASET) continue;
    const std::string where = "dataset '" + name + "'";
    if (LORASUB_H5_READ(H5Aexists(obj.get(), "crc32"), path_) <= 0) {
      throw FormatError("'" + path_ + "': " + where + " has no checksum");
    }
    Handle stored(LORASUB_H5_READ(H5Dget_type(obj.get()), path_), H5Tclose);
    if (H5Tis_variable_str(stored.get()) > 0 || H5Tdetect_class(stored.get(), H5T_VLEN) > 0) {
      throw FormatError("'" + path_ + "': " + where + " is variable-length and cannot be checksummed");
    }
    std::vector<unsigned char> raw(checked_bytes(obj.get(), H5Tget_size(stored.get()), name));
    if (!raw.empty()) {
      // Read in the stored type itself: no conversion, the bytes as they lie in the file.
      LORASUB_H5_READ(H5Dread(obj.get(), stored.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), path_);
    }
    if (static_cast<int64_t>(detail::crc32_bytes(raw.data(), raw.size())) != attr_int(name, "crc32")) {
      throw FormatError("'" + path_ + "': checksum mismatch in " + where);
    }
  }
}

}  // namespace lorasub::io
