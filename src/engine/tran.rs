//! Transient analysis: ngspice-style time stepping with LTE control on charges and fluxes,
//! breakpoints at source corners, order control and Newton-failure step cuts.

use super::integrator::{self, LteInput, LteTol, TRBDF2_GAMMA};
use super::newton::{NewtonFailure, NewtonSetup};
use super::{AnalysisResult, SimError, Simulator, Stats};
use crate::circuit::Method;
use crate::devices::{Coeffs, Device, LoadCtx};
use crate::waveform::{NoSink, RowSink, Waveforms};

/// `.tran tstep tstop [tstart [tmax]] [uic]` (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TranSpec {
    pub tstep: f64,
    pub tstop: f64,
    pub tstart: f64,
    pub tmax: Option<f64>,
    pub uic: bool,
    /// Fixed step (seconds): no error control, the method's full order after the first
    /// step; for convergence studies and for runs that must share a time grid.
    pub fixed_step: Option<f64>,
}

impl TranSpec {
    /// `.tran tstep tstop` with the other fields at their defaults.
    pub fn new(tstep: f64, tstop: f64) -> TranSpec {
        TranSpec {
            tstep,
            tstop,
            tstart: 0.0,
            tmax: None,
            uic: false,
            fixed_step: None,
        }
    }

    /// The spec of a `.tran` card (error-controlled steps); `None` for other analyses.
    pub fn of_analysis(a: &crate::circuit::Analysis) -> Option<TranSpec> {
        match *a {
            crate::circuit::Analysis::Tran {
                tstep,
                tstop,
                tstart,
                tmax,
                uic,
            } => Some(TranSpec {
                tstep,
                tstop,
                tstart,
                tmax,
                uic,
                fixed_step: None,
            }),
            _ => None,
        }
    }

    /// The circuit's first `.tran` card, if any.
    pub fn of_circuit(circuit: &crate::circuit::Circuit) -> Option<TranSpec> {
        circuit.analyses.iter().find_map(TranSpec::of_analysis)
    }
}

/// With chord Newton, a step that the error control would grow by less than this factor
/// keeps its size (and the factorisation stays valid).
const HOLD_GROWTH: f64 = 1.5;

/// Copies of the history, to undo the intermediate rotation of a rejected TR-BDF2 step.
struct Backup {
    q: [Vec<f64>; 3],
    i1: Vec<f64>,
}

impl Simulator {
    /// Runs a transient; the waveform holds every accepted time point ≥ tstart, also
    /// when an error stops the run.
    pub fn run_tran(&mut self, spec: &TranSpec) -> (AnalysisResult, Option<SimError>) {
        self.run_tran_into(spec, &mut NoSink)
    }

    /// [`Simulator::run_tran`] that also hands the plot to `sink` while it is computed:
    /// each accepted row as it is stored (all rows at the end with `interp`, whose grid
    /// is only known then). When the sink [keeps the rows](RowSink::keeps_rows) the
    /// returned waveform has none (except with `interp`, which needs them).
    pub fn run_tran_into(
        &mut self,
        spec: &TranSpec,
        sink: &mut dyn RowSink,
    ) -> (AnalysisResult, Option<SimError>) {
        self.tran_analysis(spec, None, sink)
    }

    /// A transient analysis from the operating point (`start` None) or from a given state
    /// (see [`Simulator::run_tran_from`]), with its result table, statistics and `sink`.
    fn tran_analysis(
        &mut self,
        spec: &TranSpec,
        start: Option<(&[f64], f64)>,
        sink: &mut dyn RowSink,
    ) -> (AnalysisResult, Option<SimError>) {
        let (mut stats, t0, base) = self.start_stats();
        let mut wf = self.waveforms("Transient Analysis", true);
        sink.begin(&wf);
        let interp = self.options.interp;
        let store = interp || !sink.keeps_rows();
        let live: &mut dyn RowSink = if interp { &mut NoSink } else { &mut *sink };
        let stored = if store { Some(&mut wf) } else { None };
        let err = self.tran_inner(spec, start, stored, &mut stats, live).err();
        if interp {
            wf = interpolate_onto_grid(&wf, spec.tstart, spec.tstep, spec.tstop);
            sink.rows(&wf.data);
        }
        sink.end();
        let first = self.first_run();
        let stats = self.finish_stats(stats, t0, base, first);
        (
            AnalysisResult {
                waveforms: wf,
                stats,
            },
            err,
        )
    }

