// moesim_bench_overlap: how much a GEMM slows while a collective or a large device copy runs
// beside it on the same GPU, and how much the collective / copy slows while GEMMs run beside it
// (Lee et al. 2025, arXiv 2507.03114; wave tail effect, NVIDIA developer forum). Writes contention
// rows for `moesim calibrate`.
//
//   moesim_bench_overlap [-g GPUS] [-r REPS] [--bytes SIZE] [--json FILE]
// Aggressors: memcpy (device-to-device copy of SIZE on GPU 0) always; all_reduce, all_gather and
// alltoall of SIZE over GPUS GPUs (one NCCL communicator per GPU, one process) when GPUS >= 2,
// each a one-operation task graph issued through the hardware executor's NCCL path.
// Victim GEMM: bf16 cuBLAS, shapes of the model presets. Method: time REPS GEMMs alone (CUDA
// events, median); then enqueue enough aggressor operations on their own streams to outlast the
// REPS GEMMs (sized from the measured alone times x 2) and time the GEMMs again; the median ratio
// is the slowdown. The reverse times the aggressor alone and under a continuous GEMM stream.
// Without a usable GPU it says so and exits 0.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.hpp"
#include "kernels/runtime/graph_lowering.hpp"
#include "kernels/runtime/nccl_calls.hpp"

namespace moesim::bench {
namespace {

struct Gpu {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t comm_stream = nullptr;
  void* send = nullptr;
  void* recv = nullptr;
};

class Overlap {
 public:
  Overlap(int gpus, std::int64_t bytes) : bytes_(bytes) {
    std::vector<int> devs(static_cast<std::size_t>(gpus));
    for (int i = 0; i < gpus; ++i) devs[static_cast<std::size_t>(i)] = i;
    std::vector<ncclComm_t> comms(static_cast<std::size_t>(gpus), nullptr);
    if (gpus >= 2) MOESIM_DEVICE_CHECK(ncclCommInitAll(comms.data(), gpus, devs.data()));
    for (int i = 0; i < gpus; ++i) {
      Gpu g;
      g.device = i;
      g.comm = comms[static_cast<std::size_t>(i)];
      MOESIM_DEVICE_CHECK(cudaSetDevice(i));
      MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&g.comm_stream, cudaStreamNonBlocking));
      MOESIM_DEVICE_CHECK(cudaMalloc(&g.send, static_cast<std::size_t>(bytes)));
      MOESIM_DEVICE_CHECK(cudaMalloc(&g.recv, static_cast<std::size_t>(bytes)));
      gpus_.push_back(g);
    }
    MOESIM_DEVICE_CHECK(cudaSetDevice(0));
    MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
    blas_ = std::make_unique<kernels::BlasHandle>();
  }
  ~Overlap() {
    for (Gpu& g : gpus_) {
      (void)cudaSetDevice(g.device);
      (void)cudaFree(g.send);
      (void)cudaFree(g.recv);
      (void)cudaStreamDestroy(g.comm_stream);
      if (g.comm != nullptr) (void)ncclCommDestroy(g.comm);
    }
    (void)cudaStreamDestroy(compute_);
  }
  Overlap(const Overlap&) = delete;
  Overlap& operator=(const Overlap&) = delete;

  /// Enqueues one aggressor operation (on every GPU for collectives).
  void aggressor(const std::string& op) {
    if (op == "memcpy") {
      MOESIM_DEVICE_CHECK(cudaMemcpyAsync(gpus_[0].recv, gpus_[0].send,
                                          static_cast<std::size_t>(bytes_),
                                          cudaMemcpyDeviceToDevice, gpus_[0].comm_stream));
      return;
    }
    // Through the executor's path: the op as a one-operation task graph, lowered and issued as
    // `moesim execute` issues a strategy's collective (bench/nccl/nccl_bench.cpp does the same).
    const runtime::ExecutionPlan& plan = plan_for(op);
    MOESIM_DEVICE_CHECK(ncclGroupStart());
    for (const runtime::RankPlan& rank : plan.ranks) {
      Gpu& g = gpus_[rank.rank.index()];
      for (const runtime::Launch& l : rank.launches) {
        if (l.comm) runtime::issue_nccl_calls(*l.comm, g.comm, g.send, g.recv, g.comm_stream);
      }
    }
    MOESIM_DEVICE_CHECK(ncclGroupEnd());
  }

