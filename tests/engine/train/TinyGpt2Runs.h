#pragma once

// What the trainer tests start from: a temporary folder with a tiny random GPT-2 whose vocabulary
// covers the GPT-2 tokenizer's ids, and a small LoRA-FA run configuration on the Alpaca fixture.
#include "lorafa/RunConfig.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/core/Tensor.h>
#include <c10/core/GradMode.h>

#include <filesystem>
#include <random>
#include <string>

namespace lorafa::test {

class TinyGpt2Folder {
public:
  /// `embeddingScale`: the tied embedding bounds the logits' range (the hidden state is layer-
  /// normed): at std 0.02 a 32-wide model cannot move its loss far from ln(vocab), whatever the
  /// adapters learn; ×10 lets a few steps show.
  explicit TinyGpt2Folder(const std::string& prefix, std::int64_t positions = 128, std::uint64_t seed = 3,
                          double embeddingScale = 10.0)
      : m_root(std::filesystem::temp_directory_path() / (prefix + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(m_root);
    const auto tokenizer = Tokenizer::load(tokenizerDir());
    const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                             R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": )" +
                             std::to_string(positions) + R"(, "eos_token_id": 50256})";
    auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), at::TensorOptions().dtype(at::kFloat));
    initializeRandom(*model, seed);
    if (embeddingScale != 1.0) {
      c10::NoGradGuard noGrad;
      model->named_parameters()["transformer.wte.weight"].mul_(embeddingScale);
    }
    m_modelDir = (m_root / "model").string();
    saveModelCheckpoint(*model, m_modelDir);
  }
  ~TinyGpt2Folder() { std::filesystem::remove_all(m_root); }
  TinyGpt2Folder(const TinyGpt2Folder&) = delete;
  TinyGpt2Folder& operator=(const TinyGpt2Folder&) = delete;

  static std::string fixtures() { return LORAFA_FIXTURES_DIR; }
  static std::string tokenizerDir() { return fixtures() + "/tokenizers/gpt2"; }
  const std::filesystem::path& root() const { return m_root; }
  const std::string& modelDir() const { return m_modelDir; }

  /// LoRA-FA r4 with dropout (it draws from the RNG every step: resume must restore it), 6 steps
  /// of 2×2 rows, evaluation every 2 steps on a fifth of the data, on the CPU.
  RunConfig config(const std::string& name) const {
    RunConfig c;
    c.name = name;
    c.modelPath = m_modelDir;
    c.tokenizerPath = tokenizerDir();
    c.dataset.path = fixtures() + "/data/alpaca.jsonl";
    c.dataset.validationFraction = 0.2;
    c.outputDir = (m_root / name).string();
    c.adapter.method = TrainMethod::LoraFa;
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.adapter.dropout = 0.1;
    c.targets = "c_attn,c_proj,c_fc";
    c.optim.learningRate = 5e-3;
    c.optim.weightDecay = 0.01;
    c.train.batchSize = 2;
    c.train.gradAccumulation = 2;
    c.train.maxSeqLen = 96;
    c.train.maxSteps = 6;
    c.train.evalEvery = 2;
    c.train.seed = 11;
    c.train.device = "cpu";
    return c;
  }

private:
  std::filesystem::path m_root;
  std::string m_modelDir;
};

} // namespace lorafa::test
