#include "sim/workload/comm_op.hpp"

#include <algorithm>

namespace moesim {

std::int64_t ByteMatrix::sent_by(std::size_t from) const {
  std::int64_t sum = 0;
  for (std::size_t to = 0; to < n_; ++to) sum += at(from, to);
  return sum;
}

std::int64_t ByteMatrix::received_by(std::size_t to) const {
  std::int64_t sum = 0;
  for (std::size_t from = 0; from < n_; ++from) sum += at(from, to);
  return sum;
}

std::int64_t ByteMatrix::total() const {
  std::int64_t sum = 0;
  for (std::int64_t b : bytes_) sum += b;
  return sum;
}

Bytes all_to_all_v_size(const ByteMatrix& matrix) {
  std::int64_t size = 0;
  for (std::size_t i = 0; i < matrix.size(); ++i) {
    size = std::max({size, matrix.sent_by(i), matrix.received_by(i)});
  }
  return {size};
}

}  // namespace moesim
