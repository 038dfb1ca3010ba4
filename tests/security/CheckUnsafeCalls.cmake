# Fails when our sources (engine/, app/, ui/, bench/) call anything that unpickles (weights come
# only from safetensors: DESIGN.md §5), run SQL outside SqliteDatabase (SQL only through its
# literal-only prepared statements), or hand a string to a shell.
file(GLOB_RECURSE sources ${SOURCE_DIR}/engine/*.h ${SOURCE_DIR}/engine/*.cpp ${SOURCE_DIR}/app/*.h
     ${SOURCE_DIR}/app/*.cpp ${SOURCE_DIR}/ui/*.h ${SOURCE_DIR}/ui/*.cpp ${SOURCE_DIR}/bench/*.h
     ${SOURCE_DIR}/bench/*.cpp)
set(bad "")
foreach(f IN LISTS sources)
  # Unpickling: torch::load / pickle_load / jit::load / InputArchive read pickled archives.
  file(STRINGS ${f} hits REGEX "torch::load *\\(|pickle_load|jit::load|InputArchive")
  if(hits)
    list(APPEND bad "${f}: unpickling: ${hits}")
  endif()
  # Raw SQLite execution outside the one wrapper that enforces literal SQL text.
  if(NOT f MATCHES "/engine/src/store/SqliteDatabase\\.(h|cpp)$")
    file(STRINGS ${f} hits REGEX "sqlite3_(exec|prepare)")
    if(hits)
      list(APPEND bad "${f}: SQL outside SqliteDatabase: ${hits}")
    endif()
  endif()
  # A shell: system()/popen() would let a file name or config value become a command.
  file(STRINGS ${f} hits REGEX "(^|[^A-Za-z_.:])(std::)?(system|popen) *\\(")
  if(hits)
    list(APPEND bad "${f}: shell call: ${hits}")
  endif()
endforeach()
if(bad)
  string(REPLACE ";" "\n" text "${bad}")
  message(FATAL_ERROR "unsafe calls:\n${text}")
endif()
list(LENGTH sources n)
message(STATUS "unsafe-call check ok: ${n} files")
