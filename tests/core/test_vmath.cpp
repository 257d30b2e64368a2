// core/vmath.hpp against the C library (glibc): max ulp error over every float with a stride of 256
// (2^24 inputs: all ranges, denormals, +-inf and NaNs included), the special values, and a few
// million random doubles. The figures are printed (docs/performance.md records them).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <trustml/core/random.hpp>
#include <trustml/core/vmath.hpp>
#include <trustml/kernels/cpu/vmath_avx512.hpp>
#include <vector>

namespace vm = trustml::vmath;

namespace {
std::int64_t ordered(float x) {
  std::int32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b < 0 ? -static_cast<std::int64_t>(b & 0x7fffffff) : b;
}
std::int64_t ordered(double x) {
  std::int64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b < 0 ? -(b & 0x7fffffffffffffffll) : b;
}
// Distance in units in the last place; NaN against NaN is 0, NaN against a number is "infinite".
template <class R>
double ulp_distance(R a, R b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : 1e300;
  return static_cast<double>(std::llabs(ordered(a) - ordered(b)));
}

struct Result {
  double max_ulp = 0;
  float worst = 0;
};

// Every float whose bits are a multiple of `stride`, and the special values.
std::vector<float> float_inputs(std::uint64_t stride) {
  std::vector<float> x;
  x.reserve((1ull << 32) / stride + 32);
  for (std::uint64_t b = 0; b < (1ull << 32); b += stride) {
    const std::uint32_t u = static_cast<std::uint32_t>(b);
    float v;
    std::memcpy(&v, &u, sizeof v);
    x.push_back(v);
  }
  for (float v : {0.0f,
                  -0.0f,
                  std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::denorm_min(),
                  -std::numeric_limits<float>::denorm_min(),
                  std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::max(),
                  -std::numeric_limits<float>::max(),
                  88.72283f,
                  88.72284f,
                  -87.33654f,
                  -103.97208f,
                  -103.97209f,
                  -104.0f,
                  1.0f,
                  -1.0f,
                  0.55f,
                  -0.55f,
                  0.5f,
                  1e-30f})
    x.push_back(v);
  return x;
}

// f over float_inputs(stride), evaluated in one loop over an array (the loop GCC vectorizes, as the
// kernels' map loop is), against ref.
template <class F, class Ref>
Result sweep_float(F f, Ref ref, std::uint64_t stride = 256) {
  const std::vector<float> x = float_inputs(stride);
  const std::size_t n = x.size();
  std::vector<float> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = f(x[i]);
  Result r;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = ulp_distance(y[i], ref(x[i]));
    if (d > r.max_ulp) r = {d, x[i]};
  }
  return r;
}

template <class F, class Ref>
Result sweep_double(F f, Ref ref, double lo, double hi, int count = 2000000) {
  std::vector<double> x(count), y(count);
  for (int i = 0; i < count; ++i) x[i] = lo + (hi - lo) * trustml::random::uniform(42, 0, i);
  for (double v : {0.0, -0.0, 1.0, 1e-310, 5e-324, 709.78, 709.79, -745.1, -745.2, -708.4, 1e300, -1e-300})
    x.push_back(v);
  const std::size_t n = x.size();
  y.resize(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = f(x[i]);
  Result r;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = ulp_distance(y[i], ref(x[i]));
    if (d > r.max_ulp) r = {d, static_cast<float>(x[i])};
  }
  return r;
}

// Inputs excluded from a sweep map to 0 on both sides.
float gelu_ref_marker(float) { return 0.0f; }

void report(const char* name, const Result& r) {
  std::printf("vmath %-16s max %.0f ulp (at %.9g)\n", name, r.max_ulp, static_cast<double>(r.worst));
}
}  // namespace

