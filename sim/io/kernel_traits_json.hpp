// The traits of a measured kernel row or a profile table in JSON (measurement files, calibration
// profiles): "pass", and on attention "causal" and "fused" (calibration/kernel_traits.hpp).
#pragma once

#include "sim/calibration/kernel_traits.hpp"
#include "sim/io/json_reader.hpp"

namespace moesim::io {

/// "pass" (forward unless said: every kernel bench/kernels times is a forward one; tables of a
/// kind without a pass ignore it), and on an
/// attention row "causal" and "fused", which it must give: a row without them was written
/// before tables kept them apart and cannot be placed (its "variant" is only informational).
calibration::KernelTraits read_kernel_traits(const JsonReader& r, KernelKind kind);

}  // namespace moesim::io
