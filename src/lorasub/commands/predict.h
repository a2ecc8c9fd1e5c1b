// `lorasub predict`: classifies images with a model written by `lorasub export`, the
// way the run's own evaluation did: the run's test transform, the merged ViT's CLS
// feature (bf16 autocast when the run trained in bf16), cosine NCM against the
// exported prototypes. Inputs are JPEG/PNG files and IDX image files (MNIST-style,
// gzip or plain); each image gives one JSON line
//   {"input": FILE, "index": I, "top": [{"class": C, "score": S}, ...]}
// (I: the image's position among all inputs, which --labels follows; IDX images also
// carry "item", their position in their file; with labels, "label" too). "class" is the
// dataset's class id; "score" the cosine similarity to that class's prototype.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace lorasub::commands {

struct PredictOptions {
  std::string model;                // a file written by lorasub export
  std::vector<std::string> inputs;  // JPEG/PNG and IDX image files, in order
  int64_t top_k = 5;                // classes per image (at most the model's)
  std::string labels;               // IDX label file: one label per input image, in order ("" = none)
  int64_t batch_size = 0;           // 0: the run's train.eval_batch_size
};

struct PredictSummary {
  int64_t images = 0;
  int64_t labelled = 0;     // images whose label is one of the model's classes (the run's test set)
  int64_t correct = 0;      // of those, top-1 right
  int64_t outside = 0;      // images whose label is none of the model's classes (not counted)
  int64_t classes = 0;      // the model's classes
  double accuracy() const;  // % of `labelled`
};

// Writes one JSON line per image to `out`. Bad input (a model that is not a lorasub
// export, an unreadable or undecodable input, an image the identity transform cannot
// take, labels that do not match the images) throws FormatError or ConfigError naming
// the file; inputs are opened and counted before the first line is written, but an
// image file whose bytes fail to decode is found only when its batch comes.
PredictSummary predict(const PredictOptions& opt, std::FILE* out);

}  // namespace lorasub::commands
