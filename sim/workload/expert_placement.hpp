// ExpertPlacement: where every expert's copies live, per MoE layer, when a strategy replicates
// hot experts (EPLB, sim/strategies/eplb.hpp). Each EP rank holds `slots_per_rank` physical
// experts: EP rank q holds slots [q S, (q + 1) S). A logical expert with c copies receives its
// tokens split equally among them (EPLB's balancing assumption), and its copies' gradients are
// all-reduced among the ranks holding them.
#pragma once

#include <cstdint>
#include <vector>

namespace moesim {

struct LayerPlacement {
  std::vector<std::int64_t> slot_expert;   ///< physical slot -> logical expert
  std::vector<std::int64_t> slot_replica;  ///< which copy of its expert the slot is (0-based)
  std::vector<std::int64_t> replicas;      ///< logical expert -> number of copies (>= 1)
};

struct ExpertPlacement {
  std::int64_t slots_per_rank = 0;
  std::vector<LayerPlacement> layers;  ///< per MoE layer
};

}  // namespace moesim
