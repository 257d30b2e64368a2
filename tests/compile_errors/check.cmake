# Compiles each snippet, expects failure, and expects trustml's message in the compiler's output.
set(cases
    "op_without_rule.cpp|primitive op 'my_op' has no derivative rule"
    "device_without_kernels.cpp|no kernels are compiled in for this device"
    "not_a_device.cpp|(Device<D>)"
    "complex_to_real_cast.cpp|complex to real would drop the imaginary part")
foreach(case ${cases})
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 file)
  list(GET parts 1 expected)
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} -I${EIGEN} ${DIR}/${file}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${file} compiled, but it must not")
  endif()
  string(FIND "${err}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${file}: the compiler did not print \"${expected}\":\n${err}")
  endif()
  message(STATUS "${file}: fails with \"${expected}\"")
endforeach()
