#include "sim/core/errors.hpp"

namespace moesim {

InputError input_error(std::string_view file, std::string_view path, std::string_view what,
                       std::string_view got, std::string_view expected) {
  std::string message;
  if (!file.empty()) message += fmt::format("{}: ", file);
  if (!path.empty()) message += fmt::format("{}: ", path);
  message += what;
  if (!got.empty() && !expected.empty()) {
    message += fmt::format(" (got {}, expected {})", got, expected);
  } else if (!got.empty()) {
    message += fmt::format(" (got {})", got);
  } else if (!expected.empty()) {
    message += fmt::format(" (expected {})", expected);
  }
  return InputError(message);
}

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  throw InternalError(fmt::format("check {} failed at {}:{}: {}", condition, file, line, message));
}

}  // namespace moesim
