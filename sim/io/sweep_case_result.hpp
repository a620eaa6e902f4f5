// The result of one sweep case, one small JSON file per case in a results directory
// (DIR/case-<index>.json), written atomically: a file that exists is complete, so a sweep killed
// at any moment loses at most the cases that were running. docs/sweep-grid.md.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace moesim::io {

enum class SweepCaseStatus {
  ok,       ///< simulated
  invalid,  ///< the configuration was rejected (layout does not fit, ...) under --skip-invalid
  failed,   ///< the simulation threw; `error` says why
};

struct SweepCaseResult {
  std::size_t index = 0;
  std::string fingerprint;  ///< case_fingerprint of the case line it was computed for
  std::string config_id;
  std::string strategy;
  SweepCaseStatus status = SweepCaseStatus::ok;
  // Written with round-trip precision, so a merged CSV equals one made in memory.
  double iteration_us = 0.0;  ///< mean over iterations
  double exposed_comm_us = 0.0;
  double tokens_per_s = 0.0;
  std::string decisions;
  std::string error;  ///< why it is invalid or failed
};

std::string to_string(SweepCaseStatus status);

/// DIR/case-<index>.json
std::string case_result_path(const std::string& dir, std::size_t index);

/// The result as JSON text (one line and a newline).
std::string to_json_text(const SweepCaseResult& r);

/// Writes the result into `dir` atomically (temporary file in `dir`, then rename).
void write_case_result(const std::string& dir, const SweepCaseResult& r);

/// Parses a result file's text; InputError naming `where` on anything malformed.
SweepCaseResult parse_case_result(const std::string& text, const std::string& where);

/// The result of case `index` in `dir` if it is there, complete and computed for the case with
/// this fingerprint; nullopt when it is missing, unreadable, truncated or stale (another grid).
std::optional<SweepCaseResult> find_case_result(const std::string& dir, std::size_t index,
                                                const std::string& fingerprint);

}  // namespace moesim::io
