#include "lorasub/core/yaml_text.h"

#include <sstream>

namespace lorasub {

size_t second_document_line(const std::string& text) {
  bool content = false, ended = false;
  size_t line_no = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const auto marker = [&](const char* m) {
      return line.compare(0, 3, m) == 0 && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    };
    if (marker("---")) {
      if (content || ended) return line_no;
      continue;
    }
    if (marker("...")) {
      ended = true;
      continue;
    }
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    if (ended) return line_no;
    content = true;
  }
  return 0;
}

}  // namespace lorasub
