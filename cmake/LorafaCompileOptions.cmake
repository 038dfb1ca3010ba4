# Warnings and sanitizers for the project's own targets (not for imported ones).
add_library(lorafa_options INTERFACE)
add_library(lorafa::options ALIAS lorafa_options)
target_compile_options(lorafa_options INTERFACE -Wall -Wextra)
if(LORAFA_WERROR)
  target_compile_options(lorafa_options INTERFACE -Werror)
endif()
if(LORAFA_SANITIZE)
  target_compile_options(lorafa_options INTERFACE -fsanitize=${LORAFA_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(lorafa_options INTERFACE -fsanitize=${LORAFA_SANITIZE})
  if(LORAFA_SANITIZE MATCHES "undefined")
    # Undefined behaviour stops the process, so the test that reaches it fails instead of passing
    # with a message in its log.
    target_compile_options(lorafa_options INTERFACE -fno-sanitize-recover=undefined)
    target_link_options(lorafa_options INTERFACE -fno-sanitize-recover=undefined)
  endif()
endif()
