// Planners price what runs. Each planner estimates from the catalogue (layer_ops.hpp) and prices
// a collective together with every group of the stage that runs it at once; these tests build a
// strategy's graph on a real cluster (flow network, H100 roofline), run the simulated executor
// and compare the planner's own numbers (its typed decisions) with what the executor charged
// for the same kernels and collectives in the iteration.
//
// The roofline's overlap slowdowns (compute- and memory-bound) are set to 1 in most of them so that
// a kernel costs the same whether or not communication runs beside it;
// PipelinedCoreEstimatesPriceOverlapContention turns it on and holds the pipelined planners'
// estimates (which price the kernels their schedule places beside communication with
// CostModels::duration_beside_comm) against the contended executor.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/cluster_shape.hpp"
#include "sim/network/flow_network_model.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/trial_runner.hpp"
#include "sim/workload/routing.hpp"

namespace moesim::strategies {
namespace {

// Neither the compute-bound nor the memory-bound kernels slow beside communication.
compute::RooflineParams no_contention() {
  compute::RooflineParams p;
  p.overlap_slowdown = 1.0;
  p.memory_bound_overlap_slowdown = 1.0;
  return p;
}

// One job on `nodes` copies of a one-node preset, with the models `moesim run` uses (overlap
// contention off unless `contention`).
struct RealJob {
  RealJob(const std::string& node, std::size_t nodes, const ModelSpec& model,
          const std::string& parallel,
          const GeneratedRouting& routing = GeneratedRouting(RoutingDistribution::zipf, 1.2, 7),
          bool contention = false)
      : topology([&] {
          network::ClusterSpec spec;
          spec.nodes = nodes;
          return network::generate_cluster(io::load_topology(node), spec);
        }()),
        compute(io::load_gpu_spec(topology.gpu_model()),
                contention ? compute::RooflineParams{} : no_contention()),
        planner_network(topology),
        job(job_on(topology, model, parallel, routing)) {}

  static TrainingJob job_on(const network::Topology& topology, const ModelSpec& model,
                            const std::string& parallel, const GeneratedRouting& routing) {
    const ClusterShape shape = network::cluster_shape_of(topology);
    return make_training_job(model, parse_parallel_layout(parallel, "--parallel"), shape, routing,
                             0);
  }

  BuildResult build(const std::string& strategy, bool planner_sees_contention = true) const {
    const CostModels costs{planner_sees_contention ? compute : blind_compute, planner_network};
    BuildResult b = make_strategy(strategy)->build_iteration(job, costs);
    b.graph.validate();
    return b;
  }

  ExecutionRecord simulate(const TaskGraph& graph) const {
    network::FlowNetworkModel network(topology);
    SimulatedExecutor executor(compute, network);
    return executor.run(graph);
  }

