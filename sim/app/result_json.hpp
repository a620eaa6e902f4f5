// JSON and console forms of a simulated job and its strategy results, shared by run and compare.
#pragma once

#include <nlohmann/json.hpp>

#include "sim/app/job_flags.hpp"

namespace moesim::app {

/// Prints the job header (model, cluster, layout, routing).
void print_job(const PreparedJob& job);

/// One strategy's result: iteration times, tokens/s, MFU, decisions, exposed communication per
/// group, and the last iteration's summary.
nlohmann::ordered_json strategy_result_json(const PreparedJob& job, const StrategyResult& r);

/// The job description (model, topology, layout, routing) as JSON.
nlohmann::ordered_json job_json(const PreparedJob& job);

}  // namespace moesim::app
