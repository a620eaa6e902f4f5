#include "sim/io/task_graph_json.hpp"

#include <gtest/gtest.h>

#include "sim/io/json_reader.hpp"
#include "tests/input_error_text.hpp"

namespace moesim::io {
namespace {

std::string graph_error_of(const std::string& text) {
  return moesim::testing::input_error_text(
      [&] { parse_task_graph(nlohmann::json::parse(text), "g.json"); });
}

}  // namespace

TEST(TaskGraphJson, ParsesKernelsCommunicationAndDependencies) {
  const TaskGraph g = parse_task_graph(nlohmann::json::parse(R"({
    "ranks": 2,
    "tasks": [
      {"name": "mm", "rank": 0, "stream": "compute", "kernel": "gemm", "m": 2, "n": 3, "k": 4},
      {"name": "mm1", "rank": 1, "stream": "compute", "kernel": "gemm", "m": 2, "n": 3, "k": 4},
      {"name": "ar", "comm": "all_reduce", "ranks": [0, 1], "bytes": 64, "stream": "comm",
       "after": ["mm"]}
    ]})"),
                                       "g.json");
  EXPECT_EQ(g.task_count(), 4u);
  EXPECT_EQ(g.comm_count(), 1u);
  // GEMM defaults: flops = 2*2*3*4 = 48; bytes = (2*4 + 4*3 + 2*3) * 2 = 52.
  EXPECT_DOUBLE_EQ(g.flops_of(TaskId{0}).count, 48.0);
  EXPECT_EQ(g.bytes_of(TaskId{0}).count, 52);
  // "after": ["mm"] on a comm: rank 0's member depends on mm (rank 0); rank 1's member has no
  // rank-1 task named mm, so it depends on mm too.
  EXPECT_EQ(g.edges().size(), 2u);
}

TEST(TaskGraphJson, RoundTripsThroughExport) {
  const TaskGraph original = example_task_graph();
  const TaskGraph copy =
      parse_task_graph(nlohmann::json::parse(task_graph_to_json(original)), "export");
  EXPECT_EQ(copy.task_count(), original.task_count());
  EXPECT_EQ(copy.comm_count(), original.comm_count());
  EXPECT_EQ(copy.edges().size(), original.edges().size());
  EXPECT_EQ(task_graph_to_json(copy), task_graph_to_json(original));
}

TEST(TaskGraphJson, BadInputsNameFileFieldAndValue) {
  EXPECT_EQ(graph_error_of(R"({"tasks": []})"),
            "g.json: /tasks: no tasks (got [], expected at least one task)");
  EXPECT_EQ(graph_error_of(R"({"tasks": [{"name": "a", "rank": 0, "stream": "s", "kernel": "gemm",
                                   "m": 0}]})"),
            "g.json: /tasks/0/m: out of range (got 0, expected an integer in [1, 2147483648])");
  EXPECT_EQ(
      graph_error_of(R"({"tasks": [{"name": "a", "rank": 0, "stream": "s", "kernel": "conv"}]})"),
      "g.json: /tasks/0/kernel: unknown kernel kind (got \"conv\", expected gemm, attention, "
      "softmax, layernorm, elementwise, gate, permute, unpermute, optimizer, memcpy or other)");
  EXPECT_EQ(graph_error_of(R"({"tasks": [{"name": "a", "comm": "all_reduce", "ranks": [0, 1],
                                   "bytes": -5, "stream": "s"}]})"),
            "g.json: /tasks/0/bytes: out of range (got -5, expected >= 1)");
  EXPECT_EQ(graph_error_of(R"({"ranks": 2, "tasks": [{"name": "a", "rank": 2, "stream": "s",
                                               "delay_us": 1}]})"),
            "g.json: /tasks/0/rank: rank out of range (got 2, expected < 2 (\"ranks\"))");
  EXPECT_EQ(graph_error_of(R"({"tasks": [{"name": "a", "rank": 0, "stream": "s", "delay_us": 1,
                                   "after": ["zz"]}]})"),
            "g.json: /tasks/0/after/0: unknown task (got \"zz\", expected the name of an earlier "
            "task)");
  EXPECT_EQ(graph_error_of(R"({"tasks": [{"name": "a", "rank": 0, "stream": "s", "delay_us": 1,
                                   "colour": "red"}]})")
                .substr(0, 40),
            "g.json: /tasks/0/colour: unknown field (");
}

}  // namespace moesim::io
