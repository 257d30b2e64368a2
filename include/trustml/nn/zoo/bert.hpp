// trustml/nn/zoo/bert.hpp: the BERT encoder (Devlin et al. 2019, arXiv 1810.04805) as Hugging
// Face's BertModel computes it in evaluation mode, with its parameter names, so that a
// `model.safetensors` of the Hub loads by name (nn::load_module). all-MiniLM-L6-v2, the text
// encoder of trustml's text methods, is one: 6 layers, hidden 384, 12 heads, intermediate 1536.
//
//   BertConfig                      the sizes of config.json (vocab_size, hidden_size, ...)
//   BertModel(config)
//     encode(ids [B, L], mask [B, L])                    -> token states [B, L, hidden]
//     forward_from_embeddings(inputs [B, L, hidden], mask) -> token states [B, L, hidden]
//     embed_tokens(ids)               the word embeddings alone: [B, L, hidden]
//     pooler_output(states)           tanh(dense(states[:, 0])), BERT's next-sentence pooler
//   mean_pool(states, mask)           the masked mean over tokens, [B, hidden] (sentence-transformers)
//   l2_normalize(x)                   rows scaled to unit length (eps 1e-12, as F.normalize)
//
// The layers: embeddings = LayerNorm(word[ids] + position[0..L) + token_type[0]); then per layer
// post-LayerNorm self-attention (padded keys masked out) and an exact-erf GELU feed-forward:
//   h = LayerNorm(h + dense(attention(h))),  h = LayerNorm(h + dense(gelu(dense(h)))).
// `mask` is 1 for real tokens and 0 for padding (int64, [B, L]); an undefined mask means every
// token is real. The states of padded positions are zero (PyTorch computes values there that
// nothing should read: with padding packed away, trustml skips that work); mean_pool ignores them.
//
// forward_from_embeddings replaces the word-embedding lookup by any [B, L, hidden] tensor: a
// relaxed one-hot [B, L, V] times embeddings.word_embeddings.weight gives the encoder of a
// continuous text attack, and gradients flow back to it. Dropout is not applied (evaluation).
//
// Errors: ids outside the vocabulary, sequences longer than max_position_embeddings, masks or
// embeddings of the wrong shape throw trustml::Error naming nn::zoo::BertModel and the shapes.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "trustml/nn/layers.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/ops/nn.hpp"

