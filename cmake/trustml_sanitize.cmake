# cmake/trustml_sanitize.cmake: -DTRUSTML_SANITIZE=address,undefined builds this project's own tests,
# examples and benchmarks (everything that links trustml_project_flags) with GCC's or Clang's
# sanitizers; scripts/sanitize.sh configures and runs such a build. Users' targets are left alone:
# a user who builds their own program with -fsanitize=address gets the same allocator behaviour
# from the headers (device/block_cache.hpp detects AddressSanitizer by itself).
#
# Accepted: a comma- or semicolon-separated list of address, undefined, leak. "address" also defines
# TRUSTML_SANITIZE_ADDRESS=1, which makes the block cache hand every allocation straight to the
# backend (freed blocks are not kept for reuse and sizes are not rounded up to buckets, so
# AddressSanitizer sees every overflow and use after free). UndefinedBehaviorSanitizer is made
# fatal (-fno-sanitize-recover), so that undefined behaviour fails the test that runs into it.
set(TRUSTML_SANITIZE "" CACHE STRING
    "Sanitizers for this project's tests, examples and benchmarks: empty, or a list of address, undefined, leak (e.g. address,undefined)")

if(NOT TRUSTML_SANITIZE STREQUAL "")
  string(REPLACE "," ";" _trustml_sanitizers "${TRUSTML_SANITIZE}")
  list(TRANSFORM _trustml_sanitizers STRIP)
  list(REMOVE_ITEM _trustml_sanitizers "")
  list(REMOVE_DUPLICATES _trustml_sanitizers)
  foreach(_trustml_sanitizer IN LISTS _trustml_sanitizers)
    if(NOT _trustml_sanitizer MATCHES "^(address|undefined|leak)$")
      message(FATAL_ERROR "TRUSTML_SANITIZE=${TRUSTML_SANITIZE}: unknown sanitizer '${_trustml_sanitizer}' "
                          "(use a comma-separated list of address, undefined, leak, e.g. -DTRUSTML_SANITIZE=address,undefined)")
    endif()
  endforeach()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
    message(FATAL_ERROR "TRUSTML_SANITIZE needs GCC or Clang (the compiler is ${CMAKE_CXX_COMPILER_ID})")
  endif()
  list(JOIN _trustml_sanitizers "," _trustml_sanitize_list)
  set(_trustml_sanitize_flags -fsanitize=${_trustml_sanitize_list} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _trustml_sanitizers)
    list(APPEND _trustml_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(trustml_project_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_trustml_sanitize_flags}>)
  target_link_options(trustml_project_flags INTERFACE $<$<LINK_LANGUAGE:CXX>:-fsanitize=${_trustml_sanitize_list}>)
  if("address" IN_LIST _trustml_sanitizers)
    target_compile_definitions(trustml_project_flags INTERFACE TRUSTML_SANITIZE_ADDRESS=1)
  endif()
  message(STATUS "trustml: tests, examples and benchmarks built with -fsanitize=${_trustml_sanitize_list}")
endif()
