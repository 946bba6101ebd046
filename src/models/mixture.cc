// mixture.cc — EM for a mixture of K products of categoricals, in log space.
//
// Class-conditional on labeled spaces as one separate K-component mixture per
// label (P(x|y) = sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d), plus P(y) from
// label counts): the likelihood then factorises over labels, so each label's
// EM is exact and independent, and log P(x|y) needs no other label's data.
// Shared components with label-specific weights would save parameters but
// couple the labels in every E-step; we prefer the exact, simpler form.
//
// Initialisation (per label, per restart): K distinct training samples x_j
// drawn without replacement (with repeats only when K > N) give
// theta_{k,d}(v) = ([x_{j_k,d} = v] + 1) / (1 + L) — each sample's Laplace-smoothed
// one-sample estimate — and pi = 1/K.
// E-step: log P(x_n, k) per sample; responsibilities r_nk by log-sum-exp.
// For binary data log P(x|k) = x . (log t_k - log(1 - t_k)) + sum_d log(1 - t_kd):
// the sum of the log-odds rows at the sample's ones (a third of the positions
// on Fashion-MNIST), from the samples as bit words, a word of rows (kept in L1
// cache) at a time over a chunk's samples, the accumulators in registers, in
// increasing position. No multiplications; at N=60000, D=784, K=100 in
// float32 an EM iteration took 0.065 CPU s with it against 0.12 with the
// GEMM x w (Eigen) it replaced. For other levels D table-row additions over K.
// M-step (MAP under a symmetric Dirichlet(alpha + 1) prior, i.e. alpha
// pseudo-counts): pi_k = (N_k + alpha) / (N + K alpha),
// theta_{k,d}(v) = (sum_n r_nk [x_nd = v] + alpha) / (N_k + L alpha).
// Restarts ("restarts") and iterations keep the parameters with the best
// validation log-likelihood, or without validation data the best train MAP
// objective (log-likelihood + log prior, which EM never decreases); a label
// group stops on |dLL| <= tolerance |LL| or after "patience" iterations
// without a better validation log-likelihood.
// Statistics are formed per chunk — a group's samples within one block of the
// data (comm.h shard_block: at most 512 samples, and the same blocks for any
// number of MPI ranks) — in float32 or float64 as configured (binary: the
// E-step's row sums, then one GEMM for the M-step statistics of a dense
// chunk), a wave of chunks at a time.
// Each chunk's statistics are rounded once to a fixed-point grid and added
// as int64 (comm.h FixedPoint; then summed over the ranks), and the chunks'
// log-likelihoods are added in chunk order: so the result is bit-identical
// whatever the thread count and the number of ranks. Binary data after the
// first iterations has sparse responsibilities (most r_nk underflow, a few
// components per sample are left): a chunk where at most a quarter of the
// r_nk are nonzero on the grid skips the M-step GEMM and adds each such r_nk,
// rounded to the grid on its own, at the sample's ones (bit masks, int64
// additions; exact, so in any order). Which way a chunk goes depends on its
// responsibilities only, the same for any thread count and number of ranks.
// On binarized Fashion-MNIST at K=100 about 2 r_nk a sample are left. Over ranks each keeps
// its shard; the initial samples are drawn over the whole training set.
#include "dgm/models/mixture.h"

