// lorafa-reference-probe: the engine's numbers for the Python reference tests (tests/reference/),
// written to safetensors or printed as JSON, so that transformers, PEFT and torch can be compared
// with them on the same inputs. Each command goes through the engine's own code paths (loadModel,
// applyPeftAdapter, generate, Trainer); nothing here computes a result itself.
//
//   logits <model dir> <inputs.safetensors> <out.safetensors> [--adapter <PEFT dir>] [--method lora|lora-fa]
//       inputs: input_ids [B, T] (int64), optional attention_mask, decoder_input_ids (T5).
//       out: logits (float32) as the model returns them.
//   generate <model dir> <comma-separated prompt ids> <max new tokens> cache|no-cache
//       prints {"tokens": [...]}: greedy continuation, stop token included when produced.
//   chat <tokenizer dir> <conversation.json> [--generation-prompt] [--template NAME] [--date TEXT]
//       the template the engine picks from the tokenizer's chat_template (resolveChatTemplate),
//       or the one named, with the options training uses (the tokenizer's BOS/EOS text, its
//       default system prompt and date), the date given with --date (Llama 3.1's "Today Date",
//       as apply_chat_template's date_string); conversation.json: [{"role": ..., "content": ...}, ...], or an
//       instruction record {"instruction": ..., "input": ..., "output": ...} (rendered as
//       instruction data is, renderInstruction). Prints {"template": name, "text": rendered
//       text, "spans": [[begin, end], ...]} (byte offsets of the trained spans).
//   train <run config> <out.safetensors> <steps>
//       trains `steps` optimizer steps with the Trainer, then writes
//         batch.input_ids / batch.attention_mask / batch.labels: every training row, collated
//             (the rows the steps used when train.batch_size covers them all);
//         loss: [steps] float64, the loss of each step;
//         param.<name>: each trainable parameter after the last step;
//         grad.<name>: its gradient of the last step, as AdamW took it (projected B included).
#include "data/ExampleRendering.h"
#include "export/PeftAdapter.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "lorafa/AdapterConfig.h"
#include "lorafa/Batch.h"
#include "lorafa/ChatTemplate.h"
#include "lorafa/RunConfig.h"
#include "lorafa/Tokenizer.h"
#include "lorafa/TrainerObserver.h"
#include "models/Generation.h"
#include "models/ModelFactory.h"
#include "train/Trainer.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using lorafa::ModelInputs;

[[noreturn]] void usage() {
  std::cerr
      << "usage: lorafa-reference-probe logits <model dir> <inputs.safetensors> <out.safetensors> "
         "[--adapter <PEFT dir>] [--method lora|lora-fa]\n"
         "       lorafa-reference-probe generate <model dir> <ids,...> <max new tokens> cache|no-cache\n"
         "       lorafa-reference-probe chat <tokenizer dir> <conversation.json> [--generation-prompt]\n"
         "                                   [--template NAME] [--date TEXT]\n"
         "       lorafa-reference-probe train <run config> <out.safetensors> <steps>\n";
  std::exit(2);
}

std::int64_t parseInt(const std::string& text, const char* what) {
  std::size_t used = 0;
  const long long value = std::stoll(text, &used);
  if (used != text.size()) throw std::invalid_argument(std::string(what) + ": not an integer: '" + text + "'");
  return value;
}

int logits(const std::vector<std::string>& args) {
  if (args.size() < 3) usage();
  std::string adapterDir;
  lorafa::TrainMethod method = lorafa::TrainMethod::Lora;
  for (std::size_t i = 3; i < args.size(); ++i) {
    if (args[i] == "--adapter" && i + 1 < args.size()) {
      adapterDir = args[++i];
    } else if (args[i] == "--method" && i + 1 < args.size()) {
      const auto parsed = lorafa::parseTrainMethod(args[++i]);
      if (!parsed) throw std::invalid_argument("--method: lora or lora-fa, not '" + args[i] + "'");
      method = *parsed;
    } else {
      usage();
    }
  }
  auto model = lorafa::loadModel(args[0], at::TensorOptions().dtype(at::kFloat));
  if (!adapterDir.empty()) lorafa::applyPeftAdapter(*model, lorafa::loadPeftAdapter(adapterDir), method);
  model->eval();
  const auto inputsFile = lorafa::SafetensorsFile::open(args[1]);
  ModelInputs inputs;
  inputs.inputIds = inputsFile->load("input_ids");
  if (inputsFile->contains("attention_mask")) inputs.attentionMask = inputsFile->load("attention_mask");
  if (inputsFile->contains("decoder_input_ids")) inputs.decoderInputIds = inputsFile->load("decoder_input_ids");
  c10::NoGradGuard noGrad;
  const at::Tensor out = model->forward(inputs).to(at::kFloat).contiguous();
  lorafa::writeSafetensors(args[2], {{"logits", out}});
  return 0;
}

int generate(const std::vector<std::string>& args) {
  if (args.size() != 4 || (args[3] != "cache" && args[3] != "no-cache")) usage();
  auto model = lorafa::loadModel(args[0], at::TensorOptions().dtype(at::kFloat));
  model->eval();
  std::vector<std::int64_t> prompt;
  std::stringstream ids(args[1]);
  for (std::string id; std::getline(ids, id, ',');) prompt.push_back(parseInt(id, "prompt id"));
  lorafa::GenerationOptions options;
  options.maxNewTokens = parseInt(args[2], "max new tokens");
  options.useCache = args[3] == "cache";
  c10::NoGradGuard noGrad;
  const std::vector<std::int64_t> tokens = lorafa::generate(*model, prompt, options);
  std::cout << "{\"tokens\": [";
  for (std::size_t i = 0; i < tokens.size(); ++i) std::cout << (i ? ", " : "") << tokens[i];
  std::cout << "]}\n";
  return 0;
}

