// trustml/nn/serialize.hpp: a module's weights in a safetensors file, by PyTorch state_dict name.
//
//   save_module(path, model, metadata)   every parameter and buffer, written atomically
//   load_module(path, model, strict)     validates the file (io/safetensors.hpp), then each entry's
//                                        dtype and shape against the module; lists every mismatch
//
// The file is what torch.save of a state_dict would hold, in the safetensors format:
// `model.load_state_dict(safetensors.torch.load_file(path))` loads it in PyTorch, and a file
// written that way loads here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "trustml/io/array.hpp"
#include "trustml/io/safetensors.hpp"
#include "trustml/nn/module.hpp"

namespace trustml::nn {

template <class T, class D>
std::vector<io::Array> state_arrays(const StateDict<T, D>& state, const std::string& prefix = "") {
  std::vector<io::Array> arrays;
  for (auto& [name, t] : state.tensors) arrays.push_back(io::to_array(prefix + name, t));
  for (auto& [name, t] : state.index_tensors) arrays.push_back(io::to_array(prefix + name, t));
  return arrays;
}

// The entries of `arrays` whose names start with `prefix` (which is removed), as a state dict of
// the dtypes `model` holds under those names: a wrong dtype is an error naming the entry.
template <class T, class D>
StateDict<T, Cpu> arrays_to_state(const std::vector<io::Array>& arrays, const Module<T, D>& model,
                                  const std::string& prefix = "") {
  std::map<std::string, bool> is_index;
  for (auto& [name, t] : model.named_index_buffers()) is_index[name] = true;
  StateDict<T, Cpu> state;
  for (const auto& array : arrays) {
    if (array.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = array.name.substr(prefix.size());
    if (is_index.count(name)) state.index_tensors.emplace_back(name, io::to_tensor<std::int64_t>(array));
    else state.tensors.emplace_back(name, io::to_tensor<T>(array));
  }
  return state;
}

template <class T, class D>
void save_module(const std::filesystem::path& path, const Module<T, D>& model,
                 const std::map<std::string, std::string>& metadata = {}) {
  io::save_safetensors(path, state_arrays(model.state_dict()), metadata);
}

template <class T, class D>
void load_module(const std::filesystem::path& path, Module<T, D>& model, bool strict = true) {
  const auto file = io::load_safetensors(path);
  try {
    model.load_state_dict(arrays_to_state(file.arrays, model), strict);
  } catch (const Error& e) {
    ::trustml::detail::fail("nn::load_module", path.string(), ": ", e.what());
  }
}

}  // namespace trustml::nn