#include "nn/eigen.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "dgm/comm.h"
#include "dgm/distributed.h"
#include "dgm/error.h"
#include "dgm/logmath.h"
#include "models/mixture_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace dgm {
namespace {

constexpr size_t kMaxChunksPerWave = 16;         // chunks whose statistics are formed together
constexpr size_t kWaveBytes = size_t(64) << 20;  // budget of a wave's per-chunk (D, K) statistics
constexpr int64_t kPositionBlock = 64; // positions per M-statistics task: one word of a sample's bits
// A binary chunk's statistics are formed from its nonzero responsibilities
// (below) when at most one in kSparseFraction of them is nonzero: one such
// term costs about a dense row of x's (D int64 additions), against K / 2 of
// them a sample for the dense GEMM and its rounding.
constexpr int64_t kSparseFraction = 4;

// One label group's parameters during EM.
struct GroupParams {
  std::vector<double> log_weight;  // (K)
  std::vector<double> log_table;   // (D, L, K)
};

// Expected sufficient statistics of one pass.
struct Stats {
  std::vector<double> nk;      // (K): sum_n r_nk
  std::vector<double> counts;  // (D, L, K): sum_n r_nk [x_nd = v]
};

// How an E-step pass is cut and summed: chunks are the rows of one block of
// `block` samples (rows are local indices of a shard that starts at a block
// boundary); statistics go through `fp` and sum over `comm`.
struct Pass {
  size_t block;
  FixedPoint fp;
  Communicator* comm;
  ThreadPool* pool;
  const uint64_t* bits = nullptr;  // binary: the rows as pack_chunks gives them, or null
};

// Chunk c of an E-step pass is rows [cut[c], cut[c+1]): the rows of one block.
std::vector<size_t> chunk_cuts(const std::vector<size_t>& rows, size_t block) {
  std::vector<size_t> cut{0};
  for (size_t i = 1; i < rows.size(); ++i)
    if (rows[i] / block != rows[i - 1] / block) cut.push_back(i);
  if (!rows.empty()) cut.push_back(rows.size());
  return cut;
}

// The 0/1 values x[0, D) as bits: bit j of out[b * stride] is x[64 b + j] != 0.
inline void pack_bits(const uint8_t* x, uint64_t* out, int64_t stride, int64_t D) {
  for (int64_t b = 0; b * 64 < D; ++b) {
    const int64_t n = std::min<int64_t>(64, D - b * 64);
    uint64_t w = 0;
#if defined(__AVX512BW__)
    const __mmask64 load = n == 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
    w = _mm512_test_epi8_mask(_mm512_maskz_loadu_epi8(load, x + b * 64), _mm512_set1_epi8(-1));
#else
    for (int64_t j = 0; j < n; ++j) w |= uint64_t(x[b * 64 + j] != 0) << j;
#endif
    out[b * stride] = w;
  }
}

// o[j] += q for the set bits j of w (o has 64 values).
inline void add_at_ones(uint64_t w, int64_t q, int64_t* o) {
  if (w == 0) return;
#if defined(__AVX512F__)
  // Plain loads and stores (masked stores are slow on some cores) and no
  // branches on the bits (they are data), a masked add.
  const __m512i v = _mm512_set1_epi64(q);
  for (int j = 0; j < 64; j += 8, w >>= 8) {
    const __mmask8 m = __mmask8(w & 0xff);
    const __m512i x = _mm512_loadu_si512(o + j);
    _mm512_storeu_si512(o + j, _mm512_mask_add_epi64(x, m, x, v));
  }
#elif defined(__AVX2__)
  mixture_kernels::add_at_ones_avx2(w, q, o);
#else
  for (int j = 0; j < 64; ++j) o[j] += q & -int64_t((w >> j) & 1);
#endif
}

// A group's binary rows as bits for EStep::run, packed once for a fit (the
// passes read an eighth of the data's bytes, in order): chunk c's m samples
// at offset cut[c] * words, word b of its sample i at b m + i.
std::vector<uint64_t> pack_chunks(const Dataset& data, const std::vector<size_t>& rows, size_t block, int64_t D,
                                  ThreadPool& pool) {
  const std::vector<size_t> cut = chunk_cuts(rows, block);
  const int64_t words = (D + 63) / 64;
  std::vector<uint64_t> out(rows.size() * size_t(words), 0);
  pool.run(cut.size() - 1, [&](size_t c) {
    const int64_t m = int64_t(cut[c + 1] - cut[c]);
    for (int64_t i = 0; i < m; ++i)
      pack_bits(data.row_u8(rows[cut[c] + size_t(i)]), &out[cut[c] * size_t(words) + size_t(i)], m, D);
  });
  return out;
}

// One native vector of S (GCC/Clang vector extension): DGM_VEC_BYTES, the
// widest the build has. A 64-byte vector type without AVX-512 has no machine
// mode: GCC keeps such vectors in memory (on the stack), and every += in
// add_rows became stores, reloads and lane moves through it (on a Zen 3
// host, AVX2 only, an EM iteration at K=100 took about 0.56 CPU s so, 0.12
// with 32-byte vectors). Macros, not constants: the AVX-512 build compiles
// the same declarations, so the same code, as before they came.
#if defined(__AVX512F__)
#define DGM_VEC_BYTES 64
#elif defined(__AVX__)
#define DGM_VEC_BYTES 32
#else
#define DGM_VEC_BYTES 16
#endif
// Panels of up to DGM_MAX_PANEL 64-byte blocks of accumulators: 8 of
// AVX-512's 32 registers, or 14 of AVX2's 16 (so at most 7 blocks there,
// leaving registers for the loop).
#define DGM_MAX_PANEL (DGM_VEC_BYTES == 64 ? 8 : 7)
// Unrolled by hand where the vectors are narrower than 64 bytes: GCC would
// otherwise take add_rows' copy loops for a memcpy of the whole array and
// keep it on the stack (then 16-byte copies, reloaded 32 bytes at a time, a
// failed store forwarding each), not in registers. Empty on AVX-512, whose
// code stays as it was.
#if DGM_VEC_BYTES == 64
#define DGM_UNROLL_NARROW
#else
#define DGM_UNROLL_NARROW _Pragma("GCC unroll 16")
#endif
template <typename S>
struct VecN;
template <>
struct VecN<float> {
  typedef float type __attribute__((vector_size(DGM_VEC_BYTES)));
};
template <>
struct VecN<double> {
  typedef double type __attribute__((vector_size(DGM_VEC_BYTES)));
};

// acc[0, V blocks) += w[j * ldw, + V blocks) for the set bits j of x, in
// increasing j: the accumulators in registers. V counts 64-byte blocks,
// 64 / DGM_VEC_BYTES native vectors each; lanes are independent, so the
// floats do not depend on the vector width.
template <typename S, int V>
void add_rows(uint64_t x, const S* w, int64_t ldw, S* acc) {
  using T = typename VecN<S>::type;
  constexpr int lanes = DGM_VEC_BYTES / sizeof(S);
  T a[V * (64 / DGM_VEC_BYTES)];
  DGM_UNROLL_NARROW
  for (int v = 0; v < V * (64 / DGM_VEC_BYTES); ++v) std::memcpy(&a[v], acc + v * lanes, sizeof(T));
  for (; x; x &= x - 1) {
    const S* row = w + __builtin_ctzll(x) * ldw;
    for (int v = 0; v < V * (64 / DGM_VEC_BYTES); ++v) {
      T r;
      std::memcpy(&r, row + v * lanes, sizeof r);
      a[v] += r;
    }
  }
  DGM_UNROLL_NARROW
  for (int v = 0; v < V * (64 / DGM_VEC_BYTES); ++v) std::memcpy(acc + v * lanes, &a[v], sizeof(T));
}

// acc (m, ldw) = x w for m samples as bits (word b of sample i at
// bits[b * m + i]) and w (words * 64, ldw), ldw a multiple of a vector: the
// sum of w's rows at each sample's ones, in increasing position, a word (64
// rows of w, kept in L1 cache) at a time over all samples, in panels of up
// to DGM_MAX_PANEL vectors.
template <typename S>
void sum_rows(const uint64_t* bits, int64_t m, int64_t words, const S* w, int64_t ldw, S* acc) {
  constexpr int64_t lanes = 64 / sizeof(S);
  std::fill(acc, acc + m * ldw, S(0));
  for (int64_t b = 0; b < words; ++b)
    for (int64_t c = 0; c < ldw; c += DGM_MAX_PANEL * lanes) {
      const S* wb = w + b * 64 * ldw + c;
      const uint64_t* x = bits + b * m;
      switch (std::min<int64_t>(DGM_MAX_PANEL, (ldw - c) / lanes)) {
#define DGM_PANEL(V) \
  case V:            \
    for (int64_t i = 0; i < m; ++i) add_rows<S, V>(x[i], wb, ldw, acc + i * ldw + c); \
    break;
        DGM_PANEL(1) DGM_PANEL(2) DGM_PANEL(3) DGM_PANEL(4) DGM_PANEL(5) DGM_PANEL(6) DGM_PANEL(7) DGM_PANEL(8)
#undef DGM_PANEL
        default: break;
      }
    }
}

// The E-step for one group's parameters in scalar type S (float or double).
template <typename S>
class EStep {
 public:
  using MatR = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatC = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

