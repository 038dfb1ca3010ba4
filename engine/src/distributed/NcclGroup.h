#pragma once

// The NCCL process group of a data-parallel run on CUDA devices. It exists only in builds whose
// LibTorch has CUDA (NcclGroup.cpp); the CPU-only variant (NcclGroupNone.cpp) says so.
#include <c10/util/intrusive_ptr.h>

#include <chrono>

namespace c10d {
class Backend;
class Store;
} // namespace c10d

namespace lorafa {

/// Creates the NCCL group of `size` ranks on CUDA device `deviceIndex`, rendezvousing through
/// `store` (every rank calls this at the same point). Throws std::runtime_error when NCCL is not
/// compiled in.
c10::intrusive_ptr<c10d::Backend> createNcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  std::chrono::milliseconds timeout, int deviceIndex);

} // namespace lorafa
