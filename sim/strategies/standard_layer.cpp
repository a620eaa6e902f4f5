#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {

void StandardLayer::emit(const Step& s) {
  ctx_.set_info(s);
  if (s.phase == Phase::forward) {
    ctx_.emit_attention_forward(s);
    if (s.moe_index >= 0) {
      moe_.forward(s);
    } else {
      ctx_.emit_dense_ffn_forward(s);
    }
  } else {
    if (recompute_ != nullptr) recompute_->before_backward(s);
    if (s.moe_index >= 0) {
      moe_.backward(s);
    } else {
      ctx_.emit_dense_ffn_backward(s);
    }
    ctx_.emit_attention_backward(s);
  }
}

}  // namespace moesim::strategies
