#include "lorasub/data/file_datasets.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {

namespace fs = std::filesystem;

std::string FileList::full_path(int64_t i) const {
  return (fs::path(root) / entries.at(static_cast<size_t>(i)).path).string();
}

namespace {

bool is_image_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

std::vector<std::string> sorted_wnids(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw FormatError("ImageNet-R: '" + root + "' is not a directory");
  }
  std::vector<std::string> wnids;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name[0] != '.' && e.is_directory()) wnids.push_back(name);
  }
  std::sort(wnids.begin(), wnids.end());
  if (wnids.empty()) {
    throw FormatError("ImageNet-R: no class folders (<wnid>/) under '" + root + "'");
  }
  return wnids;
}

void sort_by_path(std::vector<FileEntry>& v) {
  std::sort(v.begin(), v.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
}

}  // namespace

FileList list_imagenet_r(const std::string& root) {
  FileList list;
  list.root = root;
  list.class_names = sorted_wnids(root);
  for (size_t c = 0; c < list.class_names.size(); ++c) {
    const size_t before = list.entries.size();
    for (const auto& e : fs::directory_iterator(fs::path(root) / list.class_names[c])) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.' || !e.is_regular_file() || !is_image_name(name)) continue;
      list.entries.push_back({list.class_names[c] + "/" + name, static_cast<int64_t>(c)});
    }
    // A class without images would shift every later label and fail only at its task.
    if (list.entries.size() == before)
      throw FormatError("ImageNet-R: class folder '" + (fs::path(root) / list.class_names[c]).string() +
                        "' holds no images (.jpg, .jpeg, .png); remove it or restore its images");
  }
  sort_by_path(list.entries);
  list.source = "ImageNet-R '" + root + "' (" + std::to_string(list.class_names.size()) + " classes, " +
                std::to_string(list.entries.size()) + " images)";
  return list;
}

uint64_t split_random(uint64_t seed, uint64_t k) {
  const uint64_t s0 = splitmix64(seed ^ 0x494d4147454e4552ULL);
  return splitmix64(s0 + k);
}

TrainTest split_imagenet_r(const FileList& all, uint64_t seed, double train_fraction) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0)) {
    throw ConfigError("ImageNet-R split: train fraction must be in (0, 1), got " + std::to_string(train_fraction));
  }
  std::vector<FileEntry> sorted = all.entries;
  sort_by_path(sorted);
  const size_t n = sorted.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  uint64_t k = 0;
  for (size_t i = n; i-- > 1;) {
    const size_t j = static_cast<size_t>(split_random(seed, k++) % (i + 1));
    std::swap(order[i], order[j]);
  }
  const size_t n_train = static_cast<size_t>(std::floor(static_cast<double>(n) * train_fraction + 1e-9));
  TrainTest out;
  for (FileList* half : {&out.train, &out.test}) {
    half->root = all.root;
    half->class_names = all.class_names;
  }
  for (size_t i = 0; i < n; ++i) {
    (i < n_train ? out.train : out.test).entries.push_back(sorted[order[i]]);
  }
  sort_by_path(out.train.entries);
  sort_by_path(out.test.entries);
  const std::string tag = " seeded split (seed " + std::to_string(seed) + ")";
  out.train.source = all.source + " train" + tag;
  out.test.source = all.source + " test" + tag;
  return out;
}

