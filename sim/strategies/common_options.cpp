#include "sim/strategies/common_options.hpp"

#include <fmt/format.h>

#include <string>

#include "sim/core/errors.hpp"
#include "sim/strategies/eplb.hpp"

namespace moesim::strategies {

namespace {

class WithCommonOptions final : public Strategy {
 public:
  WithCommonOptions(std::unique_ptr<Strategy> inner, CommonOptions common, std::string label)
      : inner_(std::move(inner)), common_(common), label_(std::move(label)) {}
  std::string_view name() const override { return label_; }
  std::string_view summary() const override { return inner_->summary(); }
  void check_job(const TrainingJob& job) const override {
    check_common_options(job, common_, label_);
    inner_->check_job(job);
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    check_common_options(job, common_, label_);
    return inner_->build_iteration(apply_common_options(job, common_), costs);
  }

 private:
  std::unique_ptr<Strategy> inner_;
  CommonOptions common_;
  std::string label_;  ///< the spec, options included (tables and results tell runs apart)
};

}  // namespace

CommonOptions read_common_options(StrategyOptions& options) {
  CommonOptions c;
  const std::string a2a = options.get_choice("a2a", "nccl|deepep|hybrid-ep", "nccl");
  c.comm.algorithm = a2a == "deepep"      ? EpAllToAll::deepep
                     : a2a == "hybrid-ep" ? EpAllToAll::hybrid_ep
                                          : EpAllToAll::nccl;
  c.comm.comm_sms = static_cast<int>(options.get_int("comm_sms", c.comm.comm_sms));
  // NCCL's kernels take what SMs they need; only DeepEP-style kernels hold a fixed number.
  if (c.comm.algorithm == EpAllToAll::nccl && options.has("comm_sms")) {
    options.reject("comm_sms", "has no effect on NCCL's all-to-all",
                   "comm_sms with a2a=deepep or a2a=hybrid-ep");
  }
  if (options.has("node_limit")) c.node_limit = static_cast<int>(options.get_int("node_limit", 0));
  if (options.has("fp8_dispatch")) {
    // NCCL's all-to-all carries whatever tensor the framework hands it: the model's dtype here.
    if (c.comm.algorithm == EpAllToAll::nccl) {
      options.reject("fp8_dispatch", "is the node relay's (DeepEP, Hybrid-EP) choice",
                     "fp8_dispatch with a2a=deepep or a2a=hybrid-ep");
    }
    c.fp8_dispatch = options.get_bool("fp8_dispatch", false);
  }
  c.eplb = options.get_bool("eplb", false);
  c.redundant = options.get_int("redundant", 0);
  c.any = options.used_any();
  return c;
}

std::unique_ptr<Strategy> with_common_options(std::unique_ptr<Strategy> inner,
                                              const CommonOptions& common, std::string_view spec) {
  if (!common.any) return inner;
  return std::make_unique<WithCommonOptions>(std::move(inner), common, std::string(spec));
}

void check_common_options(const TrainingJob& job, const CommonOptions& common,
                          std::string_view spec) {
  const int sms = common.comm.comm_sms;
  const bool holds_sms = common.comm.algorithm != EpAllToAll::nccl;
  if (holds_sms && job.cluster.gpu_sms > 0 && sms >= job.cluster.gpu_sms) {
    throw input_error(
        "", "--strategy", fmt::format("{}: comm_sms leaves no SM to compute on", spec),
        std::to_string(sms),
        fmt::format("fewer than the {} SMs of a {}", job.cluster.gpu_sms, job.cluster.gpu_model));
  }
}

TrainingJob apply_common_options(const TrainingJob& job, const CommonOptions& common) {
  TrainingJob out = job;
  out.ep_comm.algorithm = common.comm.algorithm;
  out.ep_comm.comm_sms = common.comm.comm_sms;
  if (common.node_limit) out.ep_comm.node_limit = *common.node_limit;
  if (common.fp8_dispatch) out.ep_comm.fp8_dispatch = common.fp8_dispatch;
  if (common.eplb)
    out.placement = std::make_shared<ExpertPlacement>(eplb_placement_for(out, common.redundant));
  return out;
}

}  // namespace moesim::strategies
