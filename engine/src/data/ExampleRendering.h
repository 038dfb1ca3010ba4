#pragma once

#include "lorafa/ChatTemplate.h"
#include "lorafa/Dataset.h"
#include "lorafa/Tokenizer.h"

namespace lorafa {

/// `options` with empty BOS/EOS text filled from the tokenizer's bos_token/eos_token, an empty
/// dateString with today's date (todayDateString), and no generation prompt (training text).
ChatTemplateOptions trainingTemplateOptions(const ChatTemplateOptions& options, const Tokenizer& tokenizer);

/// An Alpaca, Chat or SourceTarget example (source = user, target = assistant) written by a
/// template. Throws std::invalid_argument when the template cannot write it.
RenderedChat renderExample(DatasetFormat format, const Example& example, ChatTemplateKind kind,
                           const ChatTemplateOptions& options);

} // namespace lorafa
