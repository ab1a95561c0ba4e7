// The loops of core/cpu/vec_kernels.h compiled for AVX-512 (F, VL, DQ, BW) and FMA; vec_kernels.cpp
// calls them only on CPUs that have all of these. Twice AVX2's lanes: GELU 1.6x faster (3.3 vs
// 2.0 ms forward + backward over 1M floats, one thread of an AMD EPYC with AVX-512).
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw")
#define COIL_VEC_ISA avx512
#include "core/cpu/vec_kernels_impl.h"
