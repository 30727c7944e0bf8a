// Reference pulse statistics from aihwkit's own C++ device code (aihwkit 1.2.0 sdist, see run.sh).
// dfcsim's tests/device_aihwkit.rs compares its device models with the numbers this prints.
#include "rpu_constantstep_device.h"
#include "rpu_linearstep_device.h"
#include "rpu_expstep_device.h"
#include "rpu_powstep_device.h"
#include "rpu_softbounds_reference_device.h"
#include <cstdio>
#include <cmath>
#include <vector>
#include <string>
using namespace RPU;
typedef double T;

// One configuration, one seed: stats[dir][k][mean, std] of the weight change across devices
// and the fraction of devices on a bound after the last k.
static void run_once(PulsedRPUDeviceMetaParameter<T> &par, int n, double w0, unsigned seed,
                     double stats[2][4][2], double atb[2]) {
  par.initialize();
  RealWorldRNG<T> crng(seed);
  RNG<T> rng(seed + 1000);
  std::unique_ptr<PulsedRPUDevice<T>> dev(
      static_cast<PulsedRPUDevice<T> *>(par.createDevice(n, 1, &crng)));
  T **w = Array_2D_Get<T>(1, n);
  std::vector<int> idx(n);
  for (int j = 0; j < n; j++) idx[j] = j + 1;
  const int ks[4] = {1, 10, 100, 1000};
  for (int dir = 0; dir < 2; dir++) {
    for (int j = 0; j < n; j++) w[0][j] = w0;
    dev->onSetWeights(w);
    std::vector<double> start(w[0], w[0] + n);
    int done = 0;
    for (int r = 0; r < 4; r++) {
      // aihwkit: sign > 0 decreases the weight, so an up pulse has d_sign = -1.
      for (; done < ks[r]; done++)
        dev->doSparseUpdate(w, 0, idx.data(), n, dir == 0 ? -1 : 1, &rng);
      double s = 0, s2 = 0;
      for (int j = 0; j < n; j++) s += w[0][j] - start[j];
      double m = s / n;
      for (int j = 0; j < n; j++) {
        double d = w[0][j] - start[j] - m;
        s2 += d * d;
      }
      stats[dir][r][0] = m;
      stats[dir][r][1] = std::sqrt(s2 / (n - 1));
    }
    T **maxb = dev->getMaxBound();
    T **minb = dev->getMinBound();
    int c = 0;
    for (int j = 0; j < n; j++) {
      T pw = par.usesPersistentWeight() ? dev->getPersistentWeights()[0][j] : w[0][j];
      if (pw >= maxb[0][j] || pw <= minb[0][j]) c++;
    }
    atb[dir] = (double)c / n;
  }
  Array_2D_Free<T>(w);
}

// aihwkit's CPU RNG draws Gaussians from a finite precomputed table, whose sample mean is
// not exactly 0: results carry a per-seed bias. Several seeds are run, and the mean over
// seeds is printed with its standard error (between-seed std / sqrt(seeds)).
static void run(const char *name, PulsedRPUDeviceMetaParameter<T> &par, int n, double w0,
                unsigned seed) {
  const int S = 6;
  const int ks[4] = {1, 10, 100, 1000};
  double st[S][2][4][2], ab[S][2];
  for (int s = 0; s < S; s++) run_once(par, n, w0, seed * 100 + s, st[s], ab[s]);
  auto agg = [&](auto get, double &mean, double &sem) {
    double a = 0, a2 = 0;
    for (int s = 0; s < S; s++) a += get(s);
    mean = a / S;
    for (int s = 0; s < S; s++) a2 += (get(s) - mean) * (get(s) - mean);
    sem = std::sqrt(a2 / (S - 1) / S);
  };
  const char *dn[2] = {"up", "down"};
  for (int r = 0; r < 4; r++) {
    printf("%s k=%d", name, ks[r]);
    for (int dir = 0; dir < 2; dir++)
      for (int q = 0; q < 2; q++) {
        double m, e;
        agg([&](int s) { return st[s][dir][r][q]; }, m, e);
        printf(" %s_%s=%.6e %s_%s_sem=%.2e", dn[dir], q ? "std" : "mean", m, dn[dir],
               q ? "std" : "mean", e);
      }
    printf("\n");
  }
  printf("%s at_bound", name);
  for (int dir = 0; dir < 2; dir++) {
    double m, e;
    agg([&](int s) { return ab[s][dir]; }, m, e);
    printf(" %s=%.5f %s_sem=%.1e", dn[dir], m, dn[dir], e);
  }
  printf(" devices=%d seeds=%d\n", n, S);
  fflush(stdout);
}

