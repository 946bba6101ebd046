// avx512.h — <immintrin.h> (when the build has AVX-512), and the one place
// where GCC 12's false positive on it is silenced: it reports the results of
// its intrinsics' _mm512_undefined_*() as (maybe-)uninitialized, in its own
// headers and in Eigen's packet code inlined into ours (GCC bug 105593). The
// diagnostics stay off for the rest of the translation unit that includes
// this; Eigen comes through nn/eigen.h, which includes this first.
#pragma once

#if !defined(__clang__)  // a GCC warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
