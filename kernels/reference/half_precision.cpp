#include "kernels/reference/half_precision.hpp"

#include <bit>
#include <cmath>

namespace moesim::reference {

std::uint16_t float_to_bf16_bits(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((x >> 16) | 0x40U);
  const std::uint32_t rounding = 0x7fffU + ((x >> 16) & 1U);  // round to nearest even
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

float bf16_bits_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t float_to_fp16_bits(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000U;
  const std::uint32_t exp = (x >> 23) & 0xffU;
  std::uint32_t mant = x & 0x7fffffU;
  if (exp == 0xffU) return static_cast<std::uint16_t>(sign | 0x7c00U | (mant != 0 ? 0x200U : 0U));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00U);
  if (e <= 0) {  // fp16 subnormal (unit 2^-24) or zero
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000U;
    const int shift = 14 - e;
    std::uint32_t half_mant = mant >> shift;
    const std::uint32_t rem = mant & ((1U << shift) - 1U);
    const std::uint32_t halfway = 1U << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1U) != 0)) ++half_mant;
    return static_cast<std::uint16_t>(sign | half_mant);
  }
  std::uint32_t half = sign | (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fffU;
  if (rem > 0x1000U || (rem == 0x1000U && (half & 1U) != 0)) ++half;  // carry may reach inf
  return static_cast<std::uint16_t>(half);
}

float fp16_bits_to_float(std::uint16_t bits) {
  const std::uint32_t sign = (bits & 0x8000U) != 0 ? 1U : 0U;
  const int exp = (bits >> 10) & 0x1f;
  const int mant = bits & 0x3ff;
  float value = 0.0F;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    value = mant != 0 ? std::nanf("") : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(1024 + mant), exp - 25);
  }
  return sign != 0 ? -value : value;
}

}  // namespace moesim::reference
