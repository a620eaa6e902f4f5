// Measurement files, nccl-tests output and profile files: reading, writing and every validator's
// message.
#include <gtest/gtest.h>

#include <functional>

#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/io/calibration_json.hpp"
#include "sim/io/json_reader.hpp"
#include "sim/io/measurement_json.hpp"
#include "sim/io/nccl_tests_parser.hpp"
#include "tests/input_error_text.hpp"
#include "tests/testdata.hpp"

namespace moesim::io {
namespace {

using moesim::testing::input_error_text;
const auto& error_of = input_error_text;

nlohmann::json minimal_measurements() {
  return nlohmann::json::parse(R"({
    "schema": "moesim-measurements-v1",
    "provenance": {"source": "test", "gpu": "H100", "date": "2026-01-01"},
    "kernels": [{"kind": "gemm", "m": 256, "n": 512, "k": 64, "dtype": "bf16", "time_us": 3.5,
                 "verified": "pass"}],
    "collectives": [{"op": "all_gather", "ranks": 4, "size_bytes": 1024, "time_us": 9.0,
                     "algbw_gbps": 0.11, "busbw_gbps": 0.09}],
    "contention": [{"victim": "gemm", "aggressor": "all_reduce", "m": 256, "n": 512, "k": 64,
                    "alone_us": 10, "concurrent_us": 12}]
  })");
}

TEST(MeasurementJson, ReadsAndRoundTrips) {
  const auto set = measurements_from_json(minimal_measurements(), "m.json");
  ASSERT_EQ(set.kernels.size(), 1U);
  EXPECT_EQ(set.kernels[0].shape.batch, 1);  // default
  EXPECT_EQ(set.kernels[0].time_us, 3.5);
  EXPECT_EQ(set.collectives[0].nodes, 1);  // default
  EXPECT_EQ(set.contention[0].slowdown(), 1.2);
  EXPECT_EQ(set.provenance.file, "m.json");
  const auto again = measurements_from_json(measurements_to_json(set), "m2.json");
  EXPECT_EQ(again.kernels[0].shape, set.kernels[0].shape);
  EXPECT_EQ(again.collectives[0].size_bytes, 1024);
  EXPECT_EQ(again.provenance.gpu, "H100");
}

TEST(MeasurementJson, BadInputMessages) {
  auto doc = minimal_measurements();
  doc["kernels"][0]["time_us"] = -1;
  EXPECT_EQ(error_of([&] { measurements_from_json(doc, "m.json"); }),
            "m.json: /kernels/0/time_us: out of range (got -1, expected > 0)");
  doc = minimal_measurements();
  doc["kernels"][0]["kind"] = "matmul";
  EXPECT_NE(error_of([&] {
              measurements_from_json(doc, "m.json");
            }).find("m.json: /kernels/0/kind: unknown kernel kind (got \"matmul\""),
            std::string::npos);
  doc = minimal_measurements();
  doc["kernels"][0]["verified"] = "yes";
  EXPECT_NE(error_of([&] { measurements_from_json(doc, "m.json"); })
                .find("/kernels/0/verified: unknown verification (got \"yes\", expected one of "
                      "pass, fail, unchecked)"),
            std::string::npos);
  doc = minimal_measurements();
  doc["schema"] = "v0";
  EXPECT_EQ(error_of([&] { measurements_from_json(doc, "m.json"); }),
            "m.json: /schema: unsupported schema (got \"v0\", expected moesim-measurements-v1)");
  doc = minimal_measurements();
  doc["provenance"]["gpu_name"] = "x";
  EXPECT_NE(error_of([&] {
              measurements_from_json(doc, "m.json");
            }).find("m.json: /provenance/gpu_name: unknown field"),
            std::string::npos);
  doc = minimal_measurements();
  doc["collectives"][0]["op"] = "allreduce";
  EXPECT_NE(error_of([&] {
              measurements_from_json(doc, "m.json");
            }).find("/collectives/0/op: unknown collective (got \"allreduce\""),
            std::string::npos);
}

// Rows say their pass, and attention rows their mask and fusion; the writer keeps them, the
// profile's tables carry them through its JSON.
TEST(MeasurementJson, KernelTraitsReadWrittenAndRequiredOnAttention) {
  auto doc = minimal_measurements();
  doc["kernels"].push_back({{"kind", "attention"},
                            {"m", 1024},
                            {"n", 1024},
                            {"k", 128},
                            {"batch", 32},
                            {"dtype", "bf16"},
                            {"time_us", 80.0},
                            {"verified", "pass"},
                            {"causal", true},
                            {"fused", false}});
  doc["kernels"].push_back({{"kind", "layernorm"},
                            {"m", 1024},
                            {"n", 4096},
                            {"dtype", "bf16"},
                            {"time_us", 9.0},
                            {"verified", "pass"},
                            {"pass", "backward"}});
  const auto set = measurements_from_json(doc, "m.json");
  ASSERT_EQ(set.kernels.size(), 3U);
  EXPECT_EQ(set.kernels[0].traits.pass, OpDirection::forward);  // default
  EXPECT_EQ(set.kernels[1].traits, (calibration::KernelTraits{OpDirection::forward, true, false}));
  EXPECT_EQ(set.kernels[2].traits.pass, OpDirection::backward);
  const auto again = measurements_from_json(measurements_to_json(set), "m2.json");
  for (std::size_t i = 0; i < set.kernels.size(); ++i) {
    EXPECT_EQ(again.kernels[i].traits, set.kernels[i].traits) << i;
  }
  const std::vector<calibration::MeasurementSet> sets{set};
  const auto profile = calibration::fit_profile(sets);
  const auto back = profile_from_json(profile_to_json(profile), "p.json");
  ASSERT_EQ(back.kernel_tables.size(), profile.kernel_tables.size());
  for (std::size_t i = 0; i < back.kernel_tables.size(); ++i) {
    EXPECT_EQ(back.kernel_tables[i].traits(), profile.kernel_tables[i].traits()) << i;
  }
  const calibration::KernelTraits causal_unfused{OpDirection::forward, true, false};
  EXPECT_NE(back.find_table(KernelKind::attention, DType::bf16, 32, causal_unfused), nullptr);
  EXPECT_EQ(back.find_table(KernelKind::attention, DType::bf16, 32, {}), nullptr);

  nlohmann::json bad = doc;
  bad["kernels"][1].erase("fused");
  EXPECT_EQ(error_of([&] { measurements_from_json(bad, "m.json"); }),
            "m.json: /kernels/1/fused: missing required field of an attention row (expected "
            "true or false (causal: the mask applies; fused: one flash-style kernel, not QK^T "
            "GEMM, softmax, PV GEMM))");
  bad = doc;
  bad["kernels"][2]["causal"] = true;
  EXPECT_EQ(error_of([&] { measurements_from_json(bad, "m.json"); }),
            "m.json: /kernels/2/causal: only an attention row has this key (got layernorm, "
            "expected kind attention)");
  bad = doc;
  bad["kernels"][2]["pass"] = "sideways";
  EXPECT_EQ(error_of([&] { measurements_from_json(bad, "m.json"); }),
            "m.json: /kernels/2/pass: unknown pass (got \"sideways\", expected forward or "
            "backward)");
}

const char* kNcclText = R"(# nccl-tests version 2.13.9 nccl-headers=21805 nccl-library=21805
# Collective test starting: alltoall_perf
# nThread 1 nGpus 1 minBytes 8 maxBytes 128 step: 2(factor) warmup iters: 5 iters: 20
#
# Using devices
#  Rank  0 Group  0 Pid  100 on nodeA device  0 [0x18] NVIDIA H100 80GB HBM3
#  Rank  1 Group  0 Pid  101 on nodeA device  1 [0x2a] NVIDIA H100 80GB HBM3
#  Rank  2 Group  0 Pid  200 on nodeB device  0 [0x18] NVIDIA H100 80GB HBM3
#  Rank  3 Group  0 Pid  201 on nodeB device  1 [0x2a] NVIDIA H100 80GB HBM3
#
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
          64            4     float    none      -1    20.50    0.00    0.00      0    20.10    0.00    0.00      0
         128            8     float    none      -1    21.00    0.01    0.00    N/A    20.90    0.01    0.00      0
# Out of bounds values : 0 OK
)";

