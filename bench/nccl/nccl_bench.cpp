// moesim_bench_nccl: an nccl-tests-style collective benchmark for one or more GPUs of one process
// (NVIDIA/nccl-tests flags, size conventions, columns and formulas: doc/PERFORMANCE.md,
// src/common.cu).
// Every size is a one-operation task graph, lowered by kernels/runtime's lower_graph() and issued
// by issue_nccl_calls() exactly as `moesim execute` issues a strategy's communication (fp32
// reductions, data movement in bytes, all-to-all(-v) as grouped send/recv, sendrecv as the ring
// i -> i+1 of send_recv ops): what calibration measures is what the executor runs.
//
//   moesim_bench_nccl OP [-b MIN] [-e MAX] [-f FACTOR] [-w WARMUP] [-n ITERS] [-g GPUS] [-c 0|1]
//                     [--json FILE]
//   OP: all_reduce | all_gather | reduce_scatter | alltoall | alltoallv | sendrecv
// Prints nccl-tests' table (size count type redop root, then time algbw busbw #wrong for
// out-of-place and in-place; in-place is measured for all_reduce, all_gather and reduce_scatter,
// N/A otherwise), so `moesim calibrate` reads the saved stdout like nccl-tests' own output.
// algbw = size / time and busbw = algbw * factor come from sim/report/bandwidth_metrics.hpp, the
// same formulas the simulator reports with. Time = wall time of ITERS back-to-back launches on
// all GPUs divided by ITERS (nccl-tests' method). --json also writes a measurement file.
// Without a usable GPU it says so and exits 0.
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.hpp"
#include "kernels/runtime/graph_lowering.hpp"
#include "kernels/runtime/nccl_calls.hpp"
#include "sim/report/bandwidth_metrics.hpp"

