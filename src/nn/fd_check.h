// fd_check.h — what the convolutional models' testing hooks share
// (pixelcnn_testing, wavenet_testing): their loss and gradient in double for
// the finite-difference tests, from the model's own nll_and_grad<double>.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dgm::nn {

// The summed NLL of rows with labels y (-1: none, passed as 0 to the
// network, whose label input is then unused) and, when grad is non-null, its
// gradient over n_params parameters; nll_and_grad(y, n, nll, grad) fills the
// n per-row NLLs and adds to grad.
template <class NllAndGrad>
double summed_nll_and_grad(size_t n_params, const std::vector<int32_t>& y, std::vector<double>* grad,
                           NllAndGrad&& nll_and_grad) {
  const size_t n = y.size();
  std::vector<double> nll(n);
  if (grad) grad->assign(n_params, 0.0);
  std::vector<int32_t> yy(n);
  for (size_t i = 0; i < n; ++i) yy[i] = std::max(0, y[i]);
  nll_and_grad(yy.data(), n, nll.data(), grad ? grad->data() : nullptr);
  double s = 0;
  for (double v : nll) s += v;
  return s;
}

}  // namespace dgm::nn
