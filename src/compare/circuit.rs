//! The one adapter between `compare` and the circuit co-simulation (`dfcsim train`):
//! generate (or read) the DFC netlist for a configuration, train it on the comparison's
//! data and schedule, and translate its per-epoch metrics and example waveforms.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::{
    Common, CompareError, Configuration, ExampleWaveforms, Kind, RunResult, RunRow, io_err,
};
use crate::circuit::{Model, ParamValue};
use crate::r#gen::emit::nodes;
use crate::r#gen::{self as dfcgen, GenConfig, Hardware, Phi, network};
use crate::ideal::data::Splits;
use crate::learn::cosim::{self, DfcCircuit, TrainOptions};
use crate::learn::device::DeviceParams;
use crate::learn::plasticity::Plasticity;
use crate::span::Span;
use crate::waveform::Waveforms;

/// Trains the circuit of configuration `cfg` (preset, sweep point) on the comparison's
/// data `data` (shared by every configuration) with its seed, batch and epochs through
/// `learn::cosim::train_on`, calls `on_epoch` after every epoch, and records test sample
/// 0's transient after training. The netlist is written into `dir`.
pub fn train_circuit(
    c: &Common,
    cfg: &Configuration,
    data: &Splits,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&RunRow),
) -> Result<RunResult, CompareError> {
    let setup = circuit_setup(c, cfg, &c.models_dir, dir)?;
    let run_err = |e: cosim::CosimError| CompareError::Run {
        name: cfg.name.clone(),
        message: e.to_string(),
    };
    let mut dc = DfcCircuit::load(&setup.netlist).map_err(run_err)?;
    // 0.05 τ_u (reltol from the .learn card): within 0.01° of the fine-step update on the
    // toy circuits (cosim's tests).
    let tau_u = dc.learn.tau_u;
    dc.set_max_step(0.05 * tau_u).map_err(run_err)?;
    let opts = TrainOptions {
        epochs: c.epochs,
        seed: c.seed,
        samples: c.samples,
        test_samples: c.test_samples,
        batch: c.batch.max(1),
        device: setup.device,
        conversion_energy_j: 0.0,
        waveform_samples: Vec::new(),
        waveform_dir: None,
    };
    let mut rows = Vec::new();
    let run = cosim::train_on(&mut dc, &opts, data, None, |m, _| {
        let row = RunRow {
            epoch: m.epoch,
            train_loss: m.train_loss,
            test_loss: m.test_loss,
            test_error: m.test_error,
            update_angle_deg: m.update_angle_deg,
            programmed_angle_deg: Some(m.programmed_angle_deg),
            programmed_step_ratio: Some(m.programmed_step_ratio),
            programmed_step_along: Some(m.programmed_step_along),
            steady_state_error: Some(m.steady_state_error),
            settling_time_s: Some(m.settling_time_s),
            energy_per_sample_j: Some(m.energy_total_j),
        };
        on_epoch(&row);
        rows.push(row);
        Ok(())
    })
    .map_err(run_err)?;
    let example = if data.test.is_empty() {
        None
    } else {
        let mut sim = dc.simulator().map_err(run_err)?;
        let mut plast = Plasticity::new(&dc.sizes, &dc.acts, dc.learn.rule);
        let out = cosim::run_sample(
            &dc,
            &mut sim,
            &mut plast,
            data.test.x.row(0),
            data.test.y.row(0),
            1,
            0,
        )
        .map_err(run_err)?;
        Some(example_from_waveforms(&out.waveforms, &c.sizes)?)
    };
    Ok(RunResult {
        config: cfg.clone(),
        rows,
        initial_test_loss: Some(run.initial_test_loss),
        example,
        diverged: None,
    })
}

