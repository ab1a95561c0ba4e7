// The loops of core/cpu/vec_kernels.h compiled for AVX2 and FMA; vec_kernels.cpp calls them only
// on CPUs that have both. The build's baseline flags stay untouched elsewhere.
#pragma GCC target("avx2,fma")
#define COIL_VEC_ISA avx2
#include "core/cpu/vec_kernels_impl.h"
