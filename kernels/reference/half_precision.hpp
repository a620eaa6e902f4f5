// Host-side bf16 and fp16 conversions (bit patterns in std::uint16_t), round to nearest even, as
// the GPU's __float2bfloat16 / __float2half do. Tests round random floats to the 16-bit dtype
// once, upload the bits, and give the reference the rounded floats, so both sides see the same
// inputs and the remaining difference is the kernel's own arithmetic.
#pragma once

#include <cstdint>

namespace moesim::reference {

std::uint16_t float_to_bf16_bits(float value);
float bf16_bits_to_float(std::uint16_t bits);
std::uint16_t float_to_fp16_bits(float value);
float fp16_bits_to_float(std::uint16_t bits);

}  // namespace moesim::reference