  EStep(const GroupParams& p, int64_t K, int64_t D, int64_t L, bool binary)
      : K_(K), D_(D), L_(L), binary_(binary), bias_(p.log_weight) {
    if (binary_) {
      kp_ = (K + kLanes - 1) / kLanes * kLanes;
      w_.assign(size_t((D + 63) / 64 * 64 * kp_), S(0));  // whole words of rows
      for (int64_t d = 0; d < D; ++d)
        for (int64_t k = 0; k < K; ++k) {
          const double t0 = p.log_table[size_t((d * 2 + 0) * K + k)], t1 = p.log_table[size_t((d * 2 + 1) * K + k)];
          w_[size_t(d * kp_ + k)] = S(t1 - t0);
          bias_[size_t(k)] += t0;
        }
    } else {
      t_ = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
               p.log_table.data(), D * L, K).template cast<S>();
    }
  }

  // Returns sum_n log P(x_n) over `rows` of `data` (over all ranks); fills
  // *stats (summed over all ranks) when non-null. Collective.
  double run(const Dataset& data, const std::vector<size_t>& rows, Stats* stats, const Pass& pass) const {
    using ArrR = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using VecS = Eigen::Array<S, Eigen::Dynamic, 1>;
    ThreadPool& pool = *pass.pool;
    const FixedPoint& fp = pass.fp;
    const std::vector<size_t> cut = chunk_cuts(rows, pass.block);
    const size_t chunks = cut.size() - 1;
    std::vector<double> chunk_ll(chunks);
    // Fewer chunks a wave when K is large, to bound memory; the sums are exact,
    // so the wave size never changes the result.
    const size_t chunk_bytes = size_t(D_) * size_t(K_) * sizeof(S);
    const size_t wave_chunks = std::clamp<size_t>(kWaveBytes / chunk_bytes, 1, kMaxChunksPerWave);
    const size_t wave_rows = std::min(rows.size(), wave_chunks * pass.block);
    MatC r(int64_t(wave_rows), K_);  // (wave, K) r_nk (column-major: the GEMMs tile samples)
    Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> qr;  // (wave, K) r_nk on the grid, other levels
    std::vector<double> ll(wave_rows);
    // Per chunk of the wave: sum_n r_nk x_nd (D, K) when binary, and sum_n r_nk (K).
    std::vector<MatC> part(binary_ && stats ? wave_chunks : 0);
    // Per chunk of the wave: sum_n r_nk (K) on the grid.
    std::vector<std::vector<int64_t>> part_nk(stats ? wave_chunks : 0);
    // Per sparse chunk of the wave (binary; then part is unused): its
    // responsibilities with a nonzero grid value, in sample order, and each
    // sample's x as bits, words of 64 positions (bit j of word b is position
    // 64 b + j), packed while the row is in cache, word-major (word b of
    // sample i at b m + i) so that a position task reads its words in order.
    struct Term {
      int64_t k, q;  // component, r_nk on the grid
      uint32_t i;    // the sample in the chunk
    };
    std::vector<std::vector<Term>> terms(binary_ && stats ? wave_chunks : 0);
    std::vector<std::vector<uint64_t>> bits(binary_ && stats && !pass.bits ? wave_chunks : 0);
    std::vector<const uint64_t*> chunk_bits(binary_ && stats ? wave_chunks : 0);
    const int64_t words = (D_ + 63) / 64;
    std::vector<char> sparse(terms.size(), 0);
    // The statistics on the grid: nk (K), then (D, K) ones when binary, else
    // (D, L, K) counts; when binary also (words, K, 64) ones from the sparse
    // chunks (positions padded to whole words; a position task's part is contiguous).
    std::vector<int64_t> q;
    if (stats) {
      q.assign(size_t(K_) + size_t(D_ * (binary_ ? 1 : L_) * K_) + size_t(binary_ ? K_ * 64 * words : 0), 0);
      if (!binary_) qr.resize(int64_t(wave_rows), K_);
    }
    int64_t* qnk = q.data();
    int64_t* qtab = q.data() + K_;
    int64_t* qones = binary_ && stats ? qtab + D_ * K_ : nullptr;  // (words, K, 64)
    const bool bytes = data.width() == 1;
    const Eigen::Array<S, 1, Eigen::Dynamic> bias =
        Eigen::Map<const Eigen::Array<double, 1, Eigen::Dynamic>>(bias_.data(), K_).template cast<S>();
    for (size_t c0 = 0; c0 < chunks; c0 += wave_chunks) {
      const size_t nw = std::min(wave_chunks, chunks - c0);
      const size_t w0 = cut[c0];  // the wave's first row
      pool.run(nw, [&](size_t wc) {
        const size_t c = c0 + wc;
        const size_t i0 = cut[c] - w0, i1 = cut[c + 1] - w0;
        const int64_t m = int64_t(i1 - i0);
        ArrR a(m, K_);  // (m, K) log P(x_n, k)
        // Binary: the chunk's samples as bits (word-major, see bits), and
        // x . w as the sum of w's rows at the ones (a quarter to a third of
        // the positions here) rather than a GEMM over all of them.
        // Packed once for the whole fit when the caller did (pass.bits).
        thread_local std::vector<uint64_t> own_bits;
        if (binary_) {
          const uint64_t* xb = pass.bits ? pass.bits + cut[c] * size_t(words) : nullptr;
          if (!xb) {
            std::vector<uint64_t>& buf = stats ? bits[wc] : own_bits;
            buf.assign(size_t(m * words), 0);
            for (int64_t i = 0; i < m; ++i) pack_bits(data.row_u8(rows[w0 + i0 + size_t(i)]), &buf[size_t(i)], m, D_);
            xb = buf.data();
          }
          if (stats) chunk_bits[wc] = xb;
          thread_local std::vector<S> sums;
          sums.resize(size_t(m * kp_));
          sum_rows(xb, m, words, w_.data(), kp_, sums.data());
          for (int64_t i = 0; i < m; ++i) std::copy_n(&sums[size_t(i * kp_)], K_, &a(i, 0));
        } else {
          std::vector<S> acc(static_cast<size_t>(K_));
          for (size_t i = i0; i < i1; ++i) {
            std::fill(acc.begin(), acc.end(), S(0));
            const size_t row = rows[w0 + i];
            const uint8_t* src = bytes ? data.row_u8(row) : nullptr;
            for (int64_t d = 0; d < D_; ++d) {
              const int64_t v = bytes ? src[d] : data.at(row, d);
              const S* t = t_.row(d * L_ + v).data();
              for (int64_t k = 0; k < K_; ++k) acc[size_t(k)] += t[k];
            }
            for (int64_t k = 0; k < K_; ++k) a(int64_t(i - i0), k) = acc[size_t(k)];
          }
        }
        // Log-sum-exp over k, vectorised by Eigen (all terms are finite: alpha > 0).
        a.rowwise() += bias;
        const VecS mx = a.rowwise().maxCoeff();
        a.colwise() -= mx;
        a = a.exp();
        const VecS sum = a.rowwise().sum();
        double s = 0;
        for (int64_t i = 0; i < m; ++i) {
          ll[i0 + size_t(i)] = double(mx(i)) + std::log(double(sum(i)));
          s += ll[i0 + size_t(i)];
        }
        chunk_ll[c] = s;
        if (!stats) return;
        a.colwise() /= sum;
        std::vector<int64_t>& qn = part_nk[wc];
        qn.assign(size_t(K_), 0);
        if (binary_) {
          // A chunk whose r is sparse adds each r_nk, on the grid, at the
          // sample's ones; r_nk whose grid value is 0 add nothing (most r_nk
          // underflow to 0 or lie below the grid's half step, `half`: r_nk
          // rounds to 0 exactly when r_nk <= half). Which way a chunk goes
          // depends on its r only, so on the data and the parameters, never
          // on threads or ranks.
          const S half = S(0.5 * fp.inverse);  // a power of 2: exact in S
          const int64_t nonzero = (a > half).count();
          sparse[wc] = nonzero * kSparseFraction <= m * K_;
          if (sparse[wc]) {
            std::vector<Term>& t = terms[wc];
            t.clear();
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t k = 0; k < K_; ++k)
                if (a(i, k) > half) {
                  const int64_t v = fp.to_fixed(double(a(i, k)));
                  qn[size_t(k)] += v;
                  t.push_back({k, v, uint32_t(i)});
                }
            }
            return;
          }
          const Eigen::ArrayXd nk = a.colwise().sum().transpose().template cast<double>();
          for (int64_t k = 0; k < K_; ++k) qn[size_t(k)] = fp.to_fixed(nk(k));
          r.middleRows(int64_t(i0), m) = a.matrix();
          // The chunk's samples as 0/1, in a per-thread buffer.
          thread_local std::vector<S> x_buf;
          x_buf.resize(size_t(m * D_));
          Eigen::Map<MatR> x(x_buf.data(), m, D_);  // (m, D)
          for (int64_t i = 0; i < m; ++i) {
            const uint8_t* src = data.row_u8(rows[w0 + i0 + size_t(i)]);
            S* dst = x.row(i).data();
            for (int64_t d = 0; d < D_; ++d) dst[d] = S(src[d] != 0);
          }
          part[wc].noalias() = x.transpose() * r.middleRows(int64_t(i0), m);
        } else {
          const Eigen::ArrayXd nk = a.colwise().sum().transpose().template cast<double>();
          for (int64_t k = 0; k < K_; ++k) qn[size_t(k)] = fp.to_fixed(nk(k));
          for (int64_t i = 0; i < m; ++i)
            for (int64_t k = 0; k < K_; ++k) qr(int64_t(i0) + i, k) = fp.to_fixed(double(a(i, k)));
        }
      });
      if (!stats) continue;
      for (size_t wc = 0; wc < nw; ++wc)
        for (int64_t k = 0; k < K_; ++k) qnk[k] += part_nk[wc][size_t(k)];
      // Sufficient statistics: tasks own disjoint position blocks; integer
      // sums, so any order of chunks and rows gives the same.
      const size_t wn = cut[c0 + nw] - w0;
      pool.run(num_chunks(size_t(D_), size_t(kPositionBlock)), [&](size_t pb) {
        const int64_t d0 = int64_t(pb) * kPositionBlock, db = std::min(kPositionBlock, D_ - d0);
        if (binary_) {
          for (size_t wc = 0; wc < nw; ++wc) {
            if (sparse[wc]) {
              const uint64_t* b = chunk_bits[wc] + d0 / 64 * int64_t(cut[c0 + wc + 1] - cut[c0 + wc]);
              int64_t* o = qones + d0 / 64 * K_ * 64;
              for (const Term& t : terms[wc]) add_at_ones(b[t.i], t.q, o + t.k * 64);
              continue;
            }
            for (int64_t d = d0; d < d0 + db; ++d) {
              int64_t* o = qtab + size_t(d * K_);
              for (int64_t k = 0; k < K_; ++k) o[k] += fp.to_fixed(double(part[wc](d, k)));
            }
          }
          return;
        }
        for (size_t i = 0; i < wn; ++i) {
          const size_t row = rows[w0 + i];
          const int64_t* qi = qr.row(int64_t(i)).data();
          for (int64_t d = d0; d < d0 + db; ++d) {
            const int64_t v = bytes ? data.row_u8(row)[d] : data.at(row, d);
            int64_t* cs = qtab + size_t((d * L_ + v) * K_);
            for (int64_t k = 0; k < K_; ++k) cs[k] += qi[k];
          }
        }
      });
    }
    Communicator& comm = *pass.comm;
    const double total = sum_in_order(comm, chunk_ll);
    if (stats) {
      comm.sum(q.data(), q.size());
      stats->nk.assign(size_t(K_), 0.0);
      stats->counts.assign(size_t(D_ * L_ * K_), 0.0);
      for (int64_t k = 0; k < K_; ++k) stats->nk[size_t(k)] = fp.to_real(qnk[k]);
      if (binary_) {
        for (int64_t d = 0; d < D_; ++d)
          for (int64_t k = 0; k < K_; ++k) {
            const double ones = fp.to_real(qtab[size_t(d * K_ + k)] + qones[size_t(((d / 64) * K_ + k) * 64 + d % 64)]);
            stats->counts[size_t((d * 2 + 1) * K_ + k)] = ones;
            stats->counts[size_t((d * 2 + 0) * K_ + k)] = std::max(0.0, stats->nk[size_t(k)] - ones);
          }
      } else {
        for (size_t j = 0; j < stats->counts.size(); ++j) stats->counts[j] = fp.to_real(qtab[j]);
      }
    }
    return total;
  }

 private:
  int64_t K_, D_, L_;
  bool binary_;
  std::vector<double> bias_;  // (K) log pi_k (+ sum_d log theta_kd(0) when binary)
  static constexpr int64_t kLanes = 64 / sizeof(S);
  int64_t kp_ = 0;            // K rounded up to whole vectors
  std::vector<S> w_;          // (D, kp_) log theta_kd(1) - log theta_kd(0), binary only (0 past K)
  MatR t_;                    // (D * L, K) log theta_kd(v), other levels
};

}  // namespace

