// A verified bf16 kernel row for the calibration tests.
#pragma once

#include "sim/calibration/measurement_set.hpp"

namespace moesim::calibration::testing {

inline KernelMeasurement measured_row(KernelKind kind, KernelShape shape, double time_us,
                                      KernelTraits traits = {}) {
  return KernelMeasurement{kind, shape, DType::bf16, time_us, Verification::pass, "", traits};
}

}  // namespace moesim::calibration::testing
