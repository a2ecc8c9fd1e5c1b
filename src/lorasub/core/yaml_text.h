// Plain-text checks on YAML before yaml-cpp parses it.
#pragma once
#include <cstddef>
#include <string>

namespace lorasub {

// The line (1-based) where a second YAML document starts in `text`, or 0: a "---" after
// content, or content after a "..." end marker. yaml-cpp 0.7's LoadAll, the library's
// own way to see documents, loops forever on some malformed input (a fuzzing finding).
size_t second_document_line(const std::string& text);

}  // namespace lorasub
