// Lowering of TaskGraphs into execution plans (CPU only): launch order, events, communicator
// groups, NCCL call sequences, kernel shapes and buffer sizes.
#include "kernels/runtime/graph_lowering.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "sim/core/errors.hpp"

namespace moesim::runtime {
namespace {

ComputeTask gemm(std::int64_t m, std::int64_t n, std::int64_t k) {
  ComputeTask t;
  t.kind = KernelKind::gemm;
  t.shape = KernelShape{m, n, k, 1};
  return t;
}

ComputeTask kernel(KernelKind kind, std::int64_t m, std::int64_t n, std::int64_t k = 0,
                   std::int64_t bytes = 0) {
  ComputeTask t;
  t.kind = kind;
  t.shape = KernelShape{m, n, k, 1};
  t.bytes = Bytes{bytes};
  return t;
}

CommOp op(CommKind kind, std::vector<std::uint32_t> ranks, std::int64_t bytes) {
  CommOp o;
  o.kind = kind;
  for (std::uint32_t r : ranks) o.ranks.push_back(RankId{r});
  o.bytes = Bytes{bytes};
  return o;
}

const Launch& launch_of(const ExecutionPlan& plan, TaskId id, const TaskGraph& g) {
  for (const Launch& l : plan.ranks[g.task(id).rank.index()].launches) {
    if (l.task == id) return l;
  }
  ADD_FAILURE() << "task not launched";
  return plan.ranks[0].launches[0];
}

TEST(GraphLowering, StreamOrderImpliesSameStreamEdges) {
  // a -> b on one stream is already guaranteed by the stream: no event, one implied edge.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId a = g.add_compute("a", RankId{0}, s, gemm(8, 8, 8));
  const TaskId b = g.add_compute("b", RankId{0}, s, gemm(8, 8, 8));
  g.depend(a, b);
  const ExecutionPlan plan = lower_graph(g);
  ASSERT_EQ(plan.ranks.size(), 1U);
  ASSERT_EQ(plan.ranks[0].launches.size(), 2U);
  EXPECT_EQ(plan.ranks[0].launches[0].task, a);
  EXPECT_EQ(plan.ranks[0].launches[1].task, b);
  EXPECT_TRUE(plan.ranks[0].launches[1].waits.empty());
  EXPECT_EQ(plan.event_waits, 0U);
  EXPECT_EQ(plan.implied_edges, 1U);
}

TEST(GraphLowering, CrossStreamEdgesBecomeWaitsAndRedundantOnesAreDropped) {
  // compute: a1, a2; side: b1, b2. Edges a1->b1, a2->b1, a1->b2.
  // b1 waits for a2 only (a1 precedes a2 on its stream); b2's edge from a1 is implied by b1's
  // wait on the later a2. So: 1 event wait, 2 implied edges.
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const StreamId side = g.stream("side");
  const TaskId a1 = g.add_compute("a1", RankId{0}, c, gemm(8, 8, 8));
  const TaskId a2 = g.add_compute("a2", RankId{0}, c, gemm(8, 8, 8));
  const TaskId b1 = g.add_delay("b1", RankId{0}, side, SimTime::from_us(1));
  const TaskId b2 = g.add_delay("b2", RankId{0}, side, SimTime::from_us(1));
  g.depend(a1, b1);
  g.depend(a2, b1);
  g.depend(a1, b2);
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(launch_of(plan, b1, g).waits, std::vector<TaskId>{a2});
  EXPECT_TRUE(launch_of(plan, b2, g).waits.empty());
  EXPECT_EQ(plan.event_waits, 1U);
  EXPECT_EQ(plan.implied_edges, 2U);
  EXPECT_EQ(plan.cross_rank_waits, 0U);
  // Delays become spin kernels of their duration.
  ASSERT_TRUE(launch_of(plan, b1, g).compute.has_value());
  EXPECT_EQ(launch_of(plan, b1, g).compute->op, DeviceOp::delay);
  EXPECT_EQ(launch_of(plan, b1, g).compute->delay, SimTime::from_us(1));
}

TEST(GraphLowering, LaterWaitOnSameProducerStreamIsKept) {
  // b1 waits for a1, b2 for a2 (later on the producer stream): both are needed.
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const StreamId side = g.stream("side");
  const TaskId a1 = g.add_compute("a1", RankId{0}, c, gemm(8, 8, 8));
  const TaskId a2 = g.add_compute("a2", RankId{0}, c, gemm(8, 8, 8));
  const TaskId b1 = g.add_delay("b1", RankId{0}, side, SimTime::from_us(1));
  const TaskId b2 = g.add_delay("b2", RankId{0}, side, SimTime::from_us(1));
  g.depend(a1, b1);
  g.depend(a2, b2);
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(launch_of(plan, b1, g).waits, std::vector<TaskId>{a1});
  EXPECT_EQ(launch_of(plan, b2, g).waits, std::vector<TaskId>{a2});
  EXPECT_EQ(plan.event_waits, 2U);
  EXPECT_EQ(plan.implied_edges, 0U);
}

TEST(GraphLowering, CrossRankEdgeIsAWaitOnTheOtherRanksEvent) {
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId a = g.add_compute("a", RankId{0}, s, gemm(8, 8, 8));
  const TaskId b = g.add_compute("b", RankId{1}, s, gemm(8, 8, 8));
  g.depend(a, b);
  const ExecutionPlan plan = lower_graph(g);
  ASSERT_EQ(plan.ranks.size(), 2U);
  EXPECT_EQ(launch_of(plan, b, g).waits, std::vector<TaskId>{a});
  EXPECT_EQ(plan.cross_rank_waits, 1U);
  // The global order puts the producer first.
  EXPECT_EQ(plan.global_order, (std::vector<TaskId>{a, b}));
}

TEST(GraphLowering, CommunicatorsAreSharedPerDistinctRankSet) {
  // all_reduce over {1,0} and all_to_all over {0,1}: one communicator [0,1]. send_recv {2,1}:
  // communicator [1,2]; the sender (rank 2, NCCL rank 1) sends to NCCL rank 0, the receiver
  // (rank 1, NCCL rank 0) receives from NCCL rank 1.
  TaskGraph g;
  const StreamId s = g.stream("comm");
  const auto ar = g.add_collective("ar", op(CommKind::all_reduce, {1, 0}, 1000), s);
  const auto a2a = g.add_collective("a2a", op(CommKind::all_to_all, {0, 1}, 1000), s);
  const auto p2p = g.add_collective("p2p", op(CommKind::send_recv, {2, 1}, 64), s);
  const ExecutionPlan plan = lower_graph(g);
  ASSERT_EQ(plan.groups.size(), 2U);
  EXPECT_EQ(plan.groups[0].ranks, (std::vector<RankId>{RankId{0}, RankId{1}}));
  EXPECT_EQ(plan.groups[1].ranks, (std::vector<RankId>{RankId{1}, RankId{2}}));
  const CommCall& ar1 = *launch_of(plan, ar[0], g).comm;  // rank 1's member
  EXPECT_EQ(ar1.group, 0U);
  EXPECT_EQ(ar1.nccl_rank, 1U);
  EXPECT_FALSE(ar1.grouped);
  // 1000 bf16 bytes = 500 elements, reduced in bf16.
  ASSERT_EQ(ar1.calls.size(), 1U);
  EXPECT_EQ(ar1.calls[0], (NcclCall{NcclCallKind::all_reduce, WireType::bf16, 500, 0, 0, 0}));
  EXPECT_EQ(launch_of(plan, a2a[0], g).comm->group, 0U);
  const CommCall& send = *launch_of(plan, p2p[0], g).comm;
  const CommCall& recv = *launch_of(plan, p2p[1], g).comm;
  EXPECT_EQ(send.group, 1U);
  EXPECT_EQ(send.nccl_rank, 1U);
  EXPECT_EQ(send.calls, (std::vector<NcclCall>{{NcclCallKind::send, WireType::u8, 64, 0, 0, 0}}));
  EXPECT_EQ(send.send_bytes, 64);
  EXPECT_EQ(recv.nccl_rank, 0U);
  EXPECT_EQ(recv.calls, (std::vector<NcclCall>{{NcclCallKind::recv, WireType::u8, 64, 1, 0, 0}}));
  EXPECT_EQ(recv.recv_bytes, 64);
  EXPECT_TRUE(send.grouped && recv.grouped);
}

TEST(GraphLowering, AllToAllSplitsTheSendBufferEvenlyOverPeersSelfIncluded) {
  // 4 ranks, 4000 bytes: 1000 bytes to and from each of the 4 members, at offsets 0..3000.
  TaskGraph g;
  const auto m =
      g.add_collective("a2a", op(CommKind::all_to_all, {0, 1, 2, 3}, 4000), g.stream("comm"));
  const ExecutionPlan plan = lower_graph(g);
  const CommCall& c = *launch_of(plan, m[2], g).comm;
  ASSERT_EQ(c.calls.size(), 8U);
  for (std::uint32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(c.calls[2 * p], (NcclCall{NcclCallKind::send, WireType::u8, 1000, p, p * 1000, 0}));
    EXPECT_EQ(c.calls[2 * p + 1],
              (NcclCall{NcclCallKind::recv, WireType::u8, 1000, p, 0, p * 1000}));
  }
  EXPECT_EQ(c.send_bytes, 4000);
  EXPECT_EQ(c.recv_bytes, 4000);
}

TEST(GraphLowering, AllToAllVUsesTheMatrixInNcclRankOrder) {
  // Group in ring order {2, 0, 1}; matrix row/column = position in that order:
  //          to 2  to 0  to 1
  //   from 2   0    10    20
  //   from 0  30     5     0
  //   from 1  40    50     0
  // Rank 0 (position 1, NCCL rank 0 of [0,1,2]) walks peers 0, 1, 2 (positions 1, 2, 0):
  //   sends 5 to 0 (off 0), nothing to 1, 30 to 2 (off 5)     -> send buffer 35
  //   receives 5 from 0 (off 0), 50 from 1 (off 5), 10 from 2 (off 55) -> recv buffer 65
  auto matrix = std::make_shared<ByteMatrix>(3);
  matrix->set(0, 1, 10);
  matrix->set(0, 2, 20);
  matrix->set(1, 0, 30);
  matrix->set(1, 1, 5);
  matrix->set(2, 0, 40);
  matrix->set(2, 1, 50);
  CommOp o = op(CommKind::all_to_all_v, {2, 0, 1}, all_to_all_v_size(*matrix).count);
  o.matrix = matrix;
  TaskGraph g;
  const auto m = g.add_collective("a2av", o, g.stream("comm"));
  const ExecutionPlan plan = lower_graph(g);
  const CommCall& c = *launch_of(plan, m[1], g).comm;
  EXPECT_EQ(c.nccl_rank, 0U);
  EXPECT_EQ(c.calls, (std::vector<NcclCall>{
                         {NcclCallKind::send, WireType::u8, 5, 0, 0, 0},
                         {NcclCallKind::recv, WireType::u8, 5, 0, 0, 0},
                         {NcclCallKind::recv, WireType::u8, 50, 1, 0, 5},
                         {NcclCallKind::send, WireType::u8, 30, 2, 5, 0},
                         {NcclCallKind::recv, WireType::u8, 10, 2, 0, 55},
                     }));
  EXPECT_EQ(c.send_bytes, 35);
  EXPECT_EQ(c.recv_bytes, 65);
}

TEST(GraphLowering, CollectiveSizesFollowNcclConventions) {
  // all_gather 1000 B over 4: 250 B from each, 1000 B out. reduce_scatter 1000 B fp32 over 4:
  // 250 floats in, 62 floats kept per rank (248 B in use). broadcast root 3 of [1,3]: NCCL
  // root 1.
  TaskGraph g;
  const StreamId s = g.stream("comm");
  const auto ag = g.add_collective("ag", op(CommKind::all_gather, {0, 1, 2, 3}, 1000), s);
  CommOp rs = op(CommKind::reduce_scatter, {0, 1, 2, 3}, 1000);
  rs.dtype = DType::fp32;
  const auto rsm = g.add_collective("rs", rs, s);
  CommOp bc = op(CommKind::broadcast, {3, 1}, 77);
  bc.root = RankId{3};
  const auto bcm = g.add_collective("bc", bc, s);
  const ExecutionPlan plan = lower_graph(g);
  const CommCall& a = *launch_of(plan, ag[0], g).comm;
  EXPECT_EQ(a.calls,
            (std::vector<NcclCall>{{NcclCallKind::all_gather, WireType::u8, 250, 0, 0, 0}}));
  EXPECT_EQ(a.send_bytes, 250);
  EXPECT_EQ(a.recv_bytes, 1000);
  const CommCall& r = *launch_of(plan, rsm[0], g).comm;
  EXPECT_EQ(r.calls,
            (std::vector<NcclCall>{{NcclCallKind::reduce_scatter, WireType::fp32, 62, 0, 0, 0}}));
  EXPECT_EQ(r.send_bytes, 992);
  EXPECT_EQ(r.recv_bytes, 248);
  const CommCall& b = *launch_of(plan, bcm[1], g).comm;  // rank 1
  EXPECT_EQ(b.calls, (std::vector<NcclCall>{{NcclCallKind::broadcast, WireType::u8, 77, 1, 0, 0}}));
  // Zero-byte ops lower to no call at all.
  TaskGraph z;
  const auto zm = z.add_collective("z", op(CommKind::all_reduce, {0, 1}, 0), z.stream("comm"));
  const ExecutionPlan zero = lower_graph(z);
  EXPECT_TRUE(launch_of(zero, zm[0], z).comm->calls.empty());
}

TEST(GraphLowering, CommOpsLaunchInOneOrderOnEveryRank) {
  // Rank 1's member of Y is added before anything else, so Y comes first in the global order;
  // rank 0 must then issue Y before X too, although it added X's member first.
  TaskGraph h;
  const StreamId h1 = h.stream("s1");
  const StreamId h2 = h.stream("s2");
  const CommId hx = h.add_comm("X", op(CommKind::all_reduce, {0, 1}, 64));
  const CommId hy = h.add_comm("Y", op(CommKind::all_reduce, {1, 0}, 64));
  const TaskId hy1 = h.add_comm_member(hy, RankId{1}, h2);
  const TaskId hx0 = h.add_comm_member(hx, RankId{0}, h1);
  const TaskId hx1 = h.add_comm_member(hx, RankId{1}, h1);
  const TaskId hy0 = h.add_comm_member(hy, RankId{0}, h2);
  h.validate();
  const ExecutionPlan plan = lower_graph(h);
  EXPECT_EQ(plan.ranks[0].launches[0].task, hy0);
  EXPECT_EQ(plan.ranks[0].launches[1].task, hx0);
  EXPECT_EQ(plan.ranks[1].launches[0].task, hy1);
  EXPECT_EQ(plan.ranks[1].launches[1].task, hx1);
}

TEST(GraphLowering, CycleIsASimulationErrorNamingTheTasks) {
  TaskGraph g;
  const StreamId a = g.stream("a");
  const StreamId b = g.stream("b");
  const TaskId t1 = g.add_compute("first", RankId{0}, a, gemm(8, 8, 8));
  const TaskId t2 = g.add_compute("second", RankId{0}, b, gemm(8, 8, 8));
  g.depend(t1, t2);
  g.depend(t2, t1);
  try {
    (void)lower_graph(g);
    FAIL() << "expected SimulationError";
  } catch (const SimulationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dependency cycle"), std::string::npos) << what;
    EXPECT_NE(what.find("'first' (rank 0, stream a)"), std::string::npos) << what;
    EXPECT_NE(what.find("'second' (rank 0, stream b)"), std::string::npos) << what;
  }
}

ComputeTask described(ComputeTask t, ComputeOp o) {
  t.op = std::move(o);
  return t;
}

ComputeOp routed(OpDirection d, std::vector<std::int64_t> counts, std::int64_t capacity = 0) {
  ComputeOp o;
  o.direction = d;
  o.top_k = 2;
  o.experts = static_cast<std::int32_t>(counts.size());
  o.tokens_per_expert = std::move(counts);
  o.capacity = capacity;
  return o;
}

constexpr std::int64_t kSlack = kCallAlignmentSlack;

TEST(GraphLowering, MoeKernelsTakeRoutingFromTheirOp) {
  // gate: 256 tokens x 8 experts, op top_k 2: inputs 256 x 8 x 4 B logits = 8192; outputs
  // 256 x 2 x (4 + 4) = 4096. permute / unpermute: 512 assignments = 256 tokens x 2, hidden
  // 1024, counts 64 per expert (dropless: 512 rows): permute inputs 256 x 1024 x 2 B = 524288,
  // outputs 512 x 1024 x 2 B = 1048576. Buffers carry kCallAlignmentSlack on top.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const std::vector<std::int64_t> counts(8, 64);
  ComputeOp gate_op;
  gate_op.direction = OpDirection::forward;
  gate_op.top_k = 2;
  gate_op.experts = 8;
  const TaskId gate =
      g.add_compute("gate", RankId{0}, s, described(kernel(KernelKind::gate, 256, 8), gate_op));
  const TaskId perm = g.add_compute(
      "perm", RankId{0}, s,
      described(kernel(KernelKind::permute, 512, 1024), routed(OpDirection::forward, counts)));
  const TaskId unperm = g.add_compute(
      "unperm", RankId{0}, s,
      described(kernel(KernelKind::unpermute, 512, 1024), routed(OpDirection::forward, counts)));
  const TaskId unperm_bwd = g.add_compute(
      "unperm.bwd", RankId{0}, s,
      described(kernel(KernelKind::unpermute, 512, 1024), routed(OpDirection::backward, counts)));
  // Padded: 4 experts x capacity 100 = 400 rows; 100 assignments dropped.
  const TaskId padded =
      g.add_compute("padded", RankId{0}, s,
                    described(kernel(KernelKind::permute, 512, 1024),
                              routed(OpDirection::backward, {100, 100, 100, 112}, 112)));
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(plan.substituted_tasks, 0U);
  const DeviceCall& gd = *launch_of(plan, gate, g).compute;
  EXPECT_EQ(gd.op, DeviceOp::gate_forward);
  EXPECT_EQ(gd.tokens, 256);
  EXPECT_EQ(gd.experts, 8);
  EXPECT_EQ(gd.top_k, 2);
  EXPECT_EQ(gd.input_bytes, 8192 + kSlack);
  EXPECT_EQ(gd.output_bytes, 4096 + kSlack);
  const DeviceCall& pd = *launch_of(plan, perm, g).compute;
  EXPECT_EQ(pd.op, DeviceOp::permute_forward);
  EXPECT_EQ(pd.tokens, 256);
  EXPECT_EQ(pd.top_k, 2);
  EXPECT_EQ(pd.experts, 8);
  EXPECT_EQ(pd.hidden, 1024);
  EXPECT_EQ(pd.out_rows, 512);
  EXPECT_EQ(pd.tokens_per_expert, counts);
  EXPECT_EQ(pd.input_bytes, 524288 + kSlack);
  EXPECT_EQ(pd.output_bytes, 1048576 + kSlack);
  const DeviceCall& ud = *launch_of(plan, unperm, g).compute;
  EXPECT_EQ(ud.op, DeviceOp::unpermute_forward);
  EXPECT_EQ(ud.input_bytes, 1048576 + kSlack);
  EXPECT_EQ(ud.output_bytes, 524288 + kSlack);
  const DeviceCall& ub = *launch_of(plan, unperm_bwd, g).compute;
  EXPECT_EQ(ub.op, DeviceOp::unpermute_backward);
  EXPECT_EQ(ub.input_bytes, 524288 + 1048576 + kSlack);    // dy + expert outputs
  EXPECT_EQ(ub.output_bytes, 1048576 + 512 * 4 + kSlack);  // d_expert_out + d_prob
  const DeviceCall& pb = *launch_of(plan, padded, g).compute;
  EXPECT_EQ(pb.op, DeviceOp::permute_backward);
  EXPECT_EQ(pb.out_rows, 4 * 112);
  EXPECT_EQ(pb.capacity, 112);
}

TEST(GraphLowering, AnUnsetOrInconsistentOpIsSubstitutedNeverGuessed) {
  // The same shapes as real kernels, but nothing says what they compute: each is marked.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId mm = g.add_compute("mm", RankId{0}, s, gemm(64, 32, 16));
  const TaskId act =
      g.add_compute("act", RankId{0}, s, kernel(KernelKind::elementwise, 10, 20, 0, 1200));
  const TaskId ln =
      g.add_compute("ln", RankId{0}, s, kernel(KernelKind::layernorm, 10, 20, 0, 800));
  const TaskId opt =
      g.add_compute("opt", RankId{0}, s, kernel(KernelKind::optimizer, 100, 1, 0, 2800));
  // Counts that sum above the 512 assignments, and a count above the tokens.
  const TaskId over = g.add_compute("over", RankId{0}, s,
                                    described(kernel(KernelKind::permute, 512, 64, 0, 4000),
                                              routed(OpDirection::forward, {250, 250, 100})));
  const TaskId wrong_k = g.add_compute("wrong_k", RankId{0}, s,
                                       described(kernel(KernelKind::permute, 511, 64, 0, 4000),
                                                 routed(OpDirection::forward, {100, 100})));
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(plan.substituted_tasks, 6U);
  const DeviceCall& m = *launch_of(plan, mm, g).compute;
  EXPECT_TRUE(m.substituted);
  EXPECT_EQ(m.op, DeviceOp::gemm);  // the shape still runs, as a forward product
  EXPECT_NE(m.substitution.find("no GEMM role"), std::string::npos) << m.substitution;
  for (TaskId id : {act, ln, opt, over, wrong_k}) {
    const DeviceCall& d = *launch_of(plan, id, g).compute;
    EXPECT_TRUE(d.substituted) << g.name_of(id);
    EXPECT_EQ(d.op, DeviceOp::copy) << g.name_of(id);
  }
  EXPECT_EQ(launch_of(plan, act, g).compute->copy_bytes, 600);
  EXPECT_NE(launch_of(plan, over, g).compute->substitution.find("counts sum to 600"),
            std::string::npos)
      << launch_of(plan, over, g).compute->substitution;
  EXPECT_NE(launch_of(plan, wrong_k, g).compute->substitution.find("not tokens x top_k"),
            std::string::npos);
  const std::string text = plan_to_text(g, plan);
  EXPECT_NE(text.find("6 substituted tasks"), std::string::npos) << text;
  EXPECT_NE(text.find("act on compute: SUBSTITUTED (no direction (forward or backward)) by copy "
                      "600 bytes"),
            std::string::npos)
      << text;
}

TEST(GraphLowering, DenseKernelShapesAndBuffers) {
  // gemm 64x32x16: inputs (64*16 + 16*32) * 2 = 3072 B, output 64*32*2 = 4096 B; the input
  // gradient reads B as n x k (B^T), the weight gradient A as k x m (A^T).
  // attention m=4096 tokens, seq 1024, dim 128, 16 heads: 4 sequences -> 64 heads of 1024x128;
  //   forward inputs 3 * 64*1024*128*2 = 50331648; outputs 64*1024*(128+1024)*2 = 150994944;
  //   backward inputs Q K V dO = 67108864, outputs dQ dK dV + P + dP = 50331648 + 268435456.
  // elementwise 10 x 20 swiglu: input 10 x 40 x 2 B = 800; gelu backward: h1 + d_act = 800.
  // layernorm backward 10 x 20: x, dy, gamma, beta = 2*400 + 80; dx + fp32 dgamma, dbeta = 560.
  // Adam over 100 parameters: bf16 grads 200; fp32 master/m/v + bf16 weights 1400.
  // memcpy 1000 bytes: copy 500 B.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  auto role = [](GemmRole r) {
    ComputeOp o;
    o.gemm_role = r;
    return o;
  };
  auto dir = [](OpDirection d, ActivationKind a = ActivationKind::none) {
    ComputeOp o;
    o.direction = d;
    o.activation = a;
    return o;
  };
  const TaskId mm =
      g.add_compute("mm", RankId{0}, s, described(gemm(64, 32, 16), role(GemmRole::forward)));
  const TaskId dx = g.add_compute("dx", RankId{0}, s,
                                  described(gemm(64, 32, 16), role(GemmRole::input_gradient)));
  const TaskId dw = g.add_compute("dw", RankId{0}, s,
                                  described(gemm(64, 32, 16), role(GemmRole::weight_gradient)));
  ComputeTask attn = kernel(KernelKind::attention, 4096, 1024, 128);
  attn.shape.batch = 16;
  const TaskId at = g.add_compute("attn", RankId{0}, s, described(attn, dir(OpDirection::forward)));
  const TaskId atb =
      g.add_compute("attn.bwd", RankId{0}, s, described(attn, dir(OpDirection::backward)));
  const TaskId sw = g.add_compute("sw", RankId{0}, s,
                                  described(kernel(KernelKind::elementwise, 10, 20, 0, 1200),
                                            dir(OpDirection::forward, ActivationKind::swiglu)));
  const TaskId ge = g.add_compute("ge.bwd", RankId{0}, s,
                                  described(kernel(KernelKind::elementwise, 10, 20, 0, 1200),
                                            dir(OpDirection::backward, ActivationKind::gelu)));
  const TaskId lnb =
      g.add_compute("ln.bwd", RankId{0}, s,
                    described(kernel(KernelKind::layernorm, 10, 20), dir(OpDirection::backward)));
  ComputeOp adam;
  adam.parameters = 100;
  const TaskId opt =
      g.add_compute("opt", RankId{0}, s, described(kernel(KernelKind::optimizer, 100, 1), adam));
  const TaskId cp = g.add_compute("cp", RankId{0}, s, kernel(KernelKind::memcpy, 0, 0, 0, 1000));
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(plan.substituted_tasks, 0U);
  const DeviceCall& m = *launch_of(plan, mm, g).compute;
  EXPECT_EQ(m.input_bytes, 3072 + kSlack);
  EXPECT_EQ(m.output_bytes, 4096 + kSlack);
  EXPECT_FALSE(m.transpose_a || m.transpose_b);
  EXPECT_TRUE(launch_of(plan, dx, g).compute->transpose_b);
  EXPECT_FALSE(launch_of(plan, dx, g).compute->transpose_a);
  EXPECT_TRUE(launch_of(plan, dw, g).compute->transpose_a);
  EXPECT_FALSE(launch_of(plan, dw, g).compute->transpose_b);
  const DeviceCall& a = *launch_of(plan, at, g).compute;
  EXPECT_EQ(a.op, DeviceOp::attention_forward);
  EXPECT_EQ(a.batch, 64);
  EXPECT_EQ(a.n, 1024);
  EXPECT_EQ(a.k, 128);
  EXPECT_FALSE(a.causal);  // the task does not say causal: every key, as the simulator charges
  EXPECT_EQ(a.input_bytes, 50331648 + kSlack);
  EXPECT_EQ(a.output_bytes, 150994944 + kSlack);
  const DeviceCall& ab = *launch_of(plan, atb, g).compute;
  EXPECT_EQ(ab.op, DeviceOp::attention_backward);
  EXPECT_EQ(ab.input_bytes, 67108864 + kSlack);
  EXPECT_EQ(ab.output_bytes, 50331648 + 268435456 + kSlack);
  const DeviceCall& swc = *launch_of(plan, sw, g).compute;
  EXPECT_EQ(swc.op, DeviceOp::activation_forward);
  EXPECT_EQ(swc.activation, DeviceActivation::swiglu);
  EXPECT_EQ(swc.input_bytes, 800 + kSlack);
  const DeviceCall& gec = *launch_of(plan, ge, g).compute;
  EXPECT_EQ(gec.op, DeviceOp::activation_backward);
  EXPECT_EQ(gec.activation, DeviceActivation::gelu);
  EXPECT_EQ(gec.input_bytes, 800 + kSlack);
  EXPECT_EQ(gec.output_bytes, 400 + kSlack);
  const DeviceCall& lnc = *launch_of(plan, lnb, g).compute;
  EXPECT_EQ(lnc.op, DeviceOp::layernorm_backward);
  EXPECT_EQ(lnc.input_bytes, 880 + kSlack);
  EXPECT_EQ(lnc.output_bytes, 560 + kSlack);
  const DeviceCall& oc = *launch_of(plan, opt, g).compute;
  EXPECT_EQ(oc.op, DeviceOp::adam);
  EXPECT_EQ(oc.parameters, 100);
  EXPECT_EQ(oc.input_bytes, 200 + kSlack);
  EXPECT_EQ(oc.output_bytes, 1400 + kSlack);
  EXPECT_EQ(launch_of(plan, cp, g).compute->op, DeviceOp::copy);
  EXPECT_EQ(launch_of(plan, cp, g).compute->copy_bytes, 500);
  EXPECT_FALSE(launch_of(plan, cp, g).compute->substituted);
  // Per rank: inputs sized for the largest task (attention backward), outputs likewise.
  EXPECT_EQ(plan.ranks[0].input_bytes, 67108864 + kSlack);
  ASSERT_EQ(plan.ranks[0].streams.size(), 1U);
  EXPECT_EQ(plan.ranks[0].streams[0].output_bytes, 50331648 + 268435456 + kSlack);
  EXPECT_EQ(plan.ranks[0].max_bytes_by_kind.at("gemm"), 3072 + 4096 + 2 * kSlack);
  EXPECT_EQ(plan.ranks[0].max_bytes_by_kind.at("memcpy"), 1000);
}

// A causal task's n is the mean keys per query its mask leaves (544 of a 1024-token sequence at
// 64-token tiles): the device kernel masks over the sequence, so it runs seq 1024, causal, with
// 4096 / 1024 = 4 sequences per head.
TEST(GraphLowering, CausalAttentionRunsTheMaskOverItsSequence) {
  TaskGraph g;
  const StreamId s = g.stream("compute");
  ComputeTask attn = kernel(KernelKind::attention, 4096, 544, 128);
  attn.shape.batch = 16;
  attn.op.direction = OpDirection::backward;
  attn.op.sequence = 1024;
  attn.op.causal = true;
  const TaskId at = g.add_compute("attn.bwd", RankId{0}, s, attn);
  const ExecutionPlan plan = lower_graph(g);
  EXPECT_EQ(plan.substituted_tasks, 0U);
  const DeviceCall& a = *launch_of(plan, at, g).compute;
  EXPECT_EQ(a.op, DeviceOp::attention_backward);
  EXPECT_TRUE(a.causal);
  EXPECT_EQ(a.n, 1024);
  EXPECT_EQ(a.batch, 64);
  EXPECT_NE(plan_to_text(g, plan).find("attention_backward heads=64 seq=1024 dim=128 causal"),
            std::string::npos)
      << plan_to_text(g, plan);
}

// What validate predicts: the device's attention is unfused, and a causal one computes every
// tile of its sequence (n 544 -> 1024, FLOPs x 1024/544); other kernels are the task itself.
TEST(GraphLowering, DeviceKernelWorkIsUnfusedAttentionOverTheWholeSequence) {
  ComputeTask attn = kernel(KernelKind::attention, 4096, 544, 128);
  attn.flops = Flops{544.0e6};
  attn.op.sequence = 1024;
  attn.op.causal = true;
  const ComputeTask work = device_kernel_work(attn);
  EXPECT_FALSE(work.op.fused);
  EXPECT_TRUE(work.op.causal);
  EXPECT_EQ(work.shape.n, 1024);
  EXPECT_DOUBLE_EQ(work.flops.count, 1024.0e6);
  ComputeTask full = kernel(KernelKind::attention, 4096, 1024, 128);
  full.flops = Flops{1.0e9};
  const ComputeTask full_work = device_kernel_work(full);
  EXPECT_FALSE(full_work.op.fused);
  EXPECT_EQ(full_work.shape, full.shape);
  EXPECT_EQ(full_work.flops.count, full.flops.count);
  const ComputeTask gemm = kernel(KernelKind::gemm, 64, 32, 16);
  EXPECT_EQ(device_kernel_work(gemm), gemm);
}

TEST(GraphLowering, KernelOutsideTheKernelsLimitsIsAnInputError) {
  TaskGraph g;
  g.add_compute("router", RankId{0}, g.stream("compute"), kernel(KernelKind::gate, 16, 2000));
  try {
    (void)lower_graph(g);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "task 'router' (rank 0, stream compute): n (experts) out of range for the "
                 "kernel (got 2000, expected in [1, 1024])");
  }
}

TEST(GraphLowering, PlanTextListsCommunicatorsAndCalls) {
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const TaskId a = g.add_compute("a", RankId{0}, c, gemm(8, 8, 8));
  const auto ar = g.add_collective("ar", op(CommKind::all_reduce, {0, 1}, 64), g.stream("comm"));
  g.depend(a, ar[0]);
  const std::string text = plan_to_text(g, lower_graph(g));
  EXPECT_NE(text.find("communicator 0: ranks [0,1]"), std::string::npos) << text;
  EXPECT_NE(text.find("ar on comm after a@0/compute: communicator 0 as rank 0: all_reduce 32x2B"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace moesim::runtime