TEST_CASE("vmath float functions are within 2 ulp of glibc over every float (stride 256)") {
  auto e = sweep_float([](float x) { return vm::exp(x); }, [](float x) { return std::exp(x); });
  report("exp(float)", e);
  CHECK(e.max_ulp <= 2);
  auto l = sweep_float([](float x) { return vm::log(x); }, [](float x) { return std::log(x); });
  report("log(float)", l);
  CHECK(l.max_ulp <= 2);
  auto t = sweep_float([](float x) { return vm::tanh(x); }, [](float x) { return std::tanh(x); });
  report("tanh(float)", t);
  CHECK(t.max_ulp <= 2);
  auto f = sweep_float([](float x) { return vm::erf(x); }, [](float x) { return std::erf(x); });
  report("erf(float)", f);
  CHECK(f.max_ulp <= 2);
  // The same against the double C library rounded to float (0.5 ulp from the true value): how far
  // each is from the correctly rounded result (informative; glibc's own tanhf is 1.5 ulp off at
  // places).
  report("exp(float) vs d", sweep_float([](float x) { return vm::exp(x); },
                                        [](float x) { return static_cast<float>(std::exp(double(x))); }));
  report("log(float) vs d", sweep_float([](float x) { return vm::log(x); },
                                        [](float x) { return static_cast<float>(std::log(double(x))); }));
  report("tanh(float) vs d", sweep_float([](float x) { return vm::tanh(x); },
                                         [](float x) { return static_cast<float>(std::tanh(double(x))); }));
  report("erf(float) vs d", sweep_float([](float x) { return vm::erf(x); },
                                        [](float x) { return static_cast<float>(std::erf(double(x))); }));
  // sigmoid and GELU against the double C library rounded to float.
  auto s = sweep_float([](float x) { return vm::sigmoid(x); },
                       [](float x) {
                         const double v = x;
                         return static_cast<float>(v < 0 ? std::exp(v) / (1 + std::exp(v)) : 1 / (1 + std::exp(-v)));
                       });
  report("sigmoid(float)", s);
  CHECK(s.max_ulp <= 2);
  // GELU (no bound was set for it): against the double C library, x erfc(-x / sqrt 2) / 2 rounded.
  // Below x = -4.75 (|gelu| < 5e-6) only a relative bound of 1e-6 is checked, down to x = -13
  // (|gelu| 1e-37): below, e^{-x^2/2} is a float denormal and loses digits.
  auto gelu_ref = [](float x) {
    const double v = x;
    return v < -40 ? -0.0f : static_cast<float>(0.5 * v * std::erfc(-v / std::sqrt(2.0)));
  };
  auto g = sweep_float([](float x) { return x < -4.75f ? gelu_ref_marker(x) : vm::gelu(x); },
                       [&](float x) { return x < -4.75f ? gelu_ref_marker(x) : gelu_ref(x); });
  report("gelu(float) x>=-4.75", g);
  CHECK(g.max_ulp <= 3);
  auto gt = sweep_float([](float x) { return vm::gelu(x); }, gelu_ref);
  report("gelu(float) all", gt);
  double tail = 0;
  for (float x = -4.75f; x > -13.0f; x -= 1e-4f) {
    const double r = gelu_ref(x);
    if (r != 0) tail = std::max(tail, std::abs((vm::gelu(x) - r) / r));
  }
  std::printf("vmath gelu(float) max relative error %.3g on [-13, -4.75]\n", tail);
  CHECK(tail < 1e-6);
  // gelu' = Phi(x) + x phi(x) crosses 0 near x = -0.7518, where no relative bound holds: absolute
  // error, on a fine grid of [-20, 20].
  double gmax = 0;
  for (int i = -2000000; i <= 2000000; ++i) {
    const float x = static_cast<float>(i * 1e-5);
    const double v = x;
    const double ref = 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    gmax = std::max(gmax, std::abs(vm::gelu_grad(x) - ref));
  }
  std::printf("vmath gelu_grad(float) max abs error %.3g on [-20, 20]\n", gmax);
  CHECK(gmax < 2.5e-7);  // 2 ulp of values near 1
  CHECK(vm::gelu_grad(std::numeric_limits<float>::infinity()) == 1.0f);
  CHECK(vm::gelu_grad(-std::numeric_limits<float>::infinity()) == 0.0f);
}

TEST_CASE("vmath double functions are within 2 ulp of glibc") {
  auto e = sweep_double([](double x) { return vm::exp(x); }, [](double x) { return std::exp(x); }, -750, 712);
  report("exp(double)", e);
  CHECK(e.max_ulp <= 2);
  auto e1 = sweep_double([](double x) { return vm::exp(x); }, [](double x) { return std::exp(x); }, -1, 1);
  report("exp(double) [-1,1]", e1);
  CHECK(e1.max_ulp <= 2);
  auto l = sweep_double([](double x) { return vm::log(x); }, [](double x) { return std::log(x); }, 0, 4);
  report("log(double) (0,4)", l);
  CHECK(l.max_ulp <= 2);
  // log over the whole exponent range: x = 2^u, u uniform in [-1074, 1024).
  auto lw = sweep_double([](double u) { return vm::log(std::exp2(u)); },
                         [](double u) { return std::log(std::exp2(u)); }, -1074, 1023.99);
  report("log(double) wide", lw);
  CHECK(lw.max_ulp <= 2);
  auto s = sweep_double([](double x) { return vm::sigmoid(x); },
                        [](double x) { return x < 0 ? std::exp(x) / (1.0 + std::exp(x)) : 1.0 / (1.0 + std::exp(-x)); },
                        -740, 40);
  report("sigmoid(double)", s);
  CHECK(s.max_ulp <= 2);
}

