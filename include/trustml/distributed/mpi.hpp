// trustml/distributed/mpi.hpp: zeroth-order estimates shared out between MPI ranks (DeepZero's
// forward parallelization, arXiv:2310.02025 section 4; docs/papers.md), without RPC, ports or
// network services of our own: the same program runs as one process or under mpirun on a cluster.
//
//   distributed::MpiSession mpi(argc, argv);
//   auto share = distributed::mpi_share();                // this rank's part, MPI_Allgatherv
//   estimate_staged(cge, stages, x, loss, &masks, {.share = share});
//   optimizer.step();                                     // every rank takes the same step
//   distributed::check_in_sync(*net, "after step 20");    // 64-bit hash of the weights, all ranks
//
// Every rank holds a full replica and must see the same batch (same seeded loader). Each rank
// evaluates a contiguous, cost-balanced range of the active coordinates; Allgatherv assembles the
// differences in global order and every rank fills the same gradient. No floating-point value is
// reduced across ranks, so gradients and weights are bitwise the same for 1, 2, ... ranks.
// Needs OpenMPI (Debian: libopenmpi-dev openmpi-bin); link trustml::mpi.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "trustml/estimators/staged_cge.hpp"
#include "trustml/nn/module.hpp"

namespace trustml::distributed {

namespace detail {
inline void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  TRUSTML_CHECK(false, "distributed::mpi", call, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}
}  // namespace detail

// MPI_Init on construction (unless MPI is already initialized), MPI_Finalize on destruction.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      detail::check_mpi(MPI_Init(&argc, &argv), "MPI_Init");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    if (owner_) MPI_Finalize();
  }
  static int rank(MPI_Comm comm = MPI_COMM_WORLD) {
    int r = 0;
    detail::check_mpi(MPI_Comm_rank(comm, &r), "MPI_Comm_rank");
    return r;
  }
  static int size(MPI_Comm comm = MPI_COMM_WORLD) {
    int s = 0;
    detail::check_mpi(MPI_Comm_size(comm, &s), "MPI_Comm_size");
    return s;
  }

 private:
  bool owner_ = false;
};

// This rank's share of a CGE: part = rank, parts = size; gather = MPI_Allgatherv of the differences.
inline estimators::QueryShare mpi_share(MPI_Comm comm = MPI_COMM_WORLD) {
  estimators::QueryShare share;
  share.part = MpiSession::rank(comm);
  share.parts = MpiSession::size(comm);
  share.gather = [comm](const std::vector<double>& mine, const std::vector<std::int64_t>& counts) {
    std::vector<int> sizes, offsets;
    int total = 0;
    for (auto c : counts) {
      TRUSTML_CHECK(c >= 0 && c <= INT32_MAX - total, "distributed::mpi_share", "a share of ", c,
                    " coordinates does not fit MPI's int counts");
      sizes.push_back(static_cast<int>(c));
      offsets.push_back(total);
      total += static_cast<int>(c);
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    detail::check_mpi(MPI_Allgatherv(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), sizes.data(),
                                     offsets.data(), MPI_DOUBLE, comm),
                      "MPI_Allgatherv");
    return all;
  };
  return share;
}

// FNV-1a over the bytes of every parameter and buffer, in state-dict order.
template <class T, class D>
std::uint64_t weights_hash(nn::Module<T, D>& model) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](const auto& values) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
    for (std::size_t i = 0; i < values.size() * sizeof(values[0]); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  };
  for (auto& [name, p] : model.named_parameters()) mix(p.to_vector());
  for (auto& [name, b] : model.named_buffers()) mix(b.to_vector());
  return h;
}

// Throws on every rank, naming `where` and the ranks that differ, unless all ranks hold the same weights.
template <class T, class D>
void check_in_sync(nn::Module<T, D>& model, const std::string& where, MPI_Comm comm = MPI_COMM_WORLD) {
  const std::uint64_t mine = weights_hash(model);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(MpiSession::size(comm)));
  detail::check_mpi(MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm), "MPI_Allgather");
  for (std::size_t r = 1; r < all.size(); ++r)
    TRUSTML_CHECK(all[r] == all[0], "distributed::check_in_sync", where, ": rank ", r, " holds weights ",
                  "that differ from rank 0's (hash ", all[r], " vs ", all[0], ")");
}

}  // namespace trustml::distributed