  network::Topology topology;
  compute::RooflineComputeModel compute;
  /// The same GPU with no overlap contention: a planner that prices every kernel alone.
  compute::RooflineComputeModel blind_compute{io::load_gpu_spec(topology.gpu_model()),
                                              no_contention()};
  network::FlowNetworkModel planner_network;
  TrainingJob job;
};

ModelSpec small_moe(std::int64_t layers) {
  ModelSpec m = io::load_model("gpt2-s-moe");
  m.experts = 8;
  m.layers = layers;
  return m;
}

std::int64_t first_moe_layer(const ModelSpec& m) {
  for (std::int64_t l = 0; l < m.layers; ++l) {
    if (m.is_moe_layer(l)) return l;
  }
  return -1;
}

// Executor-charged time (us) of the compute tasks named in `names`, in `layers` and `phases`,
// on the slowest rank (or on `only` when given).
double charged_us(const TaskGraph& g, const ExecutionRecord& rec,
                  const std::set<std::string>& names, const std::set<std::int64_t>& layers,
                  const std::set<Phase>& phases, std::optional<RankId> only = std::nullopt) {
  std::map<std::uint32_t, SimTime> per_rank;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    if (t.kind != TaskKind::compute) continue;
    if (only && t.rank != *only) continue;
    if (!layers.count(t.layer) || !phases.count(t.phase)) continue;
    if (!names.count(std::string(g.names()[t.name]))) continue;
    per_rank[t.rank.value] += rec.tasks[i].end - rec.tasks[i].start;
  }
  SimTime worst = SimTime::zero();
  for (const auto& [r, t] : per_rank) worst = std::max(worst, t);
  return worst.us();
}

const std::set<std::string> kExpertForward = {"expert1", "expert.act", "expert2"};
const std::set<std::string> kExpertBackward = {"expert2.dX", "expert2.dW", "expert.act.bwd",
                                               "expert1.dX", "expert1.dW"};

void expect_within(double planner, double simulated, double tolerance, const std::string& what) {
  ASSERT_GT(simulated, 0.0) << what;
  std::cout << what << ": planner " << planner << " us, simulated " << simulated << " us (ratio "
            << planner / simulated << ")\n";
  EXPECT_NEAR(planner / simulated, 1.0, tolerance)
      << what << ": planner " << planner << " us, simulated " << simulated << " us";
}

// Every planner's per-block kernel estimate equals what the executor charges for the kernels it
// emits for that block, within 2% (chunked blocks are estimated from their largest chunk).
TEST(PlannerAgreement, BlockKernelEstimatesMatchTheExecutor) {
  const RealJob real("dgx-h100", 2, small_moe(4), "ep=8");
  const std::int64_t moe = first_moe_layer(real.job.model);
  ASSERT_GE(moe, 0);
  const std::set<Phase> fwd = {Phase::forward}, bwd = {Phase::backward};
  {
    const BuildResult b = real.build("tutel");
    const ExecutionRecord rec = real.simulate(b.graph);
    expect_within(b.decisions.at("tutel.expert_estimate.forward").number(),
                  charged_us(b.graph, rec, kExpertForward, {moe}, fwd), 0.02, "tutel experts fwd");
    expect_within(b.decisions.at("tutel.expert_estimate.backward").number(),
                  charged_us(b.graph, rec, kExpertBackward, {moe}, bwd), 0.02, "tutel experts bwd");
  }
  for (const std::string name : {"fsmoe", "fsmoe-no-iio", "tutel-improved"}) {
    const BuildResult b = real.build(name);
    const ExecutionRecord rec = real.simulate(b.graph);
    // fsmoe-no-iio shares fsmoe's decision keys.
    const std::string key = name == "tutel-improved" ? name : "fsmoe";
    expect_within(b.decisions.at(key + ".expert_estimate").number(),
                  charged_us(b.graph, rec, kExpertForward, {moe}, fwd, RankId{0}), 0.02,
                  name + " experts fwd");
    expect_within(b.decisions.at(key + ".attention_backward_estimate").number(),
                  charged_us(b.graph, rec,
                             {"ln2.bwd", "attn.proj.dX", "attn.proj.dW", "attention.bwd", "qkv.dX",
                              "qkv.dW", "ln1.bwd"},
                             {0}, bwd, RankId{0}),
                  0.02, name + " attention bwd");
  }
  {
    const BuildResult b = real.build("parm-s1");
    const ExecutionRecord rec = real.simulate(b.graph);
    std::set<std::string> both = kExpertForward;
    both.insert(kExpertBackward.begin(), kExpertBackward.end());
    expect_within(b.decisions.at("parm.estimate.S1.compute").number(),
                  charged_us(b.graph, rec, both, {moe}, {Phase::forward, Phase::backward}), 0.02,
                  "parm experts fwd+bwd");
  }
  {
    const BuildResult b = real.build("lancet");
    const ExecutionRecord rec = real.simulate(b.graph);
    std::set<std::int64_t> region = {moe};
    if (moe + 1 < real.job.model.layers && !real.job.model.is_moe_layer(moe + 1)) {
      region.insert(moe + 1);
    }
    std::set<std::string> kernels;
    for (const Task& t : b.graph.tasks()) {
      if (t.kind == TaskKind::compute && t.phase == Phase::forward && region.count(t.layer)) {
        kernels.insert(std::string(b.graph.names()[t.name]));
      }
    }
    expect_within(b.decisions.at(fmt::format("lancet.region_kernels.L{}", moe)).number(),
                  charged_us(b.graph, rec, kernels, region, fwd), 0.02, "lancet region kernels");
  }
}

// Simulated time of the exchanges named in `names` in `layer`, per EP group summed over its
// operations, the slowest group.
double exchange_us(const TaskGraph& g, const ExecutionRecord& rec,
                   const std::set<std::string>& names, std::int64_t layer) {
  std::map<std::uint32_t, SimTime> per_group;  // keyed by the group's first rank
  for (const CommRecord& c : g.comms()) {
    if (!names.count(g.names()[c.name])) continue;
    const TaskId first = c.members.front();
    if (g.task(first).layer != layer) continue;
    const TaskRecord& r = rec.tasks[first.index()];
    per_group[c.op.ranks.front().value] += r.end - r.start;
  }
  SimTime worst = SimTime::zero();
  for (const auto& [k, t] : per_group) worst = std::max(worst, t);
  return worst.us();
}

// On one-NIC nodes (8 nodes of pcie3-4gpu-100g, ep=8 across the nodes) the four EP groups of a
// node run their all-to-alls through the same 100 Gb/s NIC at once. The planners' all-to-all
// estimates price them together, so they agree with the iteration within 10%; priced alone (the
// old way) the same all-to-all comes out about 4x too cheap.
TEST(PlannerAgreement, AllToAllEstimatesCoverTheGroupsSharingANic) {
  const RealJob real("pcie3-4gpu-100g", 8, small_moe(2), "ep=8");
  const std::int64_t moe = first_moe_layer(real.job.model);
  {
    const BuildResult b = real.build("tutel");
    const ExecutionRecord rec = real.simulate(b.graph);
    const std::int64_t degree = b.decisions.at("tutel.degree").integer();
    const bool two_dh = b.decisions.at("tutel.a2a").name() == "2dh";
    const std::set<std::string> names =
        two_dh ? std::set<std::string>{"ep.dispatch.intra", "ep.dispatch.inter"}
               : std::set<std::string>{"ep.dispatch"};
    const double simulated = exchange_us(b.graph, rec, names, moe) / static_cast<double>(degree);
    expect_within(b.decisions.at("tutel.a2a_estimate").number(), simulated, 0.10,
                  "tutel one chunk's dispatch");
  }
  {
    const BuildResult b = real.build("parm-s1");
    const ExecutionRecord rec = real.simulate(b.graph);
    const double simulated = exchange_us(
        b.graph, rec, {"ep.dispatch", "ep.combine", "ep.combine.bwd", "ep.dispatch.bwd"}, moe);
    expect_within(b.decisions.at("parm.estimate.S1.exchange").number(), simulated, 0.10,
                  "parm S1 exchanges fwd+bwd");
    // The same dispatch priced alone on the idle network: what planners charged before.
    const CostModels costs{real.compute, real.planner_network};
    const CommRecord* dispatch = nullptr;
    for (const CommRecord& c : b.graph.comms()) {
      if (b.graph.names()[c.name] == "ep.dispatch") {
        dispatch = &c;
        break;
      }
    }
    ASSERT_NE(dispatch, nullptr);
    const double alone = costs.estimate(dispatch->op).us();
    std::cout << "parm S1 one dispatch priced alone: " << alone << " us; simulated one exchange "
              << simulated / 4.0 << " us\n";
    EXPECT_LT(alone, 0.5 * simulated / 4.0) << "alone " << alone << " us";
  }
}

// FasterMoE's latency model prices the heaviest expert: comp(B) from the catalogue's expert
// forward, feat(B) its tokens at the bandwidth a probe sees with every EP group of the stage
// exchanging at once. FlexMoE's cost model prices the busiest GPU's experts (T_compute, a linear
// per-token fit of the catalogue's expert forward + backward) and the exchanges (T_A2A, per-GPU
// all-to-all bandwidths probed with every EP group at once). Kernels within 2%, all-to-alls on
// one-NIC nodes within 10% of what the iteration charges.
TEST(PlannerAgreement, FasterMoeAndFlexMoeEstimatesMatchTheIteration) {
  {
    // One EP group of 4 (one step of the smart schedule), one expert per GPU: the heaviest
    // expert's owner computes exactly its B tokens in the forward. Uniform routing keeps that
    // expert at its owner (the zipf loads of the other cases get it shadowed, and a shadowed
    // expert runs as every rank's share, not as one kernel of B tokens).
    ModelSpec m = small_moe(2);
    m.experts = 4;
    const RealJob real("pcie3-4gpu-100g", 1, m, "ep=4",
                       GeneratedRouting(RoutingDistribution::uniform, 0, 7));
    const std::int64_t moe = first_moe_layer(real.job.model);
    const BuildResult b = real.build("fastermoe");
    ASSERT_EQ(b.decisions.count("fastermoe.shadowed_experts"), 1u);
    ASSERT_EQ(b.decisions.at("fastermoe.shadowed_experts").integer(), 0) << "heaviest shadowed";
    const ExecutionRecord rec = real.simulate(b.graph);
    expect_within(b.decisions.at("fastermoe.expert_estimate").number(),
                  charged_us(b.graph, rec, kExpertForward, {moe}, {Phase::forward}), 0.02,
                  "fastermoe heaviest expert fwd");
  }
  {
    const RealJob real("dgx-h100", 2, small_moe(4), "ep=8");
    const std::int64_t moe = first_moe_layer(real.job.model);
    const BuildResult b = real.build("flexmoe");
    const ExecutionRecord rec = real.simulate(b.graph);
    std::set<std::string> both = kExpertForward;
    both.insert(kExpertBackward.begin(), kExpertBackward.end());
    expect_within(b.decisions.at("flexmoe.estimate.compute").number(),
                  charged_us(b.graph, rec, both, {moe}, {Phase::forward, Phase::backward}), 0.02,
                  "flexmoe busiest GPU experts fwd+bwd");
  }
  const RealJob nic("pcie3-4gpu-100g", 8, small_moe(2), "ep=8");
  const std::int64_t moe = first_moe_layer(nic.job.model);
  {
    const BuildResult b = nic.build("fastermoe:shadow=on");
    const ExecutionRecord rec = nic.simulate(b.graph);
    expect_within(b.decisions.at("fastermoe.a2a_estimate").number(),
                  exchange_us(b.graph, rec, {"ep.dispatch"}, moe), 0.10,
                  "fastermoe heaviest expert's dispatch");
  }
  {
    const BuildResult b = nic.build("flexmoe");
    const ExecutionRecord rec = nic.simulate(b.graph);
    expect_within(
        b.decisions.at("flexmoe.estimate.a2a").number(),
        exchange_us(b.graph, rec,
                    {"ep.dispatch", "ep.combine", "ep.combine.bwd", "ep.dispatch.bwd"}, moe),
        0.10, "flexmoe exchanges fwd+bwd");
  }
}

// rank 0's span of a MoE layer's chunked core in `phase`: the first dispatch's start to the last
// combine's end (all-to-alls, ESP collectives and experts of that layer).
double core_span_us(const TaskGraph& g, const ExecutionRecord& rec, std::int64_t layer,
                    Phase phase) {
  double start = 1e300, end = -1e300;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    if (t.rank != RankId{0} || t.layer != layer || t.phase != phase) continue;
    const std::string_view name = g.names()[t.name];
    if (!name.starts_with("ep.dispatch") && !name.starts_with("ep.combine") &&
        !name.starts_with("esp.") && !name.starts_with("expert")) {
      continue;
    }
    start = std::min(start, rec.tasks[i].start.us());
    end = std::max(end, rec.tasks[i].end.us());
  }
  return end - start;
}

