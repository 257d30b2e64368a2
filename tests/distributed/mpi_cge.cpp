// Run under mpirun: 20 SGD steps of a small CNN trained by CGE with the coordinates shared out
// between the ranks give, on every rank, bitwise the gradients and weights of the same 20 steps
// taken by one process alone; every coordinate is evaluated by exactly one rank.
#include <trustml/distributed/mpi.hpp>  // first: the header is self-contained

#include <iostream>
#include <trustml/nn.hpp>
#include <trustml/optim/sgd.hpp>

using namespace trustml;

namespace {
struct Run {
  std::vector<float> grads, weights;  // all steps' gradients; the final weights
  std::int64_t coordinates = 0;       // evaluated by this process
  std::int64_t active = 0;            // active coordinates per step
};

Run train(const estimators::QueryShare& share) {
  auto net = nn::zoo::SmallCnn<float>(1, 10, 11, 2);
  optim::SGD<float> sgd(net->parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
  std::vector<Tensor<float>> masks;
  Run run;
  for (auto& p : net->parameters()) {
    std::vector<float> m(p.numel(), 0.0f);
    for (std::size_t i = 0; i < m.size(); i += 3) m[i] = 1, ++run.active;
    masks.push_back(Tensor<float>::from_vector(m, p.shape()));
  }
  estimators::CoordinateZO cge({.mu = 5e-3});
  auto stages = net->stages();
  for (int step = 0; step < 20; ++step) {
    auto x = Tensor<float>::rand({8, 1, 28, 28}, 100 + step);
    std::vector<std::int64_t> y(8);
    for (int i = 0; i < 8; ++i) y[i] = (i * 7 + step) % 10;
    auto loss = estimators::cross_entropy_per_group<float, Cpu>(Tensor<std::int64_t>::from_vector(y, {8}));
    sgd.zero_grad();
    run.coordinates += estimators::estimate_staged(cge, stages, x, loss, &masks, {.share = share}).coordinates;
    for (auto& p : net->parameters())
      for (float g : p.grad().to_vector()) run.grads.push_back(g);
    sgd.step();
    if (share.parts > 1 && step % 5 == 4) distributed::check_in_sync(*net, "step " + std::to_string(step));
  }
  for (auto& p : net->parameters())
    for (float w : p.to_vector()) run.weights.push_back(w);
  return run;
}
}  // namespace

int main(int argc, char** argv) {
  distributed::MpiSession mpi(argc, argv);
  const int rank = distributed::MpiSession::rank(), ranks = distributed::MpiSession::size();
  try {
    const Run shared = train(distributed::mpi_share());
    const Run alone = train(estimators::QueryShare{});
    std::int64_t evaluated = 0;
    MPI_Allreduce(&shared.coordinates, &evaluated, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    int ok = shared.grads == alone.grads && shared.weights == alone.weights && evaluated == 20 * alone.active &&
             (ranks == 1 || shared.coordinates < alone.coordinates);
    int all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    std::cout << "rank " << rank << " of " << ranks << ": evaluated " << shared.coordinates << " of "
              << 20 * alone.active << " coordinates; gradients " << (shared.grads == alone.grads ? "equal" : "DIFFER")
              << ", weights " << (shared.weights == alone.weights ? "equal" : "DIFFER") << " to one process's"
              << std::endl;
    return all_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "rank " << rank << ": " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
}
