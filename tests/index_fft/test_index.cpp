// concat, stack, index_select, gather, scatter_add, embedding: values against hand-computed
// results (PyTorch's documented examples where there is one), gradients in double and
// complex<double>, and the errors for bad dims, shapes and index values.
#include "support/op_registry.hpp"

using namespace trustml;
using tests::check_grad;
using tests::Td;
using tests::Tz;
using Ti = Tensor<std::int64_t>;

namespace {
Td iota(const Shape& s) { return Td::arange(s.numel()).reshape(s); }
std::vector<double> values(const Td& t) { return t.to_vector(); }
}  // namespace

OP_TEST(concat) {
  auto a = Td::from_vector({1, 2, 3, 4}, {2, 2}), b = Td::from_vector({5, 6}, {1, 2}),
       c = Td::from_vector({7, 8}, {2, 1});
  CHECK(concat(std::vector{a, b}, 0).shape() == Shape{3, 2});
  CHECK(values(concat(std::vector{a, b}, 0)) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(values(concat(std::vector{a, c}, -1)) == std::vector<double>{1, 2, 7, 3, 4, 8});
  CHECK(values(concat(std::vector{a.transpose(0, 1), c}, 1)) == std::vector<double>{1, 3, 7, 2, 4, 8});
  CHECK(values(concat(std::vector{Td::zeros({0, 2}), b}, 0)) == std::vector<double>{5, 6});

  check_grad([](auto& v) { return concat(v, 1); },
             std::vector{Td::randn({2, 1, 3}, 1), Td::randn({2, 2, 3}, 2), Td::randn({2, 3, 3}, 3)}, true);
  check_grad([](auto& v) { return mul(concat(v, 0), concat(v, 0)); },
             std::vector{Td::randn({1, 2}, 4), Td::randn({2, 2}, 5)}, true);
  check_grad([](auto& v) { return concat(v, -1); }, std::vector{Tz::randn({2, 2}, 6), Tz::randn({2, 1}, 7)}, true);

  SUBCASE("only the inputs that require grad get one") {
    auto x = Td::randn({2, 2}, 8).set_requires_grad(), y = Td::randn({2, 3}, 9);
    auto out = concat(std::vector{y, x, y}, 1);
    CHECK(std::string(out.grad_fn_name()) == "concat");
    sum(mul(out, out)).backward();
    tests::check_close(x.grad(), values(scale(x, 2.0)));
    CHECK(!y.grad().defined());
    NoGradGuard no_grad;
    CHECK(!concat(std::vector{x, y}, 1).requires_grad());
  }
  SUBCASE("errors name the op and the shapes") {
    CHECK_THROWS_AS(concat(std::vector<Td>{}, 0), trustml::Error);
    CHECK_THROWS_AS(concat(std::vector{a, Td::zeros({2})}, 0), trustml::Error);
    CHECK_THROWS_WITH(concat(std::vector{a, c}, 0), doctest::Contains("concat: tensor 1 has shape [2, 1]"));
    CHECK_THROWS_AS(concat(std::vector{a, b}, 2), trustml::Error);
  }
}

OP_TEST(stack) {
  auto a = Td::from_vector({1, 2, 3}), b = Td::from_vector({4, 5, 6});
  CHECK(stack(std::vector{a, b}, 0).shape() == Shape{2, 3});
  CHECK(values(stack(std::vector{a, b}, 0)) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(stack(std::vector{a, b}, -1).shape() == Shape{3, 2});
  CHECK(values(stack(std::vector{a, b}, 1)) == std::vector<double>{1, 4, 2, 5, 3, 6});
  check_grad([](auto& v) { return stack(v, 1); }, std::vector{Td::randn({2, 3}, 1), Td::randn({2, 3}, 2)}, true);
  check_grad([](auto& v) { return stack(v, 0); }, std::vector{Tz::randn({2}, 3), Tz::randn({2}, 4)});
  CHECK_THROWS_WITH(stack(std::vector{a, Td::zeros({2})}, 0), doctest::Contains("stack"));
  CHECK_THROWS_AS(stack(std::vector{a, b}, 2), trustml::Error);
  CHECK_THROWS_AS(stack(std::vector<Td>{}, 0), trustml::Error);
}

OP_TEST(index_select) {
  auto x = iota({3, 4});
  CHECK(index_select(x, 0, Ti::from_vector({2, 0, 2})).shape() == Shape{3, 4});
  CHECK(values(index_select(x, 0, Ti::from_vector({2, 0, 2}))) ==
        std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  CHECK(values(index_select(x, -1, Ti::from_vector({3, 1}))) == std::vector<double>{3, 1, 7, 5, 11, 9});
  // A strided index (every other element of [0, 9, 3, 9, 1]) and a strided input.
  auto strided = Ti::from_vector({0, 9, 3, 9, 1}).restride(Shape{3}, Strides{2}, 0);
  CHECK(values(index_select(x, 1, strided)) == std::vector<double>{0, 3, 1, 4, 7, 5, 8, 11, 9});
  CHECK(values(index_select(x.transpose(0, 1), 0, Ti::from_vector({1}))) == std::vector<double>{1, 5, 9});
  CHECK(index_select(x, 0, Ti::zeros({0})).shape() == Shape{0, 4});

  // Repeated indices: their gradients add up (index_add).
  auto rep = Ti::from_vector({1, 1, 0, 2, 1});
  check_grad([&](auto& v) { return index_select(v[0], 1, rep); }, std::vector{Td::randn({2, 3, 2}, 1)}, true);
  check_grad([&](auto& v) { return mul(index_select(v[0], 0, rep), index_select(v[0], 0, rep)); },
             std::vector{Td::randn({3, 2}, 2)}, true);
  check_grad([&](auto& v) { return index_select(v[0], 0, rep); }, std::vector{Tz::randn({3, 2}, 3)}, true);

  CHECK_THROWS_WITH(index_select(x, 0, Ti::from_vector({0, 3})),
                    doctest::Contains("index_select: index 3 is out of range for dimension 0 of size 3"));
  CHECK_THROWS_WITH(index_select(x, 1, Ti::from_vector({-1})), doctest::Contains("index -1"));
  CHECK_THROWS_AS(index_select(x, 0, Ti::zeros({1, 1})), trustml::Error);
  CHECK_THROWS_AS(index_select(x, 2, Ti::zeros({1})), trustml::Error);
}

OP_TEST(gather) {
  // torch.gather's documented example.
  auto t = Td::from_vector({1, 2, 3, 4}, {2, 2});
  CHECK(values(gather(t, 1, Ti::from_vector({0, 0, 1, 0}, {2, 2}))) == std::vector<double>{1, 1, 4, 3});
  CHECK(values(gather(t, 0, Ti::from_vector({1, 0}, {1, 2}))) == std::vector<double>{3, 2});
  // An index smaller than the input outside dim, and larger along dim.
  auto x = iota({3, 4});
  auto idx = Ti::from_vector({3, 0, 0, 1, 3, 2, 2, 2, 2, 0}, {2, 5});
  CHECK(gather(x, 1, idx).shape() == Shape{2, 5});
  CHECK(values(gather(x, 1, idx)) == std::vector<double>{3, 0, 0, 1, 3, 6, 6, 6, 6, 4});

  auto i3 = Ti::from_vector({0, 2, 2, 1, 0, 0, 1, 1, 2, 0, 2, 1}, {2, 3, 2});
  check_grad(
      [&](auto& v) {
        return gather(v[0], 2, Ti::from_vector({0, 2, 2, 1, 0, 0}, {1, 3, 2}));
      },
      std::vector{Td::randn({2, 3, 3}, 1)}, true);
  check_grad([&](auto& v) { return gather(v[0], 1, i3); }, std::vector{Td::randn({2, 3, 2}, 2)}, true);
  check_grad([&](auto& v) { return mul(gather(v[0], 1, i3), gather(v[0], 1, i3)); },
             std::vector{Td::randn({2, 3, 2}, 3)}, true);
  check_grad([&](auto& v) { return gather(v[0], 0, i3); }, std::vector{Tz::randn({3, 3, 2}, 4)}, true);

  SUBCASE("changing the index in place before backward is reported") {
    auto w = Td::randn({2, 2}, 5).set_requires_grad();
    auto index = Ti::from_vector({0, 1, 1, 0}, {2, 2});
    auto y = gather(w, 0, index);
    index.fill_(0);
    CHECK_THROWS_WITH(sum(y).backward(), doctest::Contains("modified in place"));
  }
  CHECK_THROWS_WITH(gather(t, 1, Ti::from_vector({0, 2}, {1, 2})),
                    doctest::Contains("gather: index 2 is out of range for dimension 1 of size 2"));
  CHECK_THROWS_WITH(gather(t, 1, Ti::zeros({2})), doctest::Contains("gather: index of rank 1"));
  CHECK_THROWS_WITH(gather(t, 1, Ti::zeros({3, 1})), doctest::Contains("exceeds input shape [2, 2]"));
  CHECK_THROWS_AS(gather(t, -3, Ti::zeros({2, 2})), trustml::Error);
}

OP_TEST(scatter_add) {
  // torch.Tensor.scatter_add_'s documented example.
  auto index = Ti::from_vector({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, {2, 5});
  auto out = scatter_add(Td::zeros({3, 5}), 0, index, Td::ones({2, 5}));
  CHECK(values(out) == std::vector<double>{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1});
  // Onto a nonzero base along the last dim, with an index narrower than the base.
  auto base = iota({2, 3});
  auto src = Td::from_vector({10, 20, 30, 40}, {2, 2});
  CHECK(values(scatter_add(base, 1, Ti::from_vector({2, 2, 0, 1}, {2, 2}), src)) ==
        std::vector<double>{0, 1, 32, 33, 44, 5});
  CHECK(values(base) == std::vector<double>{0, 1, 2, 3, 4, 5});  // out of place

  auto i = Ti::from_vector({1, 0, 1, 1, 2, 1}, {2, 3});
  check_grad([&](auto& v) { return scatter_add(v[0], 1, i, v[1]); },
             std::vector{Td::randn({2, 3}, 1), Td::randn({2, 3}, 2)}, true);
  check_grad(
      [&](auto& v) {
        return scatter_add(v[0], 0, Ti::from_vector({2, 0, 2}, {1, 3}), v[1]);
      },
      std::vector{Td::randn({3, 3}, 3), Td::randn({1, 3}, 4)}, true);
  check_grad([&](auto& v) { return mul(scatter_add(v[0], 1, i, mul(v[1], v[1])), v[0]); },
             std::vector{Td::randn({2, 3}, 5), Td::randn({2, 3}, 6)}, true);
  check_grad([&](auto& v) { return scatter_add(v[0], 1, i, v[1]); },
             std::vector{Tz::randn({2, 3}, 7), Tz::randn({2, 3}, 8)}, true);

  SUBCASE("many lines in parallel with repeated targets: equal to a sequential sum") {
    const std::int64_t rows = 6, cols = 40000;  // above the parallel threshold of the CPU loops
    auto x = Td::randn({3, cols}, 9), s = Td::randn({rows, cols}, 10);
    std::vector<std::int64_t> iv(rows * cols);
    for (std::size_t k = 0; k < iv.size(); ++k) iv[k] = static_cast<std::int64_t>((k * 7 + k / cols) % 3);
    auto y = scatter_add(x, 0, Ti::from_vector(iv, {rows, cols}), s);
    auto want = x.to_vector();
    auto sv = s.to_vector();
    for (std::size_t k = 0; k < iv.size(); ++k) want[iv[k] * cols + k % cols] += sv[k];
    CHECK(y.to_vector() == want);
  }
  CHECK_THROWS_WITH(scatter_add(base, 1, Ti::zeros({2, 2}), Td::ones({2, 3})),
                    doctest::Contains("scatter_add: index shape [2, 2] differs from source shape [2, 3]"));
  CHECK_THROWS_WITH(scatter_add(base, 0, Ti::from_vector({2}, {1, 1}), Td::ones({1, 1})),
                    doctest::Contains("index 2 is out of range for dimension 0 of size 2 (input shape [2, 3]"));
  CHECK_THROWS_AS(scatter_add(base, 0, Ti::zeros({3, 4}), Td::ones({3, 4})), trustml::Error);
  CHECK_THROWS_AS(scatter_add(base, 0, Ti::zeros({3}), Td::ones({3})), trustml::Error);
}

OP_TEST(embedding) {
  auto w = iota({5, 3});
  auto ids = Ti::from_vector({4, 0, 4, 2}, {2, 2});
  auto e = embedding(w, ids);
  CHECK(e.shape() == Shape{2, 2, 3});
  CHECK(values(e) == std::vector<double>{12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8});
  CHECK(embedding(w, Ti::scalar(1)).shape() == Shape{3});
  CHECK(values(embedding(w, Ti::scalar(1))) == std::vector<double>{3, 4, 5});
  // Transposed ids (a strided view) are read in their logical order.
  auto idsT = ids.restride(Shape{2, 2}, Strides{1, 2}, 0);
  CHECK(values(embedding(w, idsT)) == std::vector<double>{12, 13, 14, 12, 13, 14, 0, 1, 2, 6, 7, 8});

  check_grad([&](auto& v) { return embedding(v[0], ids); }, std::vector{Td::randn({5, 2}, 1)}, true);
  check_grad([&](auto& v) { return embedding(v[0], ids); }, std::vector{Tz::randn({5, 2}, 2)});
  SUBCASE("the gradient of a row is the sum over its occurrences") {
    auto weight = Td::zeros({5, 3}).set_requires_grad();
    sum(embedding(weight, ids)).backward();
    CHECK(values(weight.grad()) == std::vector<double>{1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2});
  }
  CHECK_THROWS_WITH(embedding(w, Ti::from_vector({1, 5})),
                    doctest::Contains("embedding: index 5 is out of range for dimension 0 of size 5"));
  CHECK_THROWS_WITH(embedding(Td::zeros({5}), ids), doctest::Contains("embedding: needs a weight of shape [V, E]"));
}