namespace moesim::bench {

cudaError_t fill_floats(float* p, std::int64_t n, float v, cudaStream_t s);
cudaError_t count_wrong(const float* p, std::int64_t n, float expect, unsigned long long* wrong,
                        cudaStream_t s);

namespace {

struct Options {
  std::string op;
  std::int64_t min_bytes = 8;
  std::int64_t max_bytes = 128LL << 20;
  std::int64_t factor = 2;
  int warmup = 5;
  int iters = 20;
  int gpus = 1;
  bool check = true;
  std::string json;
};

std::int64_t parse_size(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  std::int64_t mult = 1;
  if (end != nullptr && (*end == 'K' || *end == 'k')) mult = 1LL << 10;
  if (end != nullptr && (*end == 'M' || *end == 'm')) mult = 1LL << 20;
  if (end != nullptr && (*end == 'G' || *end == 'g')) mult = 1LL << 30;
  return static_cast<std::int64_t>(v * static_cast<double>(mult));
}

CommKind kind_of(const std::string& op) {
  if (op == "all_reduce") return CommKind::all_reduce;
  if (op == "all_gather") return CommKind::all_gather;
  if (op == "reduce_scatter") return CommKind::reduce_scatter;
  if (op == "alltoall") return CommKind::all_to_all;
  if (op == "alltoallv") return CommKind::all_to_all_v;
  if (op == "sendrecv") return CommKind::send_recv;
  throw std::invalid_argument("unknown OP \"" + op +
                              "\" (expected all_reduce, all_gather, reduce_scatter, alltoall, "
                              "alltoallv or sendrecv)");
}

/// alltoallv weights: rank i sends w(i, j) = 1 + (i + j) % n units to rank j; every rank sends
/// and receives the same total n + n(n-1)/2 units, so nccl-tests' size (max of sent, received)
/// is that total.
std::int64_t v_units(int i, int j, int n) { return 1 + (i + j) % n; }
std::int64_t v_total_units(int n) { return n + static_cast<std::int64_t>(n) * (n - 1) / 2; }

/// The one-operation task graph of OP at nccl-tests size `size` over ranks 0..n-1, as a strategy
/// would emit it (fp32, nccl-tests' default -d float): one CommOp, or for sendrecv the ring
/// i -> i+1 as n send_recv ops. Its lowering gives exactly the NCCL calls `moesim execute` makes.
TaskGraph one_op_graph(CommKind kind, int n, std::int64_t size) {
  TaskGraph g(static_cast<std::uint32_t>(n));
  const StreamId stream = g.stream("comm");
  auto make = [&](std::vector<RankId> ranks, std::int64_t bytes) {
    CommOp op;
    op.kind = kind;
    op.group = CommGroup::world;
    op.dtype = DType::fp32;
    op.ranks = std::move(ranks);
    op.bytes = Bytes{bytes};
    return op;
  };
  std::vector<RankId> all;
  for (int i = 0; i < n; ++i) all.push_back(RankId{static_cast<std::uint32_t>(i)});
  if (kind == CommKind::send_recv) {
    for (int i = 0; i < n; ++i) {
      g.add_collective(
          "sendrecv." + std::to_string(i),
          make({all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>((i + 1) % n)]},
               size),
          stream);
    }
  } else if (kind == CommKind::all_to_all_v) {
    CommOp op = make(all, 0);
    auto matrix = std::make_shared<ByteMatrix>(static_cast<std::size_t>(n));
    const std::int64_t unit = size / v_total_units(n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        matrix->set(static_cast<std::size_t>(i), static_cast<std::size_t>(j),
                    unit * v_units(i, j, n));
    op.bytes = all_to_all_v_size(*matrix);
    op.matrix = std::move(matrix);
    g.add_collective("alltoallv", std::move(op), stream);
  } else {
    g.add_collective(std::string(to_string(kind)), make(all, size), stream);
  }
  g.validate();
  return g;
}

struct Rank {
  int device = 0;
  cudaStream_t stream = nullptr;
  float* send = nullptr;
  float* recv = nullptr;
  unsigned long long* wrong = nullptr;
};

class Bench {
 public:
  Bench(const Options& o) : o_(o), kind_(kind_of(o.op)), n_(o.gpus) {
    if (kind_ == CommKind::send_recv && n_ < 2) {
      throw std::invalid_argument("sendrecv needs -g 2 or more (a send_recv joins two ranks)");
    }
    const std::size_t bytes = static_cast<std::size_t>(o.max_bytes) + 64;
    for (int i = 0; i < n_; ++i) {
      Rank r;
      r.device = i;
      MOESIM_DEVICE_CHECK(cudaSetDevice(i));
      MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
      MOESIM_DEVICE_CHECK(cudaMalloc(&r.send, bytes));
      MOESIM_DEVICE_CHECK(cudaMalloc(&r.recv, bytes));
      MOESIM_DEVICE_CHECK(cudaMalloc(&r.wrong, sizeof(unsigned long long)));
      ranks_.push_back(r);
    }
  }
  ~Bench() {
    for (auto& [ranks, comms] : comms_) {
      for (ncclComm_t c : comms) (void)ncclCommDestroy(c);
    }
    for (Rank& r : ranks_) {
      (void)cudaSetDevice(r.device);
      (void)cudaFree(r.send);
      (void)cudaFree(r.recv);
      (void)cudaFree(r.wrong);
      (void)cudaStreamDestroy(r.stream);
    }
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  /// Lowers the one-operation graph of nccl-tests size `size` (lower_graph, as `moesim execute`)
  /// and makes sure every communicator of its plan exists.
  void prepare(std::int64_t size) {
    graph_ = one_op_graph(kind_, n_, size);
    plan_ = runtime::lower_graph(graph_);
    for (const runtime::CommGroupPlan& group : plan_.groups) {
      std::vector<int> devs;
      for (RankId r : group.ranks) devs.push_back(static_cast<int>(r.value));
      if (comms_.count(devs)) continue;
      std::vector<ncclComm_t> comms(devs.size());
      MOESIM_DEVICE_CHECK(
          ncclCommInitAll(comms.data(), static_cast<int>(devs.size()), devs.data()));
      comms_.emplace(devs, std::move(comms));
    }
  }

  /// Enqueues every rank's calls through the executor's path (issue_nccl_calls), all ranks in
  /// one NCCL group since one thread drives them. In place: all_reduce reads and writes one
  /// buffer, all_gather sends from its own slot of the output, reduce_scatter receives into
  /// its own slot of the input (nccl-tests' in-place layouts).
  void launch(bool in_place) {
    MOESIM_DEVICE_CHECK(ncclGroupStart());
    for (const runtime::RankPlan& rank : plan_.ranks) {
      Rank& r = ranks_[rank.rank.index()];
      for (const runtime::Launch& l : rank.launches) {
        if (!l.comm) continue;
        const runtime::CommCall& c = *l.comm;
        char* send = reinterpret_cast<char*>(r.send);
        char* recv = reinterpret_cast<char*>(r.recv);
        if (in_place) {
          const std::int64_t part = slot_bytes(c);
          if (kind_ == CommKind::all_reduce) recv = send;
          if (kind_ == CommKind::all_gather) send = recv + part * c.nccl_rank;
          if (kind_ == CommKind::reduce_scatter) recv = send + part * c.nccl_rank;
        }
        runtime::issue_nccl_calls(c, comm_of(c, rank.rank), send, recv, r.stream);
      }
    }
    MOESIM_DEVICE_CHECK(ncclGroupEnd());
  }

  void sync() {
    for (Rank& r : ranks_) {
      MOESIM_DEVICE_CHECK(cudaSetDevice(r.device));
      MOESIM_DEVICE_CHECK(cudaStreamSynchronize(r.stream));
    }
  }

  /// Fills inputs so every output element has one known value, runs once, counts mismatches
  /// (nccl-tests' #wrong). Rank i's collective input is i + 1 everywhere; a send to rank j
  /// carries i * n + j + 1, so sums and moved chunks are exact in float and a chunk that lands
  /// in the wrong place is caught.
  std::int64_t check(bool in_place) {
    for (const runtime::RankPlan& rank : plan_.ranks) {
      Rank& r = ranks_[rank.rank.index()];
      const auto i = static_cast<int>(rank.rank.value);
      MOESIM_DEVICE_CHECK(cudaSetDevice(r.device));
      MOESIM_DEVICE_CHECK(cudaMemsetAsync(r.wrong, 0, sizeof(unsigned long long), r.stream));
      for (const runtime::Launch& l : rank.launches) {
        if (!l.comm) continue;
        const runtime::CommCall& c = *l.comm;
        if (!c.grouped) {
          MOESIM_DEVICE_CHECK(
              fill_floats(r.send, c.send_bytes / 4 + 16, static_cast<float>(i + 1), r.stream));
          if (in_place && kind_ == CommKind::all_gather) {
            MOESIM_DEVICE_CHECK(fill_floats(r.recv + slot_bytes(c) / 4 * c.nccl_rank,
                                            slot_bytes(c) / 4, static_cast<float>(i + 1),
                                            r.stream));
          }
          continue;
        }
        for (const runtime::NcclCall& call : c.calls) {
          if (call.kind != runtime::NcclCallKind::send) continue;
          const int peer = global_rank(c, call.peer);
          MOESIM_DEVICE_CHECK(fill_floats(r.send + call.send_offset_bytes / 4, call.count / 4,
                                          static_cast<float>(i * n_ + peer + 1), r.stream));
        }
      }
    }
    sync();
    launch(in_place);
    const float total = static_cast<float>(n_ * (n_ + 1) / 2);
    std::int64_t wrong = 0;
    for (const runtime::RankPlan& rank : plan_.ranks) {
      Rank& r = ranks_[rank.rank.index()];
      const auto i = static_cast<int>(rank.rank.value);
      MOESIM_DEVICE_CHECK(cudaSetDevice(r.device));
      for (const runtime::Launch& l : rank.launches) {
        if (!l.comm) continue;
        const runtime::CommCall& c = *l.comm;
        const std::int64_t part = slot_bytes(c) / 4;
        switch (kind_) {
          case CommKind::all_reduce:
            MOESIM_DEVICE_CHECK(count_wrong(in_place ? r.send : r.recv, c.recv_bytes / 4, total,
                                            r.wrong, r.stream));
            break;
          case CommKind::all_gather:
            for (int j = 0; j < n_; ++j)
              MOESIM_DEVICE_CHECK(
                  count_wrong(r.recv + part * j, part,
                              static_cast<float>(global_rank(c, static_cast<std::uint32_t>(j)) + 1),
                              r.wrong, r.stream));
            break;
          case CommKind::reduce_scatter:
            MOESIM_DEVICE_CHECK(count_wrong(in_place ? r.send + part * c.nccl_rank : r.recv, part,
                                            total, r.wrong, r.stream));
            break;
          default:
            for (const runtime::NcclCall& call : c.calls) {
              if (call.kind != runtime::NcclCallKind::recv) continue;
              const int peer = global_rank(c, call.peer);
              MOESIM_DEVICE_CHECK(count_wrong(r.recv + call.recv_offset_bytes / 4, call.count / 4,
                                              static_cast<float>(peer * n_ + i + 1), r.wrong,
                                              r.stream));
            }
            break;
        }
      }
      unsigned long long w = 0;
      MOESIM_DEVICE_CHECK(
          cudaMemcpyAsync(&w, r.wrong, sizeof(w), cudaMemcpyDeviceToHost, r.stream));
      MOESIM_DEVICE_CHECK(cudaStreamSynchronize(r.stream));
      wrong += static_cast<std::int64_t>(w);
    }
    return wrong;
  }

  /// Average time per launch over o_.iters launches after o_.warmup, in us.
  double time_us(bool in_place) {
    for (int w = 0; w < o_.warmup; ++w) launch(in_place);
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < o_.iters; ++it) launch(in_place);
    sync();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / o_.iters;
  }