  /// The lowered one-operation graph of aggressor `op` (bf16, `bytes_` in nccl-tests' sizes).
  const runtime::ExecutionPlan& plan_for(const std::string& op) {
    auto it = plans_.find(op);
    if (it != plans_.end()) return it->second;
    const auto n = static_cast<std::uint32_t>(gpus_.size());
    TaskGraph graph(n);
    CommOp o;
    o.kind = op == "all_reduce"   ? CommKind::all_reduce
             : op == "all_gather" ? CommKind::all_gather
                                  : CommKind::all_to_all;
    o.group = CommGroup::world;
    o.dtype = DType::bf16;
    o.bytes = Bytes{bytes_};
    for (std::uint32_t r = 0; r < n; ++r) o.ranks.push_back(RankId{r});
    graph.add_collective(op, std::move(o), graph.stream("comm"));
    graph.validate();
    return plans_.emplace(op, runtime::lower_graph(graph)).first->second;
  }

  void sync_all() {
    for (Gpu& g : gpus_) {
      MOESIM_DEVICE_CHECK(cudaSetDevice(g.device));
      MOESIM_DEVICE_CHECK(cudaStreamSynchronize(g.comm_stream));
    }
    MOESIM_DEVICE_CHECK(cudaSetDevice(0));
    MOESIM_DEVICE_CHECK(cudaStreamSynchronize(compute_));
  }

  /// Median aggressor time over `reps` (wall clock of each op after syncing; us).
  double aggressor_alone_us(const std::string& op, int reps) {
    aggressor(op);
    sync_all();
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      aggressor(op);
      sync_all();
      t.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return median(t);
  }

  /// Median of `reps` event-timed GEMMs on GPU 0, optionally with `ops` aggressor ops enqueued
  /// first on their own streams.
  double gemm_us(int m, int n, int k, const void* a, const void* b, void* c, int reps,
                 const std::string& op, int ops) {
    for (int i = 0; i < ops; ++i) aggressor(op);
    MOESIM_DEVICE_CHECK(cudaSetDevice(0));
    EventTimer timer;
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      timer.start(compute_);
      kernels::gemm(*blas_, kernels::ElementType::bf16, m, n, k, a, b, c, compute_);
      t.push_back(timer.stop_us(compute_));
    }
    sync_all();
    return median(t);
  }

  /// Aggressor time while GEMMs run continuously beside it on GPU 0.
  double aggressor_under_gemm_us(const std::string& op, int m, int n, int k, const void* a,
                                 const void* b, void* c, int reps, double gemm_alone_us,
                                 double agg_alone_us) {
    std::vector<double> t;
    const int gemms =
        static_cast<int>(std::ceil(2.0 * agg_alone_us / std::max(gemm_alone_us, 1.0))) + 1;
    for (int r = 0; r < reps; ++r) {
      MOESIM_DEVICE_CHECK(cudaSetDevice(0));
      for (int i = 0; i < gemms; ++i)
        kernels::gemm(*blas_, kernels::ElementType::bf16, m, n, k, a, b, c, compute_);
      const auto t0 = std::chrono::steady_clock::now();
      aggressor(op);
      for (Gpu& g : gpus_) {
        MOESIM_DEVICE_CHECK(cudaSetDevice(g.device));
        MOESIM_DEVICE_CHECK(cudaStreamSynchronize(g.comm_stream));
      }
      t.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      sync_all();
    }
    return median(t);
  }

  int gpus() const { return static_cast<int>(gpus_.size()); }

 private:
  std::int64_t bytes_;
  std::vector<Gpu> gpus_;
  std::map<std::string, runtime::ExecutionPlan> plans_;  // aggressor op -> its lowering
  cudaStream_t compute_ = nullptr;
  std::unique_ptr<kernels::BlasHandle> blas_;
};