namespace trustml::nn::zoo {

struct BertConfig {
  std::int64_t vocab_size = 30522, hidden_size = 384, num_hidden_layers = 6, num_attention_heads = 12,
               intermediate_size = 1536, max_position_embeddings = 512, type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
};

namespace detail {
// Hugging Face nests a parameter under empty levels (attention.self.query); this module is such a
// level: it only names its children.
template <class T, class D>
class Scope : public Module<T, D> {
 public:
  Scope() : Module<T, D>("Scope") {}
};
// Where the real tokens of a padded batch [B, L] lie. The dense layers (over 95% of the
// arithmetic at L <= 64) run on the real tokens alone, packed into [N, hidden]; attention unpacks
// them to [B, L, ...]. Batches padded to their longest sentence are mostly padding (the parity
// set's 200 sentences in batches of 8: 3,699 real tokens in 8,360 positions), and the real tokens'
// states are the same function.
template <class T, class D>
struct TokenLayout {
  std::int64_t batch = 0, length = 0;
  Tensor<T, D> key_bias{};                  // [B, 1, 1, L]: 0 for real keys, lowest() for padding; undefined: none
  Tensor<std::int64_t, D> rows{}, slots{};  // [N] flat positions of the real tokens; [B * L] their packed row or N
  bool packed() const { return rows.defined(); }
  // [B, L, H] -> [N, H]
  Tensor<T, D> pack(const Tensor<T, D>& x) const {
    auto flat = reshape(x, Shape{batch * length, x.size(-1)});
    return packed() ? index_select(flat, 0, rows) : flat;
  }
  // [N, H] -> [B, L, H], zero at padding.
  Tensor<T, D> unpack(const Tensor<T, D>& tokens) const {
    const std::int64_t h = tokens.size(1);
    if (!packed()) return reshape(tokens, Shape{batch, length, h});
    return reshape(
        index_select(concat(std::vector<Tensor<T, D>>{tokens, Tensor<T, D>::zeros(Shape{1, h})}, 0), 0, slots),
        Shape{batch, length, h});
  }
};
}  // namespace detail

template <class T = float, class D = Cpu>
class BertEmbeddings : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  explicit BertEmbeddings(const BertConfig& c, std::uint64_t seed = 0) : Module<T, D>("BertEmbeddings") {
    word_embeddings =
        this->register_module("word_embeddings", std::make_shared<Embedding<T, D>>(c.vocab_size, c.hidden_size, seed));
    position_embeddings = this->register_module(
        "position_embeddings", std::make_shared<Embedding<T, D>>(c.max_position_embeddings, c.hidden_size, seed + 1));
    token_type_embeddings = this->register_module(
        "token_type_embeddings", std::make_shared<Embedding<T, D>>(c.type_vocab_size, c.hidden_size, seed + 2));
    LayerNorm = this->register_module("LayerNorm",
                                      std::make_shared<nn::LayerNorm<T, D>>(Shape{c.hidden_size}, c.layer_norm_eps));
    std::vector<std::int64_t> positions(static_cast<std::size_t>(c.max_position_embeddings));
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<std::int64_t>(i);
    position_ids = this->register_index_buffer(
        "position_ids", Tensor<std::int64_t, D>::from_vector(positions, Shape{1, c.max_position_embeddings}));
  }
  // inputs [B, L, hidden] (the word embeddings, or anything standing in for them) -> [B, L, hidden].
  TensorT forward(const TensorT& inputs) override {
    const std::int64_t length = inputs.size(1), max_length = position_embeddings->weight.size(0);
    TRUSTML_CHECK(length <= max_length, "nn::zoo::BertModel", "a sequence of ", length,
                  " tokens is longer than the model's ", max_length, " positions");
    auto positions = slice(position_embeddings->weight, 0, 0, length, 1);  // position_ids are 0..L-1
    auto token_type = slice(token_type_embeddings->weight, 0, 0, 1, 1);    // one segment: type 0
    return (*LayerNorm)(add(add(inputs, positions), token_type));
  }
  std::shared_ptr<Embedding<T, D>> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<nn::LayerNorm<T, D>> LayerNorm;
  Tensor<std::int64_t, D> position_ids;
};

// dense, then LayerNorm of the sum with the block's input: attention.output and output.
template <class T = float, class D = Cpu>
class BertResidualOutput : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  BertResidualOutput(std::int64_t in, const BertConfig& c, std::uint64_t seed) : Module<T, D>("BertResidualOutput") {
    dense = this->register_module("dense", std::make_shared<Linear<T, D>>(in, c.hidden_size, true, seed));
    LayerNorm = this->register_module("LayerNorm",
                                      std::make_shared<nn::LayerNorm<T, D>>(Shape{c.hidden_size}, c.layer_norm_eps));
  }
  TensorT combine(const TensorT& h, const TensorT& input) { return (*LayerNorm)(add((*dense)(h), input)); }
  std::shared_ptr<Linear<T, D>> dense;
  std::shared_ptr<nn::LayerNorm<T, D>> LayerNorm;
};

