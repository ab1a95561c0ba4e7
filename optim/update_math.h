// The per-element update rules of SGD, Adam and AdamW, shared by the CPU and CUDA kernels. They
// follow PyTorch's single-tensor implementations term by term (torch/optim/adam.py, adamw.py,
// sgd.py): scalars are formed in double on the host and rounded once to the compute type.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.h"  // COIL_HD

namespace coil::optim {

enum class Algorithm : uint8_t { sgd, adam, adamw };

// Hyperparameters of one parameter group (PyTorch's defaults; AdamW's weight decay there is
// 0.01, here 0 for every algorithm: set it explicitly).
struct Hyper {
  double lr = 1e-3;
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double momentum = 0, dampening = 0;             // SGD
  bool nesterov = false;                          // SGD; needs momentum > 0 and dampening 0
};

// One tensor's scalars for one step: its group's hyperparameters (lr already scaled by the
// schedule) and what its own step count gives.
struct StepScalars {
  Hyper hyper;
  double step_size = 0;              // Adam: lr / (1 - beta1^t)
  double bias_correction2_sqrt = 1;  // Adam: sqrt(1 - beta2^t)
  bool first = false;                // SGD: the momentum buffer starts as the gradient
};

// The scalars of one tensor's update, rounded to the compute type C.
template <class C>
struct Coeffs {
  Algorithm algorithm;
  bool nesterov, first, has_momentum;
  C lr, weight_decay, decay, step_size, bias_correction2_sqrt, eps;
  C one_minus_beta1, beta2, one_minus_beta2, momentum, one_minus_dampening;
};

template <class C>
COIL_HD Coeffs<C> make_coeffs(Algorithm algorithm, const StepScalars& s) {
  const Hyper& h = s.hyper;
  Coeffs<C> k;
  k.algorithm = algorithm;
  k.nesterov = h.nesterov;
  k.first = s.first;
  k.has_momentum = h.momentum != 0;
  k.lr = C(h.lr);
  k.weight_decay = C(h.weight_decay);
  k.decay = C(1.0 - h.lr * h.weight_decay);
  k.step_size = C(s.step_size);
  k.bias_correction2_sqrt = C(s.bias_correction2_sqrt);
  k.eps = C(h.eps);
  k.one_minus_beta1 = C(1.0 - h.beta1);
  k.beta2 = C(h.beta2);
  k.one_minus_beta2 = C(1.0 - h.beta2);
  k.momentum = C(h.momentum);
  k.one_minus_dampening = C(1.0 - h.dampening);
  return k;
}

// Adam / AdamW on one element: p param, g grad, m exp_avg, v exp_avg_sq.
template <class C>
COIL_HD void adam_element(const Coeffs<C>& k, C& p, C g, C& m, C& v) {
  using std::sqrt;
  if (k.algorithm == Algorithm::adamw) p = p * k.decay;         // param.mul_(1 - lr * wd)
  else if (k.weight_decay != C(0)) g = g + k.weight_decay * p;  // grad.add(param, alpha=wd)
  m = m + k.one_minus_beta1 * (g - m);                          // exp_avg.lerp_(grad, 1 - beta1)
  v = v * k.beta2 + k.one_minus_beta2 * g * g;                  // .mul_(b2).addcmul_(g, g, 1 - b2)
  C denom = sqrt(v) / k.bias_correction2_sqrt + k.eps;
  p = p - k.step_size * (m / denom);  // addcdiv_(m, denom, -step_size)
}

// SGD on one element: b is the momentum buffer (unused without momentum).
template <class C>
COIL_HD void sgd_element(const Coeffs<C>& k, C& p, C g, C& b) {
  if (k.weight_decay != C(0)) g = g + k.weight_decay * p;
  if (k.has_momentum) {
    b = k.first ? g : b * k.momentum + k.one_minus_dampening * g;
    g = k.nesterov ? g + k.momentum * b : b;
  }
  p = p - k.lr * g;
}

// The factor clip_grad_norm_ multiplies every gradient by: max_norm / (norm + 1e-6) clamped to
// at most 1, as torch.nn.utils.clip_grad_norm_ (a NaN norm gives NaN, as there).
template <class T>
COIL_HD T clip_coefficient(T norm, double max_norm) {
  T c = T(max_norm) / (norm + T(1e-6));
  return c > T(1) ? T(1) : c;
}

// x - x is 0 exactly when x is finite (NaN - NaN and Inf - Inf are NaN); the same test on host
// and device without relying on either side's isfinite.
COIL_HD bool is_finite(double x) { return x - x == 0.0; }

// The flag of optim/nonfinite.h: i64 values at these positions. kFlagStep is 0 until a step is
// recorded; kFlagParam is the index of the first non-finite gradient, or -1.
enum NonfiniteSlot : int { kFlagStep = 0, kFlagLoss, kFlagGrad, kFlagParam, kFlagSize };

// The first step whose loss or gradient norm is not finite is kept; later ones change nothing.
COIL_HD void record_nonfinite_step(int64_t* flag, double loss, double norm, int64_t first_bad,
                                   int64_t step) {
  const bool bad_loss = !is_finite(loss), bad_grad = !is_finite(norm);
  if (flag[kFlagStep] != 0 || !(bad_loss || bad_grad)) return;
  flag[kFlagStep] = step;
  flag[kFlagLoss] = bad_loss;
  flag[kFlagGrad] = bad_grad;
  flag[kFlagParam] = first_bad;
}

}  // namespace coil::optim
