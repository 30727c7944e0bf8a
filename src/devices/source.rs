//! Independent source waveforms: value at time t and corner times (breakpoints),
//! with ngspice's definitions (values in volts or amperes, times in seconds).

use crate::circuit::Waveform;
use std::f64::consts::PI;

/// Value of the waveform at time `t`.
pub fn value(w: &Waveform, t: f64) -> f64 {
    match w {
        Waveform::Dc(v) => *v,
        Waveform::Pulse {
            v1,
            v2,
            td,
            tr,
            tf,
            pw,
            per,
            np,
        } => {
            let mut time = t - td;
            if time <= 0.0 {
                return *v1;
            }
            if *per > 0.0 && time >= *per {
                let k = (time / per).floor();
                if np.is_some_and(|np| k >= np as f64) {
                    return *v1;
                }
                time -= k * per;
            }
            if time >= tr + pw + tf {
                *v1
            } else if time >= tr + pw {
                if *tf > 0.0 {
                    v2 + (v1 - v2) * (time - tr - pw) / tf
                } else {
                    *v1
                }
            } else if time >= *tr {
                *v2
            } else if *tr > 0.0 {
                v1 + (v2 - v1) * time / tr
            } else {
                *v2
            }
        }
        Waveform::Pwl(points) => pwl_value(points, t),
        Waveform::TrNoise(tr) => tr.value(t),
        Waveform::Sin {
            vo,
            va,
            freq,
            td,
            theta,
            phase_deg,
        } => {
            let phase = phase_deg * PI / 180.0;
            if t <= *td {
                vo + va * phase.sin()
            } else {
                let time = t - td;
                vo + va * (2.0 * PI * freq * time + phase).sin() * (-time * theta).exp()
            }
        }
    }
}

fn pwl_value(points: &[(f64, f64)], t: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if t <= first.0 {
        return first.1;
    }
    // First point with time > t.
    let k = points.partition_point(|p| p.0 <= t);
    if k >= points.len() {
        return points[points.len() - 1].1;
    }
    let (t0, v0) = points[k - 1];
    let (t1, v1) = points[k];
    if t1 > t0 {
        v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    } else {
        v1
    }
}

/// Whether the waveform keeps its time-0 value on all of [0, t) (seconds).
pub fn constant_before(w: &Waveform, t: f64) -> bool {
    match w {
        Waveform::Dc(_) => true,
        Waveform::Pulse { v1, v2, td, .. } => v1 == v2 || *td >= t,
        Waveform::Pwl(points) => {
            let Some(&(_, v0)) = points.first() else {
                return true;
            };
            // Every point before t, and the first one at or after it (which bounds the
            // segment reaching into [0, t)), at the first point's value.
            let k = points.partition_point(|p| p.0 < t);
            points[..(k + 1).min(points.len())]
                .iter()
                .all(|p| p.1 == v0)
        }
        Waveform::Sin { va, td, .. } => *va == 0.0 || *td >= t,
        Waveform::TrNoise(tr) => tr.na == 0.0,
    }
}

/// Periods of a PULSE whose corners become breakpoints.
const MAX_PULSE_PERIODS: u64 = 100_000;

/// Appends the corner times of the waveform in (0, tstop].
pub fn breakpoints(w: &Waveform, tstop: f64, out: &mut Vec<f64>) {
    match w {
        Waveform::Dc(_) => {}
        Waveform::Pulse {
            td,
            tr,
            tf,
            pw,
            per,
            np,
            ..
        } => {
            let corners = [0.0, *tr, tr + pw, tr + pw + tf];
            let mut k: u64 = 0;
            loop {
                let base = td + if *per > 0.0 { k as f64 * per } else { 0.0 };
                if base > tstop {
                    break;
                }
                for c in corners {
                    let t = base + c;
                    if t > 0.0 && t <= tstop {
                        out.push(t);
                    }
                }
                k += 1;
                let done_periods = np.is_some_and(|np| k >= np);
                // Guard against a period so small that corners would flood the list
                // (beyond this the source is stepped by the error control alone).
                if *per <= 0.0 || done_periods || k >= MAX_PULSE_PERIODS {
                    break;
                }
            }
        }
        Waveform::Pwl(points) => {
            out.extend(
                points
                    .iter()
                    .map(|p| p.0)
                    .filter(|&t| t > 0.0 && t <= tstop),
            );
        }
        // Every sample time: the source is linear across each step (see crate::noise).
        Waveform::TrNoise(tr) => tr.breakpoints(tstop, out),
        Waveform::Sin { td, .. } => {
            if *td > 0.0 && *td <= tstop {
                out.push(*td);
            }
        }
    }
}
