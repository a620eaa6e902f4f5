// moesim_bench_nccl: an nccl-tests-style collective benchmark for one or more GPUs of one process
// (NVIDIA/nccl-tests flags, size conventions, columns and formulas: doc/PERFORMANCE.md,
// src/common.cu).
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
#include <string>
#include <vector>

#include "bench/kernels/bench_support.hpp"
#include "sim/report/bandwidth_metrics.hpp"

namespace moesim::bench {

cudaError_t fill_floats(float* p, std::int64_t n, float v, cudaStream_t s);
cudaError_t count_wrong(const float* p, std::int64_t n, float expect, unsigned long long* wrong,
                        cudaStream_t s);

namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) {
    throw kernels::DeviceError(std::string(what) + " failed: " + ncclGetErrorString(r));
  }
}

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

struct Rank {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  float* send = nullptr;
  float* recv = nullptr;
  unsigned long long* wrong = nullptr;
};

/// alltoallv weights: rank i sends w(i, j) = 1 + (i + j) % n units to rank j; every rank sends
/// and receives the same total n + n(n-1)/2 units, so nccl-tests' size (max of sent, received)
/// is that total.
std::int64_t v_units(int i, int j, int n) { return 1 + (i + j) % n; }
std::int64_t v_total_units(int n) { return n + static_cast<std::int64_t>(n) * (n - 1) / 2; }

