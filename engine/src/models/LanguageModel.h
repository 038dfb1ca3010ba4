#pragma once

#include "ModelConfig.h"
#include "adapters/LinearLayer.h"

#include <c10/core/TensorOptions.h>
#include <torch/nn/module.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// Where one linear layer of a model lives, so that adapter injection can swap it.
struct LinearHandle {
  std::string name;                      ///< full Hugging Face module path, e.g. model.layers.0.self_attn.q_proj
  torch::nn::Module* parent = nullptr;   ///< the module that registers it
  std::string childName;                 ///< its name inside the parent
  std::shared_ptr<LinearLayer>* slot = nullptr; ///< the parent's member used in forward
};

/// Creates a model's linear layers (frozen, zero weights until loaded) and records their handles.
class LinearRegistry {
public:
  explicit LinearRegistry(const c10::TensorOptions& options) : m_options(options) {}
  void add(torch::nn::Module& parent, const std::string& prefix, const std::string& child, std::int64_t in,
           std::int64_t out, bool bias, std::shared_ptr<LinearLayer>& slot);
  const std::vector<LinearHandle>& handles() const { return m_handles; }
  std::vector<LinearHandle>& handles() { return m_handles; }
  const c10::TensorOptions& options() const { return m_options; }

private:
  c10::TensorOptions m_options;
  std::vector<LinearHandle> m_handles;
};

/// Per-layer key/value tensors kept between generation steps ([B, Hkv, T, D] each).
struct KvCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  std::int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

/// One batch as the models take it. attentionMask: [B, T] with 1 for real tokens (undefined: all).
struct ModelInputs {
  at::Tensor inputIds;
  at::Tensor inputEmbeds; ///< decoder-only models: [B, T, hidden] used instead of inputIds' embeddings
  at::Tensor attentionMask;
  at::Tensor decoderInputIds; ///< encoder-decoder models only
  KvCache* cache = nullptr;   ///< decoder-only generation; appended to in place
  at::Tensor encoderHidden;   ///< T5 generation: reuse the encoder output instead of recomputing it
  /// Packed rows (decoder-only models): [B, T] int64, the segment (example or document) of each
  /// token, -1 on padding. Attention stays inside a segment (and replaces attentionMask, which
  /// it already covers). Undefined: one sequence per row. Not with a KV cache holding tokens.
  at::Tensor segmentIds;
  /// [B, T] int64 positions (decoder-only models), restarting at 0 for each packed segment, so a
  /// segment gets the rotary/learned positions it would have alone. Undefined: past..past+T-1.
  at::Tensor positionIds;
  /// Language models with a plain output head (outputHead()): return the final hidden states
  /// [B, T, hidden] instead of the logits, for a loss that applies the head chunk by chunk.
  bool returnHidden = false;
};

/// A language model's output head as one matrix: logits = (hiddenScale · hidden) · weightᵀ.
struct OutputHead {
  at::Tensor weight; ///< [vocab, hidden]; the parameter itself (tied or not, trainable or frozen)
  double hiddenScale = 1.0;
};

/// A Hugging Face architecture as a module tree whose parameter names are exactly Hugging Face's.
class LanguageModel : public torch::nn::Module {
public:
  LanguageModel(const ModelConfig& config, const c10::TensorOptions& options)
      : m_config(config), m_registry(options) {}

  const ModelConfig& config() const { return m_config; }
  /// Logits: [B, T, vocab] for language models, [B, labels] for sequence classifiers.
  virtual at::Tensor forward(const ModelInputs& inputs) = 0;
  /// T5: the encoder's output for generation. Others: undefined.
  virtual at::Tensor encode(const ModelInputs&) { return at::Tensor(); }
  /// The output head when it is a plain matrix (no adapter on it, no bias) and forward honours
  /// ModelInputs::returnHidden; nullopt otherwise (classifiers, an adapted lm_head).
  virtual std::optional<OutputHead> outputHead() const { return std::nullopt; }

