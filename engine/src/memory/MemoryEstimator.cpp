// The memory planner: what one training step keeps, counted from the model's shape the way the
// engine's own modules keep it (see each term's comment), so that a prediction can be checked
// against the tracking allocator byte for byte on the CPU.
#include "lorafa/MemoryEstimate.h"

#include "adapters/AdapterInjector.h"
#include "lorafa/CpuMemoryTracker.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

// Which attention models/Attention.cpp runs, so that it is counted as it keeps memory: the fused
// scaled_dot_product_attention from LibTorch 2.1 on (its grouped-query form from 2.5 on), the
// engine's chunked memory-efficient attention before (1.13).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define LORAFA_PLAN_FUSED_ATTENTION 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define LORAFA_PLAN_GROUPED_ATTENTION 1
#endif

namespace lorafa {
namespace {

constexpr std::int64_t kFloatBytes = 4;
/// The engine's chunk sizes (models/Attention.cpp, memory/ChunkedCrossEntropy.cpp).
constexpr std::int64_t kAttentionChunkElements = std::int64_t{1} << 23;
constexpr std::int64_t kLossChunkElements = std::int64_t{1} << 23;

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Which activation a linear's input is, so that linears reading the same tensor count it once:
/// a tag per family ("attn_in": the normed input of q/k/v, ...), the width of that input, and
/// whether it lives on the encoder's tokens (T5's cross-attention keys and values).
struct InputKind {
  std::string tag;
  bool encoderTokens = false;
  bool perModel = false;      ///< one tensor for all layers (T5's encoder output)
  bool alreadySaved = false;  ///< the frozen path keeps it anyway (T5 v1.0's relu output)
};

InputKind inputKind(const ModelConfig& c, const std::string& name) {
  auto leaf = [&](const std::string& suffix) { return endsWith(name, suffix); };
  switch (c.family) {
  case ModelFamily::Llama:
    if (leaf("q_proj") || leaf("k_proj") || leaf("v_proj") || leaf("qkv_proj")) return {"attn_in"};
    if (leaf("o_proj")) return {"o_in"};
    if (leaf("gate_proj") || leaf("up_proj") || leaf("gate_up_proj")) return {"mlp_in"};
    return {"down_in"};
  case ModelFamily::Gpt2:
    if (leaf("attn.c_attn")) return {"attn_in"};
    if (leaf("attn.c_proj")) return {"o_in"};
    if (leaf("mlp.c_fc")) return {"mlp_in"};
    return {"down_in"};
  case ModelFamily::Bert:
  case ModelFamily::Roberta:
    if (leaf("self.query") || leaf("self.key") || leaf("self.value")) return {"attn_in"};
    if (leaf("attention.output.dense")) return {"o_in"};
    if (leaf("intermediate.dense")) return {"mlp_in"};
    return {"down_in"};
  case ModelFamily::T5:
    if (name.find("EncDecAttention") != std::string::npos) {
      if (leaf(".q")) return {"cross_q_in"};
      if (leaf(".o")) return {"cross_o_in"};
      return {"encoder_out", true, true}; // k and v read the encoder output, once for all layers
    }
    if (leaf(".q") || leaf(".k") || leaf(".v")) return {"attn_in"};
    if (leaf(".o")) return {"o_in"};
    if (leaf(".wi") || leaf(".wi_0") || leaf(".wi_1")) return {"mlp_in"};
    return {"down_in", false, false, !c.gatedFeedForward}; // relu keeps its output, wo's input
  }
  return {"other"};
}

/// "model.layers.3.mlp.down_proj" → "model.layers.3."; the part naming one block.
std::string blockPrefix(const std::string& name) {
  for (const char* marker : {".layers.", ".h.", ".layer.", ".block."}) {
    const std::size_t at = name.find(marker);
    if (at == std::string::npos) continue;
    const std::size_t start = at + std::string(marker).size();
    const std::size_t end = name.find('.', start);
    return name.substr(0, end == std::string::npos ? name.size() : end + 1);
  }
  return "";
}

bool isEncoderName(const ModelConfig& c, const std::string& name) {
  return c.family == ModelFamily::T5 && name.rfind("encoder.", 0) == 0;
}

/// How attention runs (models/Attention.cpp), and so what it keeps.
struct AttentionPath {
  bool fused = false;    ///< at::scaled_dot_product_attention; otherwise the chunked memory-efficient path
  bool repeatKv = false; ///< grouped-query k and v repeated to every query head before the call
};

struct Shape {
  std::int64_t batch, length, encoderLength;
  std::int64_t tokens() const { return batch * length; }
  std::int64_t encoderTokens() const { return batch * encoderLength; }
};

/// The activations the frozen model keeps for backward per token of one block, in bytes, by kind.
/// `act` is the bytes of one activation element (4 in fp32, 2 under bf16/fp16 autocast); norms
/// keep float32 whatever the autocast (they compute in float32).
/// `post` receives the share of one block that its backward frees before it reaches attention
/// (everything after attention: the MLP and, pre-norm, the second norm). `maskPerToken`: a mask
/// each layer keeps for itself (bytes per token), besides the one the layers share.
void frozenBlockActivations(const ModelConfig& c, std::int64_t act, std::map<std::string, double>& perToken,
                            bool decoderOfT5, double& post, bool recomputeMlp, const AttentionPath& path,
                            double maskPerToken) {
  const double h = static_cast<double>(c.hiddenSize), i = static_cast<double>(c.intermediateSize);
  const double heads = static_cast<double>(c.numHeads);
  const double kv = path.repeatKv ? heads : static_cast<double>(std::max<std::int64_t>(c.numKvHeads, 1));
  const double d = static_cast<double>(c.headDim);
  const double rms = kFloatBytes * h + kFloatBytes;       // RMSNorm: its float32 input and 1/rms
  const double layerNorm = kFloatBytes * h + 2.0 * kFloatBytes; // LayerNorm: input, mean, rstd
  const double lse = kFloatBytes * heads;                  // either path: one float per query row and head
  // The fused kernel keeps its output too (its backward reads rowsum(dO∘O) from it, where the
  // chunked path recomputes it): measured, one [tokens, heads·head_dim] per layer more for LoRA-FA.
  // That output is the output projection's input, which LoRA and full fine-tuning keep anyway.
  const double out = path.fused ? act * heads * d : 0.0;
  perToken["attention"] += maskPerToken;
  switch (c.family) {
  case ModelFamily::Llama:
    perToken["norms"] += 2 * rms;
    // Gemma: two more norms (after attention, after the MLP); Qwen3 and Gemma: q/k norms per head.
    if (c.gemmaNorms) perToken["norms"] += 2 * rms;
    if (c.qkNorm) perToken["norms"] += kFloatBytes * (heads + kv) * (d + 1);
    perToken["attention"] += act * (heads * d + 2 * kv * d) + lse + out; // q, k (after RoPE), v
    // SwiGLU keeps gate and up; with train.recompute_mlp the MLP keeps its (normed) input only.
    perToken["mlp"] += recomputeMlp ? act * h : act * 2 * i;
    post = rms + (recomputeMlp ? act * h : act * 2 * i);
    break;
  case ModelFamily::Gpt2:
    perToken["norms"] += 2 * layerNorm;
    perToken["attention"] += act * 3 * h + lse + out; // q, k, v: views of c_attn's output
    perToken["mlp"] += act * i;                 // GELU keeps its input
    post = layerNorm + act * i;
    break;
  case ModelFamily::Bert:
  case ModelFamily::Roberta:
    perToken["norms"] += 2 * layerNorm;
    perToken["attention"] += act * 3 * heads * d + lse + out;
    perToken["mlp"] += act * i;
    post = 2 * layerNorm + act * i;
    break;
  case ModelFamily::T5: {
    const double inner = heads * d;
    perToken["norms"] += (decoderOfT5 ? 3 : 2) * rms;
    perToken["attention"] += act * 3 * inner + lse + out;
    if (decoderOfT5) perToken["attention"] += act * inner + lse + out; // cross-attention's q (k, v: per encoder token)
    perToken["mlp"] += act * (c.gatedFeedForward ? 3 * i : i);  // gelu input, its output and wi_1's; relu: output
    post = rms + act * (c.gatedFeedForward ? 3 * i : i);
    break;
  }
  }
}

} // namespace

MemoryPlan MemoryPlan::fromRunConfig(const RunConfig& config, const std::string& device) {
  MemoryPlan plan;
  plan.modelConfigJson = readFile((std::filesystem::path(config.modelPath) / "config.json").string());
  plan.method = config.adapter.method;
  plan.rank = config.adapter.rank;
  plan.targets = config.targets;
  plan.batchSize = config.train.batchSize;
  plan.sequenceLength = config.train.maxSeqLen;
  plan.precision = config.train.precision;
  plan.gradientCheckpointing = config.train.gradientCheckpointing;
  plan.recomputeMlp = config.train.recomputeMlp;
  plan.device = device;
  return plan;
}

MemoryEstimate estimateMemory(const MemoryPlan& plan) {
  if (plan.batchSize <= 0 || plan.sequenceLength <= 0) {
    throw std::invalid_argument("memory estimate: batch size and sequence length must be positive");
  }
  const ModelConfig c = ModelConfig::fromJson(plan.modelConfigJson, "config.json");
  const bool cuda = plan.device.rfind("cuda", 0) == 0;
  const bool lowPrecision = plan.precision != Precision::Fp32;
  const std::int64_t act = lowPrecision ? 2 : kFloatBytes;
  const bool classifier = c.isSequenceClassifier();
  const Shape shape{plan.batchSize, plan.sequenceLength, plan.sequenceLength};
  const TrainMethod method = plan.method;
  const bool adapters = method == TrainMethod::Lora || method == TrainMethod::LoraFa;
  // train.recompute_mlp applies to gated (SwiGLU) MLPs, and not under block checkpointing (a
  // checkpointed block keeps its input only already).
  const bool recomputeMlp = plan.recomputeMlp && c.family == ModelFamily::Llama && !plan.gradientCheckpointing;
  AttentionPath path;
#ifdef LORAFA_PLAN_FUSED_ATTENTION
  path.fused = true;
#ifdef LORAFA_PLAN_GROUPED_ATTENTION
  path.repeatKv = cuda; // the CPU kernel takes grouped heads; CUDA's kernels that take a mask do not
#else
  path.repeatKv = true;
#endif
#endif
  // Under bf16/fp16 the residual stream is in the low dtype when the embeddings are frozen (stored
  // low, Trainer::setup), float32 when they train (full fine-tuning); so is the attention mask.
  const std::int64_t residualBytes = lowPrecision && method != TrainMethod::Full ? act : kFloatBytes;

  MemoryEstimate e;
  e.method = method;
  e.device = cuda ? "cuda" : "cpu";
  e.batchSize = plan.batchSize;
  e.sequenceLength = plan.sequenceLength;
  e.rank = adapters ? plan.rank : 0;
  e.gradientCheckpointing = plan.gradientCheckpointing;

  // Parameters, from the module tree on the meta device (no storage).
  const auto model = createModel(c, c10::TensorOptions().dtype(at::kFloat).device(c10::kMeta));
  std::int64_t parameters = 0, largestParameter = 0;
  for (const auto& p : model->parameters()) {
    parameters += p.numel();
    largestParameter = std::max<std::int64_t>(largestParameter, p.numel());
  }
  const std::vector<LinearModuleInfo> linears = describeLinears(*model);
  std::set<std::string> adapted;
  if (adapters) {
    const auto matched = matchTargets(TargetSpec::parse(plan.targets), linears);
    adapted.insert(matched.begin(), matched.end());
  }
  std::int64_t headParameters = 0; // classifier heads train in full next to adapters
  for (const auto& item : model->named_parameters()) {
    for (const std::string& head : model->trainedHeadModules()) {
      if (item.key().rfind(head + ".", 0) == 0) headParameters += item.value().numel();
    }
  }
  std::int64_t adapterParameters = 0, trainable = 0;
  for (const LinearModuleInfo& l : linears) {
    if (adapted.count(l.name) == 0) continue;
    adapterParameters += static_cast<std::int64_t>(plan.rank) * (l.inFeatures + l.outFeatures);
    trainable += method == TrainMethod::Lora ? plan.rank * (l.inFeatures + l.outFeatures) : plan.rank * l.outFeatures;
  }
  if (method == TrainMethod::Full) trainable = parameters;
  if (adapters) trainable += headParameters;
  e.parameterCount = parameters + adapterParameters;
  e.trainableParameterCount = trainable;
  // Trainable parameters are float32; under bf16/fp16 the trainer stores the frozen ones in the
  // low dtype (Trainer::setup), so LoRA and LoRA-FA halve the base model's bytes.
  e.weights = trainable * kFloatBytes + (e.parameterCount - trainable) * (lowPrecision ? 2 : kFloatBytes);
  e.trainableParameters = trainable * kFloatBytes;
  e.gradients = trainable * kFloatBytes;
  e.optimizerState = 2 * trainable * kFloatBytes;

  // Saved activations, per token of each block.
  std::map<std::string, double> perTokenEncoder, perTokenDecoder; // T5 splits them; others use Decoder
  const bool t5 = c.family == ModelFamily::T5;
  const std::int64_t decoderLayers = t5 ? c.numDecoderLayers : c.numLayers;
  std::map<std::string, double> perBlockDecoder, perBlockEncoder;
  double postPerToken = 0.0, unusedPost = 0.0;
  // A float32 mask meeting low-precision q, k and v (full fine-tuning under bf16/fp16): autocast
  // casts it in each layer's fused call, which keeps that copy; the float32 one is freed with the
  // forward, unless checkpointing keeps it for the recomputation.
  const bool perLayerMask = path.fused && lowPrecision && residualBytes != act && !t5;
  const double maskPerToken = perLayerMask ? static_cast<double>(act * shape.length) : 0.0;
  frozenBlockActivations(c, act, perBlockDecoder, t5, postPerToken, recomputeMlp, path, maskPerToken);
  if (t5) frozenBlockActivations(c, act, perBlockEncoder, false, unusedPost, false, path, 0.0);
  const std::int64_t decoderTokens = shape.tokens(), encoderTokens = shape.encoderTokens();
  std::map<std::string, std::int64_t> byKind;
  for (const auto& [kind, bytes] : perBlockDecoder) {
    byKind[kind] += static_cast<std::int64_t>(bytes * static_cast<double>(decoderTokens * decoderLayers));
  }
  for (const auto& [kind, bytes] : perBlockEncoder) {
    byKind[kind] += static_cast<std::int64_t>(bytes * static_cast<double>(encoderTokens * c.numLayers));
  }
  // The decoder's final norm keeps its input until its backward, which runs before the last
  // block's: freed at the moments of backward below.
  std::int64_t finalNormSaved = 0;
  if (t5) {
    finalNormSaved = (kFloatBytes * c.hiddenSize + kFloatBytes) * shape.tokens();
    // Cross-attention keys and values live on the encoder's tokens; the shared position bias
    // plus mask [B, H, T, T] of each stack (float32) and the cross mask [B, 1, T, Te].
    byKind["attention"] += decoderLayers * encoderTokens * 2 * c.numHeads * c.headDim * act;
    byKind["attention"] += kFloatBytes * shape.batch * c.numHeads * shape.length * shape.length * 2 +
                           kFloatBytes * shape.batch * shape.length * shape.encoderLength;
    byKind["norms"] += 2 * (kFloatBytes * c.hiddenSize + kFloatBytes) * shape.tokens(); // final norms
  } else {
    // The additive mask [B, 1, T, T] (one for all layers, in the residual stream's dtype) and the
    // final norm.
    if (!perLayerMask || plan.gradientCheckpointing) {
      byKind["attention"] += residualBytes * shape.batch * shape.length * shape.length;
    }
    const std::int64_t finalNorm = c.family == ModelFamily::Llama ? kFloatBytes * c.hiddenSize + kFloatBytes
                                                                  : kFloatBytes * c.hiddenSize + 2 * kFloatBytes;
    byKind["norms"] += finalNorm * decoderTokens;
    finalNormSaved = finalNorm * decoderTokens;
    // The first block's first norm reads the embeddings: when they are frozen (every method but
    // full fine-tuning) its input needs no gradient and the norm keeps nothing.
    if (method != TrainMethod::Full && (c.family == ModelFamily::Llama || c.family == ModelFamily::Gpt2)) {
      byKind["norms"] -= finalNorm * decoderTokens;
    }
    if (c.family == ModelFamily::Bert || c.family == ModelFamily::Roberta) {
      byKind["norms"] += (kFloatBytes * c.hiddenSize + 2 * kFloatBytes) * decoderTokens; // embeddings' LayerNorm
    }
  }
  // What adapters and trained weights add: each trained linear keeps its input (shared inputs
  // once); LoRA and LoRA-FA keep x·Aᵀ [tokens, r] per adapted linear (LoRA-FA nothing else).
  std::set<std::string> keptInputs;
  std::int64_t adapterBytes = 0, inputBytes = 0;
  // Per decoder block: what it keeps in all, and after its attention (freed first in backward).
  std::map<std::string, std::int64_t> blockExtra, blockPostExtra;
  // The input of a block's MLP down-projection, when it is kept for the weight's or A's gradient:
  // freed by that projection's backward, before the activation's backward (the MLP's peak).
  std::int64_t downInput = 0;
  for (const LinearModuleInfo& l : linears) {
    if (l.isOutputHead) continue; // the loss handles the head
    const bool isAdapted = adapted.count(l.name) > 0;
    const bool keepsInput = method == TrainMethod::Full || (method == TrainMethod::Lora && isAdapted);
    const bool encoder = isEncoderName(c, l.name);
    const std::int64_t tokens = encoder ? encoderTokens : decoderTokens;
    if (blockPrefix(l.name).empty()) continue; // classifier heads: [B, hidden] inputs, negligible
    const InputKind kind = inputKind(c, l.name);
    const std::string block = blockPrefix(l.name);
    const bool postAttention = kind.tag != "attn_in";
    // Recomputed gate and up keep nothing outside their checkpoint (its input is counted as "mlp").
    if (recomputeMlp && kind.tag == "mlp_in") continue;
    if (isAdapted) {
      adapterBytes += tokens * plan.rank * act;
      if (!encoder) blockExtra[block] += tokens * plan.rank * act;
      if (!encoder && postAttention) blockPostExtra[block] += tokens * plan.rank * act;
    }
    if (!keepsInput || kind.alreadySaved) continue;
    // The output projection reads the fused attention's output, which attention keeps already.
    if (path.fused && (kind.tag == "o_in" || kind.tag == "cross_o_in")) continue;
    // Under autocast a trained fp32 linear casts its input itself: linears reading one tensor
    // (q, k, v; gate, up) each keep their own bf16 copy, where fp32 shares one.
    const bool ownCopy = lowPrecision && method == TrainMethod::Full;
    const std::string key = (kind.perModel ? std::string("model.") : block) + kind.tag + (ownCopy ? l.name : "");
    if (!keptInputs.insert(key).second) continue;
    const std::int64_t bytes = (kind.encoderTokens ? encoderTokens : tokens) * l.inFeatures * act;
    inputBytes += bytes;
    if (!encoder && !kind.perModel) blockExtra[block] += bytes;
    if (!encoder && !kind.perModel && postAttention) blockPostExtra[block] += bytes;
    if (!encoder && kind.tag == "down_in") downInput = std::max(downInput, bytes);
  }
  std::int64_t fullNormPerBlock = 0;
  if (method == TrainMethod::Full && (c.family == ModelFamily::Llama || t5)) {
    // Trainable RMSNorm weights keep the normalised input (LayerNorm's backward needs nothing more).
    // Norms compute in float32 whatever the autocast.
    // Gemma has four norms per block; Qwen3 and Gemma also norm q and k per head.
    const std::int64_t normedPerToken = (c.gemmaNorms ? 4 : 2) * c.hiddenSize +
                                        (c.qkNorm ? (c.numHeads + c.numKvHeads) * c.headDim : 0);
    fullNormPerBlock = normedPerToken * kFloatBytes * decoderTokens;
    byKind["norms"] += kFloatBytes * (normedPerToken * decoderTokens * decoderLayers +
                                      (t5 ? 2 * c.hiddenSize * encoderTokens * c.numLayers : 0));
  }
  if (adapterBytes > 0) byKind["adapters (x·Aᵀ)"] += adapterBytes;
  if (lowPrecision) {
    // Autocast's low-precision copy of each trained fp32 weight a matmul reads, kept for its
    // backward until that layer's backward has run: every linear (the head included) in full
    // fine-tuning, the adapters' matrices otherwise.
    std::int64_t copied = 0;
    if (method == TrainMethod::Full) {
      for (const LinearModuleInfo& l : linears) copied += l.inFeatures * l.outFeatures;
      bool untiedHead = false;
      for (const LinearModuleInfo& l : linears) untiedHead = untiedHead || l.isOutputHead;
      if (!untiedHead && !classifier) copied += c.vocabSize * c.hiddenSize;
    } else {
      copied = adapterParameters;
    }
    byKind["autocast weight copies"] += copied * act;
  }
  if (inputBytes > 0) byKind["trained linears' inputs"] += inputBytes;

  // Loss: causal LMs and T5 keep the final hidden states and one float per counted token; the
  // logits exist one chunk at a time (plus dHidden when backward starts).
  std::int64_t lossWorkspace = 0;
  // The final hidden states: Llama's RMSNorm returns them in the residual stream's dtype.
  const std::int64_t lossHiddenBytes = c.family == ModelFamily::Llama ? residualBytes : kFloatBytes;
  if (!classifier) {
    const std::int64_t vocab = c.vocabSize;
    // A causal LM's last position predicts nothing: B·(T − 1) rows are counted.
    const std::int64_t counted = t5 ? decoderTokens : shape.batch * std::max<std::int64_t>(shape.length - 1, 1);
    const std::int64_t rows = std::min<std::int64_t>(counted, std::max<std::int64_t>(1, kLossChunkElements / vocab));
    byKind["loss"] += decoderTokens * (c.hiddenSize * lossHiddenBytes + kFloatBytes + 2 * 8);
    // Forward: a chunk of float32 logits and logsumexp's shifted copy (the chunk's hidden rows are
    // freed by then). Backward: dHidden, one chunk of float32 probabilities, the chunk's hidden
    // rows and their gradient; under bf16/fp16 the probabilities' low-precision copy and the
    // head's; for a trained head its float32 gradient and one product of that size.
    const std::int64_t chunkLogits = rows * vocab * kFloatBytes, chunkHidden = rows * c.hiddenSize * act;
    const std::int64_t lossForward = 2 * chunkLogits;
    const std::int64_t lossBackward =
        decoderTokens * c.hiddenSize * lossHiddenBytes + chunkLogits + 2 * chunkHidden +
        (lowPrecision ? rows * vocab * act + c.vocabSize * c.hiddenSize * act : 0) +
        (method == TrainMethod::Full ? c.vocabSize * c.hiddenSize * (kFloatBytes + act) : 0);
    lossWorkspace = std::max(lossForward, lossBackward);
  }

  // The last decoder block: all it keeps, and its post-attention share (what its backward frees
  // before attention's backward runs).
  std::int64_t lastBlock = 0, lastPost = 0;
  {
    double frozen = 0.0;
    for (const auto& [kind, bytes] : perBlockDecoder) frozen += bytes;
    std::int64_t extra = 0, postExtra = 0;
    for (const auto& [block, bytes] : blockExtra) extra = std::max(extra, bytes);
    for (const auto& [block, bytes] : blockPostExtra) postExtra = std::max(postExtra, bytes);
    lastBlock = static_cast<std::int64_t>(frozen * static_cast<double>(decoderTokens)) + extra + fullNormPerBlock;
    lastPost = static_cast<std::int64_t>(postPerToken * static_cast<double>(decoderTokens)) + postExtra +
               fullNormPerBlock / 2;
  }
  const std::int64_t lossSaved = byKind.count("loss") ? byKind["loss"] : 0;
  // Gradient checkpointing: each block keeps its input only; the last block is recomputed first.
  std::int64_t recomputed = 0;
  if (plan.gradientCheckpointing) {
    const std::int64_t blocks = decoderLayers + (t5 ? c.numLayers : 0);
    std::map<std::string, std::int64_t> checkpointed;
    checkpointed["block inputs (checkpointing)"] = blocks * decoderTokens * c.hiddenSize * kFloatBytes;
    checkpointed["attention"] = byKind["attention"] -
        static_cast<std::int64_t>(perBlockDecoder["attention"] * static_cast<double>(decoderTokens * decoderLayers)) -
        static_cast<std::int64_t>(perBlockEncoder["attention"] * static_cast<double>(encoderTokens * c.numLayers));
    checkpointed["norms"] = (t5 ? 2 : 1) * (kFloatBytes * c.hiddenSize + 2 * kFloatBytes) * decoderTokens; // final norm
    if (lossSaved > 0) checkpointed["loss"] = lossSaved;
    byKind = checkpointed;
    recomputed = lastBlock; // exists only while backward runs through that block
    // Pre-norm blocks: the first norm's input is the block's input, counted above already.
    if (c.family == ModelFamily::Llama || c.family == ModelFamily::Gpt2) {
      recomputed -= decoderTokens * c.hiddenSize * kFloatBytes;
    }
  }
  for (const auto& [kind, bytes] : byKind) {
    e.activations.push_back({kind, bytes});
    e.savedActivations += bytes;
  }

  // Transients at the peak of backward. Attention (chunked path): one chunk of recomputed
  // probabilities, dS and its cast, plus dQ, dK and dV of one layer. MLP: the gradients of one
  // block's MLP.
  const std::int64_t attnHeads = c.numHeads, keyLength = shape.length;
  const std::int64_t rowsPerChunk =
      std::clamp<std::int64_t>(kAttentionChunkElements / std::max<std::int64_t>(shape.batch * attnHeads * keyLength, 1),
                               1, shape.length);
  const std::int64_t chunkBytes = shape.batch * attnHeads * rowsPerChunk * keyLength * kFloatBytes;
  // dQ in the compute dtype; dK and dV accumulate in float32 (and are cast at the end).
  const std::int64_t qkvGradients =
      decoderTokens * (c.numHeads * c.headDim * (kFloatBytes + act) +
                       2 * std::max<std::int64_t>(c.numKvHeads, 1) * c.headDim * kFloatBytes);
  // [tokens, hidden]-sized gradients alive meanwhile: the block output's, dO (and its reshaped
  // copy), and under checkpointing the recomputed block's output.
  const std::int64_t hiddenSized = decoderTokens * c.hiddenSize * kFloatBytes;
  // The residual stream's gradient is float32; dO and its reshaped copy are in the compute dtype.
  const std::int64_t hiddenActSized = decoderTokens * c.hiddenSize * act;
  e.attentionWorkspace =
      3 * chunkBytes + qkvGradients + (plan.gradientCheckpointing ? 2 : 1) * hiddenSized + 2 * hiddenActSized;
  if (path.fused) {
    // The fused kernel's backward (measured on the CPU) makes dQ, dK and dV in the compute dtype
    // and, per thread, two blocks of scores [query rows, key rows] in float32 (and their
    // low-precision copies): no [T, T] chunk. It reads dO in place, without a reshaped copy.
    const std::int64_t kvKept = path.repeatKv ? c.numHeads : std::max<std::int64_t>(c.numKvHeads, 1);
    const std::int64_t fusedGradients = decoderTokens * c.headDim * (c.numHeads + 2 * kvKept) * act;
    const std::int64_t queryBlock =
        std::min<std::int64_t>(shape.length, shape.length >= 768 ? 256 : shape.length >= 192 ? 64 : 32);
    const std::int64_t keyBlock = std::min<std::int64_t>(shape.length, 512);
    const std::int64_t threads = cuda ? 0 : at::get_num_threads(); // CUDA's blocks are on-chip
    const std::int64_t blocks = threads * 2 * queryBlock * keyBlock * (kFloatBytes + (lowPrecision ? act : 0));
    e.attentionWorkspace =
        blocks + fusedGradients + (plan.gradientCheckpointing ? 2 : 1) * hiddenSized + hiddenActSized;
  }
  // The MLP's backward: SwiGLU / gated makes dGate, dUp, σ(gate) and its derivative next to the
  // incoming gradient; a plain activation the gradient and the activation's derivative. Llama's
  // SiLU node (memory/GatedActivation.cpp) holds five at its peak, measured with
  // LORAFA_TRACE_BYTES_AT: the incoming gradient, σ, dUp, the derivative and (1 − σ).
  const bool gated = c.family == ModelFamily::Llama || (t5 && c.gatedFeedForward);
  const std::int64_t gatedTransients = c.family == ModelFamily::Llama ? 5 : 4;
  // train.recompute_mlp adds the recomputed gate, up and their product ([tokens, intermediate] each).
  // [tokens, hidden]: the block output's gradient, and under checkpointing the recomputed output.
  // A LoRA down-projection makes its input's gradient as two products, through W and through B·A,
  // which autograd then adds: three [tokens, intermediate] at once (measured), one more than a
  // plain activation's backward holds (the gated node's five stay the larger).
  bool loraDown = false;
  for (const LinearModuleInfo& l : linears) {
    loraDown = loraDown ||
               (method == TrainMethod::Lora && adapted.count(l.name) > 0 && inputKind(c, l.name).tag == "down_in");
  }
  const std::int64_t plainTransients = loraDown ? 3 : 2;
  const std::int64_t mlpGradients =
      decoderTokens * c.intermediateSize * act *
          ((gated ? gatedTransients : plainTransients) + (recomputeMlp ? 3 : 0)) +
      (plan.gradientCheckpointing ? 2 : 1) * hiddenSized;
  e.backwardWorkspace = mlpGradients;
  e.logitsAndLoss = lossWorkspace;

  // The peak: weights and optimizer state always; then the largest of three moments of backward —
  // the loss (every saved activation plus the loss's chunks), the last block's MLP (the loss's
  // hidden states freed, its gradients made), the last block's attention (its post-attention
  // share freed, the attention chunks made) — and the optimizer step (gradients, plus AdamW's
  // temporaries for its largest parameter).
  const std::int64_t all = e.savedActivations;
  const std::int64_t atLoss = all + lossWorkspace;
  // Once the loss's backward has run, its per-token floats are freed but not the final hidden
  // states: the trainer (and the bench) hold the model's output until backward returns. The final
  // norm's input is freed too.
  const std::int64_t lossHidden = lossSaved > 0 ? decoderTokens * c.hiddenSize * lossHiddenBytes : 0;
  const std::int64_t freedAfterLoss = lossSaved - lossHidden + finalNormSaved;
  const std::int64_t atMlp = all - freedAfterLoss - downInput + recomputed + mlpGradients;
  const std::int64_t atAttention = all - freedAfterLoss + recomputed - lastPost + e.attentionWorkspace;
  // The end of backward (the first block): every gradient made, the first block's activations
  // (or its recomputation) and what the model keeps outside the blocks.
  // Under checkpointing the later blocks' inputs are freed by then: the first block's is left.
  const std::int64_t outsideBlocks =
      plan.gradientCheckpointing
          ? all - freedAfterLoss - (decoderLayers - 1) * decoderTokens * c.hiddenSize * kFloatBytes
          : all - freedAfterLoss - decoderLayers * lastBlock;
  // Full fine-tuning: weight gradients pile up as backward goes. At the last block: the head's and
  // that block's; at the first block: all but that block's and the embeddings'.
  std::int64_t headGradient = 0, blockGradient = 0, embeddingGradient = 0;
  if (method == TrainMethod::Full) {
    const std::int64_t blocks = decoderLayers + (t5 ? c.numLayers : 0);
    std::int64_t outside = 0;
    for (const auto& item : model->named_parameters()) {
      if (blockPrefix(item.key()).empty()) outside += item.value().numel();
    }
    for (const LinearModuleInfo& l : linears) {
      if (l.isOutputHead) headGradient = l.inFeatures * l.outFeatures * kFloatBytes;
    }
    if (headGradient == 0) headGradient = c.vocabSize * c.hiddenSize * kFloatBytes; // tied: the embeddings'
    blockGradient = (parameters - outside) * kFloatBytes / std::max<std::int64_t>(blocks, 1);
    embeddingGradient = outside * kFloatBytes - headGradient;
  }
  const std::int64_t atEnd = e.gradients - blockGradient - std::max<std::int64_t>(embeddingGradient, 0) +
                             std::max<std::int64_t>(outsideBlocks, 0) + (plan.gradientCheckpointing ? recomputed : lastBlock) -
                             downInput + mlpGradients;
  const std::int64_t backwardPeak =
      std::max({atLoss + (adapters ? e.gradients : 0),
                atMlp + (adapters ? e.gradients : headGradient + blockGradient),
                atAttention + (adapters ? e.gradients : headGradient + blockGradient), atEnd});
  const std::int64_t stepPeak =
      e.gradients + 2 * std::min<std::int64_t>(method == TrainMethod::Full ? largestParameter : trainable, trainable) *
                        kFloatBytes;
  e.peak = e.weights + e.optimizerState + std::max(backwardPeak, stepPeak);
  if (cuda) {
    e.allocatorOverhead = e.peak / 20; // the caching allocator's block rounding and fragmentation, ≈5%
    e.peak += e.allocatorOverhead;
  }
  return e;
}

std::optional<std::int64_t> largestThatFits(const MemoryPlan& plan, MemoryKnob knob, std::int64_t capacityBytes,
                                            std::int64_t upper) {
  auto fits = [&](std::int64_t value) {
    MemoryPlan p = plan;
    if (knob == MemoryKnob::BatchSize) p.batchSize = value;
    if (knob == MemoryKnob::SequenceLength) p.sequenceLength = value;
    if (knob == MemoryKnob::Rank) p.rank = static_cast<int>(value);
    return estimateMemory(p).peak <= capacityBytes;
  };
  if (!fits(1)) return std::nullopt;
  std::int64_t low = 1, high = std::max<std::int64_t>(upper, 1);
  if (fits(high)) return high;
  while (high - low > 1) { // fits(low), !fits(high); the peak grows with each knob
    const std::int64_t mid = low + (high - low) / 2;
    (fits(mid) ? low : high) = mid;
  }
  return low;
}

std::string formatMemoryTable(const std::vector<MemoryEstimate>& estimates, std::int64_t capacityBytes) {
  std::ostringstream out;
  char cell[64];
  auto row = [&](const std::string& name, const std::function<std::int64_t(const MemoryEstimate&)>& value) {
    std::snprintf(cell, sizeof cell, "%-32s", name.c_str());
    out << cell;
    for (const MemoryEstimate& e : estimates) {
      std::snprintf(cell, sizeof cell, " %14s", formatBytes(value(e)).c_str());
      out << cell;
    }
    out << "\n";
  };
  std::snprintf(cell, sizeof cell, "%-32s", "");
  out << cell;
  for (const MemoryEstimate& e : estimates) {
    std::snprintf(cell, sizeof cell, " %14s", toString(e.method));
    out << cell;
  }
  out << "\n";
  row("weights", [](const MemoryEstimate& e) { return e.weights; });
  row("  of which trainable", [](const MemoryEstimate& e) { return e.trainableParameters; });
  row("gradients", [](const MemoryEstimate& e) { return e.gradients; });
  row("optimizer state (AdamW)", [](const MemoryEstimate& e) { return e.optimizerState; });
  std::vector<std::string> kinds;
  for (const MemoryEstimate& e : estimates) {
    for (const MemoryItem& item : e.activations) {
      if (std::find(kinds.begin(), kinds.end(), item.name) == kinds.end()) kinds.push_back(item.name);
    }
  }
  for (const std::string& kind : kinds) {
    row("saved: " + kind, [&](const MemoryEstimate& e) {
      for (const MemoryItem& item : e.activations) {
        if (item.name == kind) return item.bytes;
      }
      return std::int64_t{0};
    });
  }
  row("logits and loss (workspace)", [](const MemoryEstimate& e) { return e.logitsAndLoss; });
  row("attention workspace", [](const MemoryEstimate& e) { return e.attentionWorkspace; });
  row("other backward workspace", [](const MemoryEstimate& e) { return e.backwardWorkspace; });
  row("allocator overhead", [](const MemoryEstimate& e) { return e.allocatorOverhead; });
  row("predicted peak", [](const MemoryEstimate& e) { return e.peak; });
  if (capacityBytes > 0) {
    out << "capacity " << formatBytes(capacityBytes) << ":";
    for (const MemoryEstimate& e : estimates) {
      out << " " << toString(e.method) << (e.peak <= capacityBytes ? " fits" : " does not fit") << ";";
    }
    out << "\n";
  }
  return out.str();
}

} // namespace lorafa