// With overlap contention on (the roofline's default x1.189 for a kernel that starts while
// communication runs on its GPU), the pipelined planners' estimate of a MoE layer's forward
// (first dispatch to last combine) against the simulated span, rank 0. The chunked pipelines
// place expert chunks beside other chunks' collectives; the planners price those chunks with
// CostModels::duration_beside_comm and the others alone, as the executor does. Band: 10%
// (set before the run: the collectives are priced together as they run, the kernels are the
// executor's; what is left is the alpha-beta fits of FSMoE and PipeMoE and the flow model's
// sharing between overlapped collectives). The job is chosen so that every planner chunks
// (degree > 1): an ESP-sharded layer on two DGX-H100 nodes, 4x GPT2-L-MoE's micro-batch so the
// un-chunked all-to-all passes FSMoE's 1 ms threshold.
TEST(PlannerAgreement, PipelinedCoreEstimatesPriceOverlapContention) {
  ModelSpec m = io::load_model("gpt2-l-moe");
  m.layers = 2;
  m.experts = 8;
  m.micro_batch = 192;
  const RealJob real("dgx-h100", 2, m, "tp=2,ep=8,esp=2",
                     GeneratedRouting(RoutingDistribution::zipf, 1.2, 7), true);
  const std::int64_t moe = first_moe_layer(real.job.model);
  const struct {
    std::string strategy, estimate, degree;
  } cases[] = {{"tutel", "tutel.core_estimate.forward", "tutel.degree"},
               {"fsmoe", "fsmoe.forward_estimate", "fsmoe.degree.forward"},
               {"fsmoe-no-iio", "fsmoe.forward_estimate", "fsmoe.degree.forward"},
               {"tutel-improved", "tutel-improved.forward_estimate", "tutel-improved.degree"}};
  for (const auto& c : cases) {
    {
      // For the record: the same planner pricing every kernel alone (as before it priced the
      // contention), against the same executor.
      const BuildResult blind = real.build(c.strategy, false);
      const ExecutionRecord rec = real.simulate(blind.graph);
      const double simulated = core_span_us(blind.graph, rec, moe, Phase::forward);
      std::cout << c.strategy << " pricing kernels alone: degree "
                << blind.decisions.at(c.degree).integer() << ", planner "
                << blind.decisions.at(c.estimate).number() << " us, simulated " << simulated
                << " us (ratio " << blind.decisions.at(c.estimate).number() / simulated << ")\n";
    }
    const BuildResult b = real.build(c.strategy);
    const ExecutionRecord rec = real.simulate(b.graph);
    std::cout << c.strategy << ": degree " << b.decisions.at(c.degree).integer() << "\n";
    expect_within(b.decisions.at(c.estimate).number(),
                  core_span_us(b.graph, rec, moe, Phase::forward), 0.10,
                  c.strategy + " MoE core forward");
  }
}

