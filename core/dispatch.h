// Turns a runtime DType into a compile-time C++ type: dispatch<DType::f32, DType::f64>(t, "op", f)
// calls f(TypeTag<float>{}) or f(TypeTag<double>{}), and throws naming the op for any other dtype.
#pragma once
#include "core/dtype.h"
#include "core/error.h"

namespace coil {

template <class T>
struct TypeTag {
  using type = T;
};

template <DType D> struct CppType;
#define COIL_CPP_TYPE(name, type_, str) \
  template <> struct CppType<DType::name> { using type = type_; };
COIL_FORALL_DTYPES(COIL_CPP_TYPE)
#undef COIL_CPP_TYPE

template <DType... Ds, class F>
decltype(auto) dispatch(DType t, const char* op, F&& f) {
  using R = decltype(f(TypeTag<typename CppType<DType::f32>::type>{}));
  if constexpr (std::is_void_v<R>) {
    bool done = ((t == Ds ? (f(TypeTag<typename CppType<Ds>::type>{}), true) : false) || ...);
    if (!done) COIL_FAIL("[{}] dtype {} is not supported", op, dtype_name(t));
  } else {
    R r{};
    bool done = ((t == Ds ? (r = f(TypeTag<typename CppType<Ds>::type>{}), true) : false) || ...);
    if (!done) COIL_FAIL("[{}] dtype {} is not supported", op, dtype_name(t));
    return r;
  }
}

// The common sets.
#define COIL_FLOAT_DTYPES DType::f32, DType::f64, DType::bf16
#define COIL_NUMERIC_DTYPES DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::u8
#define COIL_ALL_DTYPES COIL_NUMERIC_DTYPES, DType::boolean

}  // namespace coil
