#pragma once

#include <stdexcept>
#include <string>

namespace lorafa {

/// A run-history database problem: the file, what was being done, and SQLite's message.
class StoreError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace lorafa