// Tutel's two-queue schedule where the chunks are compute-bound (one DGX-H100 node, NVLink
// all-to-alls, GPT2-L-MoE with 4x its micro-batch): chunk i > 0 starts behind chunk i-1, beside
// the combine chunk i-1 released, and pays the contention; the estimate holds within the same
// 10% band, set before the run.
TEST(PlannerAgreement, TutelComputeBoundChunksPayTheContention) {
  ModelSpec m = io::load_model("gpt2-l-moe");
  m.layers = 2;
  m.experts = 8;
  m.micro_batch = 192;
  const RealJob real("dgx-h100", 1, m, "ep=8", GeneratedRouting(RoutingDistribution::zipf, 1.2, 7),
                     true);
  const std::int64_t moe = first_moe_layer(real.job.model);
  for (const bool sees : {false, true}) {
    const BuildResult b = real.build("tutel", sees);
    const ExecutionRecord rec = real.simulate(b.graph);
    const double planner = b.decisions.at("tutel.core_estimate.forward").number();
    const double simulated = core_span_us(b.graph, rec, moe, Phase::forward);
    std::cout << "tutel on one node, " << (sees ? "pricing contention" : "pricing kernels alone")
              << ": degree " << b.decisions.at("tutel.degree").integer() << ", "
              << b.decisions.at("tutel.expert_estimate.forward").detail << "\n";
    if (sees) {
      expect_within(planner, simulated, 0.10, "tutel MoE core forward, one node");
    } else {
      std::cout << "  planner " << planner << " us, simulated " << simulated << " us (ratio "
                << planner / simulated << ")\n";
    }
  }
}