    /// Runs a transient that starts from the unknown vector `x0` (as returned by
    /// [`Simulator::solution`], e.g. the end of a previous run) instead of an operating
    /// point: charges are taken from `x0`, `uic`/`.ic` are ignored. This is how a
    /// co-simulation presents one sample after another to the same circuit.
    ///
    /// With `t_begin` > 0 the integration starts at `t_begin` (seconds, < tstop): the
    /// circuit is taken to have rested in `x0` since time 0, so the waveform gets rows at
    /// 0 and at `t_begin` with the values of `x0` (those ≥ tstart), and the first step is
    /// error-controlled like a step after a breakpoint. That skips a quiescent interval,
    /// e.g. the settle phase of a co-simulation whose sources are constant until the
    /// controller is switched on ([`Simulator::quiescent_until`] says when that holds). A
    /// source that jumps exactly at `t_begin` enters after the row at `t_begin`, which holds
    /// the state before the jump.
    pub fn run_tran_from(
        &mut self,
        spec: &TranSpec,
        x0: &[f64],
        t_begin: f64,
    ) -> (AnalysisResult, Option<SimError>) {
        self.tran_analysis(spec, Some((x0, t_begin)), &mut NoSink)
    }

    /// The transient proper: each accepted row goes to `wf` (unless `None`) and `sink`.
    /// `start`: the initial state and the time it holds from (else the operating point at 0).
    fn tran_inner(
        &mut self,
        spec: &TranSpec,
        start: Option<(&[f64], f64)>,
        mut wf: Option<&mut Waveforms>,
        stats: &mut Stats,
        sink: &mut dyn RowSink,
    ) -> Result<(), SimError> {
        if let Some((x0, t_begin)) = start {
            if x0.len() != self.n {
                return Err(SimError::BadAnalysis(format!(
                    "initial state has {} values, the circuit has {} unknowns",
                    x0.len(),
                    self.n
                )));
            }
            if !(t_begin.is_finite() && t_begin >= 0.0 && t_begin < spec.tstop) {
                return Err(SimError::BadAnalysis(format!(
                    "transient start {t_begin} s is outside [0, tstop = {} s)",
                    spec.tstop
                )));
            }
        }
        let TranSpec {
            tstep,
            tstop,
            tstart,
            tmax,
            uic,
            fixed_step,
        } = *spec;
        if let Some(hf) = fixed_step
            && !(hf.is_finite() && hf > 0.0)
        {
            return Err(SimError::BadAnalysis(format!(
                "fixed step must be > 0, got {hf}"
            )));
        }
        if !(tstop.is_finite() && tstop > 0.0) {
            return Err(SimError::BadAnalysis(format!(
                ".tran: tstop must be > 0, got {tstop}"
            )));
        }
        if !(tstep.is_finite() && tstep > 0.0) {
            return Err(SimError::BadAnalysis(format!(
                ".tran: tstep must be > 0, got {tstep}"
            )));
        }
        if !(tstart.is_finite() && (0.0..tstop).contains(&tstart)) {
            return Err(SimError::BadAnalysis(format!(
                ".tran: tstart must be in [0, tstop), got {tstart}"
            )));
        }
        let method = self.options.method;
        let max_order = if method == Method::Be {
            1
        } else {
            self.options.maxord.clamp(1, 2)
        };
        let max_step = match tmax.or(self.options.tmax) {
            Some(t) if t > 0.0 && t.is_finite() => t,
            _ => tstep.min((tstop - tstart) / 50.0),
        };
        let delmin = 1e-11 * max_step;
        let hold_h = self.chord_applies();
        let min_break = 5e-5 * max_step;
        let tol = LteTol {
            reltol: self.options.reltol,
            abstol: self.options.abstol,
            chgtol: self.options.chgtol,
            trtol: self.options.trtol,
        };

        let (x0, t_begin) = match start {
            Some((x0, t)) => (Some(x0), t),
            None => (None, 0.0),
        };
        if t_begin > tstop - min_break {
            return Err(SimError::BadAnalysis(format!(
                "transient start {t_begin} s leaves no step before tstop = {tstop} s"
            )));
        }
        // Breakpoints: source corners and tstop, merged when closer than min_break.
        let mut raw = Vec::new();
        for d in &self.devices {
            d.breakpoints(tstop, &mut raw);
        }
        raw.retain(|t| t.is_finite() && *t > t_begin + min_break && *t < tstop - min_break);
        raw.push(tstop);
        raw.sort_by(f64::total_cmp);
        let mut bps: Vec<f64> = Vec::with_capacity(raw.len());
        for t in raw {
            if bps.last().is_none_or(|&l| t - l >= min_break) {
                bps.push(t);
            }
        }
        let mut bi = 0;

        // Initial solution.
        let uic = uic && x0.is_none();
        if let Some(x0) = x0 {
            self.x[..self.n].copy_from_slice(x0);
        } else if uic {
            self.x.fill(0.0);
            for &(k, v) in &self.ics {
                self.x[k] = v;
            }
            for d in &self.devices {
                d.apply_uic(&mut self.x);
            }
        } else {
            self.solve_op(!self.ics.is_empty(), stats)?;
        }
        self.x[self.n] = 0.0;
        // No convergence rate measured yet: the first steps take two iterations.
        self.rate = f64::INFINITY;
        {
            let [q0, q1, q2, q3] = &mut self.q;
            for d in &self.devices {
                d.init_charges(&self.x, uic, q0);
            }
            q1.copy_from_slice(q0);
            q2.copy_from_slice(q0);
            q3.copy_from_slice(q0);
            self.iq[0].fill(0.0);
            self.iq[1].fill(0.0);
        }
        // Room for the expected rows up front (growing a wide table by doubling copies it).
        let expected_rows = ((tstop - tstart) / max_step) as usize + bps.len() * 4 + 16;
        let cap = expected_rows.saturating_mul(self.n + 1).min(1 << 24);
        if let Some(wf) = wf.as_deref_mut() {
            wf.data.reserve(cap);
        }
        let mut row = vec![0.0; self.n + 1];
        if tstart <= 0.0 {
            self.push_row(wf.as_deref_mut(), sink, &mut row, 0.0);
        }
        if t_begin > 0.0 && t_begin >= tstart {
            self.push_row(wf.as_deref_mut(), sink, &mut row, t_begin);
        }

        let ns = self.n_states;
        let mut backup = Backup {
            q: std::array::from_fn(|_| vec![0.0; ns]),
            i1: vec![0.0; ns],
        };
        let mut x_acc = self.x.clone();
        let mut x_prev = self.x.clone();
        let mut x_prev2 = self.x.clone();
        let mut h_prev_acc = max_step;
        let mut h_prev2_acc = max_step;
        // Accepted points since the last corner (or the start) that the predictor may use.
        let mut smooth_points = 0u32;
        let mut deltas = [max_step; 3];
        let mut order = 1u32;
        let mut t = t_begin;
        let mut h = fixed_step.unwrap_or(((tstop - t_begin) / 100.0).min(tstep) / 10.0);
        let mut save_delta = (tstop - t_begin) / 50.0;
        let mut at_break = true;
        // After a quiescent interval the history (x0 at every past point) is a true one:
        // the first step gets the error control like any step after a breakpoint.
        let mut first = t_begin == 0.0;
        let mut last_culprit: Option<usize> = None;
        // Unknown whose equation last became NaN/inf (reported if the step collapses).
        let mut non_finite: Option<usize> = None;

        // Fixed step: Newton cuts cost at most ~2·log2(hf/cut) extra steps each; a run that
        // needs far more than the grid's step count is failing, not advancing.
        let fixed_budget = fixed_step
            .map(|hf| stats.accepted_steps + 100 * (((tstop / hf) as u64) + bps.len() as u64 + 16))
            .unwrap_or(u64::MAX);
        while t < tstop - min_break {
            if fixed_step.is_none() {
                h = h.min(max_step);
            }
            if let Some(hf) = fixed_step {
                // Back onto the grid t = k·hf: after a Newton cut the step grows by 2× per
                // accepted step up to the next grid point (jumping straight back to hf
                // would fail again and cut again: ~hf/cut steps that never reach tstop).
                let next_grid = ((t / hf + 1e-6).floor() + 1.0) * hf;
                h = h.min(hf).min(next_grid - t);
                order = if first { 1 } else { max_order };
                if stats.accepted_steps > fixed_budget {
                    return Err(SimError::TimestepTooSmall {
                        time: t,
                        step: h,
                        unknown: last_culprit
                            .map(|k| self.describe_unknown(k))
                            .unwrap_or_default(),
                    });
                }
            } else if at_break {
                order = 1;
                h = h.min(0.1 * save_delta.min(bps[bi] - t));
                if first {
                    h /= 10.0;
                }
            }
            let mut landing = false;
            if t + h >= bps[bi] - min_break {
                save_delta = h;
                h = bps[bi] - t;
                landing = true;
            }
            // The quadratic guess failed Newton at this step: retry with the line first.
            let mut line_guess = false;
            // Attempt the step until accepted.
            let h_next = loop {
                let t_new = if landing { bps[bi] } else { t + h };
                let h_now = t_new - t;
                deltas[0] = h_now;
                // Initial guess: extrapolation from the last accepted points (a line, or a
                // parabola for smooth circuits), except across a corner.
                let quadratic = !(at_break || first)
                    && smooth_points >= 3
                    && self.smooth
                    && self.quadratic_predictor
                    && !line_guess;
                if at_break || first {
                    self.x.copy_from_slice(&x_acc);
                } else if quadratic {
                    // Smooth circuit: quadratic through the last three accepted points
                    // (Lagrange form, times 0, −h1, −h1−h2 relative to t) at +h. Its error
                    // is O(h³) against the line's O(h²), so more steps stop after one
                    // Newton iteration. Clamps and comparators keep the line: a parabola
                    // overshoots into a rail they just reached. It can overshoot into an
                    // exponential too (a diode turning on): a Newton failure from it (no
                    // convergence, overflow, a singular matrix) retries the step from the
                    // line before the step is cut or the error reported.
                    let (h1, h2, hn) = (h_prev_acc, h_prev2_acc, h_now);
                    let l0 = (hn + h1) * (hn + h1 + h2) / (h1 * (h1 + h2));
                    let l1 = -hn * (hn + h1 + h2) / (h1 * h2);
                    let l2 = hn * (hn + h1) / ((h1 + h2) * h2);
                    for k in 0..self.n {
                        self.x[k] = l0 * x_acc[k] + l1 * x_prev[k] + l2 * x_prev2[k];
                    }
                } else {
                    let r = h_now / h_prev_acc;
                    for k in 0..self.n {
                        self.x[k] = x_acc[k] + r * (x_acc[k] - x_prev[k]);
                    }
                }
                let (res, rotated) =
                    self.time_step(method, order, t, h_now, deltas[1], &mut backup, stats);
                let failure = res.err();
                if let Some(f) = failure {
                    stats.newton_failures += 1;
                    if rotated {
                        self.restore(&backup);
                    }
                    if quadratic {
                        line_guess = true;
                        continue;
                    }
                    let k = match f {
                        NewtonFailure::NoConvergence(k) => k,
                        NewtonFailure::NonFinite(k) => {
                            non_finite = Some(k);
                            k
                        }
                        // As in ngspice, a singular matrix cuts the step like any Newton
                        // failure: an overflowing device (exp of a wild iterate) makes one
                        // that a shorter step avoids. It is reported if the step collapses.
                        NewtonFailure::Singular(k) => k,
                    };
                    last_culprit = Some(k);
                    h /= 8.0;
                    order = 1;
                    landing = false;
                    if h < delmin {
                        if let NewtonFailure::Singular(k) = f {
                            return Err(SimError::Singular {
                                analysis: "transient".into(),
                                time: t_new,
                                unknown: self.describe_unknown(k),
                            });
                        }
                        if let Some(k) = non_finite {
                            return Err(SimError::NonFinite {
                                analysis: "transient".into(),
                                time: t_new,
                                unknown: self.describe_unknown(k),
                            });
                        }
                        return Err(SimError::TimestepTooSmall {
                            time: t,
                            step: h,
                            unknown: self.describe_unknown(k),
                        });
                    }
                    continue;
                }
                if let Some(hf) = fixed_step {
                    break if first { hf } else { (2.0 * h_now).min(hf) };
                }
                if first {
                    break h;
                }
                let step_len = h_now;
                let (sub_deltas, lte_order) = (deltas_for(method, order, h_now, &deltas), order);
                let (mut new_h, worst) = self.lte(method, lte_order, step_len, &sub_deltas, &tol);
                if new_h > 0.9 * h_now {
                    if order == 1 && max_order > 1 {
                        let (h2, _) = self.lte(method, 2, step_len, &sub_deltas, &tol);
                        if h2 > 1.05 * h_now {
                            order = 2;
                            new_h = h2;
                        }
                    }
                    // Hold h when the error control offers only a small growth: the chord
                    // Newton then keeps its factorisation (C/h unchanged) for the next step.
                    if hold_h && !landing && new_h > h_now && new_h < HOLD_GROWTH * h_now {
                        new_h = h_now;
                    }
                    break new_h;
                }
                stats.rejected_steps += 1;
                if rotated {
                    self.restore(&backup);
                }
                h = new_h;
                landing = false;
                if h < delmin {
                    let what = match worst.and_then(|s| self.state_element(s)) {
                        Some(name) => format!("element {name}"),
                        None => last_culprit
                            .map(|k| self.describe_unknown(k))
                            .unwrap_or_default(),
                    };
                    return Err(SimError::TimestepTooSmall {
                        time: t,
                        step: h,
                        unknown: what,
                    });
                }
            };
            // Accept.
            let h_taken = deltas[0];
            self.rotate_history();
            if method == Method::Trbdf2 && self.last_step_was_split {
                deltas[2] = TRBDF2_GAMMA * h_taken;
                deltas[1] = (1.0 - TRBDF2_GAMMA) * h_taken;
            } else {
                deltas[2] = deltas[1];
                deltas[1] = h_taken;
            }
            t = if landing { bps[bi] } else { t + h_taken };
            std::mem::swap(&mut x_prev2, &mut x_prev);
            std::mem::swap(&mut x_prev, &mut x_acc);
            x_acc.copy_from_slice(&self.x);
            h_prev2_acc = h_prev_acc;
            h_prev_acc = h_taken;
            smooth_points = if at_break { 2 } else { smooth_points + 1 };
            stats.accepted_steps += 1;
            if t >= tstart {
                self.push_row(wf.as_deref_mut(), sink, &mut row, t);
            }
            at_break = landing;
            if landing && bi + 1 < bps.len() {
                bi += 1;
            }
            first = false;
            h = h_next;
        }
        Ok(())
    }

