# lorafa_add_test(<name> SOURCES <files...> LIBRARIES <libs...> LABELS <unit|gui|slow|gpu...>
#                 [ENVIRONMENT <VAR=value...>])
# One GoogleTest executable per test folder, its cases registered with ctest and labelled.
include(GoogleTest)
function(lorafa_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT ARG_LABELS)
    message(FATAL_ERROR "lorafa_add_test(${name}): give at least one label")
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES} GTest::gtest GTest::gtest_main lorafa::options)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 120
    PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${ARG_ENVIRONMENT}"
               SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
endfunction()
