#include "sim/network/nccl_release.hpp"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "sim/core/errors.hpp"

namespace moesim::network {

NcclRelease parse_nccl_release(std::string_view text, std::string_view flag) {
  if (text == "latest") return NcclRelease{};
  std::vector<int> parts;
  std::size_t start = 0;
  bool ok = !text.empty();
  while (ok && start <= text.size()) {
    const std::size_t dot = std::min(text.find('.', start), text.size());
    int value = -1;
    const char* first = text.data() + start;
    const char* last = text.data() + dot;
    const auto [end, ec] = std::from_chars(first, last, value);
    ok = ec == std::errc{} && end == last && first != last && value >= 0;
    parts.push_back(value);
    start = dot + 1;
  }
  ok = ok && (parts.size() == 2 || parts.size() == 3) && parts[0] == 2;
  if (!ok) {
    throw input_error("", flag, "not an NCCL release", text,
                      "latest, or 2.MINOR[.PATCH] such as 2.4.8 or 2.18.5");
  }
  return NcclRelease{parts[0], parts[1], parts.size() == 3 ? parts[2] : 0};
}

std::string to_string(const NcclRelease& r) {
  if (r.is_latest()) return "latest";
  return fmt::format("{}.{}.{}", r.major, r.minor, r.patch);
}

}  // namespace moesim::network