int main() {
  int N = 20000;
  { ConstantStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    run("constantstep", p, N, 0.0, 11); }
  { ConstantStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true; p.up_down = 0.2;
    run("constantstep_updown", p, N, 0.0, 12); }
  { LinearStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.ls_decrease_up = 0.5; p.ls_decrease_down = 0.3;
    run("linearstep_g", p, N, 0.0, 13); }
  { LinearStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.ls_decrease_up = 0.5; p.ls_decrease_down = 0.3; p.ls_mult_noise = false; p.ls_mean_bound_reference = false;
    run("linearstep_add", p, N, 0.0, 14); }
  { SoftBoundsRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    run("softbounds", p, N, 0.0, 15); }
  { SoftBoundsRPUDeviceMetaParameter<T> p; p.enforce_consistency = true; p.write_noise_std = 5.0;
    run("softbounds_wn", p, N, 0.0, 16); }
  { ExpStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    run("expstep", p, N, 0.0, 17); }
  { PowStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    run("powstep", p, N, 0.0, 18); }
  { PowStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true; p.ps_gamma = 2.0; p.ps_gamma_up_down = 0.2; p.ps_gamma_up_down_dtod = 0.05;
    run("powstep_g2", p, N, 0.1, 19); }
  { SoftBoundsReferenceRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.dw_min = 0.002; p.up_down = 0.0; p.w_max = 1.25; p.w_min = -0.75; p.mult_noise = false;
    p.dw_min_dtod = 0.3; p.up_down_dtod = 0.01; p.w_max_dtod = 0.3 / 1.25; p.w_min_dtod = 0.3 / 0.75;
    p.dw_min_std = 3.75; p.write_noise_std = 56;
    run("reramsb", p, N, 0.0, 20); }
  { ExpStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.dw_min = 0.01; p.up_down = 0.0; p.w_max = 2.0; p.w_min = 0.0; p.es_a = -1.0; p.es_b = 0.0;
    p.es_gamma_up = 2.5; p.es_gamma_down = 2.5; p.es_A_up = -27.235; p.es_A_down = -2.235;
    p.dw_min_dtod = 0.2; p.up_down_dtod = 0.05; p.w_max_dtod = 0.1; p.w_min_dtod = 0.0;
    p.dw_min_std = 0.6; p.dw_min_std_add = 0.042; p.dw_min_std_slope = 0.108; p.write_noise_std = 0.0;
    p.reset = 0.01; p.reset_dtod = 0.02;
    run("pcm", p, N, 0.5, 21); }
  { LinearStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.dw_min = 0.002; p.up_down = 0.0; p.w_max = 1.1724; p.w_min = -0.8276; p.ls_mult_noise = true;
    p.ls_decrease_up = 0.1153; p.ls_decrease_down = 0.5085; p.dw_min_dtod = 0.1; p.up_down_dtod = 0.01;
    p.w_max_dtod = 0.05; p.w_min_dtod = 0.05; p.ls_decrease_up_dtod = 0.05; p.ls_decrease_down_dtod = 0.05;
    p.dw_min_std = 0.3; p.write_noise_std = 0.0; p.ls_mean_bound_reference = true;
    run("ecram", p, N, 0.0, 22); }
  { LinearStepRPUDeviceMetaParameter<T> p; p.enforce_consistency = true;
    p.dw_min = 0.005; p.up_down = 0.0; p.w_max = 1.0; p.w_min = -1.0; p.ls_mult_noise = false;
    p.ls_decrease_up = 0.05; p.ls_decrease_down = 0.05; p.dw_min_dtod = 0.1; p.up_down_dtod = 0.06;
    p.w_max_dtod = 0.07; p.w_min_dtod = 0.07; p.ls_decrease_up_dtod = 0.01; p.ls_decrease_down_dtod = 0.01;
    p.dw_min_std = 0.3; p.ls_mean_bound_reference = true; p.lifetime = 1e6; p.lifetime_dtod = 0.3;
    run("capacitor", p, N, 0.0, 23); }
  return 0;
}