template <class T = float, class D = Cpu>
class BertLayer : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  BertLayer(const BertConfig& c, std::uint64_t seed) : Module<T, D>("BertLayer"), heads(c.num_attention_heads) {
    const std::int64_t h = c.hidden_size;
    auto attention = this->register_module("attention", std::make_shared<detail::Scope<T, D>>());
    auto self = attention->register_module("self", std::make_shared<detail::Scope<T, D>>());
    query = self->register_module("query", std::make_shared<Linear<T, D>>(h, h, true, seed));
    key = self->register_module("key", std::make_shared<Linear<T, D>>(h, h, true, seed + 1));
    value = self->register_module("value", std::make_shared<Linear<T, D>>(h, h, true, seed + 2));
    attention_output = attention->register_module("output", std::make_shared<BertResidualOutput<T, D>>(h, c, seed + 3));
    auto intermediate = this->register_module("intermediate", std::make_shared<detail::Scope<T, D>>());
    intermediate_dense =
        intermediate->register_module("dense", std::make_shared<Linear<T, D>>(h, c.intermediate_size, true, seed + 4));
    output =
        this->register_module("output", std::make_shared<BertResidualOutput<T, D>>(c.intermediate_size, c, seed + 5));
  }
  // Unpadded tokens [B, L, hidden].
  TensorT forward(const TensorT& x) override {
    const detail::TokenLayout<T, D> layout{.batch = x.size(0), .length = x.size(1)};
    return layout.unpack(forward(layout.pack(x), layout));
  }
  // tokens [N, hidden], laid out in the batch as `layout` says.
  TensorT forward(const TensorT& tokens, const detail::TokenLayout<T, D>& layout) {
    const std::int64_t b = layout.batch, l = layout.length, e = tokens.size(1), dh = e / heads;
    auto split = [&](const TensorT& t) { return permute(reshape(layout.unpack(t), {b, l, heads, dh}), {0, 2, 1, 3}); };
    auto scores =
        scale(matmul(split((*query)(tokens)), transpose(split((*key)(tokens)), 2, 3)), T(1 / std::sqrt(double(dh))));
    if (layout.key_bias.defined()) scores = add(scores, layout.key_bias);
    auto context = matmul(softmax(scores, -1), split((*value)(tokens)));  // [B, heads, L, dh]
    auto h = attention_output->combine(layout.pack(reshape(permute(context, {0, 2, 1, 3}), {b, l, e})), tokens);
    return output->combine(gelu((*intermediate_dense)(h)), h);
  }
  std::int64_t heads;
  std::shared_ptr<Linear<T, D>> query, key, value, intermediate_dense;
  std::shared_ptr<BertResidualOutput<T, D>> attention_output, output;
};

template <class T = float, class D = Cpu>
class BertModel : public Module<T, D> {
 public:
  using TensorT = Tensor<T, D>;
  using IdTensor = Tensor<std::int64_t, D>;
  explicit BertModel(const BertConfig& c = {}, std::uint64_t seed = 0) : Module<T, D>("BertModel"), config(c) {
    TRUSTML_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_hidden_layers > 0 && c.num_attention_heads > 0 &&
                      c.hidden_size % c.num_attention_heads == 0 && c.intermediate_size > 0 &&
                      c.max_position_embeddings > 0 && c.type_vocab_size > 0 && c.layer_norm_eps > 0,
                  "nn::zoo::BertModel", "needs positive sizes and hidden_size ", c.hidden_size,
                  " divisible by num_attention_heads ", c.num_attention_heads);
    embeddings = this->register_module("embeddings", std::make_shared<BertEmbeddings<T, D>>(c, seed));
    auto encoder = this->register_module("encoder", std::make_shared<detail::Scope<T, D>>());
    auto stack = encoder->register_module("layer", std::make_shared<Sequential<T, D>>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      layers.push_back(stack->push_back(std::make_shared<BertLayer<T, D>>(c, seed + 10 * (i + 1))));
    auto pooler = this->register_module("pooler", std::make_shared<detail::Scope<T, D>>());
    pooler_dense = pooler->register_module(
        "dense",
        std::make_shared<Linear<T, D>>(c.hidden_size, c.hidden_size, true, seed + 10 * (c.num_hidden_layers + 1)));
  }

  // Token states of unpadded inputs embeddings [B, L, hidden].
  TensorT forward(const TensorT& inputs) override { return forward_from_embeddings(inputs, IdTensor()); }

  TensorT encode(const IdTensor& ids, const IdTensor& mask = {}) {
    return forward_from_embeddings(embed_tokens(ids), mask);
  }

  TensorT embed_tokens(const IdTensor& ids) {
    TRUSTML_CHECK(ids.dim() == 2 && ids.numel() > 0, "nn::zoo::BertModel", "needs token ids [B, L], got ", ids.shape());
    return embeddings->word_embeddings->embed(ids);  // embedding() checks each id against the vocabulary
  }