// Trials on RealJob's own executor, counted.
class CountingTrials final : public TrialRunner {
 public:
  explicit CountingTrials(const RealJob& real) : real_(real) {}
  std::vector<SimTime> task_ends(const TaskGraph& graph) const override {
    ++calls;
    const ExecutionRecord rec = real_.simulate(graph);
    std::vector<SimTime> ends;
    for (const auto& t : rec.tasks) ends.push_back(t.end);
    return ends;
  }
  mutable int calls = 0;

 private:
  const RealJob& real_;
};

// tutel:choose=trials times one iteration per candidate and records layer 0's core time of each
// ("linear d2 6849.5 us, ..."). With the gradients all-reduced after the backward and one
// micro-batch nothing runs beside the core but what the estimate prices, so every candidate's
// trial time is its estimate (tutel.estimate.<alg>.d<d>) within 1%: the trials time the same
// span the estimate prices. Without a runner (bare CostModels) choose=trials builds what the
// estimate chooses.
TEST(PlannerAgreement, TutelTrialsTimeWhatTheEstimatePrices) {
  const RealJob real("dgx-h100", 2, small_moe(4), "ep=8");
  const CountingTrials trials(real);
  const CostModels costs{real.compute, real.planner_network, nullptr, &trials};
  const BuildResult b =
      make_strategy("tutel:grad_sync=after:choose=trials")->build_iteration(real.job, costs);
  ASSERT_EQ(b.decisions.at("tutel.choice").name(), "trials");
  const std::string& detail = b.decisions.at("tutel.choice").detail;
  int listed = 0;
  for (const char* alg : {"linear", "2dh"}) {
    for (const int d : {1, 2, 4, 8}) {
      const std::string key = fmt::format("tutel.estimate.{}.d{}", alg, d);
      const std::string tag = fmt::format("{} d{} ", alg, d);
      const auto at = detail.find(tag);
      if (!b.decisions.contains(key)) {
        EXPECT_EQ(at, std::string::npos) << tag;
        continue;
      }
      ASSERT_NE(at, std::string::npos) << tag << " in " << detail;
      ++listed;
      const double trial_us = std::stod(detail.substr(at + tag.size()));
      expect_within(b.decisions.at(key).number(), trial_us, 0.01,
                    "tutel trial, layer 0 core, " + tag);
    }
  }
  EXPECT_EQ(trials.calls, listed);
  EXPECT_GE(listed, 4);
  const BuildResult bare = real.build("tutel:grad_sync=after:choose=trials");
  const BuildResult estimate = real.build("tutel:grad_sync=after");
  EXPECT_FALSE(bare.decisions.contains("tutel.choice"));
  EXPECT_EQ(bare.graph.task_count(), estimate.graph.task_count());
  EXPECT_EQ(bare.decisions.at("tutel.degree").integer(),
            estimate.decisions.at("tutel.degree").integer());
}

