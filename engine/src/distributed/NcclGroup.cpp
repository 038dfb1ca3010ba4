#include "distributed/NcclGroup.h"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <nccl.h>

namespace lorafa {

bool ncclCompiledIn() { return true; }

std::string ncclVersionString() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess || code <= 0) return "";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return std::to_string(code / 10000) + "." + std::to_string(code % 10000 / 100) + "." + std::to_string(code % 100);
}

c10::intrusive_ptr<c10d::Backend> createNcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  std::chrono::milliseconds timeout, int deviceIndex) {
  // NCCL binds a communicator to the current device: the rank's own.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(deviceIndex));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

} // namespace lorafa