/// The example-sample waveforms of a circuit transient (SI: seconds, volts), read from the
/// generated circuit's node names: output `r{L}_k`, target `rstar_k`, control `u_k`, and
/// the soma `v1_0`, basal `vff1_0` and apical `vfb1_0` compartments of hidden neuron 0 of
/// layer 1. `sizes` are the layer sizes, input to output.
pub fn example_from_waveforms(
    w: &Waveforms,
    sizes: &[usize],
) -> Result<ExampleWaveforms, CompareError> {
    let column = |node: String| -> Result<Vec<f64>, CompareError> {
        let name = format!("v({node})");
        w.index_of(&name).map(|j| w.column(j)).ok_or_else(|| {
            CompareError::Spec(format!("waveforms `{}` have no signal `{name}`", w.title))
        })
    };
    let t = w.index_of("time").map(|j| w.column(j)).ok_or_else(|| {
        CompareError::Spec(format!("waveforms `{}` are not a transient", w.title))
    })?;
    let layers = sizes.len().saturating_sub(1);
    if layers < 2 {
        return Err(CompareError::Spec(format!(
            "architecture {sizes:?} has no hidden layer"
        )));
    }
    let n_out = sizes[layers];
    Ok(ExampleWaveforms {
        time_unit: "s".into(),
        voltage_unit: "V".into(),
        t,
        target: (0..n_out)
            .map(|k| column(nodes::rstar(k)))
            .collect::<Result<_, _>>()?,
        output: (0..n_out)
            .map(|k| column(nodes::r(layers, k)))
            .collect::<Result<_, _>>()?,
        u: (0..n_out)
            .map(|k| column(nodes::u(k)))
            .collect::<Result<_, _>>()?,
        hidden: [
            column(nodes::v(1, 0))?,
            column(nodes::vff(1, 0))?,
            column(nodes::vfb(1, 0))?,
        ],
    })
}

/// What the training loop needs for a circuit configuration: the flat DFC netlist and the
/// plastic synapses' device model, with the sweep point applied.
#[derive(Debug, Clone)]
pub struct CircuitSetup {
    pub netlist: PathBuf,
    pub device: DeviceParams,
}

/// Writes the configuration's flat DFC netlist into `dir` (or takes the user's netlist),
/// and reads its preset's synapse device model from `models_dir/PRESET.lib`.
///
/// A swept parameter is resolved by name against the preset's `.model` cards: every card
/// holding `PARAM=` gets the sweep value (`CARD.PARAM` selects one card), in a copy of the
/// library written to `dir/models/PRESET.lib` that the generated netlist includes, so a
/// new key of any card (op-amp, DAC, ADC, device) sweeps without code changes. A name no
/// card holds is added to the synapse device card when the device model accepts it
/// (`read_noise_std`, `dw_min`, …). `states` (number of conductance states between
/// `w_min` and `w_max`) sets `dw_min = (w_max − w_min)/states`. Without a card holding
/// them, `a0`, `gbw` and `vos` set the generated op-amps directly.
pub fn circuit_setup(
    c: &Common,
    cfg: &Configuration,
    models_dir: &Path,
    dir: &Path,
) -> Result<CircuitSetup, CompareError> {
    let Kind::Circuit { preset } = &cfg.kind else {
        return Err(CompareError::Spec(format!(
            "{} is not a circuit configuration",
            cfg.name
        )));
    };
    let run_err = |m: String| CompareError::Run {
        name: cfg.name.clone(),
        message: m,
    };
    let mut hw = Hardware::load(preset, models_dir).map_err(|e| run_err(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    // Sweep point: the parameter as found in the preset's cards (`None`: in no card).
    let mut in_cards = false;
    if let (Some((param, v)), Some(lib)) = (&cfg.sweep, hw.lib.clone())
        && !is_states(param)
    {
        let text = std::fs::read_to_string(&lib).map_err(|e| io_err(&lib, e))?;
        let (card, key) = match param.split_once('.') {
            Some((c, k)) => (Some(c), k),
            None => (None, param.as_str()),
        };
        let (mut new_text, changed) = set_model_param(&text, card, key, *v);
        in_cards = changed > 0;
        if !in_cards && card.is_none() && !is_opamp_key(key) {
            // Not in any card: a device-model parameter left at its default.
            let device = hw.device_model.clone().unwrap_or_else(|| "synapse".into());
            new_text = add_model_param(&text, &device, key, *v).ok_or_else(|| {
                run_err(format!(
                    "sweep parameter `{param}`: no .model card of {} has it, and there is no \
                     device card `{device}` to add it to",
                    lib.display()
                ))
            })?;
            in_cards = true;
        } else if !in_cards && card.is_some() {
            return Err(run_err(format!(
                "sweep parameter `{param}`: {} has no .model card `{}` with `{key}=`",
                lib.display(),
                card.unwrap_or_default()
            )));
        }
        if in_cards {
            if c.netlist.is_some() && !device_card_has(&new_text, &hw, key) {
                return Err(run_err(format!(
                    "sweep parameter `{param}`: with your own netlist only device-model \
                     parameters can be swept (the netlist's op-amps and converters are fixed)"
                )));
            }
            let mdir = dir.join("models");
            std::fs::create_dir_all(&mdir).map_err(|e| io_err(&mdir, e))?;
            let file = lib
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("{preset}.lib")));
            let path = mdir.join(file);
            std::fs::write(&path, new_text).map_err(|e| io_err(&path, e))?;
            hw = Hardware::load(preset, &mdir).map_err(|e| run_err(e.to_string()))?;
        }
    }
    let mut device_model = match &hw.lib {
        Some(lib) => {
            let cards = crate::elaborate::load_models(lib).map_err(|e| run_err(e.to_string()))?;
            let wanted = hw.device_model.clone().unwrap_or_else(|| "synapse".into());
            cards
                .into_iter()
                .find(|m| m.name.eq_ignore_ascii_case(&wanted))
        }
        None => None,
    }
    .unwrap_or_else(|| Model {
        name: "synapse".into(),
        kind: "ideal".into(),
        params: Default::default(),
        span: Span {
            file: Arc::new(PathBuf::from("<compare>")),
            line: 1,
            col: 1,
        },
    });
    let opamp_err = |p: &str| {
        Err(run_err(format!(
            "sweep parameter `{p}`: with your own netlist only device-model parameters can be \
             swept (the netlist's op-amps are fixed)"
        )))
    };
    match &cfg.sweep {
        _ if in_cards => {}
        Some((p, _)) if is_states(p) => {}
        Some((p, _)) if is_opamp_key(p) && c.netlist.is_some() => return opamp_err(p),
        Some((p, v)) if p.eq_ignore_ascii_case("a0") => hw.opamp.a0 = *v,
        Some((p, v)) if p.eq_ignore_ascii_case("gbw") => hw.opamp.gbw_hz = Some(*v),
        Some((p, v)) if p.eq_ignore_ascii_case("vos") => hw.opamp.vos_volts = *v,
        Some((p, v)) => {
            device_model
                .params
                .insert(p.to_ascii_lowercase(), ParamValue::Num(*v));
        }
        None => {}
    }
    let mut device = DeviceParams::from_model(&device_model).map_err(|e| run_err(e.to_string()))?;
    if let Some((p, v)) = &cfg.sweep
        && is_states(p)
    {
        if v.is_nan() || *v < 1.0 {
            return Err(run_err(format!("{p}={v}: needs at least one state step")));
        }
        device.dw_min = (device.w_max - device.w_min) / v;
    }
    let netlist = match &c.netlist {
        Some(user) => user.clone(),
        None => {
            let path = dir.join("net.cir");
            let phis = dfcgen::layer_phis(&c.sizes, Phi::Linear);
            let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
            let gen_err = |e: dfcgen::GenError| run_err(e.to_string());
            let net = dfcgen::DfcNetwork::xavier(&c.sizes, phis, &mut rng).map_err(gen_err)?;
            let mut gc = GenConfig::new("net");
            let sample =
                network::student_teacher_sample(&net, c.seed, gc.dfc.lambda).map_err(gen_err)?;
            if let Some(lib) = &hw.lib {
                hw.lib = Some(dfcgen::hardware::relative_path(dir, lib));
            }
            gc.hardware = hw;
            gc.flat = true;
            gc.seed = c.seed;
            gc.command = format!("dfcsim compare ({})", cfg.name);
            dfcgen::generate(&net, &sample, &gc)
                .and_then(|g| g.write(&path))
                .map_err(gen_err)?;
            path
        }
    };
    Ok(CircuitSetup { netlist, device })
}