namespace {

// Entry i of a split file: "<wnid>/<file>" relative to the root, labelled by the rank of
// its folder among the sorted wnid folders. The file's own target must say the same:
// CODA-Prompt's files number the classes that way, and a file that does not would
// train on other labels than it claims.
FileEntry split_entry(const YAML::Node& path, const YAML::Node& target, size_t i,
                      const std::map<std::string, int64_t>& rank, const std::string& root,
                      const std::string& yaml_path) {
  const std::string where = yaml_path + ": entry " + std::to_string(i);
  if (!path.IsScalar()) throw FormatError(yaml_path + ": 'data' entry " + std::to_string(i) + " is not a path");
  const std::string p = path.as<std::string>();
  const fs::path fp(p);
  const std::string file = fp.filename().string();
  const std::string wnid = fp.parent_path().filename().string();
  if (file.empty() || wnid.empty()) throw FormatError(where + " '" + p + "' is not of the form .../<wnid>/<file>");
  const auto it = rank.find(wnid);
  if (it == rank.end())
    throw FormatError(where + " '" + p + "': class '" + wnid + "' is not a folder of '" + root + "'");
  int64_t claimed = 0;
  if (!target.IsScalar() || !YAML::convert<int64_t>::decode(target, claimed))
    throw FormatError(yaml_path + ": 'targets' entry " + std::to_string(i) + " is not a class number");
  if (claimed != it->second)
    throw FormatError(where + " '" + p + "': its target is class " + std::to_string(claimed) + ", but its folder '" +
                      wnid + "' is class " + std::to_string(it->second) + " of the " + std::to_string(rank.size()) +
                      " class folders of '" + root + "' (numbered in sorted order, as CODA-Prompt's split files are)");
  return {wnid + "/" + file, it->second};
}

}  // namespace

FileList read_imagenet_r_split(const std::string& root, const std::string& yaml_path) {
  FileList list;
  list.root = root;
  list.class_names = sorted_wnids(root);
  std::map<std::string, int64_t> rank;
  for (size_t c = 0; c < list.class_names.size(); ++c) rank[list.class_names[c]] = static_cast<int64_t>(c);
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(yaml_path);
  } catch (const std::exception& e) {
    throw FormatError(yaml_path + ": cannot read ImageNet-R split file: " + e.what());
  }
  // operator[] on a scalar or sequence throws yaml-cpp's BadSubscript: check the shape first.
  if (!doc.IsMap()) throw FormatError(yaml_path + ": an ImageNet-R split file is a map with 'data' and 'targets'");
  const YAML::Node data = doc["data"], targets = doc["targets"];
  if (!data || !data.IsSequence() || !targets || !targets.IsSequence()) {
    throw FormatError(yaml_path + ": an ImageNet-R split file needs sequences 'data' and 'targets'");
  }
  if (data.size() != targets.size()) {
    throw FormatError(yaml_path + ": 'data' has " + std::to_string(data.size()) + " entries but 'targets' has " +
                      std::to_string(targets.size()));
  }
  std::vector<std::string> missing;
  size_t n_missing = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const FileEntry entry = split_entry(data[i], targets[i], i, rank, root, yaml_path);
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(root) / entry.path, ec)) {
      if (missing.size() < 5) missing.push_back((fs::path(root) / entry.path).string());
      ++n_missing;
      continue;
    }
    list.entries.push_back(entry);
  }
  if (n_missing > 0) {
    std::string msg = yaml_path + ": " + std::to_string(n_missing) + " of " + std::to_string(data.size()) +
                      " listed images are missing, first: ";
    for (size_t k = 0; k < missing.size(); ++k) msg += (k ? ", " : "") + missing[k];
    throw FormatError(msg);
  }
  list.source =
      "ImageNet-R '" + root + "' split '" + yaml_path + "' (" + std::to_string(list.entries.size()) + " images)";
  return list;
}

namespace {
// Plain scalar when it is only [A-Za-z0-9_./-], else double-quoted (same rule as
// data/make_imagenet_r_split.py).
std::string yaml_scalar(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '/' || ch == '-';
  });
  if (plain) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') q += '\\';
    q += ch;
  }
  return q + "\"";
}
}  // namespace

void write_imagenet_r_split(const FileList& list, const std::string& yaml_path) {
  std::ofstream out(yaml_path, std::ios::binary);
  if (!out) throw FormatError(yaml_path + ": cannot open for writing");
  out << "data:\n";
  for (const auto& e : list.entries) out << "- " << yaml_scalar(e.path) << "\n";
  out << "targets:\n";
  for (const auto& e : list.entries) out << "- " << e.label << "\n";
  if (!out.good()) throw FormatError(yaml_path + ": write error");
}

