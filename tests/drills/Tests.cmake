# Issue 11 drills: real `lorafa` processes killed with SIGKILL (at seeded-random moments and at
# named fault points), run out of space (RLIMIT_FSIZE; a small tmpfs when the test may mount one)
# and fed corrupted checkpoints. See docs/RELIABILITY.md.
lorafa_add_test(test_drills
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/drills/SigkillDrillTest.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/drills/FullDiskDrillTest.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/drills/CorruptCheckpointDrillTest.cpp
  LIBRARIES lorafa::engine lorafa_test_support SQLite::SQLite3 nlohmann_json::nlohmann_json
  LABELS slow)
add_dependencies(test_drills lorafa)
target_include_directories(test_drills PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/drills)
target_compile_definitions(test_drills PRIVATE LORAFA_FIXTURES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fixtures"
  LORAFA_CLI="$<TARGET_FILE:lorafa>")

# The pieces the drills rely on, fast: SHA-256 against the standard's vectors and sha256sum, and
# checkpoint checksums written, verified and reported.
lorafa_add_test(test_engine_checkpoint_integrity
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/engine/io/Sha256Test.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/engine/train/CheckpointIntegrityTest.cpp
  LIBRARIES lorafa::engine lorafa_test_support
  LABELS unit)
