#include "lorafa/FormatError.h"
#include "models/ModelConfig.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

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

// Checkpoints on the Hub keep transformers 4's keys: Gemma 3's sliding_window_pattern (every
// pattern-th layer global: layer i slides when (i + 1) % pattern != 0), rope_local_base_freq for the
// sliding layers, rope_theta + rope_scaling for the global ones (gemma-3-1b-it's config.json, 26 layers).
TEST(ModelConfig, Gemma3HubConfigWithTransformers4Keys) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 262144,
          "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4,
          "num_key_value_heads": 1, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
          "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
          "rope_theta": 1000000, "rope_scaling": {"rope_type": "linear", "factor": 8.0},
          "sliding_window": 512, "sliding_window_pattern": 6, "final_logit_softcapping": null,
          "attn_logit_softcapping": null, "max_position_embeddings": 32768})",
      "gemma-3-1b-it/config.json");
  EXPECT_EQ(c.family, ModelFamily::Llama);
  EXPECT_TRUE(c.gemmaNorms);
  EXPECT_TRUE(c.qkNorm);
  EXPECT_TRUE(c.tieWordEmbeddings); // Gemma's default
  EXPECT_EQ(c.hiddenAct, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(c.attentionScale, 1.0 / 16.0);
  EXPECT_FALSE(c.finalLogitSoftcap.has_value());
  EXPECT_EQ(c.slidingWindow, 512);
  ASSERT_EQ(c.slidingLayers.size(), 26u);
  for (std::size_t i = 0; i < 26; ++i) {
    EXPECT_EQ(c.slidingLayers[i], i != 5 && i != 11 && i != 17 && i != 23) << "layer " << i;
  }
  EXPECT_EQ(c.ropeTheta, 1000000.0);
  EXPECT_EQ(c.ropeScaling.type, "linear");
  EXPECT_EQ(c.ropeScaling.factor, 8.0);
  EXPECT_EQ(c.localRope.theta, 10000.0);
  EXPECT_EQ(c.localRope.scaling.type, "default");
}

// Phi-3-mini-128k's keys: "su" (LongRoPE's first name), original_max_position_embeddings at the top
// level, no attention_factor: sqrt(1 + ln(131072 / 4096) / ln(4096)) = sqrt(1 + 5/12).
TEST(ModelConfig, Phi3LongRopeFromTheHubLayout) {
  std::string shortFactors, longFactors;
  for (int i = 0; i < 48; ++i) {
    shortFactors += std::string(i ? ", " : "") + "1.0";
    longFactors += std::string(i ? ", " : "") + std::to_string(1.0 + i);
  }
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "phi3", "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
          "num_hidden_layers": 2, "num_attention_heads": 32, "max_position_embeddings": 131072,
          "original_max_position_embeddings": 4096, "sliding_window": 262144,
          "rope_scaling": {"type": "su", "short_factor": [)" + shortFactors + R"(], "long_factor": [)" +
          longFactors + "]}}",
      "Phi-3-mini-128k-instruct/config.json");
  EXPECT_TRUE(c.fusedProjections);
  EXPECT_EQ(c.architecture, "Phi3ForCausalLM");
  EXPECT_EQ(c.normEps, 1e-5); // Phi3Config's default
  EXPECT_EQ(c.ropeScaling.type, "longrope");
  EXPECT_EQ(c.ropeScaling.originalMaxPositions, 4096);
  EXPECT_NEAR(c.ropeScaling.attentionFactor, std::sqrt(1.0 + 5.0 / 12.0), 1e-12);
  EXPECT_EQ(c.ropeScaling.longFactor.at(47), 48.0);
  EXPECT_EQ(c.rotaryDim, 96);
  EXPECT_EQ(std::count(c.slidingLayers.begin(), c.slidingLayers.end(), true), 2); // every layer
}

TEST(ModelConfig, Phi4MiniPartialRotaryAndQwen3Classes) {
  const ModelConfig phi = ModelConfig::fromJson(
      R"({"model_type": "phi3", "vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 8192,
          "num_hidden_layers": 1, "num_attention_heads": 24, "num_key_value_heads": 8,
          "partial_rotary_factor": 0.75, "tie_word_embeddings": true})",
      "Phi-4-mini/config.json");
  EXPECT_EQ(phi.headDim, 128);
  EXPECT_EQ(phi.rotaryDim, 96);
  const ModelConfig qwen = ModelConfig::fromJson(
      R"({"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
          "num_hidden_layers": 2, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
          "use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 1})",
      "Qwen3-0.6B/config.json");
  EXPECT_TRUE(qwen.qkNorm);
  EXPECT_FALSE(qwen.attentionBias);
  EXPECT_EQ(qwen.slidingWindow, 0); // use_sliding_window false: the window is off
  EXPECT_EQ(qwen.asSequenceClassifier({"a", "b"}).architecture, "Qwen3ForSequenceClassification");
  const ModelConfig back = ModelConfig::fromJson(phi.toJson(), "round trip");
  EXPECT_EQ(back.rotaryDim, 96);
  EXPECT_TRUE(back.fusedProjections);
}

