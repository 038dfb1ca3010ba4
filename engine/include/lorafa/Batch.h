#pragma once

#include "lorafa/TokenizedDataset.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace lorafa {

/// Rows of a TokenizedDataset padded to a common length, as flat row-major arrays (the trainer
/// wraps them in tensors of the given shapes).
struct Batch {
  TaskType task = TaskType::CausalLm;
  std::int64_t rows = 0;
  std::int64_t columns = 0;                ///< longest row, rounded up to padToMultipleOf
  std::vector<TokenId> inputIds;           ///< [rows, columns], padId on padding
  std::vector<std::int64_t> attentionMask; ///< [rows, columns], 1 on tokens, 0 on padding
  /// [rows, columns]: 0, 1, 2, … restarting at each segment (packed rows); 0 on padding.
  std::vector<std::int64_t> positionIds;
  /// [rows, columns]: which segment of its row a token belongs to (0, 1, …), -1 on padding. Two
  /// tokens may attend to each other only with the same segment id (block-diagonal attention).
  std::vector<std::int64_t> segmentIds;
  /// CausalLm: [rows, columns], kIgnoreIndex on padding. Seq2Seq: [rows, labelColumns], padded
  /// with kIgnoreIndex. Classification: [rows].
  std::vector<TokenId> labels;
  std::int64_t labelColumns = 0;       ///< columns of labels (CausalLm: = columns; Classification: 1)
  std::vector<std::size_t> rowIndices; ///< the dataset rows in this batch
  std::int64_t tokenCount = 0;         ///< non-padding input tokens
  std::int64_t trainableTokens = 0;    ///< labels that count (not kIgnoreIndex)
};

struct CollateOptions {
  /// Pad rows to a multiple of this (8 suits tensor cores); 1: to the longest row.
  std::int64_t padToMultipleOf = 1;
  /// Padding on the left (generation) instead of the right (training).
  bool padLeft = false;
  /// The pad id; the dataset's padId when empty.
  std::optional<TokenId> padId;
};

/// Pads the rows at `rowIndices` into one batch (dynamic padding: to the longest of these rows).
/// Throws std::out_of_range for an index outside the dataset and std::invalid_argument for none.
Batch collate(const TokenizedDataset& dataset, const std::vector<std::size_t>& rowIndices,
              const CollateOptions& options = {});

/// The row order of one epoch cut into batches: rows 0..rowCount-1, shuffled when `shuffle`
/// (Fisher–Yates driven by SplitMix64, as in splitTrainValidation, seeded with the first output of
/// SplitMix64(seed ^ (0xD1B54A32D192ED03 · (epoch + 1)))), then cut into groups of batchSize (the
/// last one smaller unless dropLast). Same arguments, same batches, on every machine.
std::vector<std::vector<std::size_t>> batchOrder(std::size_t rowCount, std::size_t batchSize, bool shuffle,
                                                 std::uint64_t seed, std::uint64_t epoch,
                                                 bool dropLast = false);

} // namespace lorafa
