// trustml/train/checkpoint.hpp: checkpoint and resume a training run in one safetensors file.
//
//   train::save_checkpoint(path, model, optimizer, {.epoch = e, .step = s});
//   auto progress = train::load_checkpoint(path, model, optimizer);  // continue at progress.epoch
//
// The file holds the model's state dict under "model." (PyTorch names), the optimizer's state
// under "optimizer.", and the progress (epoch, step, and any text the caller adds) as safetensors
// metadata. It is written atomically: a run killed during a save keeps its previous checkpoint.
// Loading validates the file, its format and every entry's dtype and shape, and names what does
// not fit; a checkpoint that does not fit changes neither the model nor the optimizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "trustml/io/safetensors.hpp"
#include "trustml/nn/serialize.hpp"
#include "trustml/optim/optimizer.hpp"

namespace trustml::train {

struct Progress {
  std::int64_t epoch = 0;                    // epochs completed
  std::int64_t step = 0;                     // optimizer steps taken
  std::map<std::string, std::string> notes;  // anything else worth keeping (best accuracy, ...)
};

inline constexpr const char* kCheckpointFormat = "trustml-checkpoint-1";

template <class T, class D>
void save_checkpoint(const std::filesystem::path& path, const nn::Module<T, D>& model,
                     const optim::Optimizer<T, D>& optimizer, const Progress& progress) {
  auto arrays = nn::state_arrays(model.state_dict(), "model.");
  for (auto& [name, t] : optimizer.state()) arrays.push_back(io::to_array("optimizer." + name, t));
  auto metadata = progress.notes;
  metadata["format"] = kCheckpointFormat;
  metadata["epoch"] = std::to_string(progress.epoch);
  metadata["step"] = std::to_string(progress.step);
  io::save_safetensors(path, arrays, metadata);
}

template <class T, class D>
Progress load_checkpoint(const std::filesystem::path& path, nn::Module<T, D>& model,
                         optim::Optimizer<T, D>& optimizer) {
  const auto file = io::load_safetensors(path);
  const std::string where = path.string();
  auto field = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    TRUSTML_CHECK(it != file.metadata.end(), "train::load_checkpoint", where, ": no '", key,
                  "' in the metadata: not a trustml checkpoint");
    return it->second;
  };
  TRUSTML_CHECK(field("format") == kCheckpointFormat, "train::load_checkpoint", where, ": format '", field("format"),
                "', expected '", kCheckpointFormat, "'");
  auto number = [&](const std::string& key) {
    const std::string& text = field(key);
    std::size_t used = 0;
    std::int64_t value = -1;
    try {
      value = std::stoll(text, &used);
    } catch (const std::exception&) {}
    TRUSTML_CHECK(used == text.size() && value >= 0, "train::load_checkpoint", where, ": metadata '", key, "' = '",
                  text, "' is not a count");
    return value;
  };
  Progress progress{number("epoch"), number("step"), file.metadata};
  for (const char* key : {"format", "epoch", "step"}) progress.notes.erase(key);

  // Both parts are checked before either changes: a bad entry leaves model and optimizer as they were.
  try {
    const auto model_state = nn::arrays_to_state(file.arrays, model, "model.");
    model.check_state_dict(model_state);
    typename optim::Optimizer<T, D>::State optimizer_state;
    const std::string prefix = "optimizer.";
    for (const auto& array : file.arrays)
      if (array.name.compare(0, prefix.size(), prefix) == 0)
        optimizer_state.emplace_back(array.name.substr(prefix.size()), io::to_tensor<T, D>(array));
    optimizer.load_state(optimizer_state);  // checks every entry before it changes anything
    model.load_state_dict(model_state);
  } catch (const Error& e) {
    ::trustml::detail::fail("train::load_checkpoint", where, ": ", e.what());
  }
  return progress;
}

}  // namespace trustml::train
