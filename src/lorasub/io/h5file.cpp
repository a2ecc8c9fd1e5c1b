// H5Writer and the helpers both HDF5 classes share.
#include "lorasub/io/h5file.h"
#include "lorasub/io/file_seal.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/io/atomic_file.h"
#include "lorasub/io/h5_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "h5file.cpp checksums native bytes as the little-endian file bytes"
#endif

namespace lorasub::io {
namespace detail {
namespace {

herr_t collect_error(unsigned, const H5E_error2_t* err, void* out) {
  auto* lines = static_cast<std::vector<std::string>*>(out);
  lines->push_back(std::string(err->func_name ? err->func_name : "?") + ": " + (err->desc ? err->desc : ""));
  return 0;
}

}  // namespace

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex m;
  return m;
}

void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string take_error_stack() {
  std::vector<std::string> lines;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &lines);
  H5Eclear2(H5E_DEFAULT);
  // The cause in a few words: the system's error when HDF5 saw one (its stacks bury it as
  // "..., errno = 28, error message = 'No space left on device', ..."), else the
  // innermost description without HDF5's "time = ..." details.
  for (const std::string& line : lines) {
    const auto at = line.find("error message = '");
    if (at == std::string::npos) continue;
    const auto from = at + 17, to = line.find('\'', from);
    return line.substr(from, to == std::string::npos ? std::string::npos : to - from);
  }
  if (lines.empty()) return "";
  std::string inner = lines.back();
  const auto details = inner.find(": time =");
  return details == std::string::npos ? inner : inner.substr(0, details);
}

void throw_h5(const char* call, const char* file, int line, const std::string& path, bool format_error) {
  const std::string cause = take_error_stack();
  const std::string fn(call, std::find(call, call + std::strlen(call), '('));
  const char* slash = std::strrchr(file, '/');
  const std::string source = slash ? slash + 1 : file;
  // One line: the file, what failed and why; the call and source line for a bug report.
  const std::string msg = "'" + path + "': " + (format_error ? "cannot read: " : "cannot write: ") +
                          (cause.empty() ? "HDF5 error" : cause) + " (" + fn + " at " + source + ":" +
                          std::to_string(line) + ")";
  if (format_error) throw FormatError(msg);
  throw std::runtime_error(msg);
}

bool object_exists(hid_t file, const std::string& name) {
  std::string prefix;
  size_t start = 0;
  while (start < name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    const std::string part = name.substr(start, slash - start);
    start = slash + 1;
    if (part.empty()) continue;
    prefix += "/" + part;
    // Fails (negative) when an earlier component is a dataset: then it does not exist.
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0 ||
        H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

std::string type_name(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return "float" + std::to_string(8 * size);
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * size);
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "variable-length string" : "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    default:
      return "type of class " + std::to_string(static_cast<int>(H5Tget_class(type)));
  }
}

uint32_t crc32_bytes(const void* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

Handle make_space(const int64_t* dims, int rank, const std::string& path) {
  if (rank == 0) return Handle(LORASUB_H5(H5Screate(H5S_SCALAR), path), H5Sclose);
  std::vector<hsize_t> d(dims, dims + rank);
  return Handle(LORASUB_H5(H5Screate_simple(rank, d.data(), nullptr), path), H5Sclose);
}

Handle string_type(size_t size, const std::string& path) {
  Handle type(LORASUB_H5(H5Tcopy(H5T_C_S1), path), H5Tclose);
  LORASUB_H5(H5Tset_size(type.get(), size == 0 ? H5T_VARIABLE : size), path);
  LORASUB_H5(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), path);
  LORASUB_H5(H5Tset_cset(type.get(), H5T_CSET_UTF8), path);
  return type;
}

}  // namespace detail

using detail::Handle;

H5Writer::H5Writer(const std::string& path) : path_(path), tmp_(tmp_path_for(path)) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  detail::silence_hdf5_errors();
  Handle fapl(LORASUB_H5(H5Pcreate(H5P_FILE_ACCESS), tmp_), H5Pclose);
  // The 1.8 format checksums superblock and object headers: metadata damage is caught too.
  LORASUB_H5(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), tmp_);
  Handle fcpl(LORASUB_H5(H5Pcreate(H5P_FILE_CREATE), tmp_), H5Pclose);
  LORASUB_H5(H5Pset_userblock(fcpl.get(), kSealBytes), tmp_);  // the seal goes there at commit
  file_ = LORASUB_H5(H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), tmp_);
}

H5Writer::~H5Writer() {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (file_ >= 0) H5Fclose(file_);
  if (!committed_) ::unlink(tmp_.c_str());
  H5Eclear2(H5E_DEFAULT);
}

int64_t H5Writer::numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void H5Writer::check_open() const {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  if (file_ < 0) throw std::logic_error("'" + path_ + "': H5Writer used after commit");
}

