# Finds the LibTorch to build against, with no flag a user must know:
#   1. LORAFA_LIBTORCH, when set: an unpacked LibTorch (e.g. a libtorch-*.zip from pytorch.org) or
#      any prefix holding share/cmake/Torch;
#   2. otherwise the `torch` of the project's Python environment (.venv, made by
#      packaging/install-deps.sh from packaging/requirements.txt): PyPI's CUDA build of LibTorch 2.x;
#   3. otherwise whatever CMAKE_PREFIX_PATH already finds.
# Sets LORAFA_TORCH_PREFIX (the folder holding lib/ and include/) and LORAFA_HAVE_CUDA.
set(LORAFA_LIBTORCH "" CACHE PATH
    "An unpacked LibTorch to build against instead of the torch in the project's Python environment")
set(LORAFA_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "The Python whose torch package provides LibTorch (packaging/install-deps.sh makes it)")

if(LORAFA_LIBTORCH)
  if(NOT EXISTS "${LORAFA_LIBTORCH}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "LORAFA_LIBTORCH=${LORAFA_LIBTORCH}: expected share/cmake/Torch/TorchConfig.cmake "
                        "inside it (an unpacked libtorch archive), found none")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${LORAFA_LIBTORCH}")
  set(LORAFA_TORCH_SOURCE "LORAFA_LIBTORCH")
elseif(EXISTS "${LORAFA_PYTHON}")
  execute_process(
    COMMAND "${LORAFA_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _lorafa_torch_cmake ERROR_VARIABLE _lorafa_torch_err
    RESULT_VARIABLE _lorafa_torch_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _lorafa_torch_rc EQUAL 0)
    message(FATAL_ERROR "${LORAFA_PYTHON} has no usable torch package (${_lorafa_torch_err}). "
                        "Run: bash packaging/install-deps.sh")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${_lorafa_torch_cmake}")
  set(LORAFA_TORCH_SOURCE "${LORAFA_PYTHON}")
else()
  set(LORAFA_TORCH_SOURCE "CMAKE_PREFIX_PATH")
endif()

# A CUDA build of LibTorch configures against the CUDA toolkit (nvcc, headers, libraries); the
# usual place is /usr/local/cuda, which is not on every PATH.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "nvcc")
  set(CUDAToolkit_ROOT /usr/local/cuda CACHE PATH "The CUDA toolkit")
endif()

find_package(Torch REQUIRED)
get_filename_component(LORAFA_TORCH_PREFIX "${TORCH_LIBRARY}/../.." ABSOLUTE)

# PyPI's torch keeps NVIDIA's libraries in wheels beside it (site-packages/nvidia/<part>/lib) and
# finds them through its own RUNPATHs. Link against exactly those: the CUDA runtime of the wheel
# rather than the toolkit's (both are libcudart.so.13 to the loader, so only one may ever be
# meant), and, when ld resolves libtorch_cuda's own dependencies, the wheel's NCCL (the toolkit's
# is older and lacks symbols LibTorch uses) — -rpath-link is searched before any -rpath.
# LORAFA_TORCH_LIBRARIES is what the project links: TORCH_LIBRARIES less the toolkit's NVRTC,
# which LibTorch opens itself when it needs it.
get_filename_component(LORAFA_NVIDIA_WHEELS "${LORAFA_TORCH_PREFIX}/../nvidia" ABSOLUTE)
set(LORAFA_NVIDIA_LIBRARY_DIRS "")
if(EXISTS "${LORAFA_NVIDIA_WHEELS}")
  file(GLOB _lorafa_parts LIST_DIRECTORIES true "${LORAFA_NVIDIA_WHEELS}/*/lib")
  foreach(dir IN LISTS _lorafa_parts)
    if(IS_DIRECTORY "${dir}")
      list(APPEND LORAFA_NVIDIA_LIBRARY_DIRS "${dir}")
    endif()
  endforeach()
endif()
set(LORAFA_TORCH_LIBRARIES ${TORCH_LIBRARIES})
list(FILTER LORAFA_TORCH_LIBRARIES EXCLUDE REGEX "libnvrtc")
find_library(LORAFA_WHEEL_CUDART NAMES libcudart.so.13 libcudart.so.12 cudart
             PATHS ${LORAFA_NVIDIA_LIBRARY_DIRS} NO_DEFAULT_PATH)
if(TARGET torch::cudart AND LORAFA_WHEEL_CUDART)
  set_property(TARGET torch::cudart PROPERTY INTERFACE_LINK_LIBRARIES "${LORAFA_WHEEL_CUDART}")
endif()
if(LORAFA_NVIDIA_LIBRARY_DIRS)
  string(REPLACE ";" ":" _lorafa_rpath_link "${LORAFA_NVIDIA_LIBRARY_DIRS}")
  list(APPEND LORAFA_TORCH_LIBRARIES "-Wl,-rpath-link,${_lorafa_rpath_link}")
endif()

# CUDA support follows the LibTorch that was found: a CUDA build of LibTorch links c10_cuda.
if(C10_CUDA_LIBRARY)
  set(LORAFA_HAVE_CUDA ON)
else()
  set(LORAFA_HAVE_CUDA OFF)
endif()
message(STATUS "LoRA-FA Studio: LibTorch ${Torch_VERSION} from ${LORAFA_TORCH_SOURCE} (${LORAFA_TORCH_PREFIX}), "
               "CUDA ${LORAFA_HAVE_CUDA}")