TEST(ModelConfig, NewFamiliesRejectWhatTheyCannotRunWithAClearMessage) {
  const std::string multimodal = errorOf(R"({"model_type": "gemma3", "text_config": {}})");
  EXPECT_NE(multimodal.find("image-and-text checkpoint"), std::string::npos) << multimodal;
  EXPECT_NE(multimodal.find("gemma3_text"), std::string::npos) << multimodal;
  const std::string gemma = R"({"model_type": "gemma3_text", "vocab_size": 10, "hidden_size": 64,
      "intermediate_size": 8, "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 16, )";
  const std::string softcap = errorOf(gemma + R"("attn_logit_softcapping": 50.0})");
  EXPECT_NE(softcap.find("attn_logit_softcapping is set"), std::string::npos) << softcap;
  const std::string types = errorOf(gemma + R"("layer_types": ["full_attention", "chunked_attention"]})");
  EXPECT_NE(types.find("layer_types[1] is \"chunked_attention\""), std::string::npos) << types;
  const std::string shortList = errorOf(
      R"({"model_type": "phi3", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
          "num_hidden_layers": 1, "num_attention_heads": 4,
          "rope_scaling": {"type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}})");
  EXPECT_NE(shortList.find("short_factor has 1 values; the rotary dimension 16 needs 8"), std::string::npos)
      << shortList;
  const std::string zeroCap = errorOf(gemma + R"("final_logit_softcapping": 0.0})");
  EXPECT_NE(zeroCap.find("final_logit_softcapping must be positive or null"), std::string::npos) << zeroCap;
  const std::string yarnLength = errorOf(
      R"({"model_type": "qwen3", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
          "num_hidden_layers": 1, "num_attention_heads": 4,
          "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 0}})");
  EXPECT_NE(yarnLength.find("original_max_position_embeddings must be positive, found 0"), std::string::npos)
      << yarnLength;
  // Qwen2-VL's multimodal RoPE.
  const std::string mrope = errorOf(
      R"({"model_type": "qwen2", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
          "num_hidden_layers": 1, "num_attention_heads": 4, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}})");
  EXPECT_NE(mrope.find("type \"mrope\" is not supported"), std::string::npos) << mrope;
}

// YaRN as Qwen3's model card sets it (transformers 4 layout): the attention factor is
// 0.1·ln(factor) + 1 when the config gives none.
TEST(ModelConfig, YarnAttentionFactorAndDefaults) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "qwen3", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 131072,
          "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})",
      "Qwen3-8B/config.json");
  EXPECT_EQ(c.ropeScaling.type, "yarn");
  EXPECT_NEAR(c.ropeScaling.attentionFactor, 0.1 * std::log(4.0) + 1.0, 1e-12);
  EXPECT_EQ(c.ropeScaling.betaFast, 32.0);
  EXPECT_EQ(c.ropeScaling.betaSlow, 1.0);
  EXPECT_EQ(c.ropeScaling.originalMaxPositions, 32768);
  // DeepSeek-style mscale / mscale_all_dim: the ratio of the two terms.
  const ModelConfig d = ModelConfig::fromJson(
      R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 1, "num_attention_heads": 4,
          "rope_scaling": {"rope_type": "yarn", "factor": 40.0, "mscale": 1.0, "mscale_all_dim": 0.5,
                           "original_max_position_embeddings": 4096}})",
      "c");
  EXPECT_NEAR(d.ropeScaling.attentionFactor, (0.1 * std::log(40.0) + 1.0) / (0.05 * std::log(40.0) + 1.0), 1e-12);
}

// SmolLM3: without no_rope_layers, every no_rope_layer_interval-th layer (default 4) has no RoPE;
// with use_sliding_window, exactly those layers slide.
TEST(ModelConfig, SmolLM3NoRopeLayersAndTheirWindows) {
  const ModelConfig c = ModelConfig::fromJson(
      R"({"model_type": "smollm3", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 8, "num_attention_heads": 4, "use_sliding_window": true, "sliding_window": 16})",
      "SmolLM3-3B/config.json");
  ASSERT_EQ(c.ropeLayers.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(c.ropeLayers[i], i != 3 && i != 7) << i;
    EXPECT_EQ(c.slidingLayers[i], i == 3 || i == 7) << i;
  }
  EXPECT_EQ(c.architecture, "SmolLM3ForCausalLM");
  const std::string bad = errorOf(
      R"({"model_type": "smollm3", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "no_rope_layers": [1, 2]})");
  EXPECT_NE(bad.find("no_rope_layers[1] must be 0 or 1, found 2"), std::string::npos) << bad;
  const ModelConfig back = ModelConfig::fromJson(c.toJson(), "round trip");
  EXPECT_EQ(back.ropeLayers, c.ropeLayers);
  EXPECT_EQ(back.slidingLayers, c.slidingLayers);
}
