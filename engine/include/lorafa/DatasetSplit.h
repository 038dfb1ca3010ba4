#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lorafa {

/// Indices of a train/validation split, each list ascending (file order).
struct DatasetSplit {
  std::vector<std::size_t> train;
  std::vector<std::size_t> validation;
};

/// Splits indices 0..count-1 deterministically: the same (count, fraction, seed, labels) give the
/// same split on every machine and compiler.
///
/// Algorithm: a SplitMix64 generator seeded with `seed` drives a Fisher–Yates shuffle (for i from
/// n-1 down to 1, swap i with j uniform in [0, i], drawn by rejection so it is unbiased); the first
/// k shuffled indices are validation, k = round(fraction·n), at least 1 when fraction > 0, at
/// most n-1. With `labels` (one per index, classification), each class is shuffled and split on
/// its own the same way (stratified, classes in ascending label order, the generator continuing
/// from class to class) so validation holds every class in about the same proportion; a class
/// with one example stays in train.
///
/// Throws std::invalid_argument when fraction is outside [0, 1), count is 0, or labels has a
/// different size.
DatasetSplit splitTrainValidation(std::size_t count, double validationFraction, std::uint64_t seed,
                                  const std::vector<std::int64_t>& labels = {});

} // namespace lorafa
