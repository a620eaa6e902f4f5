#include "sim/io/json_reader.hpp"

#include <gtest/gtest.h>

#include "tests/input_error_text.hpp"

namespace moesim::io {
namespace {

using moesim::testing::input_error_text;
const auto& error_of = input_error_text;

}  // namespace

TEST(JsonReader, MalformedJsonNamesLineAndColumn) {
  EXPECT_EQ(error_of([] { parse_json_text("{\n  \"a\": 1,\n  oops\n}", "f.json"); }),
            "f.json: line 3 column 3: malformed JSON (expected valid JSON)");
}

TEST(JsonReader, MissingFileIsAnInputError) {
  EXPECT_EQ(error_of([] { parse_json_file("/nonexistent/x.json"); }),
            "/nonexistent/x.json: cannot open file (expected a readable JSON file)");
}

TEST(JsonReader, UnknownFieldIsRejected) {
  const auto j = nlohmann::json::parse(R"({"ranks": 2, "rnaks": 3})");
  EXPECT_EQ(error_of([&] {
              JsonReader(j, "g.json").expect_object({"ranks", "tasks"});
            }),
            "g.json: /rnaks: unknown field (got \"rnaks\", expected one of: ranks, tasks)");
}

TEST(JsonReader, OutOfRangeNumberNamesPathAndValue) {
  const auto j = nlohmann::json::parse(R"({"links": [{"bandwidth_gbps": -450}]})");
  const JsonReader r(j, "topo.json");
  EXPECT_EQ(error_of([&] { r.at("links").elements()[0].at("bandwidth_gbps").as_positive(); }),
            "topo.json: /links/0/bandwidth_gbps: out of range (got -450, expected > 0)");
}

TEST(JsonReader, WrongTypeSaysWhatWasExpected) {
  const auto j = nlohmann::json::parse(R"({"n": "eight"})");
  EXPECT_EQ(error_of([&] { JsonReader(j, "x.json").at("n").as_int(); }),
            "x.json: /n: wrong type (got string, expected an integer)");
}

TEST(JsonReader, MissingFieldIsNamed) {
  const auto j = nlohmann::json::parse(R"({})");
  EXPECT_EQ(error_of([&] { JsonReader(j, "x.json").at("tasks"); }),
            "x.json: /tasks: missing required field");
}

// Streamed arrays reach the sink element by element with their indices, and stay empty in the
// document; everything else is parsed as usual.
class Recorder final : public ElementSink {
 public:
  void element(std::string_view array, std::size_t index, nlohmann::json& value) override {
    seen.push_back(std::string(array) + "/" + std::to_string(index) + "=" + value.dump());
  }
  void array_end(std::string_view array, std::size_t count) override {
    seen.push_back(std::string(array) + " end " + std::to_string(count));
  }
  std::vector<std::string> seen;
};

TEST(JsonReader, StreamedArraysGoToTheSinkElementByElement) {
  Recorder sink;
  const auto root = parse_json_text_streaming(
      R"({"a": [1, {"x": [2]}], "b": {"a": [3]}, "c": [[4], "5"], "d": [6]})", "s.json", {"a", "c"},
      sink);
  EXPECT_EQ(root.dump(), R"({"a":[],"b":{"a":[3]},"c":[],"d":[6]})");
  const std::vector<std::string> want = {"a/0=1",   R"(a/1={"x":[2]})", "a end 2",
                                         "c/0=[4]", R"(c/1="5")",       "c end 2"};
  EXPECT_EQ(sink.seen, want);
}

TEST(JsonReader, StreamedElementsKeepTheParseChecks) {
  Recorder sink;
  EXPECT_EQ(error_of([&] {
              parse_json_text_streaming(R"({"a": [{"k": 1}, {"k": 1, "k": 2}]})", "s.json", {"a"},
                                        sink);
            }),
            "s.json: /a/1/k: duplicate key (got \"k\" twice, expected each key once in an "
            "object)");
  EXPECT_EQ(
      error_of([&] { parse_json_text_streaming("{\"a\": [1,\n 2,, 3]}", "s.json", {"a"}, sink); }),
      "s.json: line 2 column 4: malformed JSON (expected valid JSON)");
}

}  // namespace moesim::io
