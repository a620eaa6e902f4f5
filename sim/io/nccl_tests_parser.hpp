// Reads nccl-tests output (NVIDIA/nccl-tests, e.g. `all_reduce_perf -b 8 -e 8G -f 2 -g 8`) into a
// MeasurementSet, so anyone's cluster measurements feed `moesim calibrate`.
//
// Text output: the operation comes from the "# Collective test starting: <op>_perf" line, else
// from the file name (all_reduce, all_gather, reduce_scatter, alltoallv, alltoall, sendrecv,
// broadcast, reduce); ranks from the "#  Rank" lines (else nThread * nGpus), nodes from their
// distinct host names, the GPU from the first rank line, the NCCL version from
// "nccl-library=<code>". Each data row ends with the out-of-place and in-place columns
// "time algbw busbw #wrong"; the out-of-place numbers are used (in-place if out-of-place is
// missing). Lines "# moesim-provenance: key=value" (keys source, gpu, date, driver, cuda, nccl,
// notes) add what the output does not say, e.g. the date.
// JSON output (-J, file version 2): the same fields from "args", "nccl_version", "config",
// "start_time" and "results".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/calibration/measurement_set.hpp"

namespace moesim::io {

calibration::MeasurementSet parse_nccl_tests_text(const std::string& text,
                                                  const std::string& origin);
calibration::MeasurementSet parse_nccl_tests_json(const nlohmann::json& doc,
                                                  const std::string& origin);

/// "all_reduce_perf", ".../alltoall_perf", "sendrecv" -> the CommKind; nothing if unknown.
std::optional<CommKind> nccl_tests_op(std::string_view name);

}  // namespace moesim::io