void H5Writer::write_raw(const std::string& name, const std::vector<int64_t>& shape, hid_t file_type, hid_t mem_type,
                         const void* data, size_t elem_size) {
  check_open();
  if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
    throw std::invalid_argument("'" + path_ + "': dataset '" + name + "' has a negative dimension");
  }
  if (name.empty() || detail::object_exists(file_, name)) {
    throw std::invalid_argument("'" + path_ + "': dataset name '" + name + "' is empty or already written");
  }
  Handle space = detail::make_space(shape.data(), static_cast<int>(shape.size()), tmp_);
  Handle lcpl(LORASUB_H5(H5Pcreate(H5P_LINK_CREATE), tmp_), H5Pclose);
  LORASUB_H5(H5Pset_create_intermediate_group(lcpl.get(), 1), tmp_);
  Handle dcpl(LORASUB_H5(H5Pcreate(H5P_DATASET_CREATE), tmp_), H5Pclose);
  // Contiguous: the raw bytes lie in one run at H5Dget_offset, checksummed as a whole.
  LORASUB_H5(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), tmp_);
  Handle dset(
      LORASUB_H5(H5Dcreate2(file_, name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), tmp_),
      H5Dclose);
  const size_t bytes = static_cast<size_t>(numel(shape)) * elem_size;
  if (bytes > 0) LORASUB_H5(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), tmp_);

  const uint32_t crc = detail::crc32_bytes(data, bytes);
  Handle scalar = detail::make_space(nullptr, 0, tmp_);
  Handle attr(LORASUB_H5(H5Acreate2(dset.get(), "crc32", H5T_STD_U32LE, scalar.get(), H5P_DEFAULT, H5P_DEFAULT), tmp_),
              H5Aclose);
  LORASUB_H5(H5Awrite(attr.get(), H5T_NATIVE_UINT32, &crc), tmp_);
}

void H5Writer::write(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_raw(name, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, sizeof(float));
}
void H5Writer::write(const std::string& name, const std::vector<int64_t>& shape, const double* data) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_raw(name, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, sizeof(double));
}
void H5Writer::write(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_raw(name, shape, H5T_STD_I64LE, H5T_NATIVE_INT64, data, sizeof(int64_t));
}
void H5Writer::write(const std::string& name, const std::vector<int64_t>& shape, const uint8_t* data) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_raw(name, shape, H5T_STD_U8LE, H5T_NATIVE_UINT8, data, sizeof(uint8_t));
}

void H5Writer::write_string(const std::string& name, const std::string& value) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  // The terminating NUL is stored too, so an empty string is a valid 1-byte type.
  Handle type = detail::string_type(value.size() + 1, tmp_);
  write_raw(name, {}, type.get(), type.get(), value.c_str(), value.size() + 1);
}

void H5Writer::write_attr(const std::string& object, const std::string& key, hid_t file_type, hid_t mem_type,
                          const void* value) {
  check_open();
  if (key == "crc32") throw std::invalid_argument("'" + path_ + "': attribute name 'crc32' is reserved");
  if (!detail::object_exists(file_, object)) {
    throw std::invalid_argument("'" + path_ + "': no object '" + object + "' for attribute '" + key + "'");
  }
  Handle obj(LORASUB_H5(H5Oopen(file_, object.c_str(), H5P_DEFAULT), tmp_), H5Oclose);
  if (LORASUB_H5(H5Aexists(obj.get(), key.c_str()), tmp_) > 0) LORASUB_H5(H5Adelete(obj.get(), key.c_str()), tmp_);
  Handle scalar = detail::make_space(nullptr, 0, tmp_);
  Handle attr(LORASUB_H5(H5Acreate2(obj.get(), key.c_str(), file_type, scalar.get(), H5P_DEFAULT, H5P_DEFAULT), tmp_),
              H5Aclose);
  LORASUB_H5(H5Awrite(attr.get(), mem_type, value), tmp_);
}

void H5Writer::set_attr(const std::string& object, const std::string& key, const std::string& value) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  Handle type = detail::string_type(0, tmp_);
  const char* text = value.c_str();
  write_attr(object, key, type.get(), type.get(), &text);
}
void H5Writer::set_attr(const std::string& object, const std::string& key, int64_t value) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_attr(object, key, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
void H5Writer::set_attr(const std::string& object, const std::string& key, double value) {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  write_attr(object, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void H5Writer::commit() {
  std::lock_guard<std::recursive_mutex> hdf5_lock(detail::hdf5_mutex());
  check_open();
  const herr_t rc = H5Fclose(file_);
  file_ = -1;
  LORASUB_H5(rc, tmp_);
  seal_file(tmp_);
  publish_tmp(tmp_, path_);
  committed_ = true;
}

}  // namespace lorasub::io
