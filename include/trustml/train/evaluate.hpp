// trustml/train/evaluate.hpp: a classifier's accuracy, mean cross-entropy and confusion matrix
// over a data set, and the predictions themselves.
//
//   auto report = train::evaluate(model, test_set, {.batch_size = 512});
//   report.accuracy, report.loss, report.confusion[true_class][predicted_class]
//
// The model runs in eval mode without recording a graph; its previous mode is restored. Batches go
// to the model's device, so a CUDA model evaluates a CPU data set directly.
#pragma once

#include <cstdint>
#include <vector>

#include "trustml/data/dataloader.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/ops/nn.hpp"
#include "trustml/ops/reduce.hpp"

namespace trustml::train {

struct Evaluation {
  double accuracy = 0, loss = 0;
  std::int64_t samples = 0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  std::vector<std::int64_t> predictions;             // in data set order
  // Accuracy on the samples of class c (recall), or 0 for a class without samples.
  double class_accuracy(std::int64_t c) const {
    std::int64_t total = 0;
    for (auto n : confusion.at(c)) total += n;
    return total ? static_cast<double>(confusion[c][c]) / static_cast<double>(total) : 0.0;
  }
};

struct EvaluateOptions {
  std::int64_t batch_size = 512;
  std::int64_t classes = 0;  // 0: the number of logits the model returns
};

template <class T, class D>
Evaluation evaluate(nn::Module<T, D>& model, const data::LabeledImages& dataset, EvaluateOptions options = {}) {
  TRUSTML_CHECK(dataset.size() > 0, "train::evaluate", "the data set is empty");
  nn::EvalModeGuard<T, D> eval(model);
  NoGradGuard no_grad;
  data::DataLoader loader(dataset, {.batch_size = options.batch_size, .shuffle = false});
  Evaluation out;
  out.predictions.resize(static_cast<std::size_t>(dataset.size()));
  double loss_sum = 0;
  std::int64_t correct = 0;
  for (const data::Batch& batch : loader.epoch(0)) {
    auto images = batch.images.template cast<T>().template to<D>();
    auto labels = batch.labels.template to<D>();
    auto logits = model(images);
    TRUSTML_CHECK(logits.dim() == 2 && logits.size(0) == images.size(0), "train::evaluate",
                  "the model must return logits [N, classes], got ", logits.shape(), " for images ", images.shape());
    const std::int64_t classes = options.classes ? options.classes : logits.size(1);
    if (out.confusion.empty()) out.confusion.assign(classes, std::vector<std::int64_t>(classes, 0));
    loss_sum += static_cast<double>(cross_entropy(logits, labels).item()) * static_cast<double>(images.size(0));
    const auto predicted = argmax(logits, 1).to_vector();
    const auto truth = batch.labels.to_vector();
    for (std::size_t i = 0; i < predicted.size(); ++i) {
      TRUSTML_CHECK(truth[i] >= 0 && truth[i] < classes && predicted[i] < classes, "train::evaluate", "label ",
                    truth[i], " or prediction ", predicted[i], " is outside the ", classes, " classes");
      ++out.confusion[truth[i]][predicted[i]];
      correct += predicted[i] == truth[i];
      out.predictions[batch.indices[i]] = predicted[i];
    }
  }
  out.samples = dataset.size();
  out.accuracy = static_cast<double>(correct) / static_cast<double>(out.samples);
  out.loss = loss_sum / static_cast<double>(out.samples);
  return out;
}

}  // namespace trustml::train
