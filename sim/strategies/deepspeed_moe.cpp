// deepspeed-moe: DeepSpeed-MoE's schedule (deepspeed/moe/sharded_moe.py): everything serial, no
// communication/computation overlap. gate -> dispatch einsum into (E, C, M) -> [drop_tokens when
// non-experts are TP and experts are not] -> all-to-all over EP -> [ESP all-gather when experts
// are sharded] -> experts -> [ESP reduce-scatter] -> all-to-all -> [gather_tokens] -> combine.
// With MP+EP+ESP the tokens stay duplicated on every rank of the MP group (the redundancy Parm
// removes, Parm, INFOCOM 2024). Gradient all-reduces run after the whole backward.
#include "sim/strategies/iteration_builder.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

class DeepSpeedMoe final : public Strategy {
 public:
  std::string_view name() const override { return "deepspeed-moe"; }
  std::string_view summary() const override {
    return "DeepSpeed-MoE: serial A2A -> experts -> A2A, capacity-padded, no overlap";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    IterationBuilder::Options options;
    options.pad_to_capacity = true;
    // DeepSpeed drops the tp-duplicated tokens only when the experts themselves are not sharded.
    options.split_tokens_over_tp = job.layout.tp > 1 && job.layout.esp == 1;
    IterationBuilder builder(job, costs, options);
    return builder.build();
  }
};

}  // namespace

std::unique_ptr<Strategy> make_deepspeed_moe() { return std::make_unique<DeepSpeedMoe>(); }

}  // namespace moesim::strategies