  const std::vector<LinearHandle>& linears() const { return m_registry.handles(); }
  /// Modules that `all-linear` leaves out: the output head(s).
  virtual std::vector<std::string> outputHeadNames() const = 0;
  /// Modules trained in full next to the adapters (a classifier's head); empty for LMs. They
  /// never get adapters themselves, and a checkpoint without them (a base encoder such as
  /// bert-base) gets them freshly initialised, as Hugging Face does for a new task head.
  virtual std::vector<std::string> trainedHeadModules() const { return {}; }
  /// Names under which a parameter may be stored in a checkpoint, preferred first.
  virtual std::vector<std::string> checkpointNames(const std::string& parameterName) const {
    return {parameterName};
  }
  /// Tensors a checkpoint may hold that the model does not load (buffers such as attn.bias).
  virtual bool isIgnoredCheckpointTensor(const std::string&) const { return false; }
  /// Parameters stored transposed in checkpoints (GPT-2's Conv1D keeps [in, out]).
  virtual bool isStoredTransposed(const std::string&) const { return false; }
  /// Replaces the linear at `handle` with `layer` (same weight), keeping parameter names.
  void replaceLinear(const LinearHandle& handle, const std::shared_ptr<LinearLayer>& layer);

  /// Gradient checkpointing: while training with gradients on, each transformer block keeps
  /// only its input and is recomputed in backward (checkpointBlock).
  virtual void setGradientCheckpointing(bool enabled) { m_gradientCheckpointing = enabled; }
  bool gradientCheckpointing() const { return m_gradientCheckpointing; }
  /// train.recompute_mlp: while training with gradients on, gated MLPs (SwiGLU) keep only their
  /// input for backward and recompute the gate and up projections there (checkpointFunction over
  /// those two and the activation). Families without a gated MLP ignore it.
  void setRecomputeMlp(bool enabled) { m_recomputeMlp = enabled; }
  bool recomputeMlp() const { return m_recomputeMlp; }

protected:
  LinearRegistry& registry() { return m_registry; }
  /// Whether block calls should go through checkpointBlock now: enabled, training, GradMode on.
  bool checkpointingBlocks() const;
  /// Whether gated MLPs should recompute now: enabled, training, GradMode on, and blocks not
  /// checkpointed (a checkpointed block keeps only its input already).
  bool recomputingMlp() const;
  /// outputHead() of an untied `head` (may be null) or else the tied `embedding` weight.
  static std::optional<OutputHead> plainOutputHead(const std::shared_ptr<LinearLayer>& head,
                                                   const at::Tensor& embedding, double hiddenScale = 1.0);

private:
  ModelConfig m_config;
  LinearRegistry m_registry;
  bool m_gradientCheckpointing = false;
  bool m_recomputeMlp = false;
};

/// A module holding one parameter "weight" [num, dim] used as a lookup table.
class EmbeddingTable : public torch::nn::Module {
public:
  EmbeddingTable(std::int64_t count, std::int64_t dim, const c10::TensorOptions& options);
  at::Tensor forward(const at::Tensor& ids) const;
  at::Tensor weight;
};

/// Normalisation layers: RMS (Llama, T5) and LayerNorm (GPT-2, BERT).
class RmsNorm : public torch::nn::Module {
public:
  /// `offsetOne` (Gemma): the weight starts at 0 and scales by (1 + weight), in float32.
  RmsNorm(std::int64_t dim, double eps, const c10::TensorOptions& options, bool offsetOne = false);
  /// Computed in float32, cast back, times weight (as Hugging Face does); with offsetOne, times
  /// (1 + weight) in float32 and then cast back (as Gemma3RMSNorm does).
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;

private:
  double m_eps;
  bool m_offsetOne;
};

class LayerNorm : public torch::nn::Module {
public:
  LayerNorm(std::int64_t dim, double eps, const c10::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;
  at::Tensor bias;

private:
  double m_eps;
};

/// A list of submodules registered as "0", "1", ... (Hugging Face's nn.ModuleList names).
template <typename T> class IndexedModules : public torch::nn::Module {
public:
  void append(std::shared_ptr<T> module) {
    register_module(std::to_string(m_items.size()), module);
    m_items.push_back(std::move(module));
  }
  std::size_t size() const { return m_items.size(); }
  T& operator[](std::size_t i) const { return *m_items[i]; }

private:
  std::vector<std::shared_ptr<T>> m_items;
};

/// silu, relu, gelu (erf), gelu_new / gelu_pytorch_tanh (tanh approximation).
at::Tensor applyActivation(const std::string& name, const at::Tensor& x);
void checkActivation(const std::string& name);

} // namespace lorafa
