//! Pulse-response experiments on a device population (what `dfcsim device` prints and
//! plots, and what the statistics tests check).

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::array::DeviceArray;
use super::params::DeviceParams;

/// Mean and standard deviation across devices of the weight change after `k` pulses.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PulseStats {
    pub pulses: u32,
    pub up_mean: f64,
    pub up_std: f64,
    pub down_mean: f64,
    pub down_std: f64,
}

/// Result of [`pulse_statistics`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PulseReport {
    pub model: String,
    pub kind: String,
    pub devices: usize,
    pub from: f64,
    pub seed: u64,
    pub rows: Vec<PulseStats>,
    /// Fractions of devices at a bound after the largest number of up / down pulses.
    pub up_at_bound: f64,
    pub down_at_bound: f64,
}

fn mean_std(x: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = x.clone().count() as f64;
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = x.clone().sum::<f64>() / n;
    let var = if n > 1.0 {
        x.map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Samples `devices` devices (seed `seed`), sets them to `w0`, applies up pulses and records
/// the change after each count in `pulses`; then sets them back to `w0` and does the same with
/// down pulses. Changes are apparent-weight changes (write noise included), devices the same
/// in both directions. The counts are sorted; pulses accumulate between recorded counts.
pub fn pulse_statistics(
    params: &DeviceParams,
    devices: usize,
    pulses: &[u32],
    w0: f64,
    seed: u64,
) -> PulseReport {
    let mut ks: Vec<u32> = pulses.to_vec();
    ks.sort_unstable();
    ks.dedup();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut arr = DeviceArray::new(params, devices, &mut rng);
    let mut up = vec![(0.0, 0.0); ks.len()];
    let mut down = vec![(0.0, 0.0); ks.len()];
    let mut at_bound = [0.0; 2];
    let mut start = vec![0.0; devices];
    for (dir, (sign, out)) in [(1i32, &mut up), (-1i32, &mut down)]
        .into_iter()
        .enumerate()
    {
        arr.set_all(w0, &mut rng);
        for (s, w) in start.iter_mut().zip(arr.weights()) {
            *s = w;
        }
        let mut done = 0u32;
        for (row, &k) in ks.iter().enumerate() {
            let n = (k - done) as i32;
            for i in 0..devices {
                arr.apply_pulses(i, sign * n, &mut rng);
            }
            done = k;
            let deltas = arr.weights().zip(&start).map(|(w, s)| w - s);
            out[row] = mean_std(deltas);
        }
        at_bound[dir] = arr.fraction_at_bound();
    }
    PulseReport {
        model: params.preset.clone(),
        kind: params.kind.to_string(),
        devices,
        from: w0,
        seed,
        rows: ks
            .iter()
            .enumerate()
            .map(|(r, &k)| PulseStats {
                pulses: k,
                up_mean: up[r].0,
                up_std: up[r].1,
                down_mean: down[r].0,
                down_std: down[r].1,
            })
            .collect(),
        up_at_bound: at_bound[0],
        down_at_bound: at_bound[1],
    }
}

/// Weight against pulse number for a few devices: `pulses` up pulses then `pulses` down
/// pulses from `w0`, as aihwkit's device response plots. `traces[d][j]` is the apparent
/// weight of device `d` after `j` pulses (index 0 = start); `mean` averages over all
/// `devices` sampled devices.
#[derive(Debug, Clone, PartialEq)]
pub struct PulseResponse {
    pub traces: Vec<Vec<f64>>,
    pub mean: Vec<f64>,
}

pub fn pulse_response(
    params: &DeviceParams,
    devices: usize,
    shown: usize,
    pulses: u32,
    w0: f64,
    seed: u64,
) -> PulseResponse {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut arr = DeviceArray::new(params, devices, &mut rng);
    arr.set_all(w0, &mut rng);
    let steps = 2 * pulses as usize + 1;
    let shown = shown.min(devices);
    let mut traces = vec![Vec::with_capacity(steps); shown];
    let mut mean = Vec::with_capacity(steps);
    let mut record = |arr: &DeviceArray| {
        for (d, t) in traces.iter_mut().enumerate() {
            t.push(arr.weight(d));
        }
        mean.push(arr.weights().sum::<f64>() / devices.max(1) as f64);
    };
    record(&arr);
    for j in 0..2 * pulses {
        let sign = if j < pulses { 1 } else { -1 };
        for i in 0..devices {
            arr.apply_pulses(i, sign, &mut rng);
        }
        record(&arr);
    }
    PulseResponse { traces, mean }
}
