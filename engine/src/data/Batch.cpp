#include "lorafa/Batch.h"

#include "data/SplitMix64.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace lorafa {

Batch collate(const TokenizedDataset& dataset, const std::vector<std::size_t>& rowIndices,
              const CollateOptions& options) {
  if (rowIndices.empty()) throw std::invalid_argument("a batch needs at least one row");
  if (options.padToMultipleOf < 1) throw std::invalid_argument("padToMultipleOf must be at least 1");
  Batch b;
  b.task = dataset.task;
  b.rowIndices = rowIndices;
  b.rows = static_cast<std::int64_t>(rowIndices.size());
  std::int64_t longest = 0;
  std::int64_t longestLabels = 0;
  for (const std::size_t i : rowIndices) {
    if (i >= dataset.rows.size())
      throw std::out_of_range("row " + std::to_string(i) + " is outside the dataset");
    longest = std::max(longest, static_cast<std::int64_t>(dataset.rows[i].inputIds.size()));
    longestLabels = std::max(longestLabels, static_cast<std::int64_t>(dataset.rows[i].labels.size()));
  }
  const std::int64_t m = options.padToMultipleOf;
  b.columns = (longest + m - 1) / m * m;
  const TokenId pad = options.padId.value_or(dataset.padId);
  const auto cells = static_cast<std::size_t>(b.rows * b.columns);
  b.inputIds.assign(cells, pad);
  b.attentionMask.assign(cells, 0);
  b.positionIds.assign(cells, 0);
  b.segmentIds.assign(cells, -1);
  switch (dataset.task) {
  case TaskType::CausalLm: b.labelColumns = b.columns; break;
  case TaskType::Seq2Seq: b.labelColumns = (longestLabels + m - 1) / m * m; break;
  case TaskType::Classification: b.labelColumns = 1; break;
  }
  b.labels.assign(static_cast<std::size_t>(b.rows * b.labelColumns), kIgnoreIndex);

  for (std::int64_t r = 0; r < b.rows; ++r) {
    const TokenizedExample& row = dataset.rows[rowIndices[static_cast<std::size_t>(r)]];
    const auto length = static_cast<std::int64_t>(row.inputIds.size());
    const std::int64_t start = r * b.columns + (options.padLeft ? b.columns - length : 0);
    std::int64_t segment = 0;
    std::int64_t position = 0;
    std::int64_t segmentLeft = row.segmentLengths.empty() ? length : row.segmentLengths[0];
    for (std::int64_t t = 0; t < length; ++t) {
      while (segmentLeft == 0 && segment + 1 < static_cast<std::int64_t>(row.segmentLengths.size())) {
        ++segment;
        segmentLeft = row.segmentLengths[static_cast<std::size_t>(segment)];
        position = 0;
      }
      const auto cell = static_cast<std::size_t>(start + t);
      b.inputIds[cell] = row.inputIds[static_cast<std::size_t>(t)];
      b.attentionMask[cell] = 1;
      b.positionIds[cell] = position++;
      b.segmentIds[cell] = segment;
      --segmentLeft;
    }
    b.tokenCount += length;
    if (dataset.task == TaskType::CausalLm) {
      for (std::int64_t t = 0; t < length; ++t) {
        b.labels[static_cast<std::size_t>(start + t)] = row.labels[static_cast<std::size_t>(t)];
      }
    } else if (dataset.task == TaskType::Seq2Seq) {
      const auto labelLength = static_cast<std::int64_t>(row.labels.size());
      const std::int64_t labelStart =
          r * b.labelColumns + (options.padLeft ? b.labelColumns - labelLength : 0);
      for (std::int64_t t = 0; t < labelLength; ++t) {
        b.labels[static_cast<std::size_t>(labelStart + t)] = row.labels[static_cast<std::size_t>(t)];
      }
    } else {
      b.labels[static_cast<std::size_t>(r)] = row.classLabel;
    }
  }
  b.trainableTokens = static_cast<std::int64_t>(
      std::count_if(b.labels.begin(), b.labels.end(), [](TokenId id) { return id != kIgnoreIndex; }));
  return b;
}

std::vector<std::vector<std::size_t>> batchOrder(std::size_t rowCount, std::size_t batchSize, bool shuffle,
                                                 std::uint64_t seed, std::uint64_t epoch, bool dropLast) {
  if (batchSize == 0) throw std::invalid_argument("the batch size must be at least 1");
  std::vector<std::size_t> order(rowCount);
  std::iota(order.begin(), order.end(), std::size_t(0));
  if (shuffle) {
    // One generator per epoch, seeded from (seed, epoch) through SplitMix64 itself.
    SplitMix64 mix(seed ^ (0xD1B54A32D192ED03ULL * (epoch + 1)));
    SplitMix64 random(mix.next());
    for (std::size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[static_cast<std::size_t>(random.below(i))]);
    }
  }
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t at = 0; at < order.size(); at += batchSize) {
    const std::size_t end = std::min(order.size(), at + batchSize);
    if (dropLast && end - at < batchSize) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(at),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

} // namespace lorafa
