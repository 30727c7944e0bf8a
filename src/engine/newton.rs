//! Residual/Jacobian assembly and the Newton iteration.

use super::Simulator;
use super::matrix::LuFailure;
use crate::devices::{Charges, Coeffs, Device, LoadCtx};

/// Conductance (siemens) that pins `.ic` nodes during the operating point (ngspice-like).
pub(super) const IC_CONDUCTANCE: f64 = 1.0e10;

/// Settings of one Newton solve.
#[derive(Debug, Clone, Copy)]
pub(super) struct NewtonSetup {
    pub ctx: LoadCtx,
    pub coeffs: Coeffs,
    pub max_iter: u32,
    /// Extra conductance from every node to ground (gmin stepping), siemens.
    pub gshunt: f64,
    /// Pin `.ic` nodes (operating point without `uic`).
    pub force_ic: bool,
    /// Largest node-voltage change per iteration (volts), if damped.
    pub max_dv: Option<f64>,
    /// Chord (modified) Newton: iterate with the last factorisation while it contracts
    /// fast, refactor when it does not (transient of a nonlinear circuit).
    pub chord: bool,
}

/// Chord Newton: a stale factorisation is kept while the ratio of successive scaled
/// updates stays below this (the error after an accepted update is then below
/// rate/(1 − rate) of its tolerance, i.e. within it).
const CHORD_MAX_RATE: f64 = 0.3;
/// Chord Newton: refactor when the integration coefficient ag0 (∝ 1/h) moved by more than
/// this factor since the factorisation (C/h dominates the Jacobian of RC-type circuits
/// such as DFC; 5 % keeps the chord contraction fast).
const CHORD_MAX_AG0_RATIO: f64 = 1.05;
/// Chord Newton only when the block triangular form has a block of at least this many
/// unknowns: otherwise a factorisation (pivot checks of scalar blocks, small blocks) costs
/// about a solve and chord iterations only add work, and full Newton's quadratic
/// convergence leaves the accepted solution far inside the tolerance (e.g. two forms of
/// one small circuit agree to 1e-9 V).
const CHORD_MIN_BLOCK: usize = 32;
/// One-iteration steps: the estimated Newton error left must be below this fraction of
/// the tolerance (DASSL's 0.33) ...
const RATE_EST_MAX: f64 = 0.3;
/// ... and the rate is re-measured (a two-iteration step) after this many such steps, or
/// when a non-static Jacobian entry moved by more than this fraction of its row's largest
/// entry since the measurement.
const RATE_MAX_AGE: u32 = 8;
const RATE_JAC_DRIFT: f64 = 0.3;
/// Smallest contraction rate assumed (see the one-iteration test in `newton`), with a
/// fresh factorisation and with a stale one (chord Newton).
const RATE_FLOOR: f64 = 0.01;
const RATE_FLOOR_STALE: f64 = 0.1;
/// Chord Newton: refactor after this many iterations on one factorisation.
const CHORD_MAX_USES: u32 = 200;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum NewtonFailure {
    /// Unknown with the largest scaled change at the last iteration.
    NoConvergence(usize),
    /// Singular matrix; the unknown that looks guilty.
    Singular(usize),
    /// A device produced NaN/inf in the equation of this unknown.
    NonFinite(usize),
}

impl Simulator {
    /// Stamps the static devices once into `jac_static` (after a value change).
    fn restamp_static(&mut self) {
        self.jac_static.fill(0.0);
        let zero_x = vec![0.0; self.n + 1];
        let mut scratch_f = vec![0.0; self.n + 1];
        let (mut q, mut i) = (vec![0.0; self.n_states], vec![0.0; self.n_states]);
        let hist = vec![0.0; self.n_states];
        let mut charges = Charges {
            coeffs: Coeffs::default(),
            q: &mut q,
            i: &mut i,
            q1: &hist,
            q2: &hist,
            i1: &hist,
        };
        let ctx = LoadCtx {
            time: 0.0,
            source_factor: 1.0,
            dc: true,
        };
        for &k in &self.static_devs {
            self.devices[k].load(
                &zero_x,
                &ctx,
                &mut charges,
                &mut scratch_f,
                &mut self.jac_static,
            );
        }
        // Rows from the CSC pattern: count, then fill column by column (so each row's
        // columns ascend).
        let p = self.lu.pattern();
        self.static_ptr.fill(0);
        for c in 0..self.n {
            for k in p.col_ptr[c]..p.col_ptr[c + 1] {
                if self.jac_static[k] != 0.0 {
                    self.static_ptr[p.row_idx[k] + 1] += 1;
                }
            }
        }
        for r in 0..self.n {
            self.static_ptr[r + 1] += self.static_ptr[r];
        }
        self.static_entries.clear();
        self.static_entries
            .resize(self.static_ptr[self.n], (0, 0.0));
        let mut next = self.static_ptr[..self.n].to_vec();
        for c in 0..self.n {
            for k in p.col_ptr[c]..p.col_ptr[c + 1] {
                let v = self.jac_static[k];
                if v != 0.0 {
                    let r = p.row_idx[k];
                    self.static_entries[next[r]] = (c as u32, v);
                    next[r] += 1;
                }
            }
        }
        let mut is_dyn = vec![false; self.nnz];
        for &k in &self.dyn_positions {
            is_dyn[k] = true;
        }
        self.static_row_max.fill(0.0);
        for (k, &r) in p.row_idx.iter().enumerate() {
            if !is_dyn[k] {
                self.static_row_max[r] = self.static_row_max[r].max(self.jac_static[k].abs());
            }
        }
        self.static_dirty = false;
    }

