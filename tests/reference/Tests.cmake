# Reference tests (issue 20, tests/reference/README.md): Python tests that compare our engine with
# the real Hugging Face libraries (transformers, peft, safetensors, tokenizers, trl), pinned in
# tests/reference/requirements.txt and installed into the project's .venv by
# `packaging/install-deps.sh --tests` (the README's test command does this). One ctest per module,
# label "reference"; a module whose libraries are missing fails and says what to run.
add_executable(lorafa-reference-probe ${CMAKE_CURRENT_SOURCE_DIR}/reference/probe/ReferenceProbe.cpp)
target_link_libraries(lorafa-reference-probe PRIVATE lorafa::engine lorafa::options nlohmann_json::nlohmann_json)
set_target_properties(lorafa-reference-probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

set(_lorafa_reference_env
  "LORAFA_CLI=$<TARGET_FILE:lorafa>"
  "LORAFA_PROBE=$<TARGET_FILE:lorafa-reference-probe>"
  "LORAFA_SOURCE=${CMAKE_SOURCE_DIR}"
  "PYTHONDONTWRITEBYTECODE=1"
  "HF_HUB_OFFLINE=1"
  "TRANSFORMERS_NO_ADVISORY_WARNINGS=1"
  "TOKENIZERS_PARALLELISM=false")
if(NOT EXISTS "${LORAFA_PYTHON}")
  # A LibTorch chosen with -DLORAFA_LIBTORCH and no project .venv: nothing to run them with.
  message(STATUS "Reference tests not registered: ${LORAFA_PYTHON} not found "
                 "(bash packaging/install-deps.sh --tests makes it)")
  return()
endif()
foreach(module models files train_step tokenizers templates sft_labels)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_${module}.py)
    add_test(NAME reference.${module}
      COMMAND ${LORAFA_PYTHON} -m unittest -v test_${module}
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)
    # COST: started early in a fresh build folder (no timings yet), so they overlap the others.
    set_tests_properties(reference.${module} PROPERTIES LABELS "reference;slow" TIMEOUT 1200 COST 100
      ENVIRONMENT "${_lorafa_reference_env}")
  endif()
endforeach()