/// `states` / `n_states`: number of conductance steps between `w_min` and `w_max`.
fn is_states(param: &str) -> bool {
    param.eq_ignore_ascii_case("states") || param.eq_ignore_ascii_case("n_states")
}

fn is_opamp_key(param: &str) -> bool {
    ["a0", "gbw", "vos"]
        .iter()
        .any(|k| param.eq_ignore_ascii_case(k))
}

/// Whether `key` is set in the preset's device card of library text `text`.
fn device_card_has(text: &str, hw: &Hardware, key: &str) -> bool {
    let device = hw.device_model.as_deref().unwrap_or("synapse");
    set_model_param(text, Some(device), key, 0.0).1 > 0
}

/// The `.model` card name of a card's first line (`.model NAME KIND(…`), lower case.
fn model_card_name(line: &str) -> Option<String> {
    let mut it = line.split_whitespace();
    let head = it.next()?;
    if !head.eq_ignore_ascii_case(".model") {
        return None;
    }
    let name = it.next()?;
    Some(name.split('(').next().unwrap_or(name).to_ascii_lowercase())
}

/// Lines of `.model` cards in library text: (line index, card name) for every line of a
/// card, continuation (`+`) lines included.
fn card_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(name) = model_card_name(t) {
            current = Some(name);
        } else if t.starts_with('+') {
            // continues the current card, if any
        } else if t.is_empty() || t.starts_with('*') {
            continue;
        } else {
            current = None;
        }
        if let Some(c) = &current {
            out.push((i, c.clone()));
        }
    }
    out
}

