// Text helpers shared by the SVG plots and the HTML page: escaping and number formats.
#pragma once
#include <string>

namespace lorasub::report {

// Escapes & < > " ' for HTML text and attribute values (both use the same five).
std::string escape(const std::string& text);

// printf("%.<decimals>f"); "–" for NaN or infinity.
std::string fixed(double value, int decimals);
// fixed(value, decimals) for decimals >= 0; 3 significant digits ("%.3g") for < 0.
std::string number(double value, int decimals);

}  // namespace lorasub::report
