# Compiler flags shared by every strata target: warnings, sanitizers, fuzzing instrumentation.
add_library(strata_flags INTERFACE)
target_compile_options(strata_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>)

if(STRATA_SANITIZE)
  target_compile_options(strata_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer>)
  target_link_options(strata_flags INTERFACE -fsanitize=address,undefined)
endif()

if(STRATA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "STRATA_FUZZ needs clang (use the 'fuzz' preset)")
  endif()
  # Library code gets coverage instrumentation; only fuzz targets link the libFuzzer main.
  target_compile_options(strata_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer>)
  target_link_options(strata_flags INTERFACE -fsanitize=address,undefined)
endif()
