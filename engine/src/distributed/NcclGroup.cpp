#include "distributed/NcclGroup.h"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace lorafa {

c10::intrusive_ptr<c10d::Backend> createNcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  std::chrono::milliseconds timeout, int deviceIndex) {
  // NCCL binds a communicator to the current device: the rank's own.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(deviceIndex));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

} // namespace lorafa
