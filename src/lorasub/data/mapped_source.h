// A SampleSource that shows another through an index map with new labels (the class
// order's relabelling, per-class subsets).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lorasub/data/sample_source.h"

namespace lorasub::data {

class MappedSource final : public SampleSource {
 public:
  // Sample i is inner's sample index[i], labelled labels[i] (same lengths, or invalid_argument).
  MappedSource(std::shared_ptr<const SampleSource> inner, std::vector<int64_t> index, std::vector<int64_t> labels);
  int64_t size() const override { return static_cast<int64_t>(index_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  int64_t channels() const override { return inner_->channels(); }
  int64_t height() const override { return inner_->height(); }
  int64_t width() const override { return inner_->width(); }
  void produce(int64_t i, bool train, Rng& rng, float* dst) const override {
    inner_->produce(index_.at(static_cast<size_t>(i)), train, rng, dst);
  }
  std::string describe() const override { return inner_->describe(); }
  int64_t skipped() const override { return inner_->skipped(); }

 private:
  std::shared_ptr<const SampleSource> inner_;
  std::vector<int64_t> index_, labels_;
};

}  // namespace lorasub::data