    fn push_row(
        &self,
        wf: Option<&mut Waveforms>,
        sink: &mut dyn RowSink,
        row: &mut [f64],
        t: f64,
    ) {
        row[0] = t;
        row[1..].copy_from_slice(&self.x[..self.n]);
        if let Some(wf) = wf {
            wf.push_row(row);
        }
        sink.rows(row);
    }

    /// One time step of `h` from `t` (two sub-steps for TR-BDF2 at order 2). Returns the
    /// Newton result and whether the history was rotated for an intermediate point.
    #[allow(clippy::too_many_arguments)]
    fn time_step(
        &mut self,
        method: Method,
        order: u32,
        t: f64,
        h: f64,
        h_prev: f64,
        backup: &mut Backup,
        stats: &mut Stats,
    ) -> (Result<(), NewtonFailure>, bool) {
        let max_iter = self.options.itl4.max(1);
        let mk = |time: f64, coeffs: Coeffs| NewtonSetup {
            ctx: LoadCtx {
                time,
                source_factor: 1.0,
                dc: false,
            },
            coeffs,
            max_iter,
            gshunt: 0.0,
            force_ic: false,
            max_dv: None,
            chord: true,
        };
        let it = &mut stats.newton_iterations;
        if method == Method::Trbdf2 && order == 2 {
            self.last_step_was_split = true;
            let h1 = TRBDF2_GAMMA * h;
            if let Err(e) = self.newton(&mk(t + h1, integrator::trapezoidal(h1)), it) {
                return (Err(e), false);
            }
            backup.q[0].copy_from_slice(&self.q[1]);
            backup.q[1].copy_from_slice(&self.q[2]);
            backup.q[2].copy_from_slice(&self.q[3]);
            backup.i1.copy_from_slice(&self.iq[1]);
            self.rotate_history();
            let r = self
                .newton(&mk(t + h, integrator::bdf2(h - h1, h1)), it)
                .map(|_| ());
            (r, true)
        } else {
            self.last_step_was_split = false;
            let c = integrator::coeffs(method, order, h, h_prev);
            (self.newton(&mk(t + h, c), it).map(|_| ()), false)
        }
    }