    /// Assembles f(x) and J(x) at the current `x`: the static part is copied and
    /// multiplied (f = J_static·x), the other devices load on top.
    pub(super) fn assemble(&mut self, s: &NewtonSetup) {
        if self.static_dirty {
            self.restamp_static();
            self.jac.copy_from_slice(&self.jac_static);
            self.factor_valid = false;
        } else {
            for &k in &self.dyn_positions {
                self.jac[k] = self.jac_static[k];
            }
            let trash = self.nnz;
            self.jac[trash] = 0.0;
        }
        // f holds the non-static residual only; the static part J_static·x is folded into
        // the Newton right-hand side (see `newton`).
        self.f.fill(0.0);
        let [q0, q1, q2, _] = &mut self.q;
        let [i0, i1] = &mut self.iq;
        let mut charges = Charges {
            coeffs: s.coeffs,
            q: q0,
            i: i0,
            q1,
            q2,
            i1,
        };
        for &k in &self.dynamic {
            self.devices[k].load(&self.x, &s.ctx, &mut charges, &mut self.f, &mut self.jac);
        }
        if s.gshunt > 0.0 {
            for k in 0..self.layout.n_nodes {
                self.f[k] += s.gshunt * self.x[k];
                self.jac[self.diag[k]] += s.gshunt;
            }
        }
        if s.force_ic {
            for &(k, v) in &self.ics {
                self.f[k] += IC_CONDUCTANCE * (self.x[k] - v);
                self.jac[self.diag[k]] += IC_CONDUCTANCE;
            }
        }
    }

    /// Re-evaluates the charges of stateful devices at the final `x`, so that the
    /// stored charges and currents belong to the accepted solution.
    pub(super) fn commit_charges(&mut self, s: &NewtonSetup) {
        let [q0, q1, q2, _] = &mut self.q;
        let [i0, i1] = &mut self.iq;
        let mut charges = Charges {
            coeffs: s.coeffs,
            q: q0,
            i: i0,
            q1,
            q2,
            i1,
        };
        for &k in &self.stateful {
            self.devices[k].load(&self.x, &s.ctx, &mut charges, &mut self.f, &mut self.jac);
        }
    }

