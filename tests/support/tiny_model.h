// A tiny classifier built only from coil ops (embedding -> linear -> gelu -> linear ->
// cross-entropy), trained with plain SGD on a fixed synthetic problem: the end-to-end check that
// forward, backward and updates fit together, on any device.
#pragma once
#include <vector>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/elementwise/elementwise.h"
#include "ops/embedding/embedding.h"
#include "ops/linalg/linalg.h"
#include "ops/shape/shape.h"

namespace coil::testing {

// Every pair of tokens (a, b) from a vocabulary of 16; the class is (a + b) mod 4, which no
// linear function of the two embeddings separates: the hidden layer has to learn it.
// Parameters are drawn on the CPU and copied, so every device starts from the same values.
inline std::vector<float> train_tiny_model(Device device, int steps, double lr = 0.5) {
  constexpr int64_t kVocab = 16, kDim = 8, kHidden = 32, kClasses = 4;
  std::vector<int64_t> pairs, labels;
  for (int64_t a = 0; a < kVocab; ++a)
    for (int64_t b = 0; b < kVocab; ++b) {
      pairs.insert(pairs.end(), {a, b});
      labels.push_back((a + b) % kClasses);
    }
  const int64_t n = int64_t(labels.size());
  Tensor tokens = from_vector(pairs, {n, 2}, device);
  Tensor target = from_vector(labels, {n}, device);

  Generator g(2024);
  auto init = [&](const Shape& shape, double scale) {
    Tensor p = core::to(normal(shape, 0.0, scale, {DType::f32}, &g), device);
    set_requires_grad(p);
    return p;
  };
  Tensor emb = init({kVocab, kDim}, 1.0);
  Tensor w1 = init({kHidden, 2 * kDim}, 0.25), b1 = init({kHidden}, 0.1);
  Tensor w2 = init({kClasses, kHidden}, 0.18), b2 = init({kClasses}, 0.1);
  std::vector<Tensor> params = {emb, w1, b1, w2, b2};

  std::vector<float> losses;
  for (int step = 0; step < steps; ++step) {
    Tensor x = reshape(embedding(emb, tokens), {n, 2 * kDim});
    Tensor h = gelu(linear(x, w1, b1));
    Tensor loss = cross_entropy(linear(h, w2, b2), target);
    losses.push_back(loss.item<float>());
    backward(loss);
    NoGradGuard no_grad;
    for (const Tensor& p : params) {  // p -= lr * grad, in place
      core::binary_into(BinaryOp::sub, p, p, core::unary(UnaryOp::mul_scalar, grad(p), {lr}));
      zero_grad(p);
    }
  }
  return losses;
}

}  // namespace coil::testing