MixtureModel::MixtureModel(const Space& space, const Options& options)
    : CategoricalMixtureBase(space, options.components, "mixture", options.float32), opt_(options) {}

double MixtureModel::log_prior() const {
  double s = table_sum();
  for (double v : log_weight_) s += v;
  return opt_.alpha * s;
}

uint64_t MixtureModel::memory_bytes() const {
  // The model's table in its precision (every label group); EM iterates every
  // group together (fit's runs): per group a run's current and best
  // parameters, the best over restarts and the expected counts in double;
  // one group's E-step table in its scalar type;
  // an E-step wave (as run() cuts it, for blocks of the largest size, 512):
  // its responsibilities (and their grid values when not binary), its
  // chunks' statistics, and each worker's log P(x_n, k) of a chunk (and its
  // sums of log-odds rows, or its samples as values for a dense chunk); when
  // binary also the sparse chunks' ones on the grid (K, whole words of 64
  // positions) and their samples' bits.
  const double s = opt_.float32 ? 4 : 8;
  const double group = double(K_) * double(D_) * double(L_);
  const double chunk_bytes = double(D_) * double(K_) * s;
  const double wave_chunks = std::clamp(std::floor(double(kWaveBytes) / chunk_bytes), 1.0, double(kMaxChunksPerWave));
  const double wave_rows = wave_chunks * 512;
  const double words = std::ceil(double(D_) / 64);
  const double sparse = L_ == 2 ? 8 * words * (64 * double(K_) + wave_rows) : 0;
  const double wave =
      wave_rows * double(K_) * (s + (L_ > 2 ? 8 : 0)) + wave_chunks * chunk_bytes + 512 * (2 * double(K_) + std::max(double(D_), double(K_) + 16)) * s + sparse;
  return uint64_t(double(G_) * group * (s + 8 * 4) + group * s + wave);
}

