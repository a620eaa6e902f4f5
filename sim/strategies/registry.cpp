#include "sim/strategies/registry.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/strategies/common_options.hpp"
#include "sim/strategies/gradient_buckets.hpp"
#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {
namespace {

// tokens= and the gradient options, for the baselines that take both. The defaults are the real
// systems': Tutel under PyTorch DDP overlaps, DeepSpeed (ZeRO 1, overlap_comm off) does not.
// (A macro only so that tutel's help can extend the literal.)
#define MOESIM_BASELINE_OPTIONS_HELP                                                          \
  "tokens=split|duplicated (MP-group token layout in the MoE block; default: the real "       \
  "system's, split when esp=1, duplicated when experts are sharded), "                        \
  "grad_sync=overlap|after|lina (gradient all-reduce in PyTorch DDP buckets launched during " \
  "the backward, after it, or as Lina: fixed-size chunks that give way to all-to-alls; "      \
  "default: the real system's, overlap for tutel, after for deepspeed-moe), bucket_mb=N "     \
  "(bucket cap, or Lina's chunk, MiB; default 25, lina 30)"
constexpr std::string_view kBaselineOptionsHelp = MOESIM_BASELINE_OPTIONS_HELP;
constexpr std::string_view kTutelOptionsHelp = MOESIM_BASELINE_OPTIONS_HELP
    ", choose=estimate|trials (how the degree and all-to-all are chosen per MoE layer: its cost "
    "evaluation, or Tutel's own method, one timed trial iteration per candidate on the "
    "simulator, about 8x the build time; default estimate)";
#undef MOESIM_BASELINE_OPTIONS_HELP

struct Entry {
  std::string_view name;
  std::unique_ptr<Strategy> (*make)();
  /// For strategies that take "name:key=value" options: builds one from them (nullptr: none).
  std::unique_ptr<Strategy> (*configure)(StrategyOptions&) = nullptr;
  /// The options it accepts, for --help and error messages.
  std::string_view options = {};
  /// Part of "all": it schedules any layout (false: it needs one, e.g. a pipeline).
  bool in_all = true;
};

constexpr std::string_view kMegatronHelp =
    "dispatcher=alltoall|allgather (token dispatcher; default alltoall), "
    "shared_expert_overlap=on|off (shared-expert MLP beside the dispatch/combine; default off), "
    "vp=N (interleaved virtual pipeline: N model chunks per stage, pp*N must divide the layers "
    "and pp the micro-batches; default 1), recompute=off|layernorm|moe_act|layernorm+moe_act "
    "(--recompute-modules: the norms and/or the experts' activation re-run in the backward; "
    "default off)";
constexpr std::string_view kMegatronA2aOverlapHelp =
    "as megatron (with pp > 1 it needs vp >= 2, as Megatron-Core), plus delay_wgrad=on|off "
    "(expert weight-gradient GEMMs after the backward dispatch is issued; default on)";

// The one list of strategies. Add a line here (and a factory in registry.hpp) for a new one.
constexpr std::array kStrategies{
    Entry{"deepspeed-moe", &make_deepspeed_moe, &configure_deepspeed_moe, kBaselineOptionsHelp},
    Entry{"tutel", &make_tutel, &configure_tutel, kTutelOptionsHelp},
    Entry{"fastermoe", &make_fastermoe, &configure_fastermoe,
          "shadow=on|off (dynamic expert shadowing by its latency model); default on"},
    Entry{"fsmoe", &make_fsmoe},
    Entry{"fsmoe-no-iio", &make_fsmoe_no_iio},
    Entry{"tutel-improved", &make_tutel_improved},
    Entry{"lancet", &make_lancet, &configure_lancet, kGradientSyncHelp},
    Entry{"flexmoe", &make_flexmoe},
    Entry{"parm", &make_parm, &configure_parm, kGradientSyncHelp},
    Entry{"parm-s1", &make_parm_s1, &configure_parm_s1, kGradientSyncHelp},
    Entry{"parm-s2", &make_parm_s2, &configure_parm_s2, kGradientSyncHelp},
    Entry{"deepspeed-ted", &make_deepspeed_ted, &configure_deepspeed_ted,
          "dtd=on|off (duplicate token dropping), cac=on|off (communication-aware activation "
          "checkpointing), ac=on|off (activation checkpointing); default all on"},
    Entry{"deepspeed-ted-base", &make_deepspeed_ted_base, &configure_deepspeed_ted_base,
          "as deepspeed-ted; default dtd=off, cac=off, ac=on"},
    Entry{"megatron", &make_megatron, &configure_megatron, kMegatronHelp},
    Entry{"megatron-a2a-overlap", &make_megatron_a2a_overlap, &configure_megatron_a2a_overlap,
          kMegatronA2aOverlapHelp},
    Entry{"dualpipe", &make_dualpipe, &configure_dualpipe,
          "overlap=on|off (forward-backward chunk pairs interleaved so each all-to-all hides "
          "under the other pass's compute); default on. Needs an even pp and an even mb >= 2*pp "
          "(not part of \"all\": name it)",
          false},
    Entry{"dualpipev", &make_dualpipev, &configure_dualpipev,
          "overlap=on|off, as dualpipe. Needs an even mb >= 2*pp and layers >= 2*pp (not part of "
          "\"all\": name it)",
          false},
};

}  // namespace

std::vector<std::string_view> strategy_names() {
  std::vector<std::string_view> names;
  for (const Entry& e : kStrategies) names.push_back(e.name);
  return names;
}

std::vector<std::string_view> strategies_for_all() {
  std::vector<std::string_view> names;
  for (const Entry& e : kStrategies) {
    if (e.in_all) names.push_back(e.name);
  }
  return names;
}

std::string strategy_names_help() {
  std::string all, named_only;
  for (const Entry& e : kStrategies) {
    std::string& list = e.in_all ? all : named_only;
    list += (list.empty() ? "" : ", ") + std::string(e.name);
  }
  return named_only.empty() ? all : all + "; by name only: " + named_only;
}

std::string strategy_options_help() {
  std::string out = fmt::format("\n  every strategy: {}", kCommonOptionsHelp);
  for (const Entry& e : kStrategies) {
    if (e.configure != nullptr) out += fmt::format("\n  {}: {}", e.name, e.options);
  }
  return out;
}

std::unique_ptr<Strategy> make_strategy(std::string_view spec, std::string_view flag) {
  const auto [name, text] = split_strategy_spec(spec);
  std::string names;
  for (const Entry& e : kStrategies) {
    if (e.name == name) {
      if (text.empty() && spec.find(':') == std::string_view::npos) return e.make();
      StrategyOptions options(name, text, flag);
      const CommonOptions common = read_common_options(options);
      const std::string known = e.configure == nullptr
                                    ? std::string(kCommonOptionKeys)
                                    : fmt::format("{}; {}", e.options, kCommonOptionKeys);
      if (e.configure == nullptr) {
        if (!common.any) {
          throw input_error("", flag, fmt::format("{} takes no options", name), spec,
                            std::string(name));
        }
        options.finish(known);
        return with_common_options(e.make(), common, spec);
      }
      std::unique_ptr<Strategy> s = e.configure(options);
      options.finish(known);
      return with_common_options(std::move(s), common, spec);
    }
    names += (names.empty() ? "" : ", ") + std::string(e.name);
  }
  throw input_error("", flag, "unknown strategy", name, names);
}

}  // namespace moesim::strategies
