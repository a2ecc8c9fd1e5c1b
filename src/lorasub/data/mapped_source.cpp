#include "lorasub/data/mapped_source.h"

#include <stdexcept>
#include <utility>

namespace lorasub::data {

MappedSource::MappedSource(std::shared_ptr<const SampleSource> inner, std::vector<int64_t> index,
                           std::vector<int64_t> labels)
    : inner_(std::move(inner)), index_(std::move(index)), labels_(std::move(labels)) {
  if (index_.size() != labels_.size()) throw std::invalid_argument("MappedSource: index and labels differ in length");
}

}  // namespace lorasub::data