  bool has_in_place() const {
    return kind_ == CommKind::all_reduce || kind_ == CommKind::all_gather ||
           kind_ == CommKind::reduce_scatter;
  }
  CommKind kind() const { return kind_; }
  int ranks() const { return n_; }
  /// The wire type of the lowered calls ("float" for reductions, "uint8" for data movement).
  const char* type_name() const {
    for (const runtime::RankPlan& rank : plan_.ranks) {
      for (const runtime::Launch& l : rank.launches) {
        if (l.comm && !l.comm->calls.empty()) {
          return l.comm->calls.front().type == runtime::WireType::fp32 ? "float" : "uint8";
        }
      }
    }
    return "uint8";
  }

 private:
  /// Bytes of one rank's slot of an all_gather output / reduce_scatter input.
  static std::int64_t slot_bytes(const runtime::CommCall& c) {
    if (c.calls.empty()) return 0;
    return c.calls.front().count * runtime::wire_bytes(c.calls.front().type);
  }
  int global_rank(const runtime::CommCall& c, std::uint32_t nccl_rank) const {
    return static_cast<int>(plan_.groups[c.group].ranks[nccl_rank].value);
  }
  ncclComm_t comm_of(const runtime::CommCall& c, RankId rank) const {
    std::vector<int> devs;
    for (RankId r : plan_.groups[c.group].ranks) devs.push_back(static_cast<int>(r.value));
    (void)rank;
    return comms_.at(devs)[c.nccl_rank];
  }