    fn lte(
        &self,
        method: Method,
        order: u32,
        step: f64,
        deltas: &[f64; 3],
        tol: &LteTol,
    ) -> (f64, Option<usize>) {
        let inp = LteInput {
            q: [&self.q[0], &self.q[1], &self.q[2], &self.q[3]],
            i: [&self.iq[0], &self.iq[1]],
            deltas: *deltas,
        };
        integrator::truncation_step(method, order, step, &inp, tol)
    }

    /// q3 ← q2 ← q1 ← q0, i1 ← i0 (no allocation: the vectors are swapped).
    fn rotate_history(&mut self) {
        let [q0, q1, q2, q3] = &mut self.q;
        std::mem::swap(q3, q2);
        std::mem::swap(q2, q1);
        std::mem::swap(q1, q0);
        let [i0, i1] = &mut self.iq;
        std::mem::swap(i1, i0);
    }

    fn restore(&mut self, b: &Backup) {
        self.q[1].copy_from_slice(&b.q[0]);
        self.q[2].copy_from_slice(&b.q[1]);
        self.q[3].copy_from_slice(&b.q[2]);
        self.iq[1].copy_from_slice(&b.i1);
    }
}

/// Step sizes behind the points the error estimate sees: for a split TR-BDF2 step the
/// history holds the intermediate point.
fn deltas_for(method: Method, order: u32, h: f64, deltas: &[f64; 3]) -> [f64; 3] {
    if method == Method::Trbdf2 && order == 2 {
        [(1.0 - TRBDF2_GAMMA) * h, TRBDF2_GAMMA * h, deltas[1]]
    } else {
        [h, deltas[1], deltas[2]]
    }
}