TEST(NcclTestsParser, TextOutput) {
  // alltoall over 4 ranks on 2 hosts; out-of-place numbers; "N/A" #wrong reads as -1 (unchecked).
  const auto set = parse_nccl_tests_text(kNcclText, "run.log");
  ASSERT_EQ(set.collectives.size(), 2U);
  const auto& r = set.collectives[1];
  EXPECT_EQ(r.op, CommKind::all_to_all);
  EXPECT_EQ(r.ranks, 4);
  EXPECT_EQ(r.nodes, 2);
  EXPECT_EQ(r.size_bytes, 128);
  EXPECT_EQ(r.time_us, 21.0);
  EXPECT_EQ(r.wrong, -1);
  EXPECT_EQ(set.provenance.gpu, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(set.provenance.nccl, "2.18.5");
}

TEST(NcclTestsParser, OpFromFileNameAndErrors) {
  std::string text = kNcclText;
  text.erase(text.find("# Collective test starting"),
             std::string("# Collective test starting: alltoall_perf\n").size());
  EXPECT_EQ(parse_nccl_tests_text(text, "logs/reduce_scatter_perf.txt").collectives[0].op,
            CommKind::reduce_scatter);
  EXPECT_EQ(error_of([&] { parse_nccl_tests_text(text, "run.log"); }),
            "run.log: cannot tell which collective this is (expected a '# Collective test "
            "starting: <op>_perf' line or the op name (all_reduce, alltoall, ...) in the file "
            "name)");
  EXPECT_EQ(error_of([&] {
              parse_nccl_tests_text("# Collective test starting: all_reduce_perf\n12 x\n", "a.txt");
            }),
            "a.txt: line 2: not an nccl-tests result row (got 12 x, expected size count type ... "
            "time algbw busbw #wrong time algbw busbw #wrong)");
  EXPECT_EQ(error_of([&] { parse_nccl_tests_text("# moesim-provenance: colour=red\n", "a.txt"); }),
            "a.txt: line 1: unknown moesim-provenance key (got colour, expected one of source, "
            "gpu, date, driver, cuda, nccl, notes)");
}

TEST(NcclTestsParser, JsonOutput) {
  // nccl-tests -J (file version 2): 1 process x 1 thread x 8 GPUs on one host.
  const auto doc = nlohmann::json::parse(R"({
    "version": 2, "start_time": "2026-03-04 05:06:07", "args": ["./build/all_gather_perf", "-g", "8"],
    "nccl_version": 22703,
    "config": {"nthreads": 1, "ngpus": 8, "devices": [{"rank": 0, "hostname": "h", "device_info": "NVIDIA H200"}]},
    "results": [{"size": 1048576, "count": 32768, "type": "float", "redop": "none", "root": "-1",
                 "out_of_place": {"time": 30.5, "alg_bw": 34.38, "bus_bw": 30.08, "nwrong": 0},
                 "in_place": {"time": 30.1, "alg_bw": 34.8, "bus_bw": 30.4, "nwrong": 0}}]
  })");
  const auto set = parse_nccl_tests_json(doc, "ag.json");
  ASSERT_EQ(set.collectives.size(), 1U);
  EXPECT_EQ(set.collectives[0].op, CommKind::all_gather);
  EXPECT_EQ(set.collectives[0].ranks, 8);
  EXPECT_EQ(set.collectives[0].time_us, 30.5);
  EXPECT_EQ(set.provenance.nccl, "2.27.3");
  EXPECT_EQ(set.provenance.date, "2026-03-04");
  EXPECT_EQ(set.provenance.gpu, "NVIDIA H200");
}

