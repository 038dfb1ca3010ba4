#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace lorafa::cli {

/// `lorafa estimate CONFIG`: the memory planner's table for full, LoRA and LoRA-FA side by side.
struct EstimateOptions {
  std::string configPath;
  std::string device = "cpu";   ///< cpu or cuda
  std::int64_t capacityBytes = 0; ///< 0: no capacity line
};

/// Prints the table (and, with a capacity, whether each method fits and the largest batch size,
/// sequence length and rank that do). Throws ConfigError / std::invalid_argument on bad input.
void runEstimate(const EstimateOptions& options, std::ostream& out);

} // namespace lorafa::cli
