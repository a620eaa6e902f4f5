// Claim files (traces/reference/claims/*.json, schema in that folder's README.md) and the known
// gaps (known_gaps.json there). Strict like every loader: unknown fields, unknown strategy labels
// or job names, bands that do not contain their published value are InputErrors
// "<file>: <json pointer>: <what> (got X, expected Y)".
#pragma once

#include <string>
#include <vector>

#include "sim/report/claim.hpp"

namespace moesim::io {

/// The claims folder of this source tree (traces/reference/claims).
std::string default_claims_dir();

/// One claim file. Grid paths in it are relative to the file's folder.
report::Claim load_claim(const std::string& path);

/// Every *.json of `dir` except known_gaps.json, sorted by file name; ids must be unique.
std::vector<report::Claim> load_claims(const std::string& dir);

/// `dir`/known_gaps.json (empty when absent); each gap must name a result of `claims`.
std::vector<report::KnownGap> load_known_gaps(const std::string& dir,
                                              const std::vector<report::Claim>& claims);

}  // namespace moesim::io