    /// Newton from the current `x`. On success `x` holds the solution and the charges
    /// are committed; returns the number of iterations.
    pub(super) fn newton(
        &mut self,
        s: &NewtonSetup,
        iterations: &mut u64,
    ) -> Result<u32, NewtonFailure> {
        let n = self.n;
        let nn = self.layout.n_nodes;
        let reltol = self.options.reltol;
        let vntol = self.options.vntol;
        let abstol = self.options.abstol;
        let chord = s.chord && s.max_dv.is_none() && self.chord_applies();
        // Scaled update of the previous iteration (contraction estimate).
        let mut prev_ratio = f64::INFINITY;
        for iter in 1..=s.max_iter {
            *iterations += 1;
            self.assemble(s);
            if let Some(k) = self.f[..n].iter().position(|v| !v.is_finite()) {
                return Err(NewtonFailure::NonFinite(k));
            }
            // Refactor only when a value that can change did change, and in chord mode only
            // when the old factorisation is no longer good enough.
            let changed = !self.factor_valid
                || self
                    .dyn_positions
                    .iter()
                    .zip(&self.factored_dyn)
                    .any(|(&k, &v)| self.jac[k] != v);
            let ag0_ratio = if self.factored_ag0 > 0.0 && s.coeffs.ag0 > 0.0 {
                (s.coeffs.ag0 / self.factored_ag0).max(self.factored_ag0 / s.coeffs.ag0)
            } else {
                f64::INFINITY
            };
            let reuse = chord
                && self.factor_valid
                && !self.refactor_next
                && self.chord_rate <= CHORD_MAX_RATE
                && self.chord_uses < CHORD_MAX_USES
                && ag0_ratio <= CHORD_MAX_AG0_RATIO;
            // The factorisation differs from this iteration's Jacobian.
            let mut stale = false;
            let mut refactored = false;
            if changed && reuse {
                stale = true;
                self.chord_uses += 1;
            } else if changed {
                self.factor_valid = false;
                match self.lu.factor(&self.jac) {
                    Ok(()) => {}
                    Err(LuFailure::Structural(idx)) => {
                        return Err(NewtonFailure::Singular(self.guilty_unknown(idx)));
                    }
                    Err(LuFailure::Other(_)) => {
                        return Err(NewtonFailure::Singular(self.guilty_unknown(None)));
                    }
                }
                for (v, &k) in self.factored_dyn.iter_mut().zip(&self.dyn_positions) {
                    *v = self.jac[k];
                }
                // Only a chord iteration solves with a factorisation older than `jac`, so
                // only chord keeps a copy; without one, ag0 = 0 bars later reuse.
                if chord {
                    self.jac_factored.copy_from_slice(&self.jac);
                }
                self.factor_valid = true;
                self.factored_ag0 = if s.ctx.dc || !chord {
                    0.0
                } else {
                    s.coeffs.ag0
                };
                self.chord_uses = 0;
                self.chord_rate = 0.0;
                refactored = true;
                self.refactor_next = false;
            }
            // Correction form: J·dx = −F(x) with F = J_static·x + f_dyn, so that rounding
            // errors scale with the (vanishing) residual, not with |x|.
            let x = &self.x;
            for ((d, f), w) in self.dx[..n]
                .iter_mut()
                .zip(&self.f[..n])
                .zip(self.static_ptr.windows(2))
            {
                *d = -f
                    - super::btf::sparse_dot(&self.static_entries[w[0]..w[1]], |&(c, v)| {
                        v * x[c as usize]
                    });
            }
            // Not stale: `jac` holds the factored values.
            let factored = if stale { &self.jac_factored } else { &self.jac };
            self.lu.solve(factored, &mut self.dx);
            if self.dx[..n].iter().any(|v| !v.is_finite()) {
                self.factor_valid = false;
                return Err(NewtonFailure::Singular(self.guilty_unknown(None)));
            }
            if let Some(lim) = s.max_dv {
                let big = self.dx[..nn].iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if big > lim {
                    let scale = lim / big;
                    self.dx[..n].iter_mut().for_each(|v| *v *= scale);
                }
            }
            // Convergence: every update within reltol·|x| + vntol (nodes) / abstol (branches).
            // The largest |dx|/tol, found by cross-multiplying (no division per unknown).
            let (mut worst, mut worst_dx, mut worst_tol) = (0usize, 0.0f64, 1.0f64);
            for (k, (xk, &d)) in self.x[..n].iter_mut().zip(&self.dx[..n]).enumerate() {
                let old = *xk;
                let new = old + d;
                *xk = new;
                let tol = reltol * old.abs().max(new.abs()) + if k < nn { vntol } else { abstol };
                if d.abs() * worst_tol > worst_dx * tol {
                    (worst, worst_dx, worst_tol) = (k, d.abs(), tol);
                }
            }
            let worst_ratio = worst_dx / worst_tol;
            if stale && iter > 1 {
                // Contraction of the chord iteration; a slow one refactors next time.
                let rate = worst_ratio / prev_ratio;
                self.chord_rate = self.chord_rate.max(rate);
                if rate > CHORD_MAX_RATE {
                    self.refactor_next = true;
                }
            }
            // One-iteration steps (DASSL's convergence test): Newton on a smooth circuit
            // contracts at a rate ρ measured at the second iteration of an earlier step
            // (full Newton, or chord iterations on one factorisation); the error left after
            // an update of scaled size r is then about ρ/(1−ρ)·r. Full Newton's ρ grows
            // with the update (quadratic convergence), so it is scaled up by r over the
            // update it was measured at, and re-measured every few steps or when the
            // Jacobian drifted (the nonlinearity moved on). ρ is taken ≥ RATE_FLOOR: a rate
            // measured while a nonlinearity sleeps (a diode off) says nothing of it waking
            // inside the next step, which the Jacobian at the predictor cannot show.
            let one_step_test =
                self.one_iteration_enabled && self.smooth && !s.ctx.dc && s.max_dv.is_none();
            if one_step_test && iter == 2 && !(chord && refactored) {
                self.rate = worst_ratio / prev_ratio;
                self.rate_ref = prev_ratio;
                self.rate_age = 0;
                self.snapshot_rate_jacobian();
            }
            let one_step = one_step_test && iter == 1 && worst_ratio > 1.0 && {
                // A stale factorisation contracts no faster than measured on it, and a new
                // step's Jacobian has drifted further from it than the steps the rate was
                // measured at (an audit saw 0.05-0.08 where 1e-3 was measured).
                let rho = if stale {
                    self.rate.max(self.chord_rate).max(RATE_FLOOR_STALE)
                } else {
                    self.rate.max(RATE_FLOOR)
                };
                rho < 0.9
                    && self.rate_age < RATE_MAX_AGE
                    && rho / (1.0 - rho) * worst_ratio * (worst_ratio / self.rate_ref).max(1.0)
                        <= RATE_EST_MAX
                    && self.jacobian_near_rate_snapshot()
            };
            if one_step {
                self.rate_age += 1;
            }
            prev_ratio = worst_ratio;
            // A linear circuit is solved exactly by one step. A chord update is trusted
            // only when the last measured contraction rate bounds the error left.
            let converged = (worst_ratio <= 1.0 || one_step) && !(stale && self.refactor_next);
            if converged || (self.linear && s.max_dv.is_none()) {
                self.commit_charges(s);
                return Ok(iter);
            }
            if iter == s.max_iter {
                // The measured rate did not hold: measure again before trusting one.
                self.rate = f64::INFINITY;
                return Err(NewtonFailure::NoConvergence(worst));
            }
        }
        Err(NewtonFailure::NoConvergence(0))
    }

