#include "lorafa/FormatError.h"
#include "models/ModelConfig.h"

#include <gtest/gtest.h>

using namespace lorafa;

namespace {

std::string errorOf(const std::string& json) {
  try {
    ModelConfig::fromJson(json, "/models/x/config.json");
  } catch (const FormatError& error) {
    return error.what();
  }
  return "<no error>";
}

} // namespace

TEST(ModelConfig, LlamaDefaultsFollowHuggingFace) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 8})",
      "config.json");
  EXPECT_EQ(c.family, ModelFamily::Llama);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.numKvHeads, 8);      // defaults to num_attention_heads
  EXPECT_EQ(c.headDim, 8);         // hidden / heads
  EXPECT_EQ(c.ropeTheta, 10000.0); // HF default
  EXPECT_EQ(c.hiddenAct, "silu");
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_EQ(c.ropeScaling.type, "default");
}

TEST(ModelConfig, ReadsRopeScalingHeadDimAndEosLists) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
          "rope_theta": 500000.0, "tie_word_embeddings": true, "eos_token_id": [7, 9],
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})",
      "config.json");
  EXPECT_EQ(c.headDim, 32);
  EXPECT_EQ(c.numKvHeads, 2);
  EXPECT_TRUE(c.tieWordEmbeddings);
  EXPECT_EQ(c.ropeScaling.type, "llama3");
  EXPECT_EQ(c.ropeScaling.factor, 8.0);
  EXPECT_EQ(c.ropeScaling.originalMaxPositions, 8192);
  ASSERT_TRUE(c.eosTokenIds.has_value());
  EXPECT_EQ(*c.eosTokenIds, (std::vector<std::int64_t>{7, 9}));
}


// transformers 5 writes no top-level rope_theta: the base is inside rope_parameters (found by
// tests/reference/test_models.py, where a Llama 3 config read as theta 10000 gave other logits).
TEST(ModelConfig, ReadsTheRopeBaseFromTransformers5RopeParameters) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4,
          "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192}})",
      "config.json");
  EXPECT_EQ(c.ropeTheta, 500000.0);
  EXPECT_EQ(c.ropeScaling.type, "llama3");
  const ModelConfig plain = ModelConfig::fromJson(
      R"({"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4,
          "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}})",
      "config.json");
  EXPECT_EQ(plain.ropeTheta, 1000000.0);
  EXPECT_EQ(plain.ropeScaling.type, "default");
  const std::string bad = errorOf(
      R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "rope_parameters": {"rope_theta": "big"}})");
  EXPECT_NE(bad.find("/models/x/config.json"), std::string::npos) << bad;
  EXPECT_NE(bad.find("rope_theta"), std::string::npos) << bad;
}

// transformers 5 always ties T5's head and says with scale_decoder_outputs whether the decoder
// output is rescaled (false for v1.1); transformers 4 configs imply it by tie_word_embeddings.
TEST(ModelConfig, T5OutputScalingFollowsScaleDecoderOutputsElseTheTie) {
  const char* base = R"({"model_type": "t5", "vocab_size": 100, "d_model": 64, "d_kv": 16, "d_ff": 96,
                         "num_layers": 2, "num_heads": 4, "feed_forward_proj": "gated-gelu")";
  const ModelConfig v5 = ModelConfig::fromJson(std::string(base) +
                                                   R"(, "tie_word_embeddings": true, "scale_decoder_outputs": false})",
                                               "config.json");
  EXPECT_TRUE(v5.tieWordEmbeddings);
  EXPECT_FALSE(v5.scaleDecoderOutputs);
  EXPECT_NE(v5.toJson().find("\"scale_decoder_outputs\": false"), std::string::npos) << v5.toJson();
  const ModelConfig v4Untied = ModelConfig::fromJson(std::string(base) + R"(, "tie_word_embeddings": false})", "c");
  EXPECT_FALSE(v4Untied.scaleDecoderOutputs);
  const ModelConfig v4Tied = ModelConfig::fromJson(std::string(base) + "}", "c");
  EXPECT_TRUE(v4Tied.tieWordEmbeddings);
  EXPECT_TRUE(v4Tied.scaleDecoderOutputs);
  EXPECT_EQ(v4Tied.toJson().find("scale_decoder_outputs"), std::string::npos);
}
TEST(ModelConfig, Qwen2HasQkvBiasesOnly) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2})",
      "config.json");
  EXPECT_TRUE(c.attentionBias);
  EXPECT_TRUE(c.qkvBiasOnly);
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
}

TEST(ModelConfig, Gpt2AndT5Defaults) {
  const ModelConfig g = ModelConfig::fromJson(R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4})", "c");
  EXPECT_EQ(g.intermediateSize, 256); // n_inner null → 4·n_embd
  EXPECT_EQ(g.vocabSize, 50257);
  EXPECT_TRUE(g.tieWordEmbeddings);
  EXPECT_EQ(g.hiddenAct, "gelu_new");
  const ModelConfig t = ModelConfig::fromJson(
      R"({"model_type": "t5", "vocab_size": 100, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2,
          "num_heads": 4, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false})",
      "c");
  EXPECT_TRUE(t.gatedFeedForward);
  EXPECT_EQ(t.feedForwardAct, "gelu_new");
  EXPECT_EQ(t.numDecoderLayers, 2);
  EXPECT_FALSE(t.tieWordEmbeddings);
}

TEST(ModelConfig, ErrorsNameTheFileTheKeyAndWhatWasFound) {
  EXPECT_NE(errorOf("{not json").find("/models/x/config.json: invalid JSON at byte"), std::string::npos)
      << errorOf("{not json");
  EXPECT_NE(errorOf("[1, 2]").find("expected a JSON object, found array"), std::string::npos);
  const std::string missing = errorOf(R"({"model_type": "llama", "vocab_size": 100})");
  EXPECT_NE(missing.find("missing required key \"hidden_size\""), std::string::npos) << missing;
  const std::string wrongType = errorOf(
      R"({"model_type": "llama", "vocab_size": "100", "hidden_size": 64, "intermediate_size": 1,
          "num_hidden_layers": 1, "num_attention_heads": 1})");
  EXPECT_NE(wrongType.find("\"vocab_size\" must be an integer, found string \"100\""), std::string::npos) << wrongType;
  const std::string unsupported = errorOf(R"({"model_type": "mamba"})");
  EXPECT_NE(unsupported.find("model_type \"mamba\" is not supported"), std::string::npos) << unsupported;
  const std::string gqa = errorOf(
      R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 1,
          "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3})");
  EXPECT_NE(gqa.find("must be a multiple of num_key_value_heads (3)"), std::string::npos) << gqa;
}

TEST(ModelConfig, ToJsonRoundTrips) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "mistral", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 1e6})",
      "c");
  const ModelConfig back = ModelConfig::fromJson(c.toJson(), "round trip");
  EXPECT_EQ(back.modelType, "mistral");
  EXPECT_EQ(back.architecture, "MistralForCausalLM");
  EXPECT_EQ(back.numKvHeads, 2);
  EXPECT_EQ(back.ropeTheta, 1e6);
  EXPECT_EQ(back.intermediateSize, 128);
}
