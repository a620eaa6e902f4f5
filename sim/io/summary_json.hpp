// Summary JSON of one run: makespan, breakdowns per rank, communication group, kernel kind and
// stream. Keys are sorted and times are in microseconds, so summaries diff cleanly.
#pragma once

#include <nlohmann/json.hpp>

#include "sim/report/iteration_summary.hpp"

namespace moesim::io {

nlohmann::ordered_json summary_to_json(const report::IterationSummary& summary);

}  // namespace moesim::io
