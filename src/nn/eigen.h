// eigen.h — Eigen's dense module for dgm's sources, after nn/avx512.h
// (GCC 12's false positive on the AVX-512 kernels Eigen inlines into ours).
#pragma once

#include "nn/avx512.h"

#include <Eigen/Dense>
