// Shared by the shape family's spec files: a one-input spec that draws normal values per shape.
#pragma once
#include <functional>
#include <vector>

#include "ops/op_spec.h"

namespace coil::ops::shape_spec {

using Run = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
using Invalid = std::vector<InvalidCase>;

inline OpSpec unary_spec(const char* name, std::vector<Shape> shapes, Run run, Invalid invalid) {
  OpSpec s;
  s.name = name;
  s.samples = [shapes](Generator& g) {
    std::vector<OpSample> out;
    for (const Shape& sh : shapes) out.push_back({shape_str(sh), {sample_normal(g, sh)}});
    return out;
  };
  s.run = std::move(run);
  s.invalid = [invalid] { return invalid; };
  return s;
}

}  // namespace coil::ops::shape_spec
