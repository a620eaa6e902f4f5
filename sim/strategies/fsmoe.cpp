// fsmoe and fsmoe-no-iio: FSMoE (Pan et al., ASPLOS 2025, arXiv 2501.10714).
//
// fsmoe: the DP+MP+EP+ESP MoE layer with MP paused inside the block, pipelined over r chunks of
// the capacity dimension on three streams: "comm.inter" for the EP all-to-all dispatch and
// combine, "comm.intra" for the ESP all-gather and reduce-scatter, "compute" for the experts;
// per chunk A2A_i -> AG_i -> experts_i -> RS_i -> A2A_i (4.3). Forward and backward degrees are
// chosen separately by Algorithm 1 over the four-case model (4.4), fitted from CostModels;
// the backward doubles the expert alpha and beta and sees the layer's gradient all-reduce time.
// Data-parallel gradients are partitioned adaptively (4.5): a share rides in each MoE backward
// right after the last chunk's dispatch on the inter-node stream (Fig. 3d), a share beside the
// dense backward that follows the MoE block; what no MoE pipeline takes joins the last dense slot
// (tools/optim.py), and only gradients produced after it wait for the backward's end. The planner
// is in fsmoe_planner.hpp (bounded 1-D search instead of SLSQP, greedy local search instead of
// differential evolution: both documented there), the schedule in fsmoe_schedule.hpp.
//
// fsmoe-no-iio: the same without inter/intra-node overlap: A2A, AG/RS and the gradient
// all-reduces share one "comm.moe" stream (the TP collectives stay on "comm"), and the planner
// folds the AG/RS line into the A2A line (one comm resource).
// All-to-all: FSMoE's do_dispatch / do_combine call Megatron's tensor_parallel.all_to_all over
// the EP group (xpan413/FSMoE megatron/core/transformer/moe/moe_layer.py), i.e.
// torch.distributed.all_to_all_single, NCCL-A2A: lowered as NCCL's direct exchange.
#include "sim/strategies/fsmoe_schedule.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

class Fsmoe final : public Strategy {
 public:
  explicit Fsmoe(bool iio) : iio_(iio) {}
  std::string_view name() const override { return iio_ ? "fsmoe" : "fsmoe-no-iio"; }
  std::string_view summary() const override {
    return iio_ ? "FSMoE: 3-stream A2A/AG-RS/expert pipeline, separate fwd/bwd degrees from its "
                  "4-case model, adaptive gradient partitioning"
                : "FSMoE without inter/intra-node overlap (A2A and AG/RS on one comm stream)";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    return build_fsmoe_iteration(job, costs,
                                 iio_ ? FsmoeVariant::fsmoe : FsmoeVariant::fsmoe_no_iio);
  }

 private:
  bool iio_;
};

}  // namespace

std::unique_ptr<Strategy> make_fsmoe() { return std::make_unique<Fsmoe>(true); }
std::unique_ptr<Strategy> make_fsmoe_no_iio() { return std::make_unique<Fsmoe>(false); }

}  // namespace moesim::strategies