// Forward span (us) of `layers` on each rank: (start of its first forward task, end of its
// last), every rank.
std::vector<std::pair<double, double>> lancet_region_rank_spans(
    const TaskGraph& g, const ExecutionRecord& rec, const std::set<std::int64_t>& layers,
    std::size_t ranks) {
  std::vector<std::pair<double, double>> spans(ranks, {1e300, -1e300});
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    if (t.phase != Phase::forward || !layers.count(t.layer)) continue;
    auto& [start, end] = spans[t.rank.index()];
    start = std::min(start, rec.tasks[i].start.us());
    end = std::max(end, rec.tasks[i].end.us());
  }
  return spans;
}

// Lancet's region estimate (lancet.range.L<n>: T(n) of its dynamic program) is the span of the
// region on the slowest rank when every rank enters it at once: the pipeline of each range priced
// with the most loaded rank's experts, the ranges one after the other. On the first MoE region
// the ranks do enter at once (the dense layer before it is the same work everywhere), so the
// estimate holds against the simulated region, from that common start to the last rank's end,
// within 1% (set before the run: the kernels and the contention are the executor's rule, what
// is left is the flow model's all-to-all-v against the planner's together-priced estimate).
// The job is the compute-bound one of lancet-a100 (one p4de node, GPT2-L-MoE, micro-batch 48,
// zipf 0.5, 2 partitions). Rank 0's own span is printed: a rank with fewer routed tokens than
// the most loaded one ends the region's tail sooner and waits longer at the next region's first
// exchange, so one rank's span moves with the routing skew around the estimate (what the claim
// lancet-a100 "cost model error", measured on rank 0, sees). For the record: the planner pricing
// every kernel alone.
TEST(PlannerAgreement, LancetRegionEstimateIsTheRegionFromACommonStart) {
  ModelSpec m = io::load_model("gpt2-l-moe");
  m.layers = 4;
  m.experts = 16;
  m.micro_batch = 48;
  const RealJob real("aws-p4de", 1, m, "ep=8", GeneratedRouting(RoutingDistribution::zipf, 0.5, 7),
                     true);
  const std::int64_t moe = first_moe_layer(real.job.model);
  ASSERT_GE(moe, 0);
  for (const bool sees : {false, true}) {
    const BuildResult b = real.build("lancet", sees);
    const ExecutionRecord rec = real.simulate(b.graph);
    const auto layers_spanned =
        b.decisions.at(fmt::format("lancet.region_layers.L{}", moe)).integer();
    std::set<std::int64_t> region;
    for (std::int64_t l = moe; l < moe + layers_spanned; ++l) region.insert(l);
    const auto spans = lancet_region_rank_spans(b.graph, rec, region,
                                                static_cast<std::size_t>(real.job.layout.world()));
    double first_start = 1e300, last_start = -1e300, last_end = -1e300;
    for (const auto& [start, end] : spans) {
      first_start = std::min(first_start, start);
      last_start = std::max(last_start, start);
      last_end = std::max(last_end, end);
    }
    const double estimate = b.decisions.at(fmt::format("lancet.range.L{}", moe)).number();
    const double simulated = last_end - first_start;
    const std::int64_t partitions =
        b.decisions.at(fmt::format("lancet.partitions.L{}", moe)).integer();
    std::cout << "lancet region L" << moe << (sees ? "" : ", pricing kernels alone") << ": "
              << partitions << " partitions, rank 0 span " << spans[0].second - spans[0].first
              << " us\n";
    if (!sees) {
      std::cout << "  planner " << estimate << " us, simulated " << simulated << " us (ratio "
                << estimate / simulated << ")\n";
      continue;
    }
    // The precondition: every rank enters the region at the same time.
    EXPECT_NEAR(last_start - first_start, 0.0, 1e-6);
    EXPECT_GT(partitions, 1);
    expect_within(estimate, simulated, 0.01, "lancet region from a common start");
  }
}

