#pragma once

#include "lorafa/TokenizedDataset.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lorafa {

/// Cuts a stream of (token, label) pairs into rows of exactly maxLength (the last one shorter),
/// remembering where segments (examples or documents) start. A segment cut at a row's end goes on
/// as the first segment of the next row. The first label of each segment after the first in a
/// row becomes kIgnoreIndex: with attention kept inside segments, nothing before it predicts it.
class RowPacker {
public:
  RowPacker(std::int64_t maxLength, std::vector<TokenizedExample>& rows)
      : m_maxLength(maxLength), m_rows(rows) {}

  /// The tokens appended next start a new segment, from dataset example `exampleIndex`.
  void beginSegment(std::size_t exampleIndex) {
    m_newSegment = true;
    m_exampleIndex = exampleIndex;
  }

  void append(const TokenId* ids, const TokenId* labels, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      if (!m_current.inputIds.empty() &&
          static_cast<std::int64_t>(m_current.inputIds.size()) >= m_maxLength) {
        flush();
        m_newSegment = true; // the rest of this segment continues in the next row
      }
      if (m_current.inputIds.empty()) m_current.exampleIndex = m_exampleIndex;
      TokenId label = labels[i];
      if (m_newSegment) {
        if (!m_current.inputIds.empty()) label = kIgnoreIndex;
        m_current.segmentLengths.push_back(0);
        m_newSegment = false;
      }
      m_current.inputIds.push_back(ids[i]);
      m_current.labels.push_back(label);
      ++m_current.segmentLengths.back();
    }
  }

  /// Emits the last, partial row.
  void finish() {
    if (!m_current.inputIds.empty()) flush();
  }

private:
  void flush() {
    m_rows.push_back(std::move(m_current));
    m_current = TokenizedExample();
  }

  std::int64_t m_maxLength;
  std::vector<TokenizedExample>& m_rows;
  TokenizedExample m_current;
  std::size_t m_exampleIndex = 0;
  bool m_newSegment = true;
};

} // namespace lorafa