/// Sets `key=value` in every `.model` card of `text` that holds `key` (only card `card`
/// when given; names case-insensitive). Returns the new text and how many cards changed.
pub fn set_model_param(text: &str, card: Option<&str>, key: &str, value: f64) -> (String, usize) {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut changed: Vec<String> = Vec::new();
    for (i, name) in card_lines(text) {
        if card.is_some_and(|c| !c.eq_ignore_ascii_case(&name)) {
            continue;
        }
        if let Some(new) = replace_value(&lines[i], key, value) {
            lines[i] = new;
            if !changed.contains(&name) {
                changed.push(name);
            }
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    (out, changed.len())
}

/// `line` with the value of `key=…` (a whole parameter name, before any `;`/`$` comment)
/// replaced by `value`, or `None` if the line has no such parameter.
fn replace_value(line: &str, key: &str, value: f64) -> Option<String> {
    let code_end = line
        .find(';')
        .into_iter()
        .chain(line.find(" $ "))
        .min()
        .unwrap_or(line.len());
    let lower = line[..code_end].to_ascii_lowercase();
    let key = key.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&key).map(|p| p + from) {
        let before_ok = pos == 0 || matches!(bytes[pos - 1], b' ' | b'\t' | b'(' | b'+' | b',');
        let mut j = pos + key.len();
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if before_ok && j < bytes.len() && bytes[j] == b'=' {
            j += 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let mut end = j;
            while end < bytes.len() && !matches!(bytes[end], b' ' | b'\t' | b')' | b',') {
                end += 1;
            }
            return Some(format!(
                "{}{}{}",
                &line[..j],
                card_value(value),
                &line[end..]
            ));
        }
        from = pos + key.len();
    }
    None
}

/// A value as written into a card: integers plain, others with 12 significant digits
/// (`30u` parses to 2.9999999999999997e-5 and is written `3e-5`).
fn card_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.11e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// `text` with `+ key=value` added as the last line of card `card`, or `None` without
/// such a card.
fn add_model_param(text: &str, card: &str, key: &str, value: f64) -> Option<String> {
    let last = card_lines(text)
        .into_iter()
        .filter(|(_, n)| n.eq_ignore_ascii_case(card))
        .map(|(i, _)| i)
        .max()?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Keep a closing parenthesis last: put the new parameter before it.
    let l = &mut lines[last];
    match l.rfind(')') {
        Some(p) => l.insert_str(p, &format!(" {key}={} ", card_value(value))),
        None => lines.insert(last + 1, format!("+ {key}={}", card_value(value))),
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "* lib\n.model synapse reramsb (\n+ dw_min=0.002 w_max=1.25\n* comment\n+ g_max=25u )\n.model oa opamp(a0=1e4 gbw=10meg)\n.model adc adc(bits=8)\n.model dac dac(bits=6 vmax=1)\n";

    #[test]
    fn sweep_keys_resolve_against_the_cards() {
        let (t, n) = set_model_param(LIB, None, "bits", 4.0);
        assert_eq!(n, 2);
        assert!(
            t.contains("adc(bits=4)") && t.contains("dac(bits=4 vmax=1)"),
            "{t}"
        );
        let (t, n) = set_model_param(LIB, Some("dac"), "BITS", 5.0);
        assert_eq!(n, 1);
        assert!(
            t.contains("adc(bits=8)") && t.contains("dac(bits=5 vmax=1)"),
            "{t}"
        );
        let (t, n) = set_model_param(LIB, None, "g_max", 5e-5);
        assert_eq!(n, 1);
        assert!(t.contains("+ g_max=5e-5 )"), "{t}");
        let (t, n) = set_model_param(LIB, None, "gbw", 1e6);
        assert!(n == 1 && t.contains("opamp(a0=1e4 gbw=1000000)"), "{t}");
        let (t, _) = set_model_param(LIB, None, "g_max", 2.9999999999999997e-5);
        assert!(t.contains("+ g_max=3e-5 )"), "{t}");
        // `max` is not `vmax`, `w_max` is not `max`.
        assert_eq!(set_model_param(LIB, None, "max", 1.0).1, 0);
        let t = add_model_param(LIB, "synapse", "read_noise_std", 0.01).unwrap();
        assert!(t.contains("+ g_max=25u  read_noise_std=1e-2 )"), "{t}");
        assert!(add_model_param(LIB, "nope", "x", 1.0).is_none());
    }
}
