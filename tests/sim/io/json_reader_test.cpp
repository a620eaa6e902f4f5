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

}  // namespace moesim::io
