#include "lorasub/data/cifar_python.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/data/pickle.h"

namespace lorasub::data {

namespace fs = std::filesystem;
using pickle::Kind;
using pickle::Pickle;
using pickle::Value;

namespace {

constexpr int64_t kPixels = 32 * 32 * 3;
constexpr int64_t kClasses = 100;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

Value root_dict(const Pickle& p) {
  const Value root = p.root();
  if (root.kind != Kind::kDict)
    throw FormatError(p.name() + ": the pickle holds " + pickle::kind_name(root.kind) +
                      ", not the dict of a CIFAR-100 python file");
  return root;
}

Value require(const Pickle& p, Value dict, const std::string& key) {
  const auto v = p.find(dict, key);
  if (!v) throw FormatError(p.name() + ": no key b'" + key + "' in its dict (it has " + p.describe_keys(dict) + ")");
  return *v;
}

// b'data': a built, C-ordered uint8 array of shape (N, 3072).
const pickle::Array& pixel_array(const Pickle& p, Value dict) {
  const Value v = require(p, dict, "data");
  const std::string where = p.name() + ": b'data' ";
  if (v.kind != Kind::kArray) throw FormatError(where + "is " + pickle::kind_name(v.kind) + ", not a numpy array");
  const pickle::Array& a = p.array(v);
  if (!a.built) throw FormatError(where + "is a numpy array that the pickle never fills in (no BUILD)");
  if (a.dtype != "u1") throw FormatError(where + "has dtype '" + a.dtype + "', not uint8 ('u1')");
  std::string dims;
  for (const int64_t d : a.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  if (a.shape.size() != 2 || a.shape[1] != kPixels)
    throw FormatError(where + "has shape (" + dims + "), not (N, 3072)");
  if (a.fortran) throw FormatError(where + "is in Fortran (column-major) order, not C order");
  return a;
}

// b'fine_labels': a list of `rows` ints in 0..99.
std::vector<int64_t> fine_labels(const Pickle& p, Value dict, int64_t rows) {
  const Value v = require(p, dict, "fine_labels");
  const std::string where = p.name() + ": b'fine_labels'";
  if (v.kind != Kind::kList) throw FormatError(where + " is " + pickle::kind_name(v.kind) + ", not a list");
  const std::vector<Value>& items = p.items(v);
  if (static_cast<int64_t>(items.size()) != rows)
    throw FormatError(where + " has " + std::to_string(items.size()) + " labels, but b'data' has " +
                      std::to_string(rows) + " rows");
  std::vector<int64_t> labels(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (items[i].kind != Kind::kInt) throw FormatError(at + " is " + pickle::kind_name(items[i].kind) + ", not an int");
    if (items[i].num < 0 || items[i].num >= kClasses)
      throw FormatError(at + " is " + std::to_string(items[i].num) + " (expected 0..99)");
    labels[i] = items[i].num;
  }
  return labels;
}

}  // namespace

Cifar100Layout cifar100_layout(const std::string& root) {
  const fs::path r(root);
  const std::string what = "dataset 'cifar100': ";
  const bool train_bin = is_file(r / "train.bin"), test_bin = is_file(r / "test.bin");
  if (train_bin && test_bin) return Cifar100Layout::kBinary;
  if (train_bin || test_bin)
    throw ConfigError(
        what + "'" + (r / (train_bin ? "test.bin" : "train.bin")).string() +
        "' does not exist (the binary version of CIFAR-100 is train.bin and test.bin; see data/README.md)");
  std::string missing;
  int n_missing = 0;
  for (const char* f : {"train", "test", "meta"}) {
    if (is_file(r / f)) continue;
    missing += (missing.empty() ? "'" : ", '") + (r / f).string() + "'";
    ++n_missing;
  }
  if (n_missing == 0) return Cifar100Layout::kPython;
  if (n_missing < 3)
    throw ConfigError(what + "'" + root + "' holds only part of the python version of CIFAR-100: " + missing +
                      (n_missing == 1 ? " does" : " do") +
                      " not exist (the python version is the files train, test and meta; see data/README.md)");
  std::string hint;
  for (const char* sub : {"cifar-100-python", "cifar-100-binary"}) {
    std::error_code ec;
    if (hint.empty() && fs::is_directory(r / sub, ec))
      hint = " ('" + (r / sub).string() + "' is one: set data.root to it)";
  }
  throw ConfigError(what + "'" + root +
                    "' holds neither version of CIFAR-100: data.root must be the cifar-100-binary folder (train.bin, "
                    "test.bin) or the cifar-100-python folder (train, test, meta)" +
                    hint + "; see data/README.md");
}

ImageSet read_cifar100_python(const std::string& path) {
  const Pickle p = pickle::read_pickle(path);
  const Value dict = root_dict(p);
  const pickle::Array& a = pixel_array(p, dict);
  const int64_t n = a.shape[0];
  ImageSet set;
  set.labels = fine_labels(p, dict, n);
  set.height = set.width = 32;
  set.channels = 3;
  set.source = path;
  const std::string_view src = p.text(a.data, "b'data'");
  set.pixels.resize(static_cast<size_t>(n * kPixels));
  // Planes (1024 R, 1024 G, 1024 B) per row to HWC, as read_cifar100_binary does.
  for (int64_t r = 0; r < n; ++r) {
    const auto* row = reinterpret_cast<const uint8_t*>(src.data()) + r * kPixels;
    uint8_t* dst = set.pixels.data() + r * kPixels;
    for (int px = 0; px < 1024; ++px)
      for (int c = 0; c < 3; ++c) dst[px * 3 + c] = row[c * 1024 + px];
  }
  return set;
}

std::vector<std::string> read_cifar100_python_names(const std::string& meta_path) {
  const Pickle p = pickle::read_pickle(meta_path);
  const Value dict = root_dict(p);
  const Value v = require(p, dict, "fine_label_names");
  const std::string where = meta_path + ": b'fine_label_names'";
  if (v.kind != Kind::kList) throw FormatError(where + " is " + pickle::kind_name(v.kind) + ", not a list");
  const std::vector<Value>& items = p.items(v);
  if (static_cast<int64_t>(items.size()) != kClasses)
    throw FormatError(where + " has " + std::to_string(items.size()) + " names, not 100");
  std::vector<std::string> names;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string key = "b'fine_label_names'[" + std::to_string(i) + "]", at = meta_path + ": " + key;
    const std::string name(p.text(items[i], key));
    if (name.empty()) throw FormatError(at + " is empty");
    if (!pickle::is_utf8(name)) throw FormatError(at + " is not UTF-8 text");
    names.push_back(name);
  }
  return names;
}

}  // namespace lorasub::data
