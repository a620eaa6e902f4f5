// Measurement files (schema "moesim-measurements-v1", documented in traces/measured/README.md):
// what the kernel, NCCL and overlap benchmarks write and `moesim calibrate` reads. Loading
// validates every field once (JsonReader messages: "<file>: <json path>: <what> (got X,
// expected Y)"); writing produces the same schema.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/calibration/measurement_set.hpp"

namespace moesim::io {

inline constexpr const char* kMeasurementSchema = "moesim-measurements-v1";

/// Reads a measurement file; provenance.file is set to `path`.
calibration::MeasurementSet load_measurements(const std::string& path);
/// Reads an already-parsed document that came from `origin`.
calibration::MeasurementSet measurements_from_json(const nlohmann::json& doc,
                                                   const std::string& origin);
nlohmann::json measurements_to_json(const calibration::MeasurementSet& set);

/// Loads any file `moesim calibrate` accepts: a measurement file, nccl-tests JSON output (-J),
/// or nccl-tests text output (anything not ending in .json).
calibration::MeasurementSet load_any_measurements(const std::string& path);

}  // namespace moesim::io
