# CUDA device: placeholder until the CUDA kernels land (see include/trustml/cuda.hpp).
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
