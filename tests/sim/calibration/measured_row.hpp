// A verified bf16 kernel row for the calibration tests.
#pragma once

#include "sim/calibration/measurement_set.hpp"

namespace moesim::testing {

inline calibration::KernelMeasurement measured_row(KernelKind kind, KernelShape shape,
                                                   double time_us,
                                                   calibration::KernelTraits traits = {}) {
  return calibration::KernelMeasurement{
      kind, shape, DType::bf16, time_us, calibration::Verification::pass, "", traits};
}

}  // namespace moesim::testing