  Options o_;
  CommKind kind_;
  int n_;
  std::vector<Rank> ranks_;
  TaskGraph graph_;
  runtime::ExecutionPlan plan_;
  std::map<std::vector<int>, std::vector<ncclComm_t>> comms_;  // by rank set
};

/// Smallest size >= s that every rank can split evenly (float elements, n chunks, alltoallv units).
std::int64_t aligned(std::int64_t s, CommKind kind, int n) {
  std::int64_t unit = 4;
  if (kind == CommKind::all_gather || kind == CommKind::reduce_scatter ||
      kind == CommKind::all_to_all)
    unit = 4LL * n;
  if (kind == CommKind::all_to_all_v) unit = 4 * v_total_units(n);
  return (s + unit - 1) / unit * unit;
}

int run(const Options& o) {
  Bench bench(o);
  const CommKind kind = bench.kind();
  char host[256] = "unknown";
  (void)gethostname(host, sizeof(host) - 1);
  std::printf("# moesim_bench_nccl: nccl-tests columns and formulas, one process\n");
  std::printf("# Collective test starting: %s_perf\n", o.op.c_str());
  std::printf(
      "# nThread 1 nGpus %d minBytes %lld maxBytes %lld step: %lld(factor) warmup iters: %d iters: "
      "%d agg iters: 1 validation: %d graph: 0\n",
      o.gpus, static_cast<long long>(o.min_bytes), static_cast<long long>(o.max_bytes),
      static_cast<long long>(o.factor), o.warmup, o.iters, o.check ? 1 : 0);
  std::printf("#\n# Using devices\n");
  for (int i = 0; i < o.gpus; ++i) {
    cudaDeviceProp prop{};
    MOESIM_DEVICE_CHECK(cudaGetDeviceProperties(&prop, i));
    std::printf("#  Rank %2d Group  0 Pid %6d on %10s device %2d [%04x:%02x:%02x] %s\n", i,
                static_cast<int>(getpid()), host, i, prop.pciDomainID, prop.pciBusID,
                prop.pciDeviceID, prop.name);
  }
  std::printf("#\n#%12s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "size",
              "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw",
              "busbw", "#wrong");
  std::printf("#%12s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "(B)",
              "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)",
              "");
  calibration::MeasurementSet set;
  const bool reduce = kind == CommKind::all_reduce || kind == CommKind::reduce_scatter;
  std::int64_t total_wrong = 0;
  for (std::int64_t s = o.min_bytes; s <= o.max_bytes; s = o.factor > 1 ? s * o.factor : s + 1) {
    const std::int64_t size = aligned(s, kind, o.gpus);
    if (size > o.max_bytes) break;
    bench.prepare(size);
    std::string cols[2];
    for (const bool in_place : {false, true}) {
      if (in_place && !bench.has_in_place()) {
        cols[1] = "      N/A     N/A     N/A     N/A";
        continue;
      }
      const std::int64_t wrong = o.check ? bench.check(in_place) : -1;
      const double us = bench.time_us(in_place);
      const SimTime t = SimTime::from_us(us);
      const double alg = report::algbw_gbps(Bytes{size}, t);
      const double bus = report::busbw_gbps(kind, static_cast<std::size_t>(o.gpus), Bytes{size}, t);
      char buf[128];
      if (wrong >= 0) {
        std::snprintf(buf, sizeof(buf), "  %7.2f  %6.2f  %6.2f  %6lld", us, alg, bus,
                      static_cast<long long>(wrong));
      } else {
        std::snprintf(buf, sizeof(buf), "  %7.2f  %6.2f  %6.2f     N/A", us, alg, bus);
      }
      cols[in_place ? 1 : 0] = buf;
      if (!in_place) set.collectives.push_back({kind, o.gpus, 1, size, us, alg, bus, wrong});
      total_wrong += std::max<std::int64_t>(wrong, 0);
    }
    std::printf(
        "%13lld  %12lld  %8s  %6s  %6s%s%s\n", static_cast<long long>(size),
        static_cast<long long>(size / (std::strcmp(bench.type_name(), "float") == 0 ? 4 : 1)),
        bench.type_name(), reduce ? "sum" : "none", "-1", cols[0].c_str(), cols[1].c_str());
    if (o.factor <= 1 && s == o.max_bytes) break;
  }
  std::printf("# Out of bounds values : %lld %s\n#\n", static_cast<long long>(total_wrong),
              total_wrong == 0 ? "OK" : "FAILED");
  if (!o.json.empty()) {
    set.provenance = device_provenance("moesim_bench_nccl", 0);
    set.provenance.notes = "single process, " + std::to_string(o.gpus) + " GPUs, " +
                           std::to_string(o.iters) + " iterations after " +
                           std::to_string(o.warmup) + " warm-ups; out-of-place rows";
    write_measurements(set, o.json);
  }
  return total_wrong == 0 ? 0 : 1;
}

}  // namespace
}  // namespace moesim::bench