class Bench {
 public:
  Bench(const Options& o) : o_(o), kind_(kind_of(o.op)), n_(o.gpus) {
    std::vector<int> devs(static_cast<std::size_t>(n_));
    for (int i = 0; i < n_; ++i) devs[static_cast<std::size_t>(i)] = i;
    std::vector<ncclComm_t> comms(static_cast<std::size_t>(n_));
    nccl_check(ncclCommInitAll(comms.data(), n_, devs.data()), "ncclCommInitAll");
    const std::size_t bytes = static_cast<std::size_t>(o.max_bytes) + 64;
    for (int i = 0; i < n_; ++i) {
      Rank r;
      r.device = i;
      r.comm = comms[static_cast<std::size_t>(i)];
      cuda_check(cudaSetDevice(i), "cudaSetDevice");
      cuda_check(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      cuda_check(cudaMalloc(&r.send, bytes), "cudaMalloc");
      cuda_check(cudaMalloc(&r.recv, bytes), "cudaMalloc");
      cuda_check(cudaMalloc(&r.wrong, sizeof(unsigned long long)), "cudaMalloc");
      ranks_.push_back(r);
    }
  }
  ~Bench() {
    for (Rank& r : ranks_) {
      (void)cudaSetDevice(r.device);
      (void)cudaFree(r.send);
      (void)cudaFree(r.recv);
      (void)cudaFree(r.wrong);
      (void)cudaStreamDestroy(r.stream);
      (void)ncclCommDestroy(r.comm);
    }
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  /// Enqueues the collective of nccl-tests size `size` on every rank (one NCCL group).
  void launch(std::int64_t size, bool in_place) {
    const std::int64_t count = size / 4;  // floats
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int i = 0; i < n_; ++i) {
      Rank& r = ranks_[static_cast<std::size_t>(i)];
      float* send = r.send;
      float* recv = in_place ? r.send : r.recv;
      switch (kind_) {
        case CommKind::all_reduce:
          nccl_check(ncclAllReduce(send, recv, static_cast<std::size_t>(count), ncclFloat, ncclSum,
                                   r.comm, r.stream),
                     "ncclAllReduce");
          break;
        case CommKind::all_gather: {
          const std::int64_t part = count / n_;
          const float* src = in_place ? recv + part * i : send;
          nccl_check(
              ncclAllGather(src, recv, static_cast<std::size_t>(part), ncclFloat, r.comm, r.stream),
              "ncclAllGather");
          break;
        }
        case CommKind::reduce_scatter: {
          const std::int64_t part = count / n_;
          float* dst = in_place ? send + part * i : recv;
          nccl_check(ncclReduceScatter(send, dst, static_cast<std::size_t>(part), ncclFloat,
                                       ncclSum, r.comm, r.stream),
                     "ncclReduceScatter");
          break;
        }
        case CommKind::all_to_all: {
          const std::int64_t part = count / n_;
          for (int j = 0; j < n_; ++j) {
            nccl_check(ncclSend(send + part * j, static_cast<std::size_t>(part), ncclFloat, j,
                                r.comm, r.stream),
                       "ncclSend");
            nccl_check(ncclRecv(r.recv + part * j, static_cast<std::size_t>(part), ncclFloat, j,
                                r.comm, r.stream),
                       "ncclRecv");
          }
          break;
        }
        case CommKind::all_to_all_v: {
          const std::int64_t unit = count / v_total_units(n_);
          std::int64_t send_off = 0;
          std::int64_t recv_off = 0;
          for (int j = 0; j < n_; ++j) {
            const std::int64_t out = unit * v_units(i, j, n_);
            const std::int64_t in = unit * v_units(j, i, n_);
            nccl_check(ncclSend(send + send_off, static_cast<std::size_t>(out), ncclFloat, j,
                                r.comm, r.stream),
                       "ncclSend");
            nccl_check(ncclRecv(r.recv + recv_off, static_cast<std::size_t>(in), ncclFloat, j,
                                r.comm, r.stream),
                       "ncclRecv");
            send_off += out;
            recv_off += in;
          }
          break;
        }
        default: {  // send_recv: a ring, i -> i+1
          nccl_check(ncclSend(send, static_cast<std::size_t>(count), ncclFloat, (i + 1) % n_,
                              r.comm, r.stream),
                     "ncclSend");
          nccl_check(ncclRecv(r.recv, static_cast<std::size_t>(count), ncclFloat, (i + n_ - 1) % n_,
                              r.comm, r.stream),
                     "ncclRecv");
          break;
        }
      }
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
  }

  void sync() {
    for (Rank& r : ranks_) {
      cuda_check(cudaSetDevice(r.device), "cudaSetDevice");
      cuda_check(cudaStreamSynchronize(r.stream), "cudaStreamSynchronize");
    }
  }

  /// Fills inputs so every output element has one known value, runs once, counts mismatches.
  /// Rank i's input is i + 1 everywhere (all_to_all(_v), send_recv: chunk for peer j is
  /// i * n + j + 1), so sums and gathered chunks are exact in float.
  std::int64_t check(std::int64_t size, bool in_place) {
    const std::int64_t count = size / 4;
    for (int i = 0; i < n_; ++i) {
      Rank& r = ranks_[static_cast<std::size_t>(i)];
      cuda_check(cudaSetDevice(r.device), "cudaSetDevice");
      cuda_check(fill_floats(r.send, count + 16, static_cast<float>(i + 1), r.stream), "fill");
      if (kind_ == CommKind::all_to_all) {
        const std::int64_t part = count / n_;
        for (int j = 0; j < n_; ++j)
          cuda_check(
              fill_floats(r.send + part * j, part, static_cast<float>(i * n_ + j + 1), r.stream),
              "fill");
      }
      if (kind_ == CommKind::all_to_all_v) {
        const std::int64_t unit = count / v_total_units(n_);
        std::int64_t off = 0;
        for (int j = 0; j < n_; ++j) {
          cuda_check(fill_floats(r.send + off, unit * v_units(i, j, n_),
                                 static_cast<float>(i * n_ + j + 1), r.stream),
                     "fill");
          off += unit * v_units(i, j, n_);
        }
      }
      if (kind_ == CommKind::all_gather && in_place) {
        const std::int64_t part = count / n_;
        cuda_check(fill_floats(r.send + part * i, part, static_cast<float>(i + 1), r.stream),
                   "fill");
      }
      cuda_check(cudaMemsetAsync(r.wrong, 0, sizeof(unsigned long long), r.stream), "cudaMemset");
    }
    sync();
    launch(size, in_place);
    const float total = static_cast<float>(n_ * (n_ + 1) / 2);
    std::int64_t wrong = 0;
    for (int i = 0; i < n_; ++i) {
      Rank& r = ranks_[static_cast<std::size_t>(i)];
      cuda_check(cudaSetDevice(r.device), "cudaSetDevice");
      const float* out = in_place ? r.send : r.recv;
      const std::int64_t part = count / n_;
      switch (kind_) {
        case CommKind::all_reduce:
          cuda_check(count_wrong(out, count, total, r.wrong, r.stream), "check");
          break;
        case CommKind::all_gather:
          for (int j = 0; j < n_; ++j)
            cuda_check(
                count_wrong(out + part * j, part, static_cast<float>(j + 1), r.wrong, r.stream),
                "check");
          break;
        case CommKind::reduce_scatter:
          cuda_check(
              count_wrong(in_place ? r.send + part * i : r.recv, part, total, r.wrong, r.stream),
              "check");
          break;
        case CommKind::all_to_all:
          for (int j = 0; j < n_; ++j)
            cuda_check(count_wrong(r.recv + part * j, part, static_cast<float>(j * n_ + i + 1),
                                   r.wrong, r.stream),
                       "check");
          break;
        case CommKind::all_to_all_v: {
          const std::int64_t unit = count / v_total_units(n_);
          std::int64_t off = 0;
          for (int j = 0; j < n_; ++j) {
            cuda_check(count_wrong(r.recv + off, unit * v_units(j, i, n_),
                                   static_cast<float>(j * n_ + i + 1), r.wrong, r.stream),
                       "check");
            off += unit * v_units(j, i, n_);
          }
          break;
        }
        default:
          cuda_check(count_wrong(r.recv, count, static_cast<float>((i + n_ - 1) % n_ + 1), r.wrong,
                                 r.stream),
                     "check");
          break;
      }
      unsigned long long w = 0;
      cuda_check(cudaMemcpyAsync(&w, r.wrong, sizeof(w), cudaMemcpyDeviceToHost, r.stream),
                 "cudaMemcpy");
      cuda_check(cudaStreamSynchronize(r.stream), "cudaStreamSynchronize");
      wrong += static_cast<std::int64_t>(w);
    }
    return wrong;
  }

  /// Average time per launch over o_.iters launches after o_.warmup, in us.
  double time_us(std::int64_t size, bool in_place) {
    for (int w = 0; w < o_.warmup; ++w) launch(size, in_place);
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < o_.iters; ++it) launch(size, in_place);
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

 private:
  Options o_;
  CommKind kind_;
  int n_;
  std::vector<Rank> ranks_;
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
    cuda_check(cudaGetDeviceProperties(&prop, i), "cudaGetDeviceProperties");
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
    std::string cols[2];
    for (const bool in_place : {false, true}) {
      if (in_place && !bench.has_in_place()) {
        cols[1] = "      N/A     N/A     N/A     N/A";
        continue;
      }
      const std::int64_t wrong = o.check ? bench.check(size, in_place) : -1;
      const double us = bench.time_us(size, in_place);
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
    std::printf("%13lld  %12lld  %8s  %6s  %6s%s%s\n", static_cast<long long>(size),
                static_cast<long long>(size / 4), "float", reduce ? "sum" : "none", "-1",
                cols[0].c_str(), cols[1].c_str());
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
