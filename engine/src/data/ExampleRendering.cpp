#include "data/ExampleRendering.h"

#include <stdexcept>

namespace lorafa {

ChatTemplateOptions trainingTemplateOptions(const ChatTemplateOptions& options, const Tokenizer& tokenizer) {
  ChatTemplateOptions filled = options;
  if (filled.bosToken.empty() && tokenizer.bosId())
    filled.bosToken = tokenizer.idToToken(*tokenizer.bosId()).value_or("");
  if (filled.eosToken.empty() && tokenizer.eosId())
    filled.eosToken = tokenizer.idToToken(*tokenizer.eosId()).value_or("");
  // One date for every row of a dataset, even across midnight.
  if (filled.dateString.empty()) filled.dateString = todayDateString();
  filled.addGenerationPrompt = false;
  return filled;
}

RenderedChat renderExample(DatasetFormat format, const Example& e, ChatTemplateKind kind,
                           const ChatTemplateOptions& options) {
  switch (format) {
  case DatasetFormat::Alpaca: return renderInstruction(kind, e.instruction, e.input, e.output, options);
  case DatasetFormat::Chat: return renderChat(kind, e.messages, options);
  case DatasetFormat::SourceTarget:
    return renderChat(kind, {ChatMessage{ChatRole::User, e.text}, ChatMessage{ChatRole::Assistant, e.target}},
                      options);
  default: break;
  }
  throw std::invalid_argument(std::string("cannot write ") + toString(format) + " data with a chat template");
}

} // namespace lorafa
