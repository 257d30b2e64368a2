# Configures the guest project (trustml by add_subdirectory, no options set), checks from its cache
# that trustml probed for neither CUDA, MPI nor HDF5 and built no tests or examples, then builds the
# guest program and runs it.
file(REMOVE_RECURSE ${GUEST_BUILD})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${GUEST_SOURCE} -B ${GUEST_BUILD} -G ${GENERATOR}
                        -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
                        -DTRUSTML_SOURCE_DIR=${TRUSTML_SOURCE_DIR} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the guest project failed: ${rc}")
endif()

load_cache(${GUEST_BUILD} READ_WITH_PREFIX guest_ TRUSTML_CUDA TRUSTML_MPI TRUSTML_HDF5 TRUSTML_BUILD_TESTS
           TRUSTML_BUILD_EXAMPLES TRUSTML_BUILD_BENCH)
foreach(option CUDA MPI HDF5 BUILD_TESTS BUILD_EXAMPLES BUILD_BENCH)
  if(NOT DEFINED guest_TRUSTML_${option} OR guest_TRUSTML_${option})
    message(FATAL_ERROR "as a guest TRUSTML_${option} must default to OFF, the cache has '${guest_TRUSTML_${option}}'")
  endif()
endforeach()
# Each probe leaves cache entries behind (check_language: CMAKE_<LANG>_COMPILER; FindMPI: MPI_*;
# FindHDF5: HDF5_*), so their absence shows that none ran.
file(STRINGS ${GUEST_BUILD}/CMakeCache.txt probes REGEX "^(CMAKE_CUDA_COMPILER|CMAKE_C_COMPILER|MPI_|HDF5_)")
if(probes)
  message(FATAL_ERROR "the guest's configure probed for CUDA, MPI or HDF5; its cache has:\n${probes}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build ${GUEST_BUILD} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the guest program failed: ${rc}")
endif()
execute_process(COMMAND ${GUEST_BUILD}/guest RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(rc OR NOT out MATCHES "guest grad 6")
  message(FATAL_ERROR "the guest program did not run as expected (rc ${rc}): ${out}")
endif()
message(STATUS "guest printed: ${out}")