TEST(NcclTestsParser, OwnBenchmarkOutputWithInPlaceNotMeasured) {
  // moesim_bench_nccl prints N/A for in-place columns of alltoall/alltoallv/sendrecv.
  const auto set = parse_nccl_tests_text(
      "# Collective test starting: sendrecv_perf\n"
      "#  Rank  0 Group  0 Pid 1 on h device  0 [0000:18:00] NVIDIA H100 80GB HBM3\n"
      "#  Rank  1 Group  0 Pid 1 on h device  1 [0000:2a:00] NVIDIA H100 80GB HBM3\n"
      "         1024           256     float    none      -1     9.50    0.11    0.11       0"
      "      N/A     N/A     N/A     N/A\n",
      "sr.txt");
  ASSERT_EQ(set.collectives.size(), 1U);
  EXPECT_EQ(set.collectives[0].op, CommKind::send_recv);
  EXPECT_EQ(set.collectives[0].ranks, 2);
  EXPECT_EQ(set.collectives[0].time_us, 9.5);
  EXPECT_EQ(set.collectives[0].wrong, 0);
}

TEST(NcclTestsParser, JsonBadInput) {
  const auto no_op = nlohmann::json::parse(R"({"args": ["./mystery"], "config": {"nthreads": 1,
      "ngpus": 1}, "results": []})");
  EXPECT_EQ(error_of([&] { parse_nccl_tests_json(no_op, "x.json"); }),
            "x.json: /args/0: cannot tell which collective this is (got \"./mystery\", expected a "
            "path ending in <op>_perf)");
  const auto no_rows = nlohmann::json::parse(R"({"args": ["./all_reduce_perf"], "config":
      {"nthreads": 1, "ngpus": 1}, "results": []})");
  EXPECT_EQ(error_of([&] { parse_nccl_tests_json(no_rows, "x.json"); }),
            "x.json: /results: no result rows (got [], expected at least one row)");
}