json MixtureModel::describe() const {
  return {{"type", "mixture"},
          {"components", K_},
          {"alpha", opt_.alpha},
          {"precision", opt_.float32 ? "float32" : "float64"},
          {"labels", space_.labels()},
          {"parameters", num_parameters()}};
}

void MixtureModel::fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) {
  // One process is the one-rank case of the same code: the same chunks and
  // sums, so the same bytes for any number of ranks.
  LocalCommunicator one;
  Communicator& comm = ctx.comm ? *ctx.comm : one;
  Communicator* checked = ctx.comm;
  check_training_data(train, "training data", checked);
  const size_t n_valid_all = validation ? size_t(comm.sum(int64_t(validation->size()))) : 0;
  const bool use_valid = n_valid_all > 0;
  if (use_valid) check_training_data(*validation, "validation data", checked);
  const size_t n_local = train.size();
  const size_t n = size_t(comm.sum(int64_t(n_local)));  // over all ranks
  if (n == 0) throw DataError("training data: no samples");
  const double alpha = opt_.alpha;
  const bool binary = L_ == 2;

  std::vector<std::vector<size_t>> train_rows(static_cast<size_t>(G_)), valid_rows(static_cast<size_t>(G_));
  for (size_t i = 0; i < n_local; ++i) train_rows[size_t(std::max(0, train.label(i)))].push_back(i);
  if (use_valid)
    for (size_t i = 0; i < validation->size(); ++i)
      valid_rows[size_t(std::max(0, validation->label(i)))].push_back(i);
  // Group sizes over all ranks, and where this rank's rows of each group
  // start in the group's global order.
  std::vector<int64_t> train_count(static_cast<size_t>(G_)), valid_count(static_cast<size_t>(G_)),
      group_offset(static_cast<size_t>(G_), 0);
  {
    std::string mine(size_t(G_) * sizeof(int64_t), '\0');
    for (int64_t g = 0; g < G_; ++g) {
      const int64_t c = int64_t(train_rows[size_t(g)].size());
      std::memcpy(&mine[size_t(g) * sizeof c], &c, sizeof c);
      valid_count[size_t(g)] = int64_t(valid_rows[size_t(g)].size());
    }
    const std::vector<std::string> all = comm.all_gather(mine);
    for (size_t r = 0; r < all.size(); ++r)
      for (int64_t g = 0; g < G_; ++g) {
        int64_t c;
        std::memcpy(&c, all[r].data() + size_t(g) * sizeof c, sizeof c);
        train_count[size_t(g)] += c;
        if (int(r) < comm.rank()) group_offset[size_t(g)] += c;
      }
    comm.sum(valid_count.data(), valid_count.size());
  }

  // The label prior is fixed by the counts; its log-likelihood enters the reported NLLs.
  double label_ll = 0, label_ll_valid = 0;
  for (int64_t g = 0; g < G_; ++g) {
    label_log_prior_[size_t(g)] = std::log((double(train_count[size_t(g)]) + alpha) / (double(n) + double(G_) * alpha));
    if (!space_.has_labels()) label_log_prior_[size_t(g)] = 0;
    label_ll += double(train_count[size_t(g)]) * label_log_prior_[size_t(g)];
    label_ll_valid += double(valid_count[size_t(g)]) * label_log_prior_[size_t(g)];
  }

  // Chunks are blocks of each dataset; the grid holds sums up to the group's
  // size (every responsibility is at most 1, up to rounding).
  const size_t train_block = size_t(shard_block(n)), valid_block = size_t(shard_block(n_valid_all));
  // The E-step of group g's parameters on its training rows (with the
  // statistics) or on its validation rows (the log-likelihood only).
  // Binary rows as bits, packed at a group's first pass (an eighth of the data's size).
  std::vector<std::vector<uint64_t>> packed_train(static_cast<size_t>(G_)), packed_valid(static_cast<size_t>(G_));
  auto e_step = [&](const GroupParams& p, int64_t g, bool on_train, Stats* st) {
    const int64_t size = (on_train ? train_count : valid_count)[size_t(g)];
    Pass pass{on_train ? train_block : valid_block, FixedPoint::for_bound(1.01 * double(size) + 16.0), &comm,
              ctx.pool};
    const Dataset& data = on_train ? train : *validation;
    const std::vector<size_t>& rows = (on_train ? train_rows : valid_rows)[size_t(g)];
    if (binary && !rows.empty()) {
      std::vector<uint64_t>& packed = (on_train ? packed_train : packed_valid)[size_t(g)];
      if (packed.empty()) packed = pack_chunks(data, rows, pass.block, D_, *ctx.pool);
      pass.bits = packed.data();
    }
    if (opt_.float32) return EStep<float>(p, K_, D_, L_, binary).run(data, rows, st, pass);
    return EStep<double>(p, K_, D_, L_, binary).run(data, rows, st, pass);
  };
  auto e_train = [&](const GroupParams& p, int64_t g, Stats* st) { return e_step(p, g, true, st); };
  auto e_valid = [&](const GroupParams& p, int64_t g) { return e_step(p, g, false, nullptr); };
  // Denominators are the sums of the numerators, not N and N_k: responsibilities
  // computed in float32 sum to 1 only to ~1e-7, and P must sum to 1 to 1e-15.
  auto m_step = [&](const Stats& st, GroupParams& p) {
    double n_g = 0;
    for (double v : st.nk) n_g += v;
    std::vector<double> denom(static_cast<size_t>(K_));
    for (int64_t k = 0; k < K_; ++k) p.log_weight[size_t(k)] = std::log((st.nk[size_t(k)] + alpha) / (n_g + double(K_) * alpha));
    for (int64_t d = 0; d < D_; ++d) {
      std::fill(denom.begin(), denom.end(), double(L_) * alpha);
      for (int64_t v = 0; v < L_; ++v)
        for (int64_t k = 0; k < K_; ++k) denom[size_t(k)] += st.counts[size_t((d * L_ + v) * K_ + k)];
      for (auto& x : denom) x = std::log(x);
      for (int64_t v = 0; v < L_; ++v)
        for (int64_t k = 0; k < K_; ++k) {
          const size_t j = size_t((d * L_ + v) * K_ + k);
          p.log_table[j] = std::log(st.counts[j] + alpha) - denom[size_t(k)];
        }
    }
  };
  auto init = [&](int64_t g, Rng& rng, GroupParams& p) {
    const std::vector<size_t>& rows = train_rows[size_t(g)];
    const size_t size = size_t(train_count[size_t(g)]), first = size_t(group_offset[size_t(g)]);
    p.log_weight.assign(size_t(K_), -std::log(double(K_)));
    p.log_table.assign(size_t(D_ * L_ * K_), -std::log(double(L_)));
    if (size == 0) return;
    // min(K, N) distinct samples of the group, the same draw on all ranks.
    const size_t picks = std::min(size, size_t(K_));
    const std::vector<size_t> drawn = draw_distinct(rng, size, picks);
    // The drawn samples from the ranks that hold them, then every rank's in rank order.
    std::vector<size_t> mine_rows;
    std::string mine_picks;
    for (size_t i = 0; i < picks; ++i)
      if (drawn[i] >= first && drawn[i] < first + rows.size()) {
        mine_rows.push_back(rows[drawn[i] - first]);
        const uint64_t v = i;
        mine_picks.append(reinterpret_cast<const char*>(&v), sizeof v);
      }
    const Dataset got = gather_rows(comm, train.subset(mine_rows));
    std::vector<size_t> row_of(picks, 0);
    size_t k = 0;
    for (const std::string& s : comm.all_gather(mine_picks))
      for (size_t at_byte = 0; at_byte < s.size(); at_byte += sizeof(uint64_t)) {
        uint64_t v;
        std::memcpy(&v, s.data() + at_byte, sizeof v);
        row_of[size_t(v)] = k++;
      }
    if (k != picks) throw Error("mixture: the initial samples were not all found");
    const double lo = std::log(1.0 / double(1 + L_)), hi = std::log(2.0 / double(1 + L_));
    std::vector<int32_t> x(static_cast<size_t>(D_));
    for (int64_t c = 0; c < K_; ++c) {
      got.get(row_of[size_t(c) % picks], x.data());
      for (int64_t d = 0; d < D_; ++d)
        for (int64_t v = 0; v < L_; ++v) p.log_table[size_t((d * L_ + v) * K_ + c)] = x[size_t(d)] == v ? hi : lo;
    }
  };

  // The MAP objective's prior term for one group: alpha * (sum log pi + sum log theta).
  auto log_prior_of = [&](const GroupParams& p) {
    double t = 0;
    for (double v : p.log_weight) t += v;
    for (double v : p.log_table) t += v;
    return alpha * t;
  };
  // Parameters are kept (across iterations and restarts) by their validation
  // log-likelihood, or without validation data by the train MAP objective
  // (log-likelihood + log prior), which EM never decreases.
  struct Run {
    GroupParams cur, best;
    Stats stats;  // of cur on the training rows (what the next M-step uses)
    double ll = 0, valid_ll = 0, best_score = kNegInf;
    int64_t since_best = 0;
    bool done = false;
  };
  std::vector<GroupParams> kept(static_cast<size_t>(G_));
  std::vector<double> kept_score(static_cast<size_t>(G_), kNegInf);
  const int64_t total_steps = opt_.restarts * opt_.max_iterations;
  int64_t step = 0;
  bool stopped = false;
  std::vector<Run> runs;
  // A group's better parameters of the kept ones and this restart's best.
  auto better_of_run = [&](int64_t g) {
    const Run& run = runs[size_t(g)];
    return run.best_score > kept_score[size_t(g)] || kept[size_t(g)].log_weight.empty();
  };
  auto install = [&](int64_t g, const GroupParams& p) {
    std::copy(p.log_weight.begin(), p.log_weight.end(), &log_weight_[size_t(g * K_)]);
    set_group_table(g, p.log_table.data());  // in the storage precision
  };

  // Checkpoints are taken at the top of an iteration (after a restart's
  // initialisation or the previous iteration). The statistics of cur are not
  // saved: they are recomputed (the E-step is deterministic).
  int64_t restart0 = 0, it0 = 1;
  const TrainState* resume = ctx.resume;
  auto checkpoint = [&](int64_t restart, int64_t it) {
    TrainState s;
    s.loop = "em";
    s.steps_done = step;
    s.position = (opt_.restarts > 1 ? "restart " + std::to_string(restart + 1) + " of " +
                                          std::to_string(opt_.restarts) + ", " : std::string()) +
                 "iteration " + std::to_string(it);
    s.counters = {{"restart", restart}, {"iteration", it}, {"step", step}, {"groups", G_}};
    const auto r = ctx.rng->state();
    s.u64["rng"].assign(r.begin(), r.end());
    std::vector<uint64_t> since(static_cast<size_t>(G_)), done(static_cast<size_t>(G_));
    std::vector<double> scores;
    for (int64_t g = 0; g < G_; ++g) {
      const Run& run = runs[size_t(g)];
      const std::string k = "group" + std::to_string(g) + ".";
      s.f64[k + "cur.log_weight"] = run.cur.log_weight;
      s.f64[k + "cur.log_table"] = run.cur.log_table;
      s.f64[k + "best.log_weight"] = run.best.log_weight;
      s.f64[k + "best.log_table"] = run.best.log_table;
      if (!kept[size_t(g)].log_weight.empty()) {
        s.f64[k + "kept.log_weight"] = kept[size_t(g)].log_weight;
        s.f64[k + "kept.log_table"] = kept[size_t(g)].log_table;
      }
      scores.insert(scores.end(), {run.ll, run.valid_ll, run.best_score, kept_score[size_t(g)]});
      since[size_t(g)] = uint64_t(run.since_best);
      done[size_t(g)] = run.done;
      // The model shows the best parameters so far while the checkpoint is saved.
      install(g, better_of_run(g) ? run.best : kept[size_t(g)]);
    }
    s.f64["scores"] = scores;
    s.u64["since_best"] = since;
    s.u64["done"] = done;
    ctx.checkpoint->save(s);
  };
  auto restore = [&](const TrainState& s) {
    if (s.loop != "em") throw FormatError("training state was written by the '" + s.loop + "' loop, not EM");
    auto count = [&](const char* key) {
      if (!s.counters.contains(key) || !s.counters.at(key).is_number_integer())
        throw FormatError(std::string("training state has no counter '") + key + "'");
      return s.counters.at(key).get<int64_t>();
    };
    auto f64 = [&](const std::string& key, size_t size) -> const std::vector<double>& {
      auto it = s.f64.find(key);
      if (it == s.f64.end() || it->second.size() != size)
        throw FormatError("training state array '" + key + "' is missing or misshapen");
      return it->second;
    };
    auto u64 = [&](const std::string& key, size_t size) -> const std::vector<uint64_t>& {
      auto it = s.u64.find(key);
      if (it == s.u64.end() || it->second.size() != size)
        throw FormatError("training state array '" + key + "' is missing or misshapen");
      return it->second;
    };
    restart0 = count("restart");
    it0 = count("iteration");
    step = count("step");
    if (count("groups") != G_ || restart0 < 0 || restart0 >= opt_.restarts || it0 < 1 || it0 > opt_.max_iterations)
      throw FormatError("training state is at restart " + std::to_string(restart0 + 1) + ", iteration " +
                        std::to_string(it0) + ": outside this run");
    const auto& r = u64("rng", 4);
    ctx.rng->set_state({r[0], r[1], r[2], r[3]});
    const auto& scores = f64("scores", size_t(4 * G_));
    const auto& since = u64("since_best", size_t(G_));
    const auto& done = u64("done", size_t(G_));
    const size_t W = size_t(K_), T = size_t(D_ * L_ * K_);
    runs.assign(size_t(G_), Run{});
    for (int64_t g = 0; g < G_; ++g) {
      Run& run = runs[size_t(g)];
      const std::string k = "group" + std::to_string(g) + ".";
      run.cur = {f64(k + "cur.log_weight", W), f64(k + "cur.log_table", T)};
      run.best = {f64(k + "best.log_weight", W), f64(k + "best.log_table", T)};
      if (s.f64.count(k + "kept.log_weight"))
        kept[size_t(g)] = {f64(k + "kept.log_weight", W), f64(k + "kept.log_table", T)};
      run.ll = scores[size_t(4 * g)];
      run.valid_ll = scores[size_t(4 * g + 1)];
      run.best_score = scores[size_t(4 * g + 2)];
      kept_score[size_t(g)] = scores[size_t(4 * g + 3)];
      run.since_best = int64_t(since[size_t(g)]);
      run.done = done[size_t(g)] != 0;
      if (!run.done) e_train(run.cur, g, &run.stats);
    }
  };
  if (resume) restore(*resume);
  if (ctx.monitor) {
    TrainProgress p;
    p.unit = "iteration";
    p.step = step;
    p.total = total_steps;
    ctx.monitor->on_start(p);
  }

  for (int64_t restart = restart0; restart < opt_.restarts && !stopped; ++restart) {
    if (resume && restart == restart0) {
      if (ctx.monitor)
        ctx.monitor->message("mixture: resuming" +
                             (opt_.restarts > 1 ? " restart " + std::to_string(restart + 1) + " of " +
                                                      std::to_string(opt_.restarts) + "," : std::string()) +
                             " at iteration " + std::to_string(it0));
    } else {
      it0 = 1;
      Rng rng = ctx.rng->split(uint64_t(restart));
      if (ctx.monitor && opt_.restarts > 1)
        ctx.monitor->message("mixture: restart " + std::to_string(restart + 1) + " of " + std::to_string(opt_.restarts));
      runs.assign(static_cast<size_t>(G_), Run{});
      for (int64_t g = 0; g < G_; ++g) {
        Run& run = runs[size_t(g)];
        init(g, rng, run.cur);
        run.ll = e_train(run.cur, g, &run.stats);
        const bool has_valid = valid_count[size_t(g)] > 0;
        run.valid_ll = has_valid ? e_valid(run.cur, g) : 0.0;
        run.best = run.cur;
        run.best_score = has_valid ? run.valid_ll : run.ll + log_prior_of(run.cur);
        run.done = train_count[size_t(g)] == 0;
      }
    }
    for (int64_t it = it0; it <= opt_.max_iterations; ++it) {
      // The top of every iteration is a point to resume from (the point just
      // resumed from is not saved again).
      const bool stop_now = comm.any(ctx.stop && ctx.stop->load());  // every rank stops here, or none
      const bool at_resume_point = resume && restart == restart0 && it == it0;
      if (ctx.checkpoint && (stop_now || (!at_resume_point && ctx.checkpoint->due(step, true))))
        checkpoint(restart, it);
      if (stop_now) {
        stopped = true;
        break;
      }
      bool improved = false, all_done = true;
      for (int64_t g = 0; g < G_; ++g) {
        Run& run = runs[size_t(g)];
        if (run.done) continue;
        const bool has_valid = valid_count[size_t(g)] > 0;
        m_step(run.stats, run.cur);
        const double ll = e_train(run.cur, g, &run.stats);
        if (has_valid) run.valid_ll = e_valid(run.cur, g);
        const double score = has_valid ? run.valid_ll : ll + log_prior_of(run.cur);
        if (score > run.best_score) {
          run.best = run.cur;
          run.best_score = score;
          run.since_best = 0;
          // The best so far across restarts too.
          improved = improved || score > kept_score[size_t(g)];
        } else {
          ++run.since_best;
        }
        if (std::fabs(ll - run.ll) <= opt_.tolerance * std::fabs(run.ll)) run.done = true;
        if (has_valid && run.since_best >= opt_.patience) run.done = true;
        run.ll = ll;
        all_done = all_done && run.done;
      }
      ++step;
      if (ctx.monitor) {
        TrainProgress p;
        p.unit = "iteration";
        p.step = step;
        p.total = total_steps;
        p.restart = opt_.restarts > 1 ? restart + 1 : 0;
        double ll = label_ll, vll = label_ll_valid;
        for (const Run& run : runs) ll += run.ll, vll += run.valid_ll;
        p.train_nll = -ll / double(n);
        if (use_valid) p.valid_nll = -vll / double(n_valid_all);
        p.best = improved;
        ctx.monitor->on_step(p);
      }
      if (all_done) break;
    }
    for (int64_t g = 0; g < G_; ++g)
      if (better_of_run(g)) {
        kept[size_t(g)] = std::move(runs[size_t(g)].best);
        kept_score[size_t(g)] = runs[size_t(g)].best_score;
      }
  }
  for (int64_t g = 0; g < G_; ++g) install(g, kept[size_t(g)]);
}

std::unique_ptr<Model> create_mixture_model(const Space& space, ConfigSection& model, ConfigSection& train) {
  MixtureModel::Options o;
  o.components = model.get_int("components", o.components, 1, 100000);
  o.alpha = model.get_double("alpha", o.alpha, 1e-12, 1e9);
  o.float32 = model.get_choice("precision", "float32", {"float32", "float64"}) == "float32";
  o.max_iterations = train.get_int("max_iterations", o.max_iterations, 1, 1000000);
  o.restarts = train.get_int("restarts", o.restarts, 1, 10000);
  o.tolerance = train.get_double("tolerance", o.tolerance, 0.0, 1.0);
  o.patience = train.get_int("patience", o.patience, 1, 1000000);
  return std::make_unique<MixtureModel>(space, o);
}

}  // namespace dgm
