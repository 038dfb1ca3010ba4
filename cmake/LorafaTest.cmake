# lorafa_add_test(<name> SOURCES <files...> LIBRARIES <libs...> LABELS <unit|gui|slow|gpu...>
#                 [ENVIRONMENT <VAR=value...>])
# One GoogleTest executable per test folder, its cases registered with ctest and labelled: one
# ctest test per case, or per suite with -DLORAFA_CTEST_PER_SUITE=ON (the ASan and TSan steps of
# packaging/sanitizers.sh). Per suite, a skipped case is not reported as a skipped ctest test, and
# suite names must be unique across the executables (they are the ctest names).
include(GoogleTest)
function(lorafa_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT ARG_LABELS)
    message(FATAL_ERROR "lorafa_add_test(${name}): give at least one label")
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES} GTest::gtest GTest::gtest_main lorafa::options)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(LORAFA_CTEST_PER_SUITE)
    # One ctest test per suite: a process start costs about a second under ASan or TSan
    # (LibTorch's libraries loaded and scanned), which per case added minutes to those steps.
    # Executables labelled slow get a higher COST, so a parallel ctest starts them first.
    set(cost 1)
    if("slow" IN_LIST ARG_LABELS)
      set(cost 10)
    endif()
    string(REPLACE ";" "|" labels "${ARG_LABELS}")
    string(REPLACE ";" "|" environment "${ARG_ENVIRONMENT}")
    set(tests_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_suites.cmake")
    add_custom_command(TARGET ${name} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -D "EXE=$<TARGET_FILE:${name}>" -D "OUTPUT=${tests_file}"
              -D "WORKING_DIRECTORY=${CMAKE_CURRENT_BINARY_DIR}" -D "LABELS=${labels}"
              -D "ENVIRONMENT=${environment}" -D "COST=${cost}" -D TIMEOUT=120
              -P "${PROJECT_SOURCE_DIR}/cmake/LorafaSuiteTests.cmake"
      VERBATIM)
    set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_include.cmake")
    file(WRITE "${include_file}"
         "if(EXISTS [==[${tests_file}]==])\n  include([==[${tests_file}]==])\nelse()\n"
         "  add_test([==[${name}_NOT_BUILT]==] [==[${name}_NOT_BUILT]==])\nendif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
  else()
    gtest_discover_tests(${name}
      DISCOVERY_TIMEOUT 120
      PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${ARG_ENVIRONMENT}"
                 SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
  endif()
endfunction()
