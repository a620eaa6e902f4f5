#include <gtest/gtest.h>

#include <fstream>

#include "sim/core/errors.hpp"
#include "sim/io/csv.hpp"
#include "sim/io/sweep_grid.hpp"
#include "sim/report/regression_check.hpp"
#include "tests/input_error_text.hpp"
#include "tests/testdata.hpp"

namespace moesim {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

using moesim::testing::input_error_text;
const auto& error_of = input_error_text;

}  // namespace

TEST(Csv, QuotesAndParsesBack) {
  io::CsvTable t({"a", "b"});
  t.add_row({"x,y", "say \"hi\""});
  t.add_row({"plain", ""});
  const std::string text = t.to_string();
  EXPECT_EQ(text, "a,b\n\"x,y\",\"say \"\"hi\"\"\"\nplain,\n");
  const io::CsvTable back = io::CsvTable::parse(text, "t.csv");
  ASSERT_EQ(back.rows().size(), 2u);
  EXPECT_EQ(back.rows()[0][0], "x,y");
  EXPECT_EQ(back.rows()[0][1], "say \"hi\"");
  EXPECT_EQ(back.rows()[1][1], "");
}

TEST(Csv, RejectsRaggedRowsAndMissingColumns) {
  EXPECT_EQ(error_of([] { io::CsvTable::parse("a,b\n1\n", "t.csv"); }),
            "t.csv: row 2: wrong number of fields (got 1, expected 2)");
  const io::CsvTable t = io::CsvTable::parse("a\n1\n", "t.csv");
  EXPECT_EQ(error_of([&] { t.column("case", "t.csv"); }), "t.csv: header: missing column \"case\"");
}

TEST(SweepGrid, CartesianProductLastAxisFastest) {
  // axes (sorted keys): hidden [768, 1024] x micro_batch [1, 2] -> 4 cases, micro_batch fastest.
  const io::SweepGrid g = io::load_sweep_grid(testing::source_path("traces/grids/smoke.json"));
  ASSERT_EQ(g.cases.size(), 4u);
  EXPECT_EQ(g.axis_keys, (std::vector<std::string>{"hidden", "micro_batch"}));
  EXPECT_EQ(g.cases[0].id, "hidden=768;micro_batch=1");
  EXPECT_EQ(g.cases[1].id, "hidden=768;micro_batch=2");
  EXPECT_EQ(g.cases[3].id, "hidden=1024;micro_batch=2");
  // Job settings stay settings; model fields (base "set" and axes) become --set overrides.
  EXPECT_EQ(g.cases[0].settings.at("model"), "gpt2-s-moe");
  EXPECT_EQ(g.cases[0].settings.at("network"), "analytical");
  EXPECT_EQ(g.cases[0].model_set, "hidden=768,layers=2,micro_batch=1");
}

TEST(SweepGrid, ExplicitCasesAndBadInput) {
  const std::string ok = write_temp("cases.json", R"({"base": {"model": "m", "parallel": "ep=2"},
      "cases": [{"seq_len": 128}, {"seq_len": 256, "topology": "dgx-a100"}]})");
  const io::SweepGrid g = io::load_sweep_grid(ok);
  ASSERT_EQ(g.cases.size(), 2u);
  EXPECT_EQ(g.cases[1].id, "seq_len=256;topology=dgx-a100");
  EXPECT_EQ(g.cases[1].settings.at("topology"), "dgx-a100");

  const std::string zipped = write_temp("zip.json", R"({"base": {"model": "m", "parallel": "ep=2"},
      "axes": {"hidden,ffn": [[1, 2], [3, 6]], "b": [7, 8]}})");
  const io::SweepGrid z = io::load_sweep_grid(zipped);
  ASSERT_EQ(z.cases.size(), 4u);  // 2 tuples x 2 values
  EXPECT_EQ(z.cases[0].id, "b=7;ffn=2;hidden=1");
  EXPECT_EQ(z.cases[3].id, "b=8;ffn=6;hidden=3");
  const std::string bad_tuple =
      write_temp("bt.json", R"({"base": {"model": "m", "parallel": "ep=2"},
      "axes": {"a,b": [[1]]}})");
  EXPECT_EQ(error_of([&] { io::load_sweep_grid(bad_tuple); }),
            bad_tuple +
                ": /axes/a,b/0: wrong number of values for the fields of this axis (got 1, "
                "expected 2)");
  const std::string no_parallel = write_temp("np.json", R"({"base": {"model": "m"}})");
  EXPECT_EQ(error_of([&] { io::load_sweep_grid(no_parallel); }),
            no_parallel + ": /base/parallel: missing required field");
  const std::string empty_axis =
      write_temp("ea.json", R"({"base": {"model": "m", "parallel": "ep=2"}, "axes": {"k": []}})");
  EXPECT_EQ(error_of([&] { io::load_sweep_grid(empty_axis); }),
            empty_axis + ": /axes/k: empty axis (got [], expected at least one value)");
  const std::string typo =
      write_temp("ty.json", R"({"base": {"model": "m", "parallel": "ep=2"}, "axis": {}})");
  EXPECT_NE(error_of([&] { io::load_sweep_grid(typo); }).find("/axis: unknown field"),
            std::string::npos);
}

TEST(RegressionCheck, ListsCasesBeyondTolerance) {
  // Tolerance 1%: 100 -> 100.9 passes, 100 -> 102 is slower (+2%), 100 -> 95 is faster.
  const std::map<report::SweepKey, double> before{
      {{"a", "s"}, 100.0}, {{"b", "s"}, 100.0}, {{"c", "s"}, 100.0}, {{"gone", "s"}, 1.0}};
  const std::map<report::SweepKey, double> now{
      {{"a", "s"}, 100.9}, {{"b", "s"}, 102.0}, {{"c", "s"}, 95.0}, {{"new", "s"}, 1.0}};
  const report::RegressionReport r = report::check_regressions(before, now, 0.01);
  EXPECT_EQ(r.compared, 3u);
  ASSERT_EQ(r.slower.size(), 1u);
  EXPECT_EQ(r.slower[0].key.first, "b");
  EXPECT_NEAR(r.slower[0].slowdown(), 0.02, 1e-12);
  ASSERT_EQ(r.faster.size(), 1u);
  EXPECT_EQ(r.not_in_baseline.size(), 1u);
  EXPECT_EQ(r.missing_now.size(), 1u);
}

}  // namespace moesim
