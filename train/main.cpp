// The `coil` command: train, eval, plot, info, data (train/cli.cpp).
#include <unistd.h>

#include <cstdlib>

#include "train/cli.h"

int main(int argc, char** argv) {
  // OpenMP threads that spin at barriers wait for peers the OS has descheduled whenever the
  // machine has other work: measured on the 2-core machine under load, the default run took
  // 240 s spinning, 23 s with passive waiting, 9 s on one thread. libgomp reads the policy once,
  // when it loads, so the command re-executes itself with it set, unless the user chose one.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
  }
  return coil::train::run_cli(argc, argv);
}
