#include "RunInference.h"

#include "lorafa/ChatTemplate.h"
#include "lorafa/Tokenizer.h"
#include "lorafa/TrainingSession.h"

#include <functional>

namespace lorafa::ui {

RunInference::RunInference() = default;

RunInference::~RunInference() = default;

std::string RunInference::formatInstruction(const RunConfig& config, const std::string& instruction,
                                            const std::string& input) {
  const std::string tokenizerPath = config.tokenizerPath.empty() ? config.modelPath : config.tokenizerPath;
  const std::shared_ptr<Tokenizer> tokenizer = Tokenizer::load(tokenizerPath);
  std::optional<ChatTemplateKind> requested;
  if (!config.dataset.chatTemplate.empty()) {
    requested = parseChatTemplateKind(config.dataset.chatTemplate);
    if (!requested) {
      throw std::invalid_argument("dataset.template: unknown template \"" + config.dataset.chatTemplate +
                                  "\" (one of " + chatTemplateNames() + ")");
    }
  }
  // As the trainer chooses it: instruction data falls back to Alpaca, other data to Plain.
  const ChatTemplateKind fallback =
      config.dataset.format == DatasetFormat::Chat || config.dataset.format == DatasetFormat::SourceTarget
          ? ChatTemplateKind::Plain
          : ChatTemplateKind::Alpaca;
  const ChatTemplateChoice choice = resolveChatTemplate(*tokenizer, requested, fallback);
  ChatTemplateOptions options;
  options.defaultSystemPrompt = choice.defaultSystemPrompt;
  options.dateString = choice.dateString;
  if (tokenizer->bosId()) options.bosToken = tokenizer->idToToken(*tokenizer->bosId()).value_or("");
  if (tokenizer->eosId()) options.eosToken = tokenizer->idToToken(*tokenizer->eosId()).value_or("");
  options.addGenerationPrompt = true;
  std::string text = renderInstruction(choice.kind, instruction, input, "", options).text;
  // generate() tokenizes with the tokenizer's own special tokens (its BOS), so a template that
  // writes the BOS text itself must not write it a second time.
  if (templateOwnsSpecialTokens(choice.kind) && !options.bosToken.empty() &&
      text.compare(0, options.bosToken.size(), options.bosToken) == 0) {
    text.erase(0, options.bosToken.size());
  }
  return text;
}

TrainingSession& RunInference::session(const std::string& key, const RunConfig& config,
                                       const std::string& checkpoint) {
  auto it = m_sessions.find(key);
  if (it != m_sessions.end()) return *it->second;
  RunConfig inference = config;
  inference.eval.generateMaxExamples = 0; // setup needs no generation cases for the playground
  // The base model is the model without any adapter: a run that started from an imported PEFT
  // adapter (adapter.init_from) would otherwise show that adapter as the base. The checkpoint
  // holds the adapter's A and B, so only the base drops it.
  if (checkpoint.empty()) inference.adapterInitFrom.clear();
  std::unique_ptr<TrainingSession> created = TrainingSession::create(inference, nullptr);
  created->setup();
  if (!checkpoint.empty()) created->resumeFrom(checkpoint);
  return *m_sessions.emplace(key, std::move(created)).first->second;
}

GenerationResult RunInference::generate(const GenerationRequest& request) {
  std::lock_guard<std::mutex> lock(m_mutex);
  GenerationResult result;
  try {
    const std::string owner =
        request.runId > 0 ? "run " + std::to_string(request.runId)
                          : "base " + std::to_string(std::hash<std::string>{}(toJson(request.config)));
    const std::string baseKey = owner + " base";
    const std::string adapterKey = owner + " adapter " + request.checkpoint;
    // Keep only this prompt's sessions: models are big, and a newer checkpoint replaces an older.
    for (auto it = m_sessions.begin(); it != m_sessions.end();) {
      if (it->first == baseKey || it->first == adapterKey)
        ++it;
      else
        it = m_sessions.erase(it);
    }
    const std::string prompt = request.asInstruction
                                   ? formatInstruction(request.config, request.prompt, request.input)
                                   : request.prompt;
    result.sentPrompt = QString::fromStdString(prompt);
    result.base = QString::fromStdString(
        session(baseKey, request.config, {})
            .generate(prompt, request.maxNewTokens, request.temperature, request.seed));
    if (!request.checkpoint.empty()) {
      result.hasAdapter = true;
      result.adapter = QString::fromStdString(
          session(adapterKey, request.config, request.checkpoint)
              .generate(prompt, request.maxNewTokens, request.temperature, request.seed));
    }
  } catch (const std::exception& e) {
    result.error = QString::fromStdString(e.what());
  }
  return result;
}

} // namespace lorafa::ui
