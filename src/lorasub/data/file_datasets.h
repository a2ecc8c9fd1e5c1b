// Listings of the real benchmarks on disk. Listing never decodes an image and never
// moves or modifies user files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "lorasub/data/image_set.h"

namespace lorasub::data {

struct FileEntry {
  std::string path;  // relative to FileList::root
  int64_t label = 0;
};

struct FileList {
  std::string root;  // directory the paths are relative to
  std::vector<FileEntry> entries;
  std::vector<std::string> class_names;  // index = label
  std::string source;                    // for messages
  int64_t size() const { return static_cast<int64_t>(entries.size()); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  std::string full_path(int64_t i) const;
};

// ---- ImageNet-R: root/<wnid>/<file>.{jpg,jpeg,png} (extension case-insensitive) ----
// Every image under a wnid folder, sorted by relative path; label = rank of the wnid
// among the sorted folder names (200 for the full dataset; fewer are accepted, see
// class_names.size()). Hidden entries (".*") are skipped. No folders: FormatError.
FileList list_imagenet_r(const std::string& root);

struct TrainTest {
  FileList train, test;
};

// The deterministic seeded split used when no split file is given: a Fisher-Yates
// permutation of the listing (sorted by path) drawn from split_random(seed, k); the
// first floor(n * train_fraction + 1e-9) of the permuted order are train. Both halves
// are then sorted by path. Reproduced exactly by data/make_imagenet_r_split.py.
TrainTest split_imagenet_r(const FileList& all, uint64_t seed, double train_fraction = 0.8);

// The k-th draw of the split stream (k = 0, 1, ...): splitmix64(s0 + k) with
// s0 = splitmix64(seed ^ 0x494d4147454e4552). Permutation: for i = n-1 down to 1,
// j = split_random(seed, n-1-i) % (i + 1), swap(order[i], order[j]).
uint64_t split_random(uint64_t seed, uint64_t k);

// A split file in the CODA-Prompt format (imagenet-r_{train,test}.yaml): a YAML map with
// parallel sequences `data` (image paths) and `targets` (ints). Path rule: only the last
// two components are used, as <wnid>/<file> under `root` (so "data/imagenet-r/n014.../a.jpg",
// an absolute path, or "n014.../a.jpg" all name root/n014.../a.jpg). Label rule: the
// file's `targets` value is NOT used as the label; the label is the rank of the wnid
// among the sorted wnid folders of `root` (the same labels as list_imagenet_r), so a
// split file and the seeded split agree on class numbering. `targets` must have the
// same length as `data`. Missing files: FormatError naming the first 5 and the count.
// A wnid that is not a folder of root: FormatError naming it. Order: as in the file.
FileList read_imagenet_r_split(const std::string& root, const std::string& yaml_path);

// Writes `list` in the same format (paths "<wnid>/<file>", targets = labels).
void write_imagenet_r_split(const FileList& list, const std::string& yaml_path);

// ---- DomainNet: root/{domain}_{train,test}.txt, lines "relative/path label" ----
// Domains are read in the given order (each must be one of domainnet_domains()),
// lines in file order; blank lines skipped. Labels must lie in [0, 345). class_names
// has 345 entries, named by the second path component (clipart/<class>/x.jpg) of the
// first line seen with that label ("" for labels never seen). A missing list file or
// a malformed line: FormatError naming file and line number.
FileList read_domainnet(const std::string& root, const std::vector<std::string>& domains, bool train);
std::vector<std::string> domainnet_domains();  // the six official domains
constexpr int64_t kDomainNetClasses = 345;

// ---- CIFAR-100 binary version: records of <coarse:1><fine:1><R 1024><G 1024><B 1024> ----
// (The python version, and which of the two a root holds: cifar_python.h.)
// Into a 32x32x3 HWC ImageSet with label = fine label. A file whose size is not a
// multiple of 3074 is a FormatError naming the file and the truncated record number.
ImageSet read_cifar100_binary(const std::string& path);
// One name per line (fine_label_names.txt); empty if the file does not exist.
std::vector<std::string> read_cifar100_names(const std::string& path);

}  // namespace lorasub::data
