#include "sim/calibration/measurement_set.hpp"

namespace moesim::calibration {

std::string_view to_string(Verification v) {
  switch (v) {
    case Verification::pass:
      return "pass";
    case Verification::fail:
      return "fail";
    case Verification::unchecked:
      return "unchecked";
  }
  return "?";
}

}  // namespace moesim::calibration
