// Element types of tensors, with their size in bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace moesim {

enum class DType : std::uint8_t { fp32, fp16, bf16, fp8 };

constexpr std::int64_t dtype_bytes(DType t) {
  switch (t) {
    case DType::fp32:
      return 4;
    case DType::fp16:
    case DType::bf16:
      return 2;
    case DType::fp8:
      return 1;
  }
  return 0;
}

std::string_view to_string(DType t);
std::optional<DType> parse_dtype(std::string_view name);

}  // namespace moesim
