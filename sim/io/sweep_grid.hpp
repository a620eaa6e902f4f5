// Sweep grids: a documented JSON spec of many job configurations (docs/sweep-grid.md).
//
// {
//   "name": "fsmoe-1458", "description": "...", "source": "FSMoE ASPLOS'25 Table 4",
//   "base": {"model": "gpt2-xl-moe", "topology": "a6000-8gpu", "nodes": 6,
//            "parallel": "tp=8,esp=8,ep=6", "set": {"layers": 1}},
//   "axes": {"micro_batch": [1, 2, 4], "hidden": [1024, 2048, 4096]},
//   "cases": [{"label": "x", "seq_len": 512}]          // optional, instead of / besides axes
// }
//
// An axis key may join several fields ("hidden,expert_ffn_hidden") whose values are tuples
// ([[1024, 2048], [2048, 4096]]): fields that must vary together.
// The configurations are the cartesian product of the axes (keys in sorted order, the last key
// varying fastest) applied on top of "base", followed by the explicit "cases". A key is a job
// setting (model, topology, nodes, network, gpu, parallel, order, expert_order, routing, seed,
// iterations, calibration) or otherwise a model field, which goes into `--set`.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moesim::io {

/// Job settings that are not model fields.
inline constexpr const char* kJobSettingKeys[] = {
    "model", "topology",     "nodes",   "network", "gpu",        "parallel",
    "order", "expert_order", "routing", "seed",    "iterations", "calibration"};

struct SweepCase {
  /// Stable identity of the case: "key=value;key=value" over the axis (and case) values; used
  /// to match rows against a baseline.
  std::string id;
  /// The values that vary, for the CSV columns.
  std::map<std::string, std::string> varied;
  /// Job settings (keys of kJobSettingKeys), as strings.
  std::map<std::string, std::string> settings;
  /// Model field overrides, in `--set` syntax: "k=v,k=v".
  std::string model_set;
};

struct SweepGrid {
  std::string name;
  std::string description;
  std::string source;
  std::vector<std::string> axis_keys;  ///< column order for varied values
  std::vector<SweepCase> cases;
};

/// Most cases a grid may expand to (the product of its axis lengths, plus explicit cases).
inline constexpr std::int64_t kMaxSweepCases = 100000;

SweepGrid load_sweep_grid(const std::string& path);
/// The same from a parsed document; `origin` names it in messages.
SweepGrid sweep_grid_from_json(const nlohmann::json& doc, const std::string& origin);

}  // namespace moesim::io