TEST_CASE("vmath special values: NaN propagates, infinities, signed zeros") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(vm::exp(nan)));
  CHECK(vm::exp(inf) == inf);
  CHECK(vm::exp(-inf) == 0.0f);
  CHECK(vm::exp(-0.0f) == 1.0f);
  CHECK(vm::exp(89.0f) == inf);
  CHECK(vm::log(0.0f) == -inf);
  CHECK(vm::log(-0.0f) == -inf);
  CHECK(std::isnan(vm::log(-1.0f)));
  CHECK(vm::log(inf) == inf);
  CHECK(std::isnan(vm::log(nan)));
  CHECK(vm::log(1.0f) == 0.0f);
  CHECK(std::signbit(vm::tanh(-0.0f)));
  CHECK(vm::tanh(inf) == 1.0f);
  CHECK(vm::tanh(-inf) == -1.0f);
  CHECK(std::signbit(vm::erf(-0.0f)));
  CHECK(vm::erf(-inf) == -1.0f);
  CHECK(vm::sigmoid(-inf) == 0.0f);
  CHECK(vm::sigmoid(inf) == 1.0f);
  CHECK(vm::sigmoid(-100.0f) > 0.0f);  // a denormal, not 0
  CHECK(vm::gelu(inf) == inf);
  CHECK(vm::gelu(-inf) == 0.0f);
  CHECK(std::isnan(vm::gelu(nan)));
  CHECK(std::isnan(vm::tanh(nan)));
  CHECK(std::isnan(vm::erf(nan)));
  CHECK(std::isnan(vm::sigmoid(nan)));
  const double dinf = std::numeric_limits<double>::infinity();
  CHECK(vm::exp(dinf) == dinf);
  CHECK(vm::exp(-dinf) == 0.0);
  CHECK(std::isnan(vm::exp(std::nan(""))));
  CHECK(vm::log(0.0) == -dinf);
  CHECK(std::isnan(vm::log(-2.0)));
  CHECK(vm::log(dinf) == dinf);
  CHECK(vm::log(5e-324) == std::log(5e-324));
  CHECK(vm::sigmoid(-dinf) == 0.0);
}

// kernels/cpu/vmath_avx512.hpp computes vmath's float exp, tanh and GELU 16 lanes at a time with
// other instructions (vscalefps, a clamp for the selects): it must return the same bits, NaN
// payloads aside. Inputs: every float with bits a multiple of 61 (70M, all ranges), every float
// near the boundaries where the code changes path, and every length below 70 (the masked tail).
TEST_CASE("vmath_avx512: exp, tanh and gelu equal vmath bit for bit") {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  std::vector<float> x = float_inputs(61);
  auto all_floats_in = [&](float lo, float hi) {  // lo < hi, same sign
    for (float v = lo; v <= hi; v = std::nextafter(v, hi + 1.0f)) x.push_back(v);
  };
  all_floats_in(88.72f, 88.73f);        // exp: the overflow boundary
  all_floats_in(-104.01f, -103.96f);    // exp: the last denormal results
  all_floats_in(-87.4f, -87.3f);        // exp: normal to denormal results
  all_floats_in(0.5499f, 0.5501f);      // tanh: the switch between its two formulas
  all_floats_in(-0.5501f, -0.5499f);
  all_floats_in(14.999f, 15.001f);      // gelu: the clamp of |x|
  all_floats_in(-15.001f, -14.999f);
  auto same_bits = [](float a, float b) {
    std::uint32_t ua, ub;
    std::memcpy(&ua, &a, sizeof a);
    std::memcpy(&ub, &b, sizeof b);
    return ua == ub || (std::isnan(a) && std::isnan(b));
  };
  auto check = [&](const char* name, auto functor, auto scalar) {
    std::vector<float> y(x.size());
    trustml::kernels::cpu::map_span(functor, y.data(), x.data(), static_cast<std::int64_t>(x.size()));
    std::size_t differ = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same_bits(y[i], scalar(x[i])) && differ++ < 5)
        std::printf("vmath_avx512 %s(%a): %a, vmath %a\n", name, static_cast<double>(x[i]), static_cast<double>(y[i]),
                    static_cast<double>(scalar(x[i])));
    CHECK_MESSAGE(differ == 0, std::string(name));
    for (std::int64_t n = 0; n < 70; ++n) {  // lengths that end in every tail size; the tail must be untouched
      std::vector<float> t(static_cast<std::size_t>(n) + 1, 7.0f);
      trustml::kernels::cpu::map_span(functor, t.data(), x.data() + 1000, n);
      for (std::int64_t i = 0; i < n; ++i) REQUIRE(same_bits(t[static_cast<std::size_t>(i)], scalar(x[1000 + static_cast<std::size_t>(i)])));
      REQUIRE(t[static_cast<std::size_t>(n)] == 7.0f);
    }
  };
  check("exp", trustml::fn::Exp{}, [](float v) { return vm::exp(v); });
  check("tanh", trustml::fn::Tanh{}, [](float v) { return vm::tanh(v); });
  check("gelu", trustml::fn::Gelu{}, [](float v) { return vm::gelu(v); });
#else
  MESSAGE("skipped: this build has no AVX-512F/DQ (kernels/cpu/vmath_avx512.hpp is not compiled)");
#endif
}