std::vector<std::string> domainnet_domains() {
  return {"clipart", "infograph", "painting", "quickdraw", "real", "sketch"};
}

FileList read_domainnet(const std::string& root, const std::vector<std::string>& domains, bool train) {
  FileList list;
  list.root = root;
  list.class_names.assign(kDomainNetClasses, "");
  const auto known = domainnet_domains();
  if (domains.empty()) throw ConfigError("DomainNet: no domains selected");
  for (const auto& d : domains) {
    if (std::find(known.begin(), known.end(), d) == known.end()) {
      std::string k;
      for (const auto& x : known) k += (k.empty() ? "" : ", ") + x;
      throw ConfigError("DomainNet: unknown domain '" + d + "' (known: " + k + ")");
    }
    const std::string file = (fs::path(root) / (d + (train ? "_train.txt" : "_test.txt"))).string();
    std::ifstream in(file);
    if (!in) throw FormatError(file + ": cannot open DomainNet list");
    std::string line;
    int64_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      std::istringstream ss(line);
      std::string path, extra;
      long long label = -1;
      if (!(ss >> path >> label) || (ss >> extra)) {
        throw FormatError(file + ":" + std::to_string(lineno) + ": expected \"relative/path label\", got \"" + line +
                          "\"");
      }
      if (label < 0 || label >= kDomainNetClasses) {
        throw FormatError(file + ":" + std::to_string(lineno) + ": label " + std::to_string(label) +
                          " outside [0, 345)");
      }
      auto& name = list.class_names[static_cast<size_t>(label)];
      if (name.empty()) {
        const fs::path p(path);
        auto it = p.begin();
        if (it != p.end() && ++it != p.end()) name = it->string();
      }
      list.entries.push_back({path, label});
    }
  }
  std::string ds;
  for (const auto& d : domains) ds += (ds.empty() ? "" : ",") + d;
  list.source = "DomainNet '" + root + "' " + ds + (train ? " train" : " test") + " (" +
                std::to_string(list.entries.size()) + " images)";
  return list;
}

ImageSet read_cifar100_binary(const std::string& path) {
  constexpr int64_t kRecord = 2 + 3072;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FormatError(path + ": cannot open CIFAR-100 binary file");
  const int64_t bytes = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  if (bytes % kRecord != 0) {
    throw FormatError(path + ": truncated CIFAR-100 binary file: record " + std::to_string(bytes / kRecord) +
                      " (0-based) has " + std::to_string(bytes % kRecord) + " of " + std::to_string(kRecord) +
                      " bytes");
  }
  const int64_t n = bytes / kRecord;
  ImageSet set;
  set.height = set.width = 32;
  set.channels = 3;
  set.source = path;
  set.pixels.resize(static_cast<size_t>(n * 3072));
  set.labels.resize(static_cast<size_t>(n));
  std::vector<uint8_t> rec(kRecord);
  for (int64_t r = 0; r < n; ++r) {
    if (!in.read(reinterpret_cast<char*>(rec.data()), kRecord)) {
      throw FormatError(path + ": read error at record " + std::to_string(r));
    }
    if (rec[1] >= 100) {
      throw FormatError(path + ": record " + std::to_string(r) + " has fine label " + std::to_string(rec[1]) +
                        " (expected 0..99)");
    }
    set.labels[r] = rec[1];
    uint8_t* dst = set.pixels.data() + r * 3072;
    for (int p = 0; p < 1024; ++p) {
      for (int c = 0; c < 3; ++c) dst[p * 3 + c] = rec[2 + c * 1024 + p];
    }
  }
  return set;
}

std::vector<std::string> read_cifar100_names(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  if (!in) return names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    names.push_back(line);
  }
  return names;
}

}  // namespace lorasub::data
