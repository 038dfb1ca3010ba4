# Included by tests/CMakeLists.txt: the fuzz targets' entry functions, built with the normal
# compiler and linked to the engine, replaying every seed and every saved finding (no libFuzzer),
# and the checks of the bounds the fuzzing added (regular-expression limits, size limits).
lorafa_add_test(test_fuzz_replay
  SOURCES fuzz/FuzzReplayTest.cpp fuzz/FindingsTest.cpp fuzz/RegexLimitTest.cpp
          fuzz/targets/ConfigTargets.cpp fuzz/targets/DatasetTargets.cpp fuzz/targets/ModelConfigTarget.cpp
          fuzz/targets/SafetensorsTarget.cpp fuzz/targets/TokenizerTarget.cpp
  LIBRARIES lorafa::engine nlohmann_json::nlohmann_json
  LABELS unit)
target_include_directories(test_fuzz_replay PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
target_compile_definitions(test_fuzz_replay PRIVATE LORAFA_FUZZ_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fuzz")
