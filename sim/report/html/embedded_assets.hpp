// The files the HTML report inlines, embedded at build time (embed_assets.cmake): the charting
// library (Chart.js, MIT licence, banner kept), the page's error hook, script and style.
#pragma once

#include <string_view>

namespace moesim::report::html::assets {

std::string_view chart_js();
std::string_view error_hook_js();
std::string_view report_js();
std::string_view report_css();

}  // namespace moesim::report::html::assets
