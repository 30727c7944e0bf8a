//! Operating point: plain Newton, then damped Newton, gmin stepping and source stepping.

use super::newton::{NewtonFailure, NewtonSetup};
use super::{AnalysisResult, SimError, Simulator, Stats};
use crate::devices::{Coeffs, LoadCtx};

impl Simulator {
    /// `.op`: one row with every node voltage and branch current.
    pub fn run_op(&mut self) -> (AnalysisResult, Option<SimError>) {
        let (mut stats, t0, base) = self.start_stats();
        let mut wf = self.waveforms("Operating Point", false);
        let r = self.solve_op(false, &mut stats);
        if r.is_ok() {
            let row: Vec<f64> = self.x[..self.n].to_vec();
            wf.push_row(&row);
        }
        let first = self.first_run();
        let stats = self.finish_stats(stats, t0, base, first);
        (
            AnalysisResult {
                waveforms: wf,
                stats,
            },
            r.err(),
        )
    }

    /// The operating point into the solution vector only, without a result table (a
    /// co-simulation reads what it needs with [`Simulator::solution`]). `warm` starts Newton
    /// from the present solution instead of zero: for an operating point close to the last
    /// one (e.g. after one source value changed) that is one or two iterations; if it
    /// fails, the usual cold-start sequence follows.
    pub fn operating_point(&mut self, warm: bool) -> Result<(), SimError> {
        let mut stats = Stats::default();
        self.ran = true;
        if warm
            && self.x[..self.n].iter().all(|v| v.is_finite())
            && self
                .newton(&self.op_setup(false), &mut stats.newton_iterations)
                .is_ok()
        {
            return Ok(());
        }
        self.solve_op(false, &mut stats)
    }

    fn op_setup(&self, force_ic: bool) -> NewtonSetup {
        NewtonSetup {
            ctx: LoadCtx {
                time: 0.0,
                source_factor: 1.0,
                dc: true,
            },
            coeffs: Coeffs::default(),
            max_iter: self.options.itl1.max(1),
            gshunt: 0.0,
            force_ic,
            max_dv: None,
            chord: false,
        }
    }

    /// Solves the DC operating point into `x` (and the charges into the state arrays).
    pub(super) fn solve_op(&mut self, force_ic: bool, stats: &mut Stats) -> Result<(), SimError> {
        let base = self.op_setup(force_ic);
        let it = &mut stats.newton_iterations;
        self.x.fill(0.0);
        let first_failure = match self.newton(&base, it) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Damped Newton (helps exponentials in B sources).
        if !self.linear {
            self.x.fill(0.0);
            if self
                .newton(
                    &NewtonSetup {
                        max_dv: Some(0.5),
                        max_iter: base.max_iter * 5,
                        ..base
                    },
                    it,
                )
                .is_ok()
                && self.newton(&base, it).is_ok()
            {
                return Ok(());
            }
        }
        // gmin stepping: a shunt from every node to ground, reduced decade by decade.
        self.x.fill(0.0);
        let mut g = 1.0e-2;
        let mut gmin_ok = true;
        while g > self.options.gmin {
            if self.newton(&NewtonSetup { gshunt: g, ..base }, it).is_err() {
                gmin_ok = false;
                break;
            }
            g /= 10.0;
        }
        // As in ngspice, the last step removes the shunt: a node without a DC path
        // (e.g. between two capacitors) stays an error that names it.
        if gmin_ok && self.newton(&base, it).is_ok() {
            return Ok(());
        }
        // Source stepping: ramp every independent source from 0 to its value.
        self.x.fill(0.0);
        let mut factor = 0.0f64;
        let mut step = 0.1f64;
        while step > 1e-4 {
            let next = (factor + step).min(1.0);
            let saved = self.x.clone();
            let setup = NewtonSetup {
                ctx: LoadCtx {
                    source_factor: next,
                    ..base.ctx
                },
                ..base
            };
            if self.newton(&setup, it).is_ok() {
                factor = next;
                if factor >= 1.0 {
                    return Ok(());
                }
                step = (step * 1.5).min(0.25);
            } else {
                self.x.copy_from_slice(&saved);
                step /= 4.0;
            }
        }
        Err(self.op_error(first_failure))
    }

    pub(super) fn op_error(&self, f: NewtonFailure) -> SimError {
        match f {
            NewtonFailure::NoConvergence(k) => SimError::NoConvergence {
                analysis: "operating point".into(),
                time: 0.0,
                unknown: self.describe_unknown(k),
            },
            NewtonFailure::Singular(k) => SimError::Singular {
                analysis: "operating point".into(),
                time: 0.0,
                unknown: self.describe_unknown(k),
            },
            NewtonFailure::NonFinite(k) => SimError::NonFinite {
                analysis: "operating point".into(),
                time: 0.0,
                unknown: self.describe_unknown(k),
            },
        }
    }

    pub(super) fn describe_unknown(&self, k: usize) -> String {
        match self.unknown_names.get(k) {
            Some(name) if k < self.layout.n_nodes => format!("node {name}"),
            Some(name) => format!("branch {name}"),
            None => "an unknown".into(),
        }
    }
}