// Parm's S2 (one all-to-all-v over each EP x ESP group: the tokens cross the network once and
// the relaying member hands them to the other shard holders in the same operation) on Parm's
// 32-GPU cluster (4 x pcie3-8gpu-100g, tp=4, esp=4, ep=8; the claim parm-real-models' GPT-2
// job). The planner prices the exchanges the block emits (CostModels::estimate_together over
// every group's op), so its exchange term equals what the executor charges; band 2%, set
// before the run: the same ops on the same flow model, every group starting together in both
// (the capacity-padded exchange is the same in every group). Pricing the unified exchange's
// intra- and inter-node parts apart as max(intra, inter) (the planner before) was 18% under:
// on these nodes the relaying GPU's PCIe carries both parts at once.
TEST(PlannerAgreement, ParmUnifiedExchangeEstimateIsWhatRuns) {
  ModelSpec m = io::load_model("gpt2-s-moe");
  m.experts = 16;
  m.micro_batch = 8;
  m.layers = 2;
  const RealJob real("pcie3-8gpu-100g", 4, m, "tp=4,esp=4,ep=8");
  const std::int64_t moe = first_moe_layer(real.job.model);
  ASSERT_GE(moe, 0);
  const BuildResult b = real.build("parm-s2");
  const ExecutionRecord rec = real.simulate(b.graph);
  expect_within(
      b.decisions.at("parm.estimate.S2.exchange").number(),
      exchange_us(b.graph, rec,
                  {"parm.dispatch", "parm.combine", "parm.combine.bwd", "parm.dispatch.bwd"}, moe),
      0.02, "parm S2 unified exchanges fwd+bwd");
}

