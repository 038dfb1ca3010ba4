#include "models/BlockCheckpoint.h"

#include "models/Autocast.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/core/ivalue.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>

#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace lorafa {
namespace {

/// What backward needs besides the saved inputs: the block, its parameters and the forward's
/// random-generator and autocast state. Held by the autograd node as a capsule.
struct BlockClosure : torch::CustomClassHolder {
  BlockFunction block;
  std::vector<bool> inputRequiresGrad;
  std::vector<at::Tensor> parameters; ///< the module's trainable parameters, in node-input order
  AutocastState autocast;
  at::Tensor cpuRngState;
  std::optional<c10::Device> cudaDevice;
  at::Tensor cudaRngState;
};

at::Tensor generatorState(const c10::Device& device) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void setGeneratorState(const c10::Device& device, const at::Tensor& state) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

/// Puts the generators back to the forward's states for its lifetime, then to what they were.
class RngReplay {
public:
  explicit RngReplay(const BlockClosure& c) : m_closure(c) {
    const c10::Device cpu(c10::kCPU);
    m_cpuNow = generatorState(cpu);
    setGeneratorState(cpu, c.cpuRngState);
    if (c.cudaDevice) {
      m_cudaNow = generatorState(*c.cudaDevice);
      setGeneratorState(*c.cudaDevice, c.cudaRngState);
    }
  }
  ~RngReplay() {
    setGeneratorState(c10::Device(c10::kCPU), m_cpuNow);
    if (m_closure.cudaDevice) setGeneratorState(*m_closure.cudaDevice, m_cudaNow);
  }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;

private:
  const BlockClosure& m_closure;
  at::Tensor m_cpuNow;
  at::Tensor m_cudaNow;
};

struct BlockCheckpointFunction : public torch::autograd::Function<BlockCheckpointFunction> {
  // `tensors`: the block's inputs, then its trainable parameters (closure->parameters).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, c10::intrusive_ptr<BlockClosure> closure,
                            at::TensorList tensors) {
    const std::size_t inputCount = closure->inputRequiresGrad.size();
    std::vector<at::Tensor> inputs(tensors.begin(), tensors.begin() + static_cast<std::ptrdiff_t>(inputCount));
    closure->autocast = AutocastState::current();
    closure->cpuRngState = generatorState(c10::Device(c10::kCPU));
    for (const at::Tensor& t : inputs) {
      if (t.is_cuda()) {
        closure->cudaDevice = t.device();
        closure->cudaRngState = generatorState(t.device());
        break;
      }
    }
    // Function::apply runs this with gradients off: nothing inside the block is kept.
    at::Tensor output = closure->block(inputs);
    ctx->save_for_backward(inputs);
    ctx->saved_data["closure"] = c10::IValue::make_capsule(std::move(closure));
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto closure =
        c10::static_intrusive_pointer_cast<BlockClosure>(ctx->saved_data["closure"].toCapsule());
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    std::vector<at::Tensor> inputs;
    torch::autograd::variable_list targets;
    for (std::size_t i = 0; i < saved.size(); ++i) {
      inputs.push_back(saved[i].detach().requires_grad_(closure->inputRequiresGrad[i]));
      if (closure->inputRequiresGrad[i]) targets.push_back(inputs.back());
    }
    for (const at::Tensor& p : closure->parameters) targets.push_back(p);

    at::Tensor output;
    {
      RngReplay replay(*closure);
      AutocastScope autocast(closure->autocast);
      c10::AutoGradMode gradOn(true);
      output = closure->block(inputs);
    }
    // One gradient per forward argument: the closure (none), each input, each parameter.
    torch::autograd::variable_list result(1 + saved.size() + closure->parameters.size());
    if (!output.requires_grad() || targets.empty()) return result;
    const torch::autograd::variable_list grads =
        torch::autograd::grad({output}, targets, {gradOutputs[0]}, /*retain_graph=*/false,
                              /*create_graph=*/false, /*allow_unused=*/true);
    std::size_t next = 0;
    for (std::size_t i = 0; i < saved.size(); ++i) {
      if (closure->inputRequiresGrad[i]) result[1 + i] = grads[next++];
    }
    for (std::size_t j = 0; j < closure->parameters.size(); ++j) result[1 + saved.size() + j] = grads[next++];
    return result;
  }
};

} // namespace

at::Tensor checkpointBlock(torch::nn::Module& module, BlockFunction block, const std::vector<at::Tensor>& inputs) {
  return checkpointFunction(module.parameters(/*recurse=*/true), std::move(block), inputs);
}

at::Tensor checkpointFunction(const std::vector<at::Tensor>& parameters, BlockFunction block,
                              const std::vector<at::Tensor>& inputs) {
  auto closure = c10::make_intrusive<BlockClosure>();
  closure->block = std::move(block);
  std::vector<at::Tensor> tensors;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      throw std::invalid_argument("checkpointFunction: input " + std::to_string(i) +
                                  " is undefined; capture optional tensors in the block function instead");
    }
    closure->inputRequiresGrad.push_back(inputs[i].requires_grad());
    tensors.push_back(inputs[i]);
  }
  for (const at::Tensor& p : parameters) {
    if (p.requires_grad()) {
      closure->parameters.push_back(p);
      tensors.push_back(p);
    }
  }
  return BlockCheckpointFunction::apply(closure, at::TensorList(tensors));
}

} // namespace lorafa