int chat(const std::vector<std::string>& args) {
  if (args.size() < 2) usage();
  bool generationPrompt = false;
  std::optional<lorafa::ChatTemplateKind> requested;
  std::string date;
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--generation-prompt") {
      generationPrompt = true;
    } else if (args[i] == "--date" && i + 1 < args.size()) {
      date = args[++i];
    } else if (args[i] == "--template" && i + 1 < args.size()) {
      requested = lorafa::parseChatTemplateKind(args[++i]);
      if (!requested) throw std::invalid_argument("unknown template " + args[i]);
    } else {
      usage();
    }
  }
  const auto tokenizer = lorafa::Tokenizer::load(args[0]);
  const lorafa::ChatTemplateChoice choice = lorafa::resolveChatTemplate(*tokenizer, requested);
  std::ifstream in(args[1]);
  if (!in) throw std::runtime_error("cannot read " + args[1]);
  const nlohmann::json conversation = nlohmann::json::parse(in);
  lorafa::ChatTemplateOptions options;
  options.defaultSystemPrompt = choice.defaultSystemPrompt;
  options.dateString = date.empty() ? choice.dateString : date;
  options = lorafa::trainingTemplateOptions(options, *tokenizer);
  options.addGenerationPrompt = generationPrompt;
  lorafa::RenderedChat rendered;
  if (conversation.is_object()) {
    rendered = lorafa::renderInstruction(choice.kind, conversation.at("instruction").get<std::string>(),
                                         conversation.value("input", std::string()),
                                         conversation.value("output", std::string()), options);
  } else {
    std::vector<lorafa::ChatMessage> messages;
    for (const auto& m : conversation) {
      const auto role = lorafa::parseChatRole(m.at("role").get<std::string>());
      if (!role) throw std::invalid_argument(args[1] + ": unknown role " + m.at("role").dump());
      messages.push_back({*role, m.at("content").get<std::string>()});
    }
    rendered = lorafa::renderChat(choice.kind, messages, options);
  }
  nlohmann::json spans = nlohmann::json::array();
  for (const auto& span : rendered.responseSpans) spans.push_back({span.begin, span.end});
  std::cout << nlohmann::json{{"template", lorafa::toString(choice.kind)}, {"note", choice.note},
                              {"text", rendered.text}, {"spans", spans}}
                   .dump()
            << "\n";
  return 0;
}

class LossRecorder : public lorafa::TrainerObserver {
public:
  void onStep(const lorafa::StepMetrics& metrics) override { losses.push_back(metrics.loss); }
  void onStateChange(lorafa::TrainerState state, const std::string& message) override {
    if (state == lorafa::TrainerState::Failed) failure = message;
  }
  std::vector<double> losses;
  std::string failure;
};

at::Tensor longMatrix(const std::vector<std::int64_t>& values, std::int64_t rows, std::int64_t columns) {
  return at::from_blob(const_cast<std::int64_t*>(values.data()), {rows, columns}, at::kLong).clone();
}

int train(const std::vector<std::string>& args) {
  if (args.size() != 3) usage();
  const std::int64_t steps = parseInt(args[2], "steps");
  LossRecorder recorder;
  lorafa::TrainerOptions options;
  options.stopAfterStep = steps;
  options.baselineEvaluation = false;
  lorafa::Trainer trainer(lorafa::loadRunConfig(args[0]), &recorder, options);
  trainer.setup();
  // Every training row in dataset order: the reference trains on the same collated batch.
  std::vector<std::size_t> rows(trainer.trainRows().rows.size());
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  const lorafa::Batch batch = lorafa::collate(trainer.trainRows(), rows);
  trainer.run();
  if (!recorder.failure.empty()) throw std::runtime_error("training failed: " + recorder.failure);
  if (static_cast<std::int64_t>(recorder.losses.size()) != steps) {
    throw std::runtime_error("trained " + std::to_string(recorder.losses.size()) + " steps, asked for " +
                             std::to_string(steps));
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  tensors.emplace_back("batch.input_ids", longMatrix(batch.inputIds, batch.rows, batch.columns));
  tensors.emplace_back("batch.attention_mask", longMatrix(batch.attentionMask, batch.rows, batch.columns));
  tensors.emplace_back("batch.labels", longMatrix(batch.labels, batch.rows, batch.labelColumns));
  tensors.emplace_back("loss", at::tensor(recorder.losses, at::kDouble));
  for (const auto& [name, p] : trainer.trainableParameters()) {
    tensors.emplace_back("param." + name, p.detach().to(at::kFloat).contiguous());
    if (p.grad().defined()) tensors.emplace_back("grad." + name, p.grad().to(at::kFloat).contiguous());
  }
  lorafa::writeSafetensors(args[1], tensors);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "logits") return logits(args);
    if (command == "generate") return generate(args);
    if (command == "train") return train(args);
    if (command == "chat") return chat(args);
  } catch (const std::exception& error) {
    std::cerr << "lorafa-reference-probe " << command << ": " << error.what() << "\n";
    return 1;
  }
  usage();
}
