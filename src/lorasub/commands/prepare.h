// `lorasub prepare`: decodes every image of the configured file dataset (imagenet-r,
// domainnet) once, resizes it to data.cache_short_side and writes the image cache
// (docs/image-cache.md) that data.cache then trains from, so an epoch reads no JPEG.
#pragma once
#include <cstdint>
#include <string>

#include "lorasub/core/config.h"

namespace lorasub::commands {

// Writes the cache to `output`, decoding with data.workers threads, progress on stdout;
// returns the number of images written. Bad input (another dataset, no data.root, an
// output that cannot be written) is a ConfigError before any decoding; an undecodable
// image a FormatError unless data.on_bad_image is skip.
int64_t prepare_cache(const Config& cfg, const std::string& output);

}  // namespace lorasub::commands