TEST(ProfileJson, RoundTripAndBadSourceIndex) {
  const std::vector<calibration::MeasurementSet> sets{
      measurements_from_json(minimal_measurements(), "m.json")};
  const auto profile = calibration::fit_profile(sets);
  const nlohmann::json doc = profile_to_json(profile);
  const auto again = profile_from_json(doc, "p.json");
  ASSERT_EQ(again.kernel_tables.size(), 1U);
  EXPECT_EQ(again.kernel_tables[0].lookup(256, 512, 64)->time_us, 3.5);
  EXPECT_EQ(again.contention.gemm_slowdown, 1.2);
  EXPECT_EQ(again.collectives.size(), 1U);
  nlohmann::json bad = doc;
  bad["kernel_tables"][0]["points"][0]["source"] = 5;
  EXPECT_EQ(error_of([&] { profile_from_json(bad, "p.json"); }),
            "p.json: /kernel_tables/0/points/0/source: source index out of range (got 5, "
            "expected < 1 (the number of sources))");
  bad = doc;
  bad["schema"] = "moesim-profile-v0";
  EXPECT_EQ(error_of([&] { profile_from_json(bad, "p.json"); }),
            "p.json: /schema: unsupported schema (got \"moesim-profile-v0\", expected "
            "moesim-profile-v1)");
  bad = doc;
  bad["collectives"][0]["level"] = "inter_node";
  EXPECT_EQ(error_of([&] { profile_from_json(bad, "p.json"); }),
            "p.json: /collectives/0/level: level disagrees with nodes (got \"inter_node\", "
            "expected intra_node)");
}

TEST(PublishedSample, CalibratedModelReturnsMeasuredTimes) {
  // The checked-in H100 sample: calibrate -> profile JSON -> CalibratedComputeModel. A measured
  // shape (256 x 4096 x 4096 bf16 GEMM, 412.03 TFLOP/s in XLA's table -> 20.8475 us) comes back
  // as exactly the measured time, through the JSON round trip.
  const std::string dir = moesim::testing::source_path("traces/measured/h100-published/");
  const std::vector<calibration::MeasurementSet> sets{
      load_any_measurements(dir + "xla_matmul_sm90_bf16.json"),
      load_any_measurements(dir + "azure_ndh100v5_all_reduce_perf.txt")};
  const auto profile = profile_from_json(profile_to_json(calibration::fit_profile(sets)), "p");
  const compute::FixedRateComputeModel fallback({});
  const compute::CalibratedComputeModel model(profile, fallback);
  double measured_us = 0.0;
  for (const auto& k : sets[0].kernels) {
    if (k.shape == KernelShape{256, 4096, 4096, 1}) measured_us = k.time_us;
  }
  ASSERT_NEAR(measured_us, 2.0 * 256 * 4096 * 4096 / 412026793553338.0 * 1e6, 1e-6);
  const ComputeTask task{KernelKind::gemm, {256, 4096, 4096, 1}, DType::bf16, Flops{0},
                         Bytes{0},         ComputeOp{}};
  EXPECT_EQ(model.duration(task, {}), SimTime::from_us(measured_us));
  EXPECT_EQ(model.source_of(task), calibration::EstimateSource::measured);
  // The all_reduce fit: 8 ranks, one node, busbw = the 8 GiB row's 478.87 GB/s.
  const auto* ar = profile.find_collective(CommKind::all_reduce, 8, 1);
  ASSERT_NE(ar, nullptr);
  EXPECT_NEAR(ar->busbw_gbps, 478.87, 1e-9);
}

}  // namespace
}  // namespace moesim::io
