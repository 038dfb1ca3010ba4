#include "distributed/NcclGroup.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <stdexcept>

namespace lorafa {

c10::intrusive_ptr<c10d::Backend> createNcclGroup(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                  std::chrono::milliseconds, int) {
  throw std::runtime_error("this build's LibTorch has no CUDA, so no NCCL: data-parallel training on CUDA "
                           "devices is not available (the CPU path uses Gloo)");
}

} // namespace lorafa
