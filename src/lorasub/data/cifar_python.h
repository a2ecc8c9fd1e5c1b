// CIFAR-100 as people have it: the binary version (cifar-100-binary/{train,test}.bin, read
// by file_datasets.h) or the python version (cifar-100-python/{train,test,meta}, Python
// pickles as the tarball of cs.toronto.edu, and torchvision's download, ship them).
#pragma once
#include <string>
#include <vector>
#include "lorasub/data/image_set.h"

namespace lorasub::data {

enum class Cifar100Layout { kBinary, kPython };

// Which version `root` holds: kBinary when it has train.bin (and test.bin), else kPython
// when it has the files train, test and meta. Anything else is a ConfigError that names
// what is missing and both layouts (and a cifar-100-* folder inside root, if there is one).
Cifar100Layout cifar100_layout(const std::string& root);

// A `train` or `test` file of the python version: a pickled dict whose b'data' is a numpy
// uint8 array of shape (N, 3072) (per row 1024 red, 1024 green, 1024 blue bytes, 32x32
// row-major, as in the binary version) and whose b'fine_labels' is a list of N ints in
// 0..99; the other keys (b'filenames', b'batch_label', b'coarse_labels') are not read.
// Into a 32x32x3 HWC ImageSet with label = fine label, the same as read_cifar100_binary
// gives for the same images. Written by Python 2's cPickle (protocol 2, as shipped) or
// by Python 3 at protocol 2-5; keys may be bytes or str. A file that is not such a
// pickle, a missing key, a wrong dtype or shape, a label outside 0..99 or a label count
// other than N is a FormatError naming the file, the key and what is wrong.
ImageSet read_cifar100_python(const std::string& path);

// The b'fine_label_names' of the python version's `meta` file: 100 names (bytes or str,
// UTF-8, not empty), else a FormatError naming the file.
std::vector<std::string> read_cifar100_python_names(const std::string& meta_path);

}  // namespace lorasub::data