  TensorT forward_from_embeddings(const TensorT& inputs, const IdTensor& mask = {}) {
    TRUSTML_CHECK(inputs.dim() == 3 && inputs.size(0) > 0 && inputs.size(1) > 0 && inputs.size(2) == config.hidden_size,
                  "nn::zoo::BertModel", "needs input embeddings [B, L, ", config.hidden_size, "], got ",
                  inputs.shape());
    detail::TokenLayout<T, D> layout{.batch = inputs.size(0), .length = inputs.size(1)};
    if (mask.defined()) {
      TRUSTML_CHECK(mask.dim() == 2 && mask.size(0) == inputs.size(0) && mask.size(1) == inputs.size(1),
                    "nn::zoo::BertModel", "attention mask ", mask.shape(), " does not match the inputs ",
                    inputs.shape());
      with_padding(mask, layout);
    }
    auto tokens = layout.pack((*embeddings)(inputs));
    for (auto& layer : layers) tokens = layer->forward(tokens, layout);
    return layout.unpack(tokens);
  }

  TensorT pooler_output(const TensorT& states) {
    return tanh((*pooler_dense)(reshape(slice(states, 1, 0, 1, 1), {states.size(0), states.size(2)})));
  }

  BertConfig config;
  std::shared_ptr<BertEmbeddings<T, D>> embeddings;
  std::vector<std::shared_ptr<BertLayer<T, D>>> layers;
  std::shared_ptr<Linear<T, D>> pooler_dense;

 private:
  // The key bias and, where some tokens are padding, the packing of the real ones.
  static void with_padding(const IdTensor& mask, detail::TokenLayout<T, D>& layout) {
    const auto host = mask.to_vector();
    const std::int64_t b = mask.size(0), l = mask.size(1);
    std::vector<T> bias(host.size());
    std::vector<std::int64_t> rows, slots(host.size());
    for (std::size_t i = 0; i < host.size(); ++i) {
      TRUSTML_CHECK(host[i] == 0 || host[i] == 1, "nn::zoo::BertModel", "attention mask entries must be 0 or 1, got ",
                    host[i], " at flat index ", i);
      // The lowest finite value, as Hugging Face's BERT: the softmax weight is exactly 0 all the same,
      // and the NaN-check mode (which flags infinities) stays usable on a padded batch.
      bias[i] = host[i] ? T(0) : std::numeric_limits<T>::lowest();
      if (host[i]) rows.push_back(static_cast<std::int64_t>(i));
    }
    for (std::int64_t s = 0; s < b; ++s)
      TRUSTML_CHECK(host[static_cast<std::size_t>(s * l)] == 1, "nn::zoo::BertModel", "the attention mask of sequence ",
                    s, " masks its first token ([CLS]); every sequence needs it");
    layout.key_bias = TensorT::from_vector(bias, Shape{b, 1, 1, l});
    if (static_cast<std::int64_t>(rows.size()) == b * l) return;  // no padding: nothing to pack
    const auto n = static_cast<std::int64_t>(rows.size());
    for (std::size_t i = 0, r = 0; i < host.size(); ++i) slots[i] = host[i] ? static_cast<std::int64_t>(r++) : n;
    layout.rows = IdTensor::from_vector(rows, Shape{n});
    layout.slots = IdTensor::from_vector(slots, Shape{b * l});
  }
};

// The masked mean of token states [B, L, H] over the real tokens (mask [B, L], 1 = real): [B, H].
template <ops::RealFloating T, class D>
Tensor<T, D> mean_pool(const Tensor<T, D>& states, const Tensor<std::int64_t, D>& mask) {
  TRUSTML_CHECK(
      states.dim() == 3 && mask.dim() == 2 && mask.size(0) == states.size(0) && mask.size(1) == states.size(1),
      "nn::zoo::mean_pool", "needs states [B, L, H] and mask [B, L], got ", states.shape(), " and ", mask.shape());
  auto weights = unsqueeze(cast<T>(mask), 2);  // [B, L, 1]
  return div(sum(mul(states, weights), {1}), clamp(sum(weights, {1}), T(1e-9), std::numeric_limits<T>::max()));
}

// Each row of x [..., H] divided by max(||row||, 1e-12), as torch.nn.functional.normalize.
template <ops::RealFloating T, class D>
Tensor<T, D> l2_normalize(const Tensor<T, D>& x) {
  auto norms = sqrt(sum(mul(x, x), {-1}, true));
  return div(x, clamp(norms, T(1e-12), std::numeric_limits<T>::max()));
}

}  // namespace trustml::nn::zoo
