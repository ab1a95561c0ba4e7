// Element types: one X-macro list drives the enum, names, sizes and C++ type mapping.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#if defined(__CUDACC__)
#define COIL_HD __host__ __device__ __forceinline__
#else
#define COIL_HD inline
#endif

namespace coil {

// bfloat16 storage type: the top 16 bits of an IEEE float. Conversions round to nearest even.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  COIL_HD explicit bf16(float f) : bits(round(f)) {}
  COIL_HD explicit operator float() const {
    uint32_t u = uint32_t(bits) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  COIL_HD static uint16_t round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }
};

// _(enum name, C++ type, printed name)
#define COIL_FORALL_DTYPES(_)      \
  _(f32, float, "f32")             \
  _(f64, double, "f64")            \
  _(bf16, ::coil::bf16, "bf16")    \
  _(i32, int32_t, "i32")           \
  _(i64, int64_t, "i64")           \
  _(u8, uint8_t, "u8")             \
  _(boolean, bool, "bool")

enum class DType : uint8_t {
#define COIL_DTYPE_ENUM(name, type, str) name,
  COIL_FORALL_DTYPES(COIL_DTYPE_ENUM)
#undef COIL_DTYPE_ENUM
};

#define COIL_DTYPE_COUNT(name, type, str) +1
inline constexpr int kNumDTypes = 0 COIL_FORALL_DTYPES(COIL_DTYPE_COUNT);
#undef COIL_DTYPE_COUNT
static_assert(kNumDTypes == 7, "update promotion rules when adding a dtype");

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
#define COIL_DTYPE_NAME(name, type, str) \
  case DType::name:                      \
    return str;
    COIL_FORALL_DTYPES(COIL_DTYPE_NAME)
#undef COIL_DTYPE_NAME
  }
  return "?";
}

constexpr size_t dtype_size(DType t) {
  switch (t) {
#define COIL_DTYPE_SIZE(name, type, str) \
  case DType::name:                      \
    return sizeof(type);
    COIL_FORALL_DTYPES(COIL_DTYPE_SIZE)
#undef COIL_DTYPE_SIZE
  }
  return 0;
}

template <class T>
struct DTypeOf;
#define COIL_DTYPE_OF(name, type, str)                  \
  template <>                                           \
  struct DTypeOf<type> {                                \
    static constexpr DType value = DType::name;         \
  };
COIL_FORALL_DTYPES(COIL_DTYPE_OF)
#undef COIL_DTYPE_OF
template <class T>
inline constexpr DType dtype_of = DTypeOf<T>::value;

constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16;
}
constexpr bool is_integral(DType t) { return !is_floating(t); }

// NumPy-style promotion along bool < u8 < i32 < i64 < bf16 < f32 < f64.
constexpr int promotion_rank(DType t) {
  switch (t) {
    case DType::boolean: return 0;
    case DType::u8: return 1;
    case DType::i32: return 2;
    case DType::i64: return 3;
    case DType::bf16: return 4;
    case DType::f32: return 5;
    case DType::f64: return 6;
  }
  return 0;
}
constexpr DType promote_types(DType a, DType b) {
  return promotion_rank(a) >= promotion_rank(b) ? a : b;
}

}  // namespace coil
