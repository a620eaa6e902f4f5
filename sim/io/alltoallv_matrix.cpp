#include "sim/io/alltoallv_matrix.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

#include "sim/core/errors.hpp"

namespace moesim::io {

std::string alltoallv_matrix_text(const ByteMatrix& matrix) {
  std::string out;
  for (std::size_t i = 0; i < matrix.size(); ++i) {
    for (std::size_t j = 0; j < matrix.size(); ++j) {
      if (j > 0) out += ' ';
      out += fmt::format("{}", matrix.at(i, j));
    }
    out += '\n';
  }
  return out;
}

ByteMatrix alltoallv_matrix_from_text(const std::string& text, const std::string& origin) {
  std::vector<std::vector<std::int64_t>> rows;
  std::size_t line_number = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    ++line_number;
    std::vector<std::int64_t> row;
    std::size_t i = 0;
    while (i < line.size()) {
      if (std::isspace(static_cast<unsigned char>(line[i]))) {
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
      const std::string_view token(line.data() + i, end - i);
      std::int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
      const std::string where = fmt::format("line {}, column {}", line_number, row.size() + 1);
      if (ec != std::errc() || ptr != token.data() + token.size() || value < 0) {
        throw input_error(origin, where, "not a byte count", std::string(token),
                          "a non-negative integer");
      }
      row.push_back(value);
      i = end;
    }
    if (row.empty()) continue;  // blank lines carry nothing
    if (!rows.empty() && row.size() != rows.front().size()) {
      throw input_error(origin, fmt::format("line {}", line_number), "row length differs",
                        fmt::format("{} values", row.size()),
                        fmt::format("{} like the first row", rows.front().size()));
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw input_error(origin, "line 1", "empty matrix", "no values", "n rows");
  if (rows.size() != rows.front().size()) {
    throw input_error(origin, fmt::format("line {}", line_number), "matrix is not square",
                      fmt::format("{} rows", rows.size()),
                      fmt::format("{} rows (one per column)", rows.front().size()));
  }
  ByteMatrix matrix(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < rows.size(); ++j) matrix.set(i, j, rows[i][j]);
  }
  return matrix;
}

ByteMatrix load_alltoallv_matrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  return alltoallv_matrix_from_text(text.str(), path);
}

std::string ExpertExchangeMatrix::file_name() const {
  return fmt::format("moe{}.{}.ep{}.txt", moe_layer, combine ? "combine" : "dispatch", ep_group);
}

std::vector<ExpertExchangeMatrix> expert_exchange_matrices(const TrainingJob& job) {
  const std::int64_t experts = job.model.experts;
  const std::int64_t local = experts / job.layout.ep;
  const std::int64_t token_bytes = job.model.hidden * dtype_bytes(job.model.dtype);
  const auto& groups = job.mapping.groups(GroupKind::ep);
  std::vector<ExpertExchangeMatrix> out;
  for (std::int64_t layer = 0; layer < job.routing.shape().moe_layers; ++layer) {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::vector<RankId>& ranks = groups[g];
      const std::size_t n = ranks.size();
      ExpertExchangeMatrix dispatch{layer, false, g, ranks, ByteMatrix(n)};
      ExpertExchangeMatrix combine{layer, true, g, ranks, ByteMatrix(n)};
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t source = job.mapping.coords(ranks[i]).dp;
        for (std::size_t j = 0; j < n; ++j) {
          std::int64_t tokens = 0;
          for (std::int64_t e = 0; e < local; ++e) {
            tokens += job.routing.at(layer, source, static_cast<std::int64_t>(j) * local + e);
          }
          dispatch.matrix.set(i, j, tokens * token_bytes);
          combine.matrix.set(j, i, tokens * token_bytes);
        }
      }
      out.push_back(std::move(dispatch));
      out.push_back(std::move(combine));
    }
  }
  return out;
}

}  // namespace moesim::io
