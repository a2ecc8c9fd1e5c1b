#include "lorasub/data/sample_source.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/data/decode.h"

namespace lorasub::data {

OnBadImage parse_on_bad_image(const std::string& s) {
  if (s == "error") return OnBadImage::kError;
  if (s == "skip") return OnBadImage::kSkip;
  throw ConfigError("data.on_bad_image must be 'error' or 'skip', got '" + s + "'");
}

FileSampleSource::FileSampleSource(FileList files, ImagePipeline pipeline, OnBadImage on_bad)
    : files_(std::move(files)), pipeline_(std::move(pipeline)), on_bad_(on_bad) {}

int64_t FileSampleSource::label(int64_t i) const { return files_.entries.at(static_cast<size_t>(i)).label; }

void FileSampleSource::produce(int64_t i, bool train, Rng& rng, float* dst) const {
  const std::string path = files_.full_path(i);
  DecodedImage img;
  try {
    img = decode_image_file(path, pipeline_.min_decode_short_side(train));
  } catch (const FormatError&) {
    if (on_bad_ == OnBadImage::kError) throw;
    skipped_.fetch_add(1);
    std::fill(dst, dst + channels() * height() * width(), 0.5f);
    return;
  }
  pipeline_.apply(img.pixels.data(), img.height, img.width, 3, train, rng, dst);
}

ImageSetSampleSource::ImageSetSampleSource(std::shared_ptr<const ImageSet> set, ImagePipeline pipeline)
    : set_(std::move(set)), pipeline_(std::move(pipeline)) {
  if (!set_) throw std::invalid_argument("ImageSetSampleSource: null set");
}

int64_t ImageSetSampleSource::label(int64_t i) const { return set_->labels.at(static_cast<size_t>(i)); }

void ImageSetSampleSource::produce(int64_t i, bool train, Rng& rng, float* dst) const {
  pipeline_.apply(set_->image(i), set_->height, set_->width, set_->channels, train, rng, dst);
}

}  // namespace lorasub::data