int run(int gpus, int reps, std::int64_t bytes, const std::string& json) {
  Overlap o(gpus, bytes);
  std::vector<std::string> ops{"memcpy"};
  if (o.gpus() >= 2) ops.insert(ops.end(), {"all_reduce", "all_gather", "alltoall"});
  // Victim GEMMs (m, n, k): a DeepSeek-V3 expert, a Mixtral expert, square, and a small-M expert
  // GEMM of one wave.
  const std::vector<std::array<int, 3>> shapes{
      {4096, 2048, 7168}, {2048, 14336, 4096}, {4096, 4096, 4096}, {256, 4096, 4096}};
  calibration::MeasurementSet set;
  std::printf("%-10s %-22s %12s %14s %9s\n", "victim", "aggressor", "alone us", "concurrent us",
              "slowdown");
  for (const auto& s : shapes) {
    const int m = s[0], n = s[1], k = s[2];
    DeviceBuffer a(2 * static_cast<std::size_t>(m) * k), b(2 * static_cast<std::size_t>(k) * n),
        c(2 * static_cast<std::size_t>(m) * n);
    fill_random(kernels::ElementType::bf16, a.get(), static_cast<std::int64_t>(m) * k, 1, 1.0F,
                nullptr);
    fill_random(kernels::ElementType::bf16, b.get(), static_cast<std::int64_t>(k) * n, 2, 1.0F,
                nullptr);
    MOESIM_DEVICE_CHECK(cudaDeviceSynchronize());
    (void)o.gemm_us(m, n, k, a.get(), b.get(), c.get(), 3, "", 0);  // warm-up
    const double alone = o.gemm_us(m, n, k, a.get(), b.get(), c.get(), reps, "", 0);
    for (const std::string& op : ops) {
      const double agg_alone = o.aggressor_alone_us(op, 5);
      const int agg_ops =
          static_cast<int>(std::ceil(2.0 * reps * alone / std::max(agg_alone, 1.0))) + 1;
      const double concurrent = o.gemm_us(m, n, k, a.get(), b.get(), c.get(), reps, op, agg_ops);
      const std::string name = op + " " + std::to_string(bytes >> 20) + " MiB";
      std::printf("gemm %dx%dx%d  %-16s %12.2f %14.2f %9.3f\n", m, n, k, name.c_str(), alone,
                  concurrent, concurrent / alone);
      set.contention.push_back({"gemm", op, {m, n, k, 1}, bytes, alone, concurrent});
      const double agg_under =
          o.aggressor_under_gemm_us(op, m, n, k, a.get(), b.get(), c.get(), 5, alone, agg_alone);
      std::printf("%-10s gemm %dx%dx%d %12.2f %14.2f %9.3f\n", op.c_str(), m, n, k, agg_alone,
                  agg_under, agg_under / agg_alone);
      set.contention.push_back({op, "gemm", {m, n, k, 1}, bytes, agg_alone, agg_under});
    }
  }
  if (!json.empty()) {
    set.provenance = device_provenance("moesim_bench_overlap", 0);
    set.provenance.notes = std::to_string(o.gpus()) + " GPUs, one process; GEMM medians of " +
                           std::to_string(reps) + " CUDA-event-timed runs; aggressor size " +
                           std::to_string(bytes) + " bytes";
    write_measurements(set, json);
  }
  return 0;
}

}  // namespace
}  // namespace moesim::bench

int main(int argc, char** argv) {
  int gpus = 1;
  int reps = 20;
  std::int64_t bytes = 256LL << 20;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: moesim_bench_overlap [-g GPUS] [-r REPS] [--bytes N] [--json FILE]\n"
          "example: moesim_bench_overlap -g 8 --json overlap.json\n");
      return 0;
    } else if (a == "-g" && i + 1 < argc) {
      gpus = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-r" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--bytes" && i + 1 < argc) {
      bytes = std::max<std::int64_t>(1 << 20, std::atoll(argv[++i]));
    } else if (a == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "error: unknown or incomplete argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (!moesim::kernels::cuda_device_available()) {
    std::fprintf(stderr, "moesim_bench_overlap: no usable CUDA device; nothing measured\n");
    return 0;
  }
  try {
    return moesim::bench::run(gpus, reps, bytes, json);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim_bench_overlap: %s\n", e.what());
    return 1;
  }
}
