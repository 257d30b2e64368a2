// tests/cuda/test_cuda_modules.cu: nn modules on Cuda against the same modules on the CPU. A
// network moves to the GPU by building it there and loading the CPU state dict.
#include <trustml/nn.hpp>

#include "cuda_support.hpp"

using namespace cuda_tests;
using namespace trustml;

namespace {
// The CPU model's state loaded into the Cuda model; outputs, loss gradients and buffers compared.
template <class Make>
void compare_model(const std::string& what, Make make, const Tensor<float>& x, double rtol) {
  auto cpu = make.template operator()<Cpu>();
  auto gpu = make.template operator()<Cuda>();
  gpu->load_state_dict(cpu->state_dict());
  auto yc = (*cpu)(x);
  auto yg = (*gpu)(x.to<Cuda>());
  check_close<float>(yg, yc, rtol, what + " output");
  sum(mul(yc, yc)).backward();
  sum(mul(yg, yg)).backward();
  auto pc = cpu->named_parameters();
  auto pg = gpu->named_parameters();
  REQUIRE(pc.size() == pg.size());
  for (std::size_t i = 0; i < pc.size(); ++i)
    check_close<float>(pg[i].second.grad(), pc[i].second.grad(), rtol * 10, what + " grad " + pc[i].first);
  auto bc = cpu->named_buffers();
  auto bg = gpu->named_buffers();
  for (std::size_t i = 0; i < bc.size(); ++i)
    check_close<float>(bg[i].second, bc[i].second, rtol, what + " " + bc[i].first);
}
}  // namespace

TEST_CASE("cuda modules: the zoo's networks compute the same outputs and gradients as on the CPU") {
  SKIP_WITHOUT_GPU();
  auto x = Tensor<float>::randn({4, 1, 28, 28}, 1);
  compare_model(
      "SmallCnn", []<class D>() { return nn::zoo::SmallCnn<float, D>(1, 10, 3); }, x, 1e-4);
  compare_model(
      "LeNet5", []<class D>() { return nn::zoo::LeNet5<float, D>(1, 10, 3); }, x, 1e-4);
  compare_model(
      "ResNet20 (training mode: batch statistics)", []<class D>() { return nn::zoo::ResNet20<float, D>(1, 10, 3); }, x,
      1e-3);
  compare_model(
      "DnCNN", []<class D>() { return std::make_shared<nn::zoo::DnCNN<float, D>>(1, 5, 16, 3); },
      Tensor<float>::randn({2, 1, 12, 12}, 2), 1e-3);
  compare_model(
      "MultiheadAttention", []<class D>() { return std::make_shared<nn::MultiheadAttention<float, D>>(8, 2, 3); },
      Tensor<float>::randn({2, 5, 8}, 3), 1e-4);
}

TEST_CASE("cuda modules: the U-Net with time and conditioning, and dropout masks equal to the CPU's") {
  SKIP_WITHOUT_GPU();
  nn::zoo::TinyUNet<float, Cpu> cpu(1, 8, 4, 1);
  nn::zoo::TinyUNet<float, Cuda> gpu(1, 8, 4, 1);
  gpu.load_state_dict(cpu.state_dict());
  auto x = Tensor<float>::randn({2, 1, 8, 8}, 1), t = Tensor<float>::from_vector({1, 700}, {2});
  auto cond = Tensor<float>::randn({2, 3, 4}, 2);
  check_close<float>(gpu.predict(x.to<Cuda>(), t.to<Cuda>(), cond.to<Cuda>()), cpu.predict(x, t, cond), 1e-4,
                     "TinyUNet");
  // Same Philox streams: the same elements are dropped on both devices.
  nn::Dropout<float, Cpu> dc(0.3, 5);
  nn::Dropout<float, Cuda> dg(0.3, 5);
  auto ones = Tensor<float>::ones({1000});
  check_close<float>(dg(ones.to<Cuda>()), dc(ones), 0, "Dropout mask");
}

TEST_CASE("cuda modules: the BERT encoder with padding (packed tokens) as on the CPU, and its input gradient") {
  SKIP_WITHOUT_GPU();
  const nn::zoo::BertConfig config{.vocab_size = 40, .hidden_size = 16, .num_hidden_layers = 2,
                                   .num_attention_heads = 4, .intermediate_size = 24, .max_position_embeddings = 12};
  nn::zoo::BertModel<float, Cpu> cpu(config, 1);
  nn::zoo::BertModel<float, Cuda> gpu(config, 1);
  gpu.load_state_dict(cpu.state_dict());
  auto ids = Tensor<std::int64_t>::from_vector({2, 7, 9, 4, 3, 5, 2, 11, 3, 0, 0, 0}, {2, 6});
  auto mask = Tensor<std::int64_t>::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {2, 6});
  auto ec = cpu.embed_tokens(ids).detach();
  auto eg = ec.to<Cuda>().detach();
  ec.set_requires_grad(true);
  eg.set_requires_grad(true);
  auto yc = cpu.forward_from_embeddings(ec, mask);
  auto yg = gpu.forward_from_embeddings(eg, mask.to<Cuda>());
  check_close<float>(yg, yc, 1e-4, "BertModel token states");
  check_close<float>(nn::zoo::l2_normalize(nn::zoo::mean_pool(yg, mask.to<Cuda>())),
                     nn::zoo::l2_normalize(nn::zoo::mean_pool(yc, mask)), 1e-4, "BertModel sentence embedding");
  auto w = Tensor<float>::randn({2, 6, 16}, 2);
  sum(mul(yc, w)).backward();
  sum(mul(yg, w.to<Cuda>())).backward();
  check_close<float>(eg.grad(), ec.grad(), 1e-3, "BertModel input-embedding gradient");
}
