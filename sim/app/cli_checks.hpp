// Validators for command-line values that fail in the project's one message form,
//   "<flag>: <what> (got X, expected Y)",
// and the translation of CLI11's own parse errors into that form (main.cpp prints them after
// "error: "). Every number a flag takes is checked here once: finite, in its physical range.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/network/cluster_generator.hpp"

namespace moesim::job {
struct JobOptions;
}  // namespace moesim::job

namespace moesim::app {

struct HardwareJobOptions;

/// The files a job's flags name (model, topology, GPU spec, routing trace, calibration): outputs
/// of the same run may not be any of them. Preset names that are not files are harmless.
std::vector<std::string> job_input_paths(const job::JobOptions& job);
std::vector<std::string> hardware_input_paths(const HardwareJobOptions& job);

/// Most nodes --nodes accepts (network/cluster_generator.hpp says why).
using network::kMaxClusterNodes;

/// A number in [lo, hi] (or (lo, hi] with `lo_open`): finite, the whole text consumed.
CLI::Validator number_in(double lo, double hi, bool lo_open = false);
/// A whole number in [lo, hi] (decimal digits, optional leading '-').
CLI::Validator count_in(std::int64_t lo, std::int64_t hi);
/// A path naming an existing file that is not a directory.
CLI::Validator existing_file();

/// nccl-tests style sizes: 8, 64K, 8M, 8G (powers of two), 1 byte to 1 TiB; InputError naming
/// `flag` otherwise.
std::int64_t parse_byte_size(const std::string& text, const std::string& flag);
/// "0-63" or "0,8,16" (or empty: every rank) over a topology of `gpus` GPUs; at least two distinct
/// ranks; InputError naming `flag` otherwise.
std::vector<RankId> parse_rank_list(const std::string& text, std::size_t gpus,
                                    const std::string& flag);

/// CLI11's message for a usage error, rewritten as "<flag>: <what> (got X, expected Y)".
std::string usage_error_message(const CLI::ParseError& error, const CLI::App& root);

/// Non-empty when argv names a subcommand `root` does not have: the message for it.
std::string unknown_subcommand_message(int argc, const char* const* argv, const CLI::App& root);

}  // namespace moesim::app
