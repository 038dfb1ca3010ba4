#pragma once

#include "lorafa/DataError.h"
#include "lorafa/Dataset.h"

namespace lorafa {

/// Applies OnError to one bad record: Stop rethrows it, Skip counts it and keeps its message
/// while fewer than `keep` are kept.
class ErrorPolicy {
public:
  ErrorPolicy(OnError onError, std::size_t keep, SkippedRecords& sink)
      : m_onError(onError), m_keep(keep), m_sink(sink) {}

  void handle(const DataError& error) {
    if (m_onError == OnError::Stop) throw error;
    ++m_sink.count;
    if (m_sink.firstErrors.size() < m_keep) m_sink.firstErrors.emplace_back(error.what());
  }

private:
  OnError m_onError;
  std::size_t m_keep;
  SkippedRecords& m_sink;
};

} // namespace lorafa
