//! A population of pulsed devices stored as struct-of-arrays.
//!
//! Device-to-device parameters are drawn once, at creation, from the caller's seeded RNG
//! (per device, in index order, always the same number of draws), so the same seed gives
//! the same devices. Cycle-to-cycle noise is drawn per pulse from the RNG passed to each
//! call. Nothing here allocates after creation.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::params::{DeviceKind, DeviceParams};

#[inline]
fn gauss<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// N devices of one parameter set. Weights are dimensionless (`w_min..w_max`);
/// conductances in siemens; times in seconds.
#[derive(Debug, Clone)]
pub struct DeviceArray {
    params: DeviceParams,
    granularity: f64,
    /// Persistent (hidden) weight the pulses act on.
    w: Vec<f64>,
    /// Write-noise offset drawn at the last programming: apparent weight = w + offset.
    write_offset: Vec<f64>,
    scale_up: Vec<f64>,
    scale_down: Vec<f64>,
    min_bound: Vec<f64>,
    max_bound: Vec<f64>,
    /// LinearStep/SoftBounds slopes; PowStep exponents (`gamma_up/down` per device).
    slope_up: Vec<f64>,
    slope_down: Vec<f64>,
    reset_bias: Vec<f64>,
    decay_scale: Vec<f64>,
    diffusion_rate: Vec<f64>,
    /// Drift exponent per device and the time (s) of its last programming.
    nu: Vec<f64>,
    t_prog: Vec<f64>,
    /// The array's clock (s): programming events are stamped with it, reads happen at it.
    now: f64,
}

