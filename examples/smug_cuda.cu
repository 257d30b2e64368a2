// smug_cuda: examples/smug.cpp on the GPU (the Cuda device): the same study, options, seeds, noise
// streams and outputs. Needs a GPU to run (CUDA errors name the failing call otherwise).
#define TRUSTML_SMUG_CUDA 1
#include "smug.cpp"
