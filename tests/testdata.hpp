// Paths to checked-in test data, from the source tree (never relative to the working directory).
#pragma once

#include <string>

namespace moesim::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(MOESIM_SOURCE_DIR) + "/" + relative;
}

}  // namespace moesim::testing
