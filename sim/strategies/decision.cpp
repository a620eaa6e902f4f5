#include "sim/strategies/decision.hpp"

#include <ostream>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

Decision Decision::count(std::int64_t n, std::string unit, std::string detail) {
  return Decision{n, std::move(unit), std::move(detail)};
}

Decision Decision::quantity(double v, std::string unit, std::string detail) {
  return Decision{v, std::move(unit), std::move(detail)};
}

Decision Decision::choice(std::string name, std::string detail) {
  return Decision{std::move(name), {}, std::move(detail)};
}

double Decision::number() const {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  const auto* d = std::get_if<double>(&value);
  MOESIM_CHECK(d != nullptr, "decision '{}' is a choice, not a number", name());
  return *d;
}

std::int64_t Decision::integer() const {
  const auto* i = std::get_if<std::int64_t>(&value);
  MOESIM_CHECK(i != nullptr, "decision is not an integer count");
  return *i;
}

const std::string& Decision::name() const {
  const auto* s = std::get_if<std::string>(&value);
  MOESIM_CHECK(s != nullptr, "decision is a number, not a choice");
  return *s;
}

std::string Decision::value_text() const {
  std::string v;
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    v = std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    v = fmt::format("{:.4g}", *d);
  } else {
    v = std::get<std::string>(value);
  }
  return unit.empty() ? v : v + " " + unit;
}

std::string Decision::text() const {
  std::string out = value_text();
  if (!detail.empty()) out += " (" + detail + ")";
  return out;
}

std::ostream& operator<<(std::ostream& out, const Decision& d) { return out << d.text(); }

}  // namespace moesim::strategies