    /// Keeps the Jacobian at which the convergence rate was measured (one-iteration
    /// steps), with each entry's allowed drift: a fraction of its row's largest entry.
    fn snapshot_rate_jacobian(&mut self) {
        // Row maxima from the static part (kept since the last restamp) and the non-static
        // entries: O(unknowns), not O(nnz), on every step that measures the rate.
        let p = self.lu.pattern();
        let row_max = &mut self.dx; // the update is consumed: reuse it as scratch
        row_max[..self.n].copy_from_slice(&self.static_row_max);
        for &k in &self.dyn_positions {
            let r = p.row_idx[k];
            row_max[r] = row_max[r].max(self.jac[k].abs());
        }
        for (i, &k) in self.dyn_positions.iter().enumerate() {
            self.rate_jac[i] = self.jac[k];
            self.rate_jac_tol[i] = RATE_JAC_DRIFT * row_max[p.row_idx[k]];
        }
    }

    /// Whether every non-static Jacobian entry is still within its drift of the snapshot
    /// taken when the convergence rate was measured (the nonlinearity has not moved on).
    fn jacobian_near_rate_snapshot(&self) -> bool {
        self.dyn_positions
            .iter()
            .zip(self.rate_jac.iter().zip(&self.rate_jac_tol))
            .all(|(&k, (&v, &tol))| (self.jac[k] - v).abs() <= tol)
    }

    /// Whether transients of this circuit use chord Newton (see [`CHORD_MIN_BLOCK`]).
    pub(super) fn chord_applies(&self) -> bool {
        self.chord_enabled && !self.linear && self.lu.largest_block >= CHORD_MIN_BLOCK
    }

    /// Picks the unknown to blame for a singular matrix: a structurally reported one, else
    /// an unknown whose Jacobian column or row is all zero, else the first non-finite update.
    fn guilty_unknown(&self, structural: Option<usize>) -> usize {
        let n = self.n;
        if let Some(k) = structural.filter(|&k| k < n) {
            return k;
        }
        let p = self.lu.pattern();
        let mut row_has = vec![false; n];
        let mut zero_col = None;
        for c in 0..n {
            let mut any = false;
            for k in p.col_ptr[c]..p.col_ptr[c + 1] {
                if self.jac[k] != 0.0 {
                    any = true;
                    row_has[p.row_idx[k]] = true;
                }
            }
            if !any && zero_col.is_none() {
                zero_col = Some(c);
            }
        }
        if let Some(c) = zero_col {
            return c;
        }
        if let Some(r) = row_has.iter().position(|h| !h) {
            return r;
        }
        self.dx[..n]
            .iter()
            .position(|v| !v.is_finite())
            .unwrap_or(0)
    }
}
