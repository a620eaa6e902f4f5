// TokenLayout: where the tokens of a tensor-parallel (MP) group sit inside the MoE block of a
// baseline (tutel, deepspeed-moe), as the option `tokens=split|duplicated`.
//  - split: each MP rank routes and dispatches only 1/tp of the tokens (DeepSpeed's drop_tokens
//    before the all-to-all and gather_tokens after it; FSMoE's and Parm's paused MP), so the
//    all-to-all and the experts see no duplicate.
//  - duplicated: every MP rank routes and dispatches the whole replicated input (the
//    redundancy Parm removes, Parm, INFOCOM 2024, Sec. 3).
//  - absent: what the real system does. DeepSpeed-MoE's sharded_moe.py drops the duplicates only
//    when the non-experts are tensor-parallel and the experts are not (microsoft/DeepSpeed
//    deepspeed/moe/sharded_moe.py [V code]), i.e. split when esp == 1, duplicated when experts are
//    sharded (esp > 1). Tutel has no MP awareness of its own and follows the same rule here [R].
// The papers ran their baselines differently (FSMoE inside its own token layout, Parm with the
// duplicated input); each claim in traces/reference/claims names the one its paper used.
#pragma once

#include <cstdint>
#include <string>

#include "sim/strategies/strategy_options.hpp"

namespace moesim::strategies {

enum class TokenLayout { real_system, split, duplicated };

/// Reads `tokens=split|duplicated` (absent: real_system).
TokenLayout read_token_layout(StrategyOptions& options);

/// Whether the MP-duplicated tokens are split over the tp ranks for a layout of tp x esp.
bool split_tokens_over_tp(TokenLayout layout, std::int64_t tp, std::int64_t esp);

/// The option text for --help.
inline constexpr const char* kTokenLayoutHelp =
    "tokens=split|duplicated (MP-group token layout in the MoE block); default: the real "
    "system's (split when esp=1, duplicated when experts are sharded)";

}  // namespace moesim::strategies