impl DeviceArray {
    /// Samples `n` devices; every weight starts at 0 (clipped into its bounds).
    pub fn new<R: Rng + ?Sized>(params: &DeviceParams, n: usize, rng: &mut R) -> DeviceArray {
        let p = params;
        let mut a = DeviceArray {
            params: p.clone(),
            granularity: p.weight_granularity(),
            w: vec![0.0; n],
            write_offset: vec![0.0; n],
            scale_up: vec![0.0; n],
            scale_down: vec![0.0; n],
            min_bound: vec![0.0; n],
            max_bound: vec![0.0; n],
            slope_up: vec![0.0; n],
            slope_down: vec![0.0; n],
            reset_bias: vec![0.0; n],
            decay_scale: vec![1.0; n],
            diffusion_rate: vec![0.0; n],
            nu: vec![0.0; n],
            t_prog: vec![0.0; n],
            now: 0.0,
        };
        // aihwkit PulsedRPUDevice::populate: the up/down bias is put on the weaker direction.
        let up_bias = if p.up_down > 0.0 { 0.0 } else { p.up_down };
        let down_bias = if p.up_down > 0.0 { -p.up_down } else { 0.0 };
        let pow_up_bias = if p.pow_up_down > 0.0 {
            0.0
        } else {
            p.pow_up_down
        };
        let pow_down_bias = if p.pow_up_down > 0.0 {
            -p.pow_up_down
        } else {
            0.0
        };
        for i in 0..n {
            // Fixed draw order per device: 16 normals and 3 uniforms.
            let g: [f64; 16] = std::array::from_fn(|_| gauss(rng));
            let u_corrupt: f64 = rng.random();
            let u_value: f64 = rng.random();
            let u_stuck: f64 = rng.random();

            if p.kind == DeviceKind::Ideal {
                a.scale_up[i] = p.dw_min;
                a.scale_down[i] = p.dw_min;
                a.min_bound[i] = f64::NEG_INFINITY;
                a.max_bound[i] = f64::INFINITY;
            } else {
                let mut max_b = p.w_max * (1.0 + p.w_max_dtod * g[0]);
                let mut min_b = p.w_min * (1.0 + p.w_min_dtod * g[1]);
                let gain = if p.dw_min_dtod_log_normal {
                    (p.dw_min_dtod * g[2]).exp()
                } else {
                    1.0 + p.dw_min_dtod * g[2]
                };
                let r = p.up_down_dtod * g[3];
                let mut su = (up_bias + gain + r) * p.dw_min;
                let mut sd = (down_bias + gain - r) * p.dw_min;
                if p.enforce_consistency {
                    su = su.abs();
                    sd = sd.abs();
                    if min_b > max_b {
                        std::mem::swap(&mut min_b, &mut max_b);
                    }
                    max_b = max_b.abs();
                    min_b = -min_b.abs();
                } else if min_b > max_b {
                    // aihwkit "turns off" such a device: both bounds at the midpoint.
                    let m = 0.5 * (min_b + max_b);
                    min_b = m;
                    max_b = m;
                }
                if p.corrupt_devices_prob > u_corrupt {
                    let range = p.corrupt_devices_range.abs();
                    let lo = min_b.min(max_b).max(-range);
                    let hi = max_b.max(min_b).min(range);
                    let v = lo + (hi - lo) * u_value;
                    min_b = v;
                    max_b = v;
                    su = 0.0;
                    sd = 0.0;
                }
                a.scale_up[i] = su;
                a.scale_down[i] = sd;
                a.min_bound[i] = min_b;
                a.max_bound[i] = max_b;

                match p.kind {
                    DeviceKind::LinearStep | DeviceKind::SoftBounds => {
                        let mut dec_up = p.gamma_up + p.gamma_up_dtod * g[4];
                        let mut dec_down = p.gamma_down + p.gamma_down_dtod * g[5];
                        if !p.allow_increasing {
                            dec_up = dec_up.abs();
                            dec_down = dec_down.abs();
                        }
                        let (lo, hi) = if p.mean_bound_reference {
                            (p.w_min, p.w_max)
                        } else {
                            (min_b, max_b)
                        };
                        let ref_up = if p.reverse_up {
                            lo - p.reverse_offset
                        } else {
                            hi
                        };
                        let ref_down = if p.reverse_down {
                            hi + p.reverse_offset
                        } else {
                            lo
                        };
                        // Both slopes make the step shrink towards the bound.
                        a.slope_up[i] = if ref_up != 0.0 {
                            -dec_up * su / ref_up
                        } else {
                            0.0
                        };
                        a.slope_down[i] = if ref_down != 0.0 {
                            -dec_down * sd / ref_down
                        } else {
                            0.0
                        };
                    }
                    DeviceKind::PowStep => {
                        let gain = 1.0 + p.pow_gamma_dtod * g[4];
                        let r = p.pow_up_down_dtod * g[5];
                        let mut gu = (pow_up_bias + gain + r) * p.pow_gamma;
                        let mut gd = (pow_down_bias + gain - r) * p.pow_gamma;
                        if p.enforce_consistency {
                            gu = gu.abs();
                            gd = gd.abs();
                        }
                        a.slope_up[i] = gu;
                        a.slope_down[i] = gd;
                    }
                    _ => {}
                }
            }

            // dfcsim stuck-at faults: at G_min (w_min) or G_max (w_max), never moving.
            if u_stuck < p.stuck_min_prob + p.stuck_max_prob {
                let v = if u_stuck < p.stuck_min_prob {
                    p.w_min
                } else {
                    p.w_max
                };
                a.min_bound[i] = v;
                a.max_bound[i] = v;
                a.scale_up[i] = 0.0;
                a.scale_down[i] = 0.0;
                a.slope_up[i] = 0.0;
                a.slope_down[i] = 0.0;
            }

            a.diffusion_rate[i] = (p.diffusion * (1.0 + p.diffusion_dtod * g[6])).abs();
            a.reset_bias[i] = p.reset + p.reset_dtod * g[7];
            let t = p.lifetime * (1.0 + p.lifetime_dtod * g[8]);
            a.decay_scale[i] = if p.lifetime <= 0.0 {
                1.0 // no decay (aihwkit: lifetime 0)
            } else if t > 1.0 {
                1.0 - 1.0 / t
            } else {
                0.0
            };
            let stuck = a.min_bound[i] == a.max_bound[i];
            a.nu[i] = if stuck {
                0.0
            } else {
                (p.drift_nu * (1.0 + p.drift_nu_dtod * g[9])).max(0.0)
            };
            a.w[i] = 0.0f64.clamp(a.min_bound[i], a.max_bound[i]);
        }
        a
    }

