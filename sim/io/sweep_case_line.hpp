// One case of a sweep as a self-contained line of JSON: everything needed to simulate one
// (configuration, strategy) pair without the grid file, so a case can be handed to any process
// on any machine (`moesim sweep GRID --emit-cases`, `moesim run-case`). docs/sweep-grid.md.
//
// {"sweep":"smoke","index":3,"cases":8,"case":"hidden=768;micro_batch=2","strategy":"tutel",
//  "seed":1,"job":{"model":"gpt2-s-moe","set":"hidden=768,layers=2,micro_batch=2",...},
//  "varied":{"hidden":"768","micro_batch":"2"}}
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace moesim::io {

/// The job flags of one case, spelled as on the `moesim run` command line, every default filled
/// in: a case line means the same job whichever moesim defaults a reader has.
struct SweepJobFlags {
  std::string model;
  std::string set;  ///< --set: model field overrides "k=v,k=v"
  std::string topology;
  std::uint64_t nodes = 0;
  std::string network;
  std::string gpu;  ///< empty: the topology's GPU
  std::string parallel;
  std::string order;
  std::string expert_order;
  std::string routing;
  std::int64_t iterations = 1;
  std::string calibration;  ///< profile path, empty: none
};

struct SweepCaseLine {
  std::string sweep;       ///< the grid's name
  std::size_t index = 0;   ///< position in the sweep: configuration-major, strategy-minor
  std::size_t cases = 0;   ///< cases in the sweep
  std::string config_id;   ///< the configuration's id ("case" column of the CSV)
  std::string strategy;    ///< strategy spec as given to --strategies ("fastermoe:shadow=off")
  std::uint64_t seed = 1;  ///< seed of the routing generators
  SweepJobFlags job;
  std::map<std::string, std::string> varied;  ///< the values that vary, for the CSV columns
};

/// The case as one line of JSON (no newline), keys in a fixed order: equal cases give equal text.
std::string to_json_line(const SweepCaseLine& c);

/// Parses a line written by to_json_line; InputError naming `where` and the field on bad input.
SweepCaseLine parse_case_line(const std::string& text, const std::string& where);

/// 16 hex digits (FNV-1a 64) of the case's JSON line: a result file is reused only when it was
/// computed for exactly this case.
std::string case_fingerprint(const SweepCaseLine& c);

}  // namespace moesim::io