int main(int argc, char** argv) {
  using namespace moesim::bench;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: moesim_bench_nccl OP [-b MIN] [-e MAX] [-f FACTOR] [-w WARMUP] [-n ITERS] [-g "
          "GPUS] [-c 0|1] [--json FILE]\n"
          "OP: all_reduce all_gather reduce_scatter alltoall alltoallv sendrecv\n"
          "example: moesim_bench_nccl all_reduce -b 8 -e 8G -f 2 -g 8 > all_reduce_perf.txt\n");
      return 0;
    } else if (a == "-b" && has_value) {
      o.min_bytes = parse_size(argv[++i]);
    } else if (a == "-e" && has_value) {
      o.max_bytes = parse_size(argv[++i]);
    } else if (a == "-f" && has_value) {
      o.factor = std::atoll(argv[++i]);
    } else if (a == "-w" && has_value) {
      o.warmup = std::atoi(argv[++i]);
    } else if (a == "-n" && has_value) {
      o.iters = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-g" && has_value) {
      o.gpus = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-c" && has_value) {
      o.check = std::atoi(argv[++i]) != 0;
    } else if (a == "--json" && has_value) {
      o.json = argv[++i];
    } else if (o.op.empty() && a[0] != '-') {
      o.op = a;
    } else {
      std::fprintf(stderr, "error: unknown or incomplete argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (o.op.empty()) {
    std::fprintf(stderr, "error: missing OP (see --help)\n");
    return 2;
  }
  if (!moesim::kernels::cuda_device_available()) {
    std::fprintf(stderr, "moesim_bench_nccl: no usable CUDA device; nothing measured\n");
    return 0;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim_bench_nccl: %s\n", e.what());
    return 1;
  }
}
