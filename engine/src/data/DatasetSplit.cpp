#include "lorafa/DatasetSplit.h"

#include "data/SplitMix64.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace lorafa {
namespace {

void shuffle(std::vector<std::size_t>& items, SplitMix64& random) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(random.below(i));
    std::swap(items[i - 1], items[j]);
  }
}

// round(fraction · n), at least 1 when fraction > 0, at most n - 1.
std::size_t validationCount(std::size_t n, double fraction) {
  if (fraction <= 0.0 || n < 2) return 0;
  auto k = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  return std::min(std::max<std::size_t>(k, 1), n - 1);
}

} // namespace

DatasetSplit splitTrainValidation(std::size_t count, double validationFraction, std::uint64_t seed,
                                  const std::vector<std::int64_t>& labels) {
  if (!(validationFraction >= 0.0 && validationFraction < 1.0)) {
    throw std::invalid_argument("the validation fraction must be in [0, 1)");
  }
  if (count == 0) throw std::invalid_argument("cannot split an empty dataset");
  if (!labels.empty() && labels.size() != count) {
    throw std::invalid_argument("one label per example is needed for a stratified split");
  }
  SplitMix64 random(seed);
  DatasetSplit split;
  // Groups: one per label (stratified), or all indices together.
  std::map<std::int64_t, std::vector<std::size_t>> groups;
  if (labels.empty()) {
    std::vector<std::size_t>& all = groups[0];
    all.resize(count);
    std::iota(all.begin(), all.end(), std::size_t(0));
  } else {
    for (std::size_t i = 0; i < count; ++i)
      groups[labels[i]].push_back(i);
  }
  for (auto& entry : groups) {
    std::vector<std::size_t>& items = entry.second;
    shuffle(items, random);
    const std::size_t k = validationCount(items.size(), validationFraction);
    split.validation.insert(split.validation.end(), items.begin(),
                            items.begin() + static_cast<std::ptrdiff_t>(k));
    split.train.insert(split.train.end(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.validation.begin(), split.validation.end());
  return split;
}

} // namespace lorafa