// The catalogue sets every kernel's ComputeOp (the hardware lowering reads it, never guesses):
// every GEMM has its role, activations their kind, the gate and (un)permute their routing
// parameters with one count per expert, the optimizer its parameter count; backward GEMMs and
// kernels of the backward phase say so.
TEST(Catalogue, EveryEmittedKernelCarriesItsComputeOp) {
  const RealJob real("dgx-h100", 2, small_moe(4), "tp=2,ep=8");
  // The DualPipe schedules need a pipeline fed from both ends: the same GPUs as two stages.
  const RealJob piped("dgx-h100", 2, small_moe(4), "tp=2,ep=4,pp=2,mb=4");
  const ModelSpec& m = real.job.model;
  for (std::string_view name : strategy_names()) {
    const BuildResult b = (name.starts_with("dualpipe") ? piped : real).build(std::string(name));
    for (const Task& t : b.graph.tasks()) {
      const auto* k = b.graph.compute_of(t);
      if (k == nullptr) continue;
      const std::string_view task = b.graph.names()[t.name];
      const std::string where = fmt::format("{}: {} (layer {})", name, task, t.layer);
      switch (k->kind) {
        case KernelKind::gemm:
          ASSERT_NE(k->op.gemm_role, GemmRole::none) << where;
          EXPECT_EQ(k->op.direction == OpDirection::backward, k->op.gemm_role != GemmRole::forward)
              << where;
          break;
        case KernelKind::gate:
          EXPECT_EQ(k->op.top_k, m.top_k) << where;
          EXPECT_EQ(k->op.experts, m.experts) << where;
          break;
        case KernelKind::permute:
        case KernelKind::unpermute:
          EXPECT_EQ(k->op.top_k, m.top_k) << where;
          EXPECT_EQ(k->op.tokens_per_expert.size(), static_cast<std::size_t>(m.experts)) << where;
          break;
        case KernelKind::optimizer:
          EXPECT_GT(k->op.parameters, 0) << where;
          break;
        case KernelKind::elementwise:
          if (task.find(".act") != std::string_view::npos) {
            EXPECT_EQ(k->op.activation, ActivationKind::gelu) << where;  // gpt2-s-moe: GELU
          }
          break;
        default:
          break;
      }
      if (k->kind != KernelKind::gemm && k->kind != KernelKind::optimizer &&
          t.phase == Phase::forward) {
        EXPECT_EQ(k->op.direction, OpDirection::forward) << where;
      }
    }
  }
}

}  // namespace
}  // namespace moesim::strategies
