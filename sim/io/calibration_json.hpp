// Calibration profile files (schema "moesim-profile-v1", documented in traces/measured/README.md):
// written by `moesim calibrate`, read by the simulator (CalibratedComputeModel, collective fits).
// Every kernel point, collective fit and derived number carries the index of its source in
// "sources" (file, GPU, date, software versions).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/calibration/calibration_profile.hpp"

namespace moesim::io {

inline constexpr const char* kProfileSchema = "moesim-profile-v1";

nlohmann::json profile_to_json(const calibration::CalibrationProfile& profile);
calibration::CalibrationProfile profile_from_json(const nlohmann::json& doc,
                                                  const std::string& origin);
calibration::CalibrationProfile load_profile(const std::string& path);

}  // namespace moesim::io
