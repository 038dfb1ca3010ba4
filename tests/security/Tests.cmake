# Security (issue 11): literal-only SQL and hostile names, a whole CLI run writing only where the
# user said, and a source check for unpickling, raw SQL and shell calls. Included from
# tests/CMakeLists.txt.
lorafa_add_test(test_security
  SOURCES security/SecurityTest.cpp
  LIBRARIES lorafa::engine SQLite::SQLite3
  LABELS slow)
add_dependencies(test_security lorafa)
target_compile_definitions(test_security PRIVATE LORAFA_CLI="$<TARGET_FILE:lorafa>"
  LORAFA_RESOURCES_DIR="${CMAKE_SOURCE_DIR}/resources")

add_test(NAME security.no_unpickling_raw_sql_or_shell
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/security/CheckUnsafeCalls.cmake)
set_tests_properties(security.no_unpickling_raw_sql_or_shell PROPERTIES LABELS unit)
