// Samples produced on demand (decoded and augmented when a batch needs them), for the
// Loader. Implementations must make produce() safe to call from several threads.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include "lorasub/core/rng.h"
#include "lorasub/data/file_datasets.h"
#include "lorasub/data/image_set.h"
#include "lorasub/data/image_transforms.h"

namespace lorasub::data {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  // Shape of every produced sample (CHW).
  virtual int64_t channels() const = 0;
  virtual int64_t height() const = 0;
  virtual int64_t width() const = 0;
  // Writes sample i (channels*height*width floats, CHW, [0, 1]) to dst. `rng` is the
  // sample's own stream. Thread-safe.
  virtual void produce(int64_t i, bool train, Rng& rng, float* dst) const = 0;
  virtual std::string describe() const = 0;  // for messages
  // Samples replaced by a grey image because they could not be read (on_bad_image: skip).
  virtual int64_t skipped() const { return 0; }
};

enum class OnBadImage { kError, kSkip };
// "error" | "skip"; anything else is a ConfigError.
OnBadImage parse_on_bad_image(const std::string& s);

// Files on disk: read -> decode (JPEG at the smallest DCT scale whose short side is still
// >= pipeline.min_decode_short_side(train)) -> pipeline. A file that cannot be read or
// decoded: kError throws the FormatError (naming the file); kSkip writes a 0.5 grey
// image instead, counts it in skipped(), and the sample keeps its label.
class FileSampleSource : public SampleSource {
 public:
  FileSampleSource(FileList files, ImagePipeline pipeline, OnBadImage on_bad = OnBadImage::kError);
  int64_t size() const override { return files_.size(); }
  int64_t label(int64_t i) const override;
  int64_t channels() const override { return 3; }
  int64_t height() const override { return pipeline_.size; }
  int64_t width() const override { return pipeline_.size; }
  void produce(int64_t i, bool train, Rng& rng, float* dst) const override;
  std::string describe() const override { return files_.source; }
  int64_t skipped() const override { return skipped_.load(); }
  const FileList& files() const { return files_; }
  const ImagePipeline& pipeline() const { return pipeline_; }

 private:
  FileList files_;
  ImagePipeline pipeline_;
  OnBadImage on_bad_;
  mutable std::atomic<int64_t> skipped_{0};
};

// An in-memory ImageSet (e.g. CIFAR-100) through an ImagePipeline (e.g. 32 -> 224).
class ImageSetSampleSource : public SampleSource {
 public:
  ImageSetSampleSource(std::shared_ptr<const ImageSet> set, ImagePipeline pipeline);
  int64_t size() const override { return set_->size(); }
  int64_t label(int64_t i) const override;
  int64_t channels() const override { return 3; }
  int64_t height() const override { return pipeline_.size; }
  int64_t width() const override { return pipeline_.size; }
  void produce(int64_t i, bool train, Rng& rng, float* dst) const override;
  std::string describe() const override { return set_->source; }

 private:
  std::shared_ptr<const ImageSet> set_;
  ImagePipeline pipeline_;
};

}  // namespace lorasub::data
