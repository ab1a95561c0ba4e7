// The widest x86 instruction set this CPU runs, for the kernels compiled several times (baseline,
// AVX2 + FMA, AVX-512 under `#pragma GCC target`) and chosen at run time.
#pragma once

namespace coil::cpu {

enum class Isa { generic, avx2, avx512 };

// Detected once: avx512 needs F, VL, DQ and BW besides AVX2 + FMA; avx2 needs FMA too.
Isa best_isa();

// Whether the CPU runs code compiled for `isa` (tests loop over every ISA the CPU has).
inline bool cpu_has(Isa isa) { return int(isa) <= int(best_isa()); }

}  // namespace coil::cpu