    /// Sets the array's clock (s, simulation time). Pulses and weight settings are stamped
    /// with it (drift restarts there); reads see the drift accumulated up to it.
    pub fn set_time(&mut self, t: f64) {
        self.now = t;
    }

    /// The array's clock (s).
    pub fn time(&self) -> f64 {
        self.now
    }

    pub fn len(&self) -> usize {
        self.w.len()
    }

    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }

    pub fn params(&self) -> &DeviceParams {
        &self.params
    }

    /// Apparent weights (persistent weight plus write noise), without read noise or drift.
    pub fn weights(&self) -> impl ExactSizeIterator<Item = f64> + Clone + '_ {
        self.w.iter().zip(&self.write_offset).map(|(w, o)| w + o)
    }

    /// Apparent weight of one device.
    pub fn weight(&self, idx: usize) -> f64 {
        self.w[idx] + self.write_offset[idx]
    }

    /// Hidden persistent weight the pulses act on (equals `weight` without write noise).
    pub fn persistent_weight(&self, idx: usize) -> f64 {
        self.w[idx]
    }

    /// Device bounds `(min, max)` as sampled (equal for stuck or corrupt devices).
    pub fn bounds(&self, idx: usize) -> (f64, f64) {
        (self.min_bound[idx], self.max_bound[idx])
    }

    /// Per-device up and down step scales at w = 0 (`dw_min` times the sampled gain).
    pub fn step_scales(&self, idx: usize) -> (f64, f64) {
        (self.scale_up[idx], self.scale_down[idx])
    }

    /// Drift exponent ν of a device.
    pub fn drift_nu(&self, idx: usize) -> f64 {
        self.nu[idx]
    }

    /// The array's mutable state (persistent weights, write-noise offsets, programming
    /// times, clock) as f64 bit patterns, for bit-exact checkpoints; the device-to-device
    /// parameters are not included (they are redrawn from the same seed).
    pub fn state_bits(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(3 * self.len() + 1);
        for v in [&self.w, &self.write_offset, &self.t_prog] {
            out.extend(v.iter().map(|x| x.to_bits()));
        }
        out.push(self.now.to_bits());
        out
    }

    /// Restores a state written by [`state_bits`](Self::state_bits) of an array of the same
    /// length.
    pub fn restore_state_bits(&mut self, bits: &[u64]) -> Result<(), String> {
        let n = self.len();
        if bits.len() != 3 * n + 1 {
            return Err(format!(
                "device state of {} values, {} devices need {}",
                bits.len(),
                n,
                3 * n + 1
            ));
        }
        let f = |k: usize| f64::from_bits(bits[k]);
        for i in 0..n {
            self.w[i] = f(i);
            self.write_offset[i] = f(n + i);
            self.t_prog[i] = f(2 * n + i);
        }
        self.now = f(3 * n);
        Ok(())
    }

    /// True when the device's persistent weight sits on one of its bounds.
    pub fn at_bound(&self, idx: usize) -> bool {
        self.w[idx] >= self.max_bound[idx] || self.w[idx] <= self.min_bound[idx]
    }

    /// Sets a device's weight, clipped into its bounds (aihwkit `onSetWeights`), as a
    /// programming event at the array's clock; write noise is drawn anew.
    pub fn set_weight<R: Rng + ?Sized>(&mut self, idx: usize, w: f64, rng: &mut R) {
        self.w[idx] = w.clamp(self.min_bound[idx], self.max_bound[idx]);
        self.t_prog[idx] = self.now;
        self.draw_write_noise(idx, rng);
    }

    /// Sets every weight to `w` (clipped per device).
    pub fn set_all<R: Rng + ?Sized>(&mut self, w: f64, rng: &mut R) {
        for i in 0..self.len() {
            self.set_weight(i, w, rng);
        }
    }

    #[inline]
    fn draw_write_noise<R: Rng + ?Sized>(&mut self, idx: usize, rng: &mut R) {
        let std = self.params.write_noise_std * self.params.dw_min;
        if std > 0.0 {
            self.write_offset[idx] = std * gauss(rng);
        }
    }

    /// Applies `|n|` pulses to device `idx`: up (potentiation) if `n > 0`, down if `n < 0`.
    /// The device's programming time becomes the array's clock when `n != 0`.
    pub fn apply_pulses<R: Rng + ?Sized>(&mut self, idx: usize, n: i32, rng: &mut R) {
        if n == 0 {
            return;
        }
        let up = n > 0;
        for _ in 0..n.unsigned_abs() {
            self.update_once(idx, up, rng);
        }
        self.t_prog[idx] = self.now;
    }

    /// Turns a wanted weight change into one pulse train, `round(|dw| / granularity)`
    /// pulses (granularity: [`DeviceParams::weight_granularity`], `dw_min` for most kinds)
    /// capped at `max_pulses` (aihwkit-like bounded length), and applies it. Returns the
    /// signed number of pulses applied. The ideal kind applies `dw` exactly (infinite
    /// granularity) and returns 0.
    pub fn program_delta<R: Rng + ?Sized>(&mut self, idx: usize, dw: f64, rng: &mut R) -> i32 {
        if self.params.kind == DeviceKind::Ideal {
            if dw != 0.0 {
                self.w[idx] = (self.w[idx] + dw).clamp(self.min_bound[idx], self.max_bound[idx]);
                self.t_prog[idx] = self.now;
            }
            return 0;
        }
        let n = (dw.abs() / self.granularity)
            .round()
            .min(self.params.max_pulses as f64) as i32;
        let n = if dw < 0.0 { -n } else { n };
        self.apply_pulses(idx, n, rng);
        n
    }

    /// [`program_delta`](Self::program_delta) for every device (`dws.len()` must equal
    /// `len()`), in index order. Returns the total number of pulses applied (for the
    /// programming energy, `pulses × pulse_energy`).
    pub fn program_deltas<R: Rng + ?Sized>(&mut self, dws: &[f64], rng: &mut R) -> u64 {
        assert_eq!(dws.len(), self.len(), "one weight change per device");
        let mut pulses = 0u64;
        for (i, &dw) in dws.iter().enumerate() {
            pulses += u64::from(self.program_delta(i, dw, rng).unsigned_abs());
        }
        pulses
    }

    /// One pulse, aihwkit's "update once" of each device type.
    #[inline]
    fn update_once<R: Rng + ?Sized>(&mut self, i: usize, up: bool, rng: &mut R) {
        let p = &self.params;
        let std = p.dw_min_std;
        let (min_b, max_b) = (self.min_bound[i], self.max_bound[i]);
        let mut w = self.w[i];
        match p.kind {
            DeviceKind::Ideal => {
                w += if up { p.dw_min } else { -p.dw_min };
            }
            DeviceKind::ConstantStep => {
                let noise = if std > 0.0 { std * gauss(rng) } else { 0.0 };
                if up {
                    w += (1.0 + noise) * self.scale_up[i];
                } else {
                    w -= (1.0 + noise) * self.scale_down[i];
                }
            }
            DeviceKind::LinearStep | DeviceKind::SoftBounds => {
                let xi = gauss(rng);
                let (slope, scale) = if up {
                    (self.slope_up[i], self.scale_up[i])
                } else {
                    (self.slope_down[i], self.scale_down[i])
                };
                let dw = if p.mult_noise {
                    (slope * w + scale) * (1.0 + std * xi)
                } else {
                    slope * w + scale * (1.0 + std * xi)
                };
                if up {
                    w += dw;
                } else {
                    w -= dw;
                }
            }
            DeviceKind::ExpStep => {
                let b_diff = max_b - min_b;
                if b_diff <= 0.0 {
                    return; // stuck device: aihwkit skips it (no write noise either)
                }
                let z = 2.0 * w / b_diff * p.a + p.b;
                let (y, scale, sign) = if up {
                    (
                        (1.0 - p.a_up * (p.gamma_up * z).exp()).max(0.0),
                        self.scale_up[i],
                        1.0,
                    )
                } else {
                    (
                        (1.0 - p.a_down * (-p.gamma_down * z).exp()).max(0.0),
                        self.scale_down[i],
                        -1.0,
                    )
                };
                let xi = gauss(rng);
                if std > 0.0 && (p.dw_min_std_add != 0.0 || p.dw_min_std_slope != 0.0) {
                    let dw = sign * y * scale;
                    let dw_std = std * (dw.abs() + p.dw_min_std_add + p.dw_min_std_slope * w.abs());
                    w += dw + dw_std * xi;
                } else {
                    w += sign * y * (1.0 + std * xi) * scale;
                }
            }
            DeviceKind::PowStep => {
                let range = max_b - min_b;
                if range == 0.0 {
                    return;
                }
                let xi = gauss(rng);
                if up {
                    w += self.scale_up[i]
                        * ((max_b - w) / range).powf(self.slope_up[i])
                        * (1.0 + std * xi);
                } else {
                    w -= self.scale_down[i]
                        * ((w - min_b) / range).powf(self.slope_down[i])
                        * (1.0 + std * xi);
                }
            }
        }
        self.w[i] = w.clamp(min_b, max_b);
        self.draw_write_noise(i, rng);
    }

    /// Conductances (S) at the array's clock `t` into `out`: the apparent weight mapped onto
    /// `g_min..g_max`, drifted by `((t - t_prog + t_0)/t_0)^-ν`, plus read noise.
    pub fn read_conductances<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let t = self.now;
        let p = &self.params;
        let g_per_w = (p.g_max - p.g_min) / (p.w_max - p.w_min);
        let read_std = p.read_noise_std * g_per_w;
        for (i, o) in out.iter_mut().enumerate().take(self.len()) {
            let mut g = p.weight_to_conductance(self.w[i] + self.write_offset[i]);
            let nu = self.nu[i];
            if nu > 0.0 {
                let age = (t - self.t_prog[i]).max(0.0);
                g *= ((age + p.drift_t_0) / p.drift_t_0).powf(-nu);
            }
            if read_std > 0.0 {
                g += read_std * gauss(rng);
            }
            *o = g;
        }
    }

    /// Weights as read at the array's clock: drifted conductances mapped back to weights,
    /// plus read noise (weight units).
    pub fn read_weights<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        self.read_conductances(rng, out);
        for o in out.iter_mut().take(self.len()) {
            *o = self.params.conductance_to_weight(*o);
        }
    }

    /// One decay step (aihwkit `decay_weights`): `w ← (w − b)·(1 − 1/lifetime) + b`.
    /// No-op when `lifetime` is 0.
    pub fn decay<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        if self.params.lifetime <= 0.0 {
            return;
        }
        for i in 0..self.len() {
            let b = self.reset_bias[i];
            self.w[i] = ((self.w[i] - b) * self.decay_scale[i] + b)
                .clamp(self.min_bound[i], self.max_bound[i]);
            self.draw_write_noise(i, rng);
        }
    }

    /// One diffusion step (aihwkit `diffuse_weights`): `w ← w + ρ·ξ`, clipped.
    pub fn diffuse<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        if self.params.diffusion <= 0.0 {
            return;
        }
        for i in 0..self.len() {
            self.w[i] = (self.w[i] + self.diffusion_rate[i] * gauss(rng))
                .clamp(self.min_bound[i], self.max_bound[i]);
            self.draw_write_noise(i, rng);
        }
    }

    /// Resets one device to its reset value plus cycle noise (aihwkit `reset`).
    pub fn reset<R: Rng + ?Sized>(&mut self, idx: usize, rng: &mut R) {
        let std = self.params.reset_std;
        let noise = if std > 0.0 { std * gauss(rng) } else { 0.0 };
        let w = self.reset_bias[idx] + noise;
        self.set_weight(idx, w, rng);
    }

    /// Fraction of devices sitting on a bound.
    pub fn fraction_at_bound(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        (0..self.len()).filter(|&i| self.at_bound(i)).count() as f64 / self.len() as f64
    }
}
