//! Newton near convergence: the update must be solved in correction form (J·dx = −F),
//! so that its rounding error shrinks with the residual. Solving for the new iterate
//! directly (J·x_new = J·x − F) leaves a rounding floor ∝ κ(J)·|x| that a high-gain
//! op-amp loop with tight current tolerances (abstol 1e-15 A) never gets under.

use std::path::Path;

use dfcsim::circuit::Analysis;
use dfcsim::elaborate;
use dfcsim::engine::{Simulator, TranSpec};

/// One inverting neuron stage with a non-ideal op-amp as `dfcsim gen --flat` writes it
/// (gain 2e4, 5 MHz pole as 100 Ω·6.4 µF, 2 mV offset, ±0.25 V rails as a B-source clamp,
/// tanh output), settling at DC. At the solution the pole capacitor's companion
/// conductance C/h = 318 S turns one ulp of v(x) into ~1e-14 A in i(eg), above abstol:
/// the iterate-form Newton flipped v(x) by an ulp every iteration and never converged.
const OPAMP_STAGE: &str = "\
non-ideal op-amp neuron stage
Vin in 0 DC 0.1
Rin in c 1e5
Vs c s DC 0
Rf v s 1e5
Cf v s 2e-11
Vos os 0 DC 2e-3
Eg g 0 os s 2e4
Rp g x 1e2
Cp x 0 6.36619772367581e-6
Bo v 0 V=min(max(V(x),-2.5e-1),2.5e-1)
Hff vff 0 Vs -1e5
Br r 0 V=2e-1*tanh(V(v)/2e-1)
.options reltol=1e-6 vntol=1e-9 abstol=1e-15 chgtol=1e-20
.tran 2e-8 4e-6 0 2e-8
.end
";

#[test]
fn settled_high_gain_opamp_with_tight_abstol_converges_every_step() {
    let c = elaborate::load_str(OPAMP_STAGE, Path::new("opamp_stage.cir")).unwrap();
    assert!(matches!(c.analyses[0], Analysis::Tran { .. }));
    for fixed_step in [Some(2e-8), None] {
        let spec = TranSpec {
            tstep: 2e-8,
            tstop: 4e-6,
            tstart: 0.0,
            tmax: Some(2e-8),
            uic: false,
            fixed_step,
        };
        let (res, err) = Simulator::new(&c).unwrap().run_tran(&spec);
        assert!(err.is_none(), "fixed step {fixed_step:?}: {err:?}");
        // Newton ends at a floating-point fixed point: no cut step, ~1 iteration per
        // step once settled (the iterate form needed 2-10 or failed).
        let s = &res.stats;
        assert_eq!(s.newton_failures, 0, "fixed step {fixed_step:?}: {s:?}");
        assert!(
            s.newton_iterations <= s.accepted_steps + s.accepted_steps / 10 + 10,
            "fixed step {fixed_step:?}: {s:?}"
        );
        // The stage settles to the inverting gain: v ≈ −0.1 V (+ offset).
        let w = &res.waveforms;
        let v = *w.column(w.index_of("v(v)").unwrap()).last().unwrap();
        assert!((v + 0.1).abs() < 5e-3, "v(v) = {v}");
    }
}

/// Every value of a waveform table as bits (time and signals, row by row).
fn waveform_bits(w: &dfcsim::waveform::Waveforms) -> Vec<u64> {
    (0..w.rows())
        .flat_map(|r| w.row(r).to_vec())
        .map(f64::to_bits)
        .collect()
}

/// A clone of a simulator that has not run is a fresh simulator (the co-simulation clones
/// one per transient instead of redoing the symbolic analysis): same waveform bits, also
/// after other clones have run, and a value changed in one clone stays in that clone.
#[test]
fn a_cloned_simulator_runs_like_a_fresh_one() {
    let c = elaborate::load_str(OPAMP_STAGE, Path::new("opamp_stage.cir")).unwrap();
    let spec = TranSpec::of_circuit(&c).unwrap();
    let template = Simulator::new(&c).unwrap();
    let mut fresh = Simulator::new(&c).unwrap();
    let (want, err) = fresh.run_tran(&spec);
    assert!(err.is_none(), "{err:?}");
    for _ in 0..2 {
        let mut sim = template.clone();
        let (got, err) = sim.run_tran(&spec);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            waveform_bits(&got.waveforms),
            waveform_bits(&want.waveforms)
        );
    }
    // A changed input in one clone leaves the template (and the next clone) untouched.
    let vin = c.find_element("vin").unwrap();
    let mut changed = template.clone();
    changed
        .set_source(vin, dfcsim::circuit::Waveform::Dc(0.05))
        .unwrap();
    let (other, _) = changed.run_tran(&spec);
    assert_ne!(
        waveform_bits(&other.waveforms),
        waveform_bits(&want.waveforms)
    );
    let (again, _) = template.clone().run_tran(&spec);
    assert_eq!(
        waveform_bits(&again.waveforms),
        waveform_bits(&want.waveforms)
    );
}

/// The same for the array form of the DFC toy (crossbar, neuron-layer, controller and DAC
/// devices cloned through `dyn Device`; a 235-unknown block through the sparse LU).
#[test]
fn a_cloned_array_form_simulator_runs_like_a_fresh_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/dfc/toy_ideal.cir");
    let c = elaborate::load(&path).unwrap();
    let spec = TranSpec {
        tstop: 2e-5,
        ..TranSpec::of_circuit(&c).unwrap()
    };
    let template = Simulator::new(&c).unwrap();
    let (want, err) = Simulator::new(&c).unwrap().run_tran(&spec);
    assert!(err.is_none(), "{err:?}");
    for _ in 0..2 {
        let (got, err) = template.clone().run_tran(&spec);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            waveform_bits(&got.waveforms),
            waveform_bits(&want.waveforms)
        );
    }
}
