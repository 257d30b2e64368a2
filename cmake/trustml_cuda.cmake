# trustml_cuda.cmake: the CUDA device. Defines the INTERFACE target trustml_cuda (trustml::cuda):
# trustml plus the CUDA runtime, cuBLAS and cuFFT, and the nvcc flags the headers need.
#   -std=c++20                the library's language level
#   --expt-relaxed-constexpr  device code calls constexpr std:: functions (numeric_limits, std::array)
#   --extended-lambda         users may pass __device__ lambdas to map / for_each
# Included by the top-level CMakeLists.txt when TRUSTML_CUDA is ON.

# Before enable_language, which would otherwise pick the compiler's default architecture. Two
# architectures (A100, H100; PTX of the newest for later GPUs) keep compile times moderate; set
# CMAKE_CUDA_ARCHITECTURES (or CUDAARCHS) to build for others.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(trustml_cuda INTERFACE)
add_library(trustml::cuda ALIAS trustml_cuda)
set_target_properties(trustml_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(trustml_cuda INTERFACE trustml::trustml CUDA::cudart CUDA::cublas CUDA::cufft)
# -std=c++20 as a flag: CMake before 3.31 does not know the language levels of nvcc 13 (cuda_std_20).
target_compile_options(trustml_cuda INTERFACE
                       $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr --extended-lambda>)
# OpenMP's target adds -fopenmp for C++ sources only; pass it to nvcc's host compiler too, so that
# the CPU kernels are the same (and as parallel) in .cu files as in .cpp files.
if(OpenMP_CXX_FOUND)
  target_compile_options(trustml_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${OpenMP_CXX_FLAGS}>)
endif()
# CUDA 13 moved libcu++, CUB and Thrust to include/cccl. nvcc searches it by itself; host compilers
# (plain .cpp files including trustml/device/cuda.hpp) need it spelled out. The installed package
# adds it again from the consumer's toolkit (trustmlConfig.cmake).
foreach(_trustml_dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
  if(EXISTS "${_trustml_dir}/cccl/cuda/std/complex")
    target_include_directories(trustml_cuda INTERFACE $<BUILD_INTERFACE:${_trustml_dir}/cccl>)
  endif()
endforeach()

install(TARGETS trustml_cuda EXPORT trustmlTargets)
