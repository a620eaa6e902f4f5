// The HTML report's page: self-contained, data inlined safely, deterministic, and data that lacks
// what the page reads fails naming its JSON path. (That it draws in a browser is
// tests/browser's job.)
#include "sim/report/html/html_report.hpp"

#include <gtest/gtest.h>

#include "sim/core/errors.hpp"

namespace moesim::report::html {
namespace {

using Json = nlohmann::ordered_json;

Json compare_data() {
  return Json::parse(R"({
    "job": {"model": "m", "topology": "t", "gpus": 2, "gpu": "g", "network_model": "flow",
            "layout": "ep=2", "routing": "uniform", "iterations": 1},
    "baseline": "tutel",
    "strategies": [{
      "strategy": "tutel", "mean_iteration_us": 20.0, "speedup": 1.0, "exposed_comm_us": 6.0,
      "time_breakdown": {"compute_only_us": 8, "overlapped_comm_us": 2, "exposed_comm_us": 6,
                         "idle_us": 4},
      "decisions": {"tutel.degree": {"value": 2, "unit": "", "detail": "</script><b>x</b>"}},
      "timeline": {"ranks": [0], "rows": [{"rank": 0, "stream": "compute"}],
                   "categories": ["compute"], "names": ["mm"], "spans": [[0, 0.0, 10.0, 0, 0]]}
    }]})");
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(HtmlReport, OneSelfContainedFileWithTheChartLibraryInlined) {
  const std::string page =
      render_html_report(ReportKind::compare, compare_data(), "a <title>", "test");
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(page.find("<title>a &lt;title&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("Chart.js v4"), std::string::npos);  // the library's banner
  EXPECT_NE(page.find("window.__moesimErrors"), std::string::npos);
  EXPECT_NE(page.find("data-moesim-report"), std::string::npos);
  // Nothing fetched: no src= or href= anywhere, no <link>.
  EXPECT_EQ(page.find(" src="), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  // Four scripts (error hook, data, library, page) each closed once: the data's "</script>"
  // is escaped and cannot end its element.
  EXPECT_EQ(count(page, "</script>"), 4U);
  EXPECT_NE(page.find(R"(\u003c/script>\u003cb>x\u003c/b>)"), std::string::npos);
  EXPECT_EQ(page, render_html_report(ReportKind::compare, compare_data(), "a <title>", "test"));
}

TEST(HtmlReport, KindsByName) {
  EXPECT_EQ(parse_report_kind("sweep"), ReportKind::sweep);
  EXPECT_EQ(parse_report_kind("validate"), ReportKind::validate);
  EXPECT_FALSE(parse_report_kind("Compare").has_value());
  EXPECT_EQ(to_string(ReportKind::reproduce), "reproduce");
  EXPECT_EQ(report_kind_names(), "compare, sweep, reproduce, validate");
}

std::string failure(ReportKind kind, const Json& data) {
  try {
    render_html_report(kind, data, "t", "in.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(HtmlReport, DataWithoutWhatThePageReadsFailsNamingThePath) {
  Json d = compare_data();
  d["strategies"][0]["time_breakdown"].erase("idle_us");
  EXPECT_EQ(failure(ReportKind::compare, d),
            "in.json: /strategies/0/time_breakdown/idle_us: missing (got nothing, expected a "
            "number)");
  d = compare_data();
  d["strategies"][0]["timeline"]["spans"][0][0] = 3;
  EXPECT_EQ(failure(ReportKind::compare, d),
            "in.json: /strategies/0/timeline/spans/0/0: not an index into rows (got 3, expected "
            "0..0)");
  d = compare_data();
  d["strategies"] = Json::array();
  EXPECT_EQ(failure(ReportKind::compare, d),
            "in.json: /strategies: nothing to draw (got [], expected at least one entry)");
  // A compare document is not a sweep.
  EXPECT_EQ(failure(ReportKind::sweep, compare_data()),
            "in.json: /grid: missing (got nothing, expected a string)");
  EXPECT_EQ(failure(ReportKind::validate, Json::array()),
            "in.json: /: wrong type (got array, expected an object)");
  const Json reproduce = Json::parse(R"({"results": [{"claim": "c", "result": "r",
      "published": "1.2", "published_value": 1.2, "band": [1.0], "simulated": null,
      "error": null, "verdict": "in band", "gating": true}]})");
  EXPECT_EQ(failure(ReportKind::reproduce, reproduce),
            "in.json: /results/0/band: not a band (got [1.0], expected [low, high])");
}

}  // namespace
}  // namespace moesim::report::html