/// ngspice `.options interp`: the accepted points resampled linearly onto
/// t = tstart + k·tstep (up to tstop, or to the last computed point after a failure).
pub fn interpolate_onto_grid(wf: &Waveforms, tstart: f64, tstep: f64, tstop: f64) -> Waveforms {
    let mut out = Waveforms::new(&wf.title, &wf.plot_name, wf.signals.clone());
    let rows = wf.rows();
    if rows == 0 || tstep <= 0.0 {
        return out;
    }
    let t_end = wf.row(rows - 1)[0].min(tstop);
    let mut row = vec![0.0; wf.width()];
    let mut j = 0;
    let mut k = 0u64;
    loop {
        let t = tstart + k as f64 * tstep;
        if t > t_end * (1.0 + 1e-12) + 1e-300 {
            break;
        }
        while j + 1 < rows && wf.row(j + 1)[0] < t {
            j += 1;
        }
        let a = wf.row(j);
        if j + 1 < rows {
            let b = wf.row(j + 1);
            let span = b[0] - a[0];
            let w = if span > 0.0 {
                ((t - a[0]) / span).clamp(0.0, 1.0)
            } else {
                0.0
            };
            for (c, r) in row.iter_mut().enumerate() {
                *r = a[c] + w * (b[c] - a[c]);
            }
        } else {
            row.copy_from_slice(a);
        }
        row[0] = t;
        out.push_row(&row);
        k += 1;
    }
    out
}
