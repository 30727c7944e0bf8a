//! Netlist text for the DFC circuit, array or flat form (see the module docs of `gen`).

use std::fmt::Write as _;
use std::path::Path;

use super::network::{DfcNetwork, Matrix, Phi, Sample};
use super::{GenConfig, GenError, Opamp};

/// Node names of the generated circuit (layers 1-based as in the paper, 0 = input).
pub mod nodes {
    /// Post-nonlinearity line r_i (i = 0: input DAC x).
    pub fn r(i: usize, k: usize) -> String {
        format!("r{i}_{k}")
    }
    /// Complementary line −r_i.
    pub fn rn(i: usize, k: usize) -> String {
        format!("r{i}n_{k}")
    }
    /// Central compartment V_s v_i.
    pub fn v(i: usize, k: usize) -> String {
        format!("v{i}_{k}")
    }
    /// Basal (feed-forward) compartment V_s v_i^ff.
    pub fn vff(i: usize, k: usize) -> String {
        format!("vff{i}_{k}")
    }
    /// Apical (feedback) compartment V_s v_i^fb.
    pub fn vfb(i: usize, k: usize) -> String {
        format!("vfb{i}_{k}")
    }
    /// Op-amp summing node (virtual ground) of neuron k of layer i.
    pub fn sum(i: usize, k: usize) -> String {
        format!("s{i}_{k}")
    }
    /// Forward crossbar column wire.
    pub fn col_ff(i: usize, k: usize) -> String {
        format!("c{i}ff_{k}")
    }
    /// Feedback crossbar column wire.
    pub fn col_fb(i: usize, k: usize) -> String {
        format!("c{i}fb_{k}")
    }
    /// Controller output V_s u.
    pub fn u(m: usize) -> String {
        format!("u_{m}")
    }
    /// −V_s u.
    pub fn un(m: usize) -> String {
        format!("un_{m}")
    }
    /// Control error V_s e (before the enable gate).
    pub fn e(m: usize) -> String {
        format!("e_{m}")
    }
    /// −V_s u_int (integrator output).
    pub fn uint_n(m: usize) -> String {
        format!("uintn_{m}")
    }
    /// Target V_s r_L*.
    pub fn rstar(m: usize) -> String {
        format!("rstar_{m}")
    }
    /// Controller enable (0 V off, 1 V on).
    pub const EN: &str = "en";
    /// Bias lines +V_s and −V_s.
    pub const ONE: &str = "one";
    pub const ONE_N: &str = "onen";
}

/// A generated netlist and its side files (names relative to the netlist's directory).
#[derive(Debug, Clone)]
pub struct Generated {
    pub netlist: String,
    pub files: Vec<(String, String)>,
}

impl Generated {
    /// Writes the netlist to `path` and the side files next to it.
    pub fn write(&self, path: &Path) -> Result<(), GenError> {
        let io = |p: &Path, e| GenError::Io {
            path: p.display().to_string(),
            source: e,
        };
        std::fs::write(path, &self.netlist).map_err(|e| io(path, e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, text) in &self.files {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| io(&p, e))?;
        }
        Ok(())
    }
}

/// Shortest round-trip decimal, which ngspice and dfcsim both read exactly.
fn num(x: f64) -> String {
    // 15 significant digits hide float noise such as 2.0000000000000003e-6 of derived values.
    let s = format!("{x:.14e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s; // inf / NaN: callers check finiteness before writing
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    if exp == "0" {
        mantissa.to_string()
    } else {
        format!("{mantissa}e{exp}")
    }
}

/// Conductance pair of weight w: G⁺ = G_min + max(w,0)/R_f, G⁻ = G_min + max(−w,0)/R_f.
pub fn conductance_pair(w: f64, r_f: f64, g_min: f64) -> (f64, f64) {
    (g_min + w.max(0.0) / r_f, g_min + (-w).max(0.0) / r_f)
}

/// One crossbar: weights in W layout (outputs × inputs, plus a bias column when `bias`).
struct Crossbar {
    name: String,
    /// (positive line, negative line) per input row.
    rows: Vec<(String, String)>,
    cols: Vec<String>,
    /// weight of row j, column k
    weight: Vec<Vec<f64>>,
    bias_row: bool,
    plastic: bool,
}

fn crossbar_of(
    name: &str,
    m: &Matrix,
    bias: Option<&[f64]>,
    rows: Vec<(String, String)>,
    cols: Vec<String>,
    plastic: bool,
) -> Crossbar {
    let mut weight = vec![vec![0.0; m.rows]; m.cols + usize::from(bias.is_some())];
    for k in 0..m.rows {
        for (j, row) in weight.iter_mut().enumerate().take(m.cols) {
            row[k] = m.at(k, j);
        }
        if let Some(b) = bias {
            weight[m.cols][k] = b[k];
        }
    }
    Crossbar {
        name: name.to_string(),
        rows,
        cols,
        weight,
        bias_row: bias.is_some(),
        plastic,
    }
}

/// Writes the netlist of `net` driven by `sample`.
pub fn generate(net: &DfcNetwork, sample: &Sample, cfg: &GenConfig) -> Result<Generated, GenError> {
    let sc = &cfg.scales;
    let hw = &cfg.hardware;
    let d = &cfg.dfc;
    let layers = net.layers();
    let n_out = net.arch[layers];
    for (what, v) in [
        ("vs", sc.vs_volts),
        ("tau_u", sc.tau_u_seconds),
        ("time_constant_ratio", sc.time_constant_ratio),
        ("rf", sc.r_f_ohms),
        ("r_ctl", sc.r_ctl_ohms),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(GenError::Param(format!("{what} must be > 0, got {v}")));
        }
    }
    if !(d.k_p >= 0.0 && d.alpha >= 0.0 && d.t_ctl > 0.0 && d.t_ff >= 0.0) {
        return Err(GenError::Param(
            "need k_p ≥ 0, alpha ≥ 0, t_ctl > 0, t_ff ≥ 0".into(),
        ));
    }
    if sample.x.len() != net.arch[0] || sample.target.len() != n_out {
        return Err(GenError::Param(format!(
            "sample has {} inputs and {} targets, arch {:?}",
            sample.x.len(),
            sample.target.len(),
            net.arch
        )));
    }
    if hw.opamp.slew_v_per_s.is_some() && hw.opamp.gbw_hz.is_none() {
        return Err(GenError::Param(
            "op-amp slew rate needs a pole (gbw > 0)".into(),
        ));
    }
    let w_max = sc.r_f_ohms * (hw.g_max_siemens - hw.g_min_siemens);
    for i in 0..layers {
        let b_max = net.b[i].iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (name, v) in [
            (format!("W{}", i + 1), net.w[i].max_abs().max(b_max)),
            (format!("Q{}", i + 1), net.q[i].max_abs()),
        ] {
            if v > w_max {
                return Err(GenError::WeightRange {
                    matrix: name,
                    value: v,
                    max: w_max,
                });
            }
        }
    }

    let noise = super::noise::NoisePlan::new(cfg)?;

    // Crossbars in circuit orientation.
    let u_rows: Vec<(String, String)> = (0..n_out).map(|m| (nodes::u(m), nodes::un(m))).collect();
    let mut bars = Vec::new();
    for i in 1..=layers {
        let mut rows: Vec<(String, String)> = (0..net.arch[i - 1])
            .map(|j| (nodes::r(i - 1, j), nodes::rn(i - 1, j)))
            .collect();
        rows.push((nodes::ONE.into(), nodes::ONE_N.into()));
        let ff_cols = (0..net.arch[i]).map(|k| nodes::col_ff(i, k)).collect();
        let fb_cols = (0..net.arch[i]).map(|k| nodes::col_fb(i, k)).collect();
        bars.push(crossbar_of(
            &format!("W{i}"),
            &net.w[i - 1],
            Some(&net.b[i - 1]),
            rows,
            ff_cols,
            true,
        ));
        bars.push(crossbar_of(
            &format!("Q{i}"),
            &net.q[i - 1],
            None,
            u_rows.clone(),
            fb_cols,
            d.plastic_feedback,
        ));
    }

    let stem = &cfg.stem;
    let mut files = Vec::new();
    let mut o = String::new();
    let form = if cfg.flat { "flat" } else { "array" };
    let arch_s: Vec<String> = net.arch.iter().map(|n| n.to_string()).collect();
    let arch_s = arch_s.join("-");
    let tau_v = sc.tau_v_seconds();
    let t_on = d.t_ff * sc.tau_u_seconds;
    let t_rise = tau_v * 1e-3;
    let t_stop = (d.t_ff + d.t_ctl) * sc.tau_u_seconds;
    let op = &hw.opamp;

    // ---- header ----
    let _ = writeln!(
        o,
        "DFC learning circuit {arch_s} ({} preset, {form} form) - dfcsim gen",
        hw.preset
    );
    let header = format!(
        "*
* Deep Feedback Control (Meulemans et al. 2021, eq. 1-4) as an analog circuit, one sample.
* command: {cmd}
* seed {seed}; weights xavier-normal, fixed weight-product feedback Q_i = W_(i+1)^T...W_L^T, Q_L = I
*   (dimensionless copy: {stem}_weights.json, reference fixture format).
*
* Units and mapping (dimensionless model <-> circuit, SI):
*   activation a        <-> voltage a * Vs,  Vs = {vs} V per unit
*   weight w            <-> w = Rf * (G+ - G-),  Rf = {rf} ohm,  G in [{gmin}, {gmax}] S,
*                           G+ = Gmin + max(w,0)/Rf, G- = Gmin + max(-w,0)/Rf  (|w| <= {wmax:.4})
*   time t (tau_u = 1)  <-> t * {tau_u} s;  tau_v = Rf*Cf = {tau_v} s (ratio {ratio})
*   controller: k_p = {kp} (Rctl/Rprop), alpha = {alpha} (Rctl/Rleak; leak fed by -u, i.e. acts on
*   the total u as in the reference code), tau_u = Rctl*Cint, Rctl = {rctl} ohm
* Op-amps: A0 = {a0}{gbw}{vos}{rails}{slew}
* Periphery: {periph}
*
* Nodes (layer i = 1..{layers}, unit k; layer 0 = input):
*   r0_k / r0n_k   input DAC +-x*Vs          one / onen   bias lines +-Vs
*   cIff_k cIfb_k  crossbar column wires (held at the summing node sI_k by 0 V ammeters vsff/vsfb)
*   vI_k           central compartment  Vs*v_i          (op-amp leaky integrator output)
*   vffI_k         basal compartment    Vs*v_i^ff = Vs*(W_i r_(i-1) + b_i)   (H sensing vsff)
*   vfbI_k         apical compartment   Vs*v_i^fb = Vs*Q_i u                 (H sensing vsfb)
*   rI_k / rInI_k  transfer stage  +-Vs*phi(v/Vs)  (tanh hidden, {outphi} output)
*   rstar_m        target r_L* * Vs (set per sample)    e_m  error Vs*(r_L* - r_L)
*   uintn_m        -Vs*u_int                            u_m / un_m  +-Vs*u
*   en             controller enable: 0 V in the feed-forward settle phase (0..{t_on} s),
*                  ramps to 1 V in {t_rise} s, controlled phase until {t_stop} s
*
",
        cmd = if cfg.command.is_empty() {
            "(library call)"
        } else {
            &cfg.command
        },
        seed = cfg.seed,
        vs = num(sc.vs_volts),
        rf = num(sc.r_f_ohms),
        gmin = num(hw.g_min_siemens),
        gmax = num(hw.g_max_siemens),
        wmax = w_max,
        tau_u = num(sc.tau_u_seconds),
        tau_v = num(tau_v),
        ratio = sc.time_constant_ratio,
        kp = d.k_p,
        alpha = d.alpha,
        rctl = num(sc.r_ctl_ohms),
        a0 = num(op.a0),
        gbw = op
            .gbw_hz
            .map(|g| format!(", GBW = {} Hz", num(g)))
            .unwrap_or_default(),
        vos = if op.vos_volts != 0.0 {
            format!(", Vos = {} V", num(op.vos_volts))
        } else {
            String::new()
        },
        rails = op
            .rails_volts
            .map(|(lo, hi)| format!(", rails [{}, {}] V", num(lo), num(hi)))
            .unwrap_or_default(),
        slew = op
            .slew_v_per_s
            .map(|sr| format!(", slew {} V/s", num(sr)))
            .unwrap_or_default(),
        periph = periphery_summary(&hw.periphery),
        layers = layers,
        outphi = net.phi[layers - 1].name(),
        t_on = num(t_on),
        t_rise = num(t_rise),
        t_stop = num(t_stop),
    );
    o.push_str(&header);
    if cfg.flat {
        o.push_str("* Flat form: every array device expanded into R/C/E/B/V/H/I elements (runs in ngspice 39).\n");
    } else {
        o.push_str(
            "* Array form: XSPICE-style A devices, conductances in CSV files next to this netlist\n\
             * (rows = input lines incl. bias, columns = output wires, siemens).\n",
        );
        if let Some(lib) = &hw.lib {
            let _ = writeln!(o, ".include \"{}\"", lib.display());
        }
    }

    // ---- sources ----
    o.push_str("\n*** input DACs, bias lines, target, controller enable\n");
    let x_csv = csv_row(&sample.x);
    let t_csv = csv_row(&sample.target);
    let per = &hw.periphery;
    let dac = per.dac();
    if cfg.flat {
        if dac.bits > 0 {
            let _ = writeln!(
                o,
                "* DAC levels: values quantised to {} bits over +-{} (x Vs) at generation time",
                dac.bits, dac.range
            );
        }
        for (j, x) in sample.x.iter().map(|&x| dac.apply(x)).enumerate() {
            let _ = writeln!(o, "Vx{j} {} 0 DC {}", nodes::r(0, j), num(x * sc.vs_volts));
            let _ = writeln!(
                o,
                "Vxn{j} {} 0 DC {}",
                nodes::rn(0, j),
                num(-x * sc.vs_volts)
            );
        }
        for (m, t) in sample.target.iter().map(|&t| dac.apply(t)).enumerate() {
            let _ = writeln!(o, "Vt{m} {} 0 DC {}", nodes::rstar(m), num(t * sc.vs_volts));
        }
    } else {
        let n0 = net.arch[0];
        let _ = writeln!(
            o,
            "AX {} {} dac_x",
            vector((0..n0).map(|j| nodes::r(0, j))),
            vector((0..n0).map(|j| nodes::rn(0, j)))
        );
        let _ = writeln!(
            o,
            ".model dac_x dac(n={n0} vs={} file=\"{stem}_x.csv\" differential=1 bits={} range={})",
            num(sc.vs_volts),
            dac.bits,
            num(dac.range)
        );
        let _ = writeln!(o, "AT {} dac_t", vector((0..n_out).map(nodes::rstar)));
        let _ = writeln!(
            o,
            ".model dac_t dac(n={n_out} vs={} file=\"{stem}_target.csv\" differential=0 bits={} range={})",
            num(sc.vs_volts),
            dac.bits,
            num(dac.range)
        );
        files.push((format!("{stem}_x.csv"), x_csv.clone()));
        files.push((format!("{stem}_target.csv"), t_csv.clone()));
    }
    let _ = writeln!(o, "Vone {} 0 DC {}", nodes::ONE, num(sc.vs_volts));
    let _ = writeln!(o, "Vonen {} 0 DC {}", nodes::ONE_N, num(-sc.vs_volts));
    let _ = writeln!(
        o,
        "Ven {} 0 PWL(0 0 {} 0 {} 1)",
        nodes::EN,
        num(t_on),
        num(t_on + t_rise)
    );

    // ---- crossbars ----
    for bar in &bars {
        let (nr, nc) = (bar.rows.len(), bar.cols.len());
        let _ = writeln!(
            o,
            "\n*** crossbar {} ({} rows x {} columns{}; {})",
            bar.name,
            nr,
            nc,
            if bar.bias_row {
                ", last row = bias"
            } else {
                ""
            },
            if bar.plastic { "plastic" } else { "fixed" }
        );
        let mut gp = Matrix::zeros(nr, nc);
        let mut gn = Matrix::zeros(nr, nc);
        for j in 0..nr {
            for k in 0..nc {
                let (p, n) = conductance_pair(bar.weight[j][k], sc.r_f_ohms, hw.g_min_siemens);
                gp.set(j, k, p);
                gn.set(j, k, n);
            }
        }
        let lname = bar.name.to_ascii_lowercase();
        if cfg.flat {
            o.push_str(
                "* G+ from the negative line, G- from the positive line (the integrator inverts);\n\
                 * a zero conductance (G_min = 0) is an open cell: no resistor\n",
            );
            for k in 0..nc {
                for j in 0..nr {
                    if gp.at(j, k) > 0.0 {
                        let _ = writeln!(
                            o,
                            "R{lname}p_{j}_{k} {} {} {}",
                            bar.rows[j].1,
                            bar.cols[k],
                            num(1.0 / gp.at(j, k))
                        );
                    }
                    if gn.at(j, k) > 0.0 {
                        let _ = writeln!(
                            o,
                            "R{lname}n_{j}_{k} {} {} {}",
                            bar.rows[j].0,
                            bar.cols[k],
                            num(1.0 / gn.at(j, k))
                        );
                    }
                }
            }
        } else {
            let _ = writeln!(
                o,
                "A{} {}\n+ {}\n+ {} xbar_{lname}",
                lname,
                vector(bar.rows.iter().map(|r| r.0.clone())),
                vector(bar.rows.iter().map(|r| r.1.clone())),
                vector(bar.cols.iter().cloned())
            );
            let _ = writeln!(
                o,
                ".model xbar_{lname} crossbar(rows={nr} cols={nc} matrix={} bias_row={}\n\
                 + gpfile=\"{stem}_{}_gp.csv\" gnfile=\"{stem}_{}_gn.csv\"\n\
                 + r_f={} vs={} gmin={} gmax={} device={} plastic={})",
                bar.name,
                u8::from(bar.bias_row),
                bar.name,
                bar.name,
                num(sc.r_f_ohms),
                num(sc.vs_volts),
                num(hw.g_min_siemens),
                num(hw.g_max_siemens),
                hw.device_model.as_deref().unwrap_or("ideal"),
                u8::from(bar.plastic)
            );
            noise.crossbar_columns(&mut o, &lname, &bar.cols, &gp, &gn);
            files.push((format!("{stem}_{}_gp.csv", bar.name), csv_matrix(&gp)));
            files.push((format!("{stem}_{}_gn.csv", bar.name), csv_matrix(&gn)));
        }
    }

    // ---- neuron layers ----
    let mismatch = per.tanh_mismatch(&net.arch[1..], cfg.seed);
    let has_mismatch = per.tanh_gain_sigma > 0.0 || per.tanh_offset_sigma_volts > 0.0;
    for i in 1..=layers {
        let n = net.arch[i];
        let phi = net.phi[i - 1];
        let mm = &mismatch[i - 1];
        let _ = writeln!(
            o,
            "\n*** neuron layer {i} ({n} three-compartment neurons, phi = {})",
            phi.name()
        );
        if cfg.flat {
            let _ = writeln!(
                o,
                "* Inoise: noise placeholders (sigma = {}; current sigma*Vs/Rf per unit white noise)",
                d.noise_sigma
            );
            // mm holds one (gain, offset) per neuron of the layer
            for (k, &(gain, offset)) in mm.iter().enumerate() {
                let (s, v) = (nodes::sum(i, k), nodes::v(i, k));
                let _ = writeln!(o, "* neuron {i}.{k}");
                let _ = writeln!(o, "Vsff{i}_{k} {} {s} DC 0", nodes::col_ff(i, k));
                let _ = writeln!(o, "Vsfb{i}_{k} {} {s} DC 0", nodes::col_fb(i, k));
                let _ = writeln!(o, "Rf{i}_{k} {v} {s} {}", num(sc.r_f_ohms));
                let _ = writeln!(o, "Cf{i}_{k} {v} {s} {}", num(sc.c_f_farads()));
                opamp(&mut o, op, &noise, &format!("n{i}_{k}"), "0", &s, &v);
                let _ = writeln!(
                    o,
                    "Hff{i}_{k} {} 0 Vsff{i}_{k} {}",
                    nodes::vff(i, k),
                    num(-sc.r_f_ohms)
                );
                let _ = writeln!(
                    o,
                    "Hfb{i}_{k} {} 0 Vsfb{i}_{k} {}",
                    nodes::vfb(i, k),
                    num(-sc.r_f_ohms)
                );
                let _ = writeln!(o, "Inoise{i}_{k} {s} 0 DC 0");
                match phi {
                    Phi::Tanh if has_mismatch => {
                        // gain and input-offset mismatch of this stage (drawn at gen time)
                        let _ = writeln!(
                            o,
                            "Br{i}_{k} {} 0 V={}*tanh((V({v})-({}))/{vs})",
                            nodes::r(i, k),
                            num(gain * sc.vs_volts),
                            num(offset),
                            vs = num(sc.vs_volts)
                        );
                    }
                    Phi::Tanh => {
                        let _ = writeln!(
                            o,
                            "Br{i}_{k} {} 0 V={vs}*tanh(V({v})/{vs})",
                            nodes::r(i, k),
                            vs = num(sc.vs_volts)
                        );
                    }
                    Phi::Linear => {
                        let _ = writeln!(o, "Er{i}_{k} {} 0 {v} 0 1", nodes::r(i, k));
                    }
                }
                let _ = writeln!(
                    o,
                    "Ern{i}_{k} {} 0 {} 0 -1",
                    nodes::rn(i, k),
                    nodes::r(i, k)
                );
            }
        } else {
            let _ = writeln!(
                o,
                "AN{i} {}\n+ {}\n+ {}\n+ {}\n+ {}\n+ {}\n+ {} neuron_l{i}",
                vector((0..n).map(|k| nodes::col_ff(i, k))),
                vector((0..n).map(|k| nodes::col_fb(i, k))),
                vector((0..n).map(|k| nodes::v(i, k))),
                vector((0..n).map(|k| nodes::vff(i, k))),
                vector((0..n).map(|k| nodes::vfb(i, k))),
                vector((0..n).map(|k| nodes::r(i, k))),
                vector((0..n).map(|k| nodes::rn(i, k))),
            );
            let mm_params = if has_mismatch && phi == Phi::Tanh {
                format!(
                    "\n+ tanh_gain={}\n+ tanh_offset={}",
                    vector(mm.iter().map(|&(g, _)| num(g))),
                    vector(mm.iter().map(|&(_, off)| num(off)))
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                ".model neuron_l{i} neuron_layer(n={n} r_f={} c_f={} vs={} phi={}\n+ noise_sigma={} {}{mm_params})",
                num(sc.r_f_ohms),
                num(sc.c_f_farads()),
                num(sc.vs_volts),
                phi.name(),
                d.noise_sigma,
                opamp_params(op)
            );
        }
    }

    // ---- controller ----
    let r_ctl = sc.r_ctl_ohms;
    let _ = writeln!(
        o,
        "\n*** output PI controller ({n_out} channels): e = r* - r_L, tau_u du_int/dt = e - alpha*u, u = u_int + k_p*e"
    );
    if cfg.flat {
        for m in 0..n_out {
            let (e, u, un, ui) = (nodes::e(m), nodes::u(m), nodes::un(m), nodes::uint_n(m));
            let _ = writeln!(o, "* channel {m}: difference amplifier");
            let _ = writeln!(o, "Rd1_{m} {} dp_{m} {}", nodes::rstar(m), num(r_ctl));
            let _ = writeln!(o, "Rd2_{m} dp_{m} 0 {}", num(r_ctl));
            let _ = writeln!(o, "Rd3_{m} {} dm_{m} {}", nodes::r(layers, m), num(r_ctl));
            let _ = writeln!(o, "Rd4_{m} dm_{m} {e} {}", num(r_ctl));
            opamp(
                &mut o,
                op,
                &noise,
                &format!("d{m}"),
                &format!("dp_{m}"),
                &format!("dm_{m}"),
                &e,
            );
            let _ = writeln!(
                o,
                "* enable gate (analog switch as multiplier with en in 0..1 V)"
            );
            let _ = writeln!(o, "Beg{m} eg_{m} 0 V=V({})*V({e})", nodes::EN);
            let _ = writeln!(o, "Begn{m} egn_{m} 0 V=-V({})*V({e})", nodes::EN);
            let _ = writeln!(o, "* leaky integrator -> uintn = -Vs*u_int");
            let _ = writeln!(o, "Ri{m} eg_{m} si_{m} {}", num(r_ctl));
            if d.alpha > 0.0 {
                let _ = writeln!(o, "Rleak{m} {un} si_{m} {}", num(r_ctl / d.alpha));
            }
            let _ = writeln!(o, "Ci{m} {ui} si_{m} {}", num(sc.c_int_farads()));
            opamp(
                &mut o,
                op,
                &noise,
                &format!("i{m}"),
                "0",
                &format!("si_{m}"),
                &ui,
            );
            let _ = writeln!(o, "* proportional sum -> u = Vs*(u_int + k_p*e)");
            let _ = writeln!(o, "Rsa{m} {ui} ss_{m} {}", num(r_ctl));
            if d.k_p > 0.0 {
                let _ = writeln!(o, "Rsp{m} egn_{m} ss_{m} {}", num(r_ctl / d.k_p));
            }
            let _ = writeln!(o, "Rsf{m} {u} ss_{m} {}", num(r_ctl));
            opamp(
                &mut o,
                op,
                &noise,
                &format!("s{m}"),
                "0",
                &format!("ss_{m}"),
                &u,
            );
            let _ = writeln!(o, "* inverter -> un = -Vs*u");
            let _ = writeln!(o, "Rv1_{m} {u} sv_{m} {}", num(r_ctl));
            let _ = writeln!(o, "Rv2_{m} {un} sv_{m} {}", num(r_ctl));
            opamp(
                &mut o,
                op,
                &noise,
                &format!("v{m}"),
                "0",
                &format!("sv_{m}"),
                &un,
            );
        }
    } else {
        let _ = writeln!(
            o,
            "ACTL {}\n+ {} {}\n+ {}\n+ {}\n+ {}\n+ {} pi_ctl",
            vector((0..n_out).map(nodes::rstar)),
            vector((0..n_out).map(|m| nodes::r(layers, m))),
            nodes::EN,
            vector((0..n_out).map(nodes::e)),
            vector((0..n_out).map(nodes::uint_n)),
            vector((0..n_out).map(nodes::u)),
            vector((0..n_out).map(nodes::un)),
        );
        let leak = if d.alpha > 0.0 {
            format!(" r_leak={}", num(r_ctl / d.alpha))
        } else {
            String::new()
        };
        let prop = if d.k_p > 0.0 {
            format!(" r_prop={}", num(r_ctl / d.k_p))
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            ".model pi_ctl pi_controller(n={n_out} vs={} k_p={} alpha={} tau_u={}\n+ r_ctl={} c_int={}{leak}{prop}\n+ {})",
            num(sc.vs_volts),
            d.k_p,
            d.alpha,
            num(sc.tau_u_seconds),
            num(r_ctl),
            num(sc.c_int_farads()),
            opamp_params(op)
        );
    }

    // ---- learning card, analysis ----
    let plastic: Vec<String> = bars
        .iter()
        .filter(|b| b.plastic)
        .map(|b| b.name.clone())
        .collect();
    let fixed: Vec<String> = bars
        .iter()
        .filter(|b| !b.plastic)
        .map(|b| b.name.clone())
        .collect();
    let learn = format!(
        ".learn task={task} loss={loss} lambda={lambda} variant={variant} rule=dfc\n\
         + input=ax target=at enable=ven t_ff={t_ff} t_ctl={t_ctl}\n\
         + lr={lr} optimizer=sgd clip=1 batch=1 seed={seed}\n\
         + plastic={plastic} fixed={fixed} feedback_phase={fb}\n\
         + k_p={kp} alpha={alpha} time_constant_ratio={ratio} vs={vs} tau_u={tau_u}\n\
         + dac_bits={dac_bits} dac_range={dac_range} adc_bits={adc_bits} adc_range={adc_range}\n\
         + p_static={p_static} e_dac={e_dac} e_adc={e_adc}\n\
         + reltol=1e-4 max_step={max_step}",
        task = d.task,
        loss = d.loss,
        lambda = d.lambda,
        variant = d.variant,
        t_ff = num(t_on),
        t_ctl = num(d.t_ctl * sc.tau_u_seconds),
        lr = d.lr,
        seed = cfg.seed,
        plastic = if plastic.is_empty() {
            "none".into()
        } else {
            plastic.join(",").to_ascii_lowercase()
        },
        fixed = if fixed.is_empty() {
            "none".into()
        } else {
            fixed.join(",").to_ascii_lowercase()
        },
        fb = if d.plastic_feedback { "on" } else { "off" },
        kp = d.k_p,
        alpha = d.alpha,
        ratio = sc.time_constant_ratio,
        vs = num(sc.vs_volts),
        tau_u = num(sc.tau_u_seconds),
        dac_bits = dac.bits,
        dac_range = num(dac.range),
        adc_bits = per.adc_bits,
        adc_range = num(per.adc_range),
        p_static = num(super::periphery::active_stages(&net.arch) as f64 * op.static_power_watts()),
        e_dac = num(per.dac_energy_j),
        e_adc = num(per.adc_energy_j),
        // The co-simulation's transient accuracy (the `.tran`/`.options` lines stay at
        // what a comparison with ngspice needs). The error control sets the steps; a
        // bound below τ_u only adds steps (toy: update within 1e-4 of a tight run).
        max_step = num(sc.tau_u_seconds),
    );
    // Feedback ("sleep") phase of rule (13), read by `dfcsim train` (learn::sleep): noise σ,
    // duration and noise grid (s), learning rates, weight decay, joint clip, epochs.
    let learn = if d.plastic_feedback {
        format!(
            "{learn}\n+ sigma_fb=0.01 t_fb={} dt_fb={} lr_fb=0.002 lr_fb_init=0.1 wd_fb=0.025\n\
             + clip_fb=1 epochs_fb=0 fb_epochs=1",
            num(2.0 * sc.tau_u_seconds),
            num(0.01 * sc.tau_u_seconds)
        )
    } else {
        learn
    };
    o.push_str("\n*** learning: phases (feed-forward settle with en = 0, then controlled), rule (5), plastic arrays\n");
    if cfg.flat {
        o.push_str("* (ngspice rejects unknown control cards: the .learn card is kept as a comment here;\n* `dfcsim train` reads it from the array form)\n");
        for line in learn.lines() {
            let _ = writeln!(o, "* {line}");
        }
    } else {
        o.push_str(&learn);
        o.push('\n');
    }
    // Probes: every compartment, the transfer outputs and the controller signals.
    let mut probes = Vec::new();
    for i in 1..=layers {
        for k in 0..net.arch[i] {
            for node in [
                nodes::v(i, k),
                nodes::vff(i, k),
                nodes::vfb(i, k),
                nodes::r(i, k),
            ] {
                probes.push(format!("v({node})"));
            }
        }
    }
    for m in 0..n_out {
        for node in [nodes::rstar(m), nodes::e(m), nodes::uint_n(m), nodes::u(m)] {
            probes.push(format!("v({node})"));
        }
    }
    probes.push(format!("v({})", nodes::EN));
    // .save is ngspice's (not in dfcsim's card set): flat form only.
    if cfg.flat {
        o.push_str("\n* saved probes (run: ngspice -b -r net.raw net.cir)\n.save");
        for (n, p) in probes.iter().enumerate() {
            o.push_str(if n > 0 && n % 8 == 0 { "\n+ " } else { " " });
            o.push_str(p);
        }
        o.push('\n');
    }
    let step = tau_v / 100.0;
    let _ = writeln!(
        o,
        "* tight tolerances: the circuit must track the ideal equations to ~1e-5 of Vs\n\
         .options reltol=1e-6 vntol=1e-9 abstol=1e-15{}\n.tran {} {} 0 {}\n.end\n",
        // chgtol is ngspice's charge tolerance (its 1e-14 C default is near C_f·V_s here)
        if cfg.flat { " chgtol=1e-20" } else { "" },
        num(step),
        num(t_stop),
        num(step)
    );

    files.push((format!("{stem}_weights.json"), weights_json(net, sample)));
    let o = noise.finish(&o, cfg.flat);
    Ok(Generated { netlist: o, files })
}

/// Input-stage transconductance of the flat op-amp's pole stage (siemens); the array
/// devices use the same value (`devices::array::opamp`).
const GM_POLE: f64 = 1e-3;

/// Flat op-amp: vos source, optional single pole (GBW), optional slew limit and rails.
fn opamp(
    o: &mut String,
    op: &Opamp,
    noise: &super::noise::NoisePlan,
    name: &str,
    inp: &str,
    inn: &str,
    out: &str,
) {
    // offset and input noise in series with the non-inverting input
    let p = noise.opamp_input(o, name, inp, op.vos_volts);
    let a0 = num(op.a0);
    let x = match op.gbw_hz {
        None if op.rails_volts.is_none() => {
            let _ = writeln!(o, "Eoa{name} {out} 0 {p} {inn} {a0}");
            return;
        }
        None => {
            let _ = writeln!(o, "Eoa{name}g {name}_g 0 {p} {inn} {a0}");
            format!("{name}_g")
        }
        Some(gbw) => {
            // Pole stage: transconductance g_m into node x, loaded by the compensation
            // capacitor C_p = g_m/(2π·GBW) and R_o = A0/g_m, so V(x) = A0·d/(1 + s·A0/(2π·GBW)).
            // (No source branch carries C_p·dV/dt: Newton settles every unknown to the tight
            // abstol of these netlists.)
            let c = GM_POLE / (2.0 * std::f64::consts::PI * gbw);
            let d = if p == "0" {
                format!("(-V({inn}))")
            } else {
                format!("(V({p})-V({inn}))")
            };
            match op.slew_v_per_s {
                // slew limit: the input-stage current is clamped to ±C_p·SR
                Some(sr) => {
                    let _ = writeln!(
                        o,
                        "Boa{name}p 0 {name}_x I=min(max({}*{d},{}),{})",
                        num(GM_POLE),
                        num(-c * sr),
                        num(c * sr)
                    );
                }
                None => {
                    let _ = writeln!(o, "Goa{name}p 0 {name}_x {p} {inn} {}", num(GM_POLE));
                }
            }
            let _ = writeln!(o, "Roa{name}p {name}_x 0 {}", num(op.a0 / GM_POLE));
            let _ = writeln!(o, "Coa{name}p {name}_x 0 {}", num(c));
            format!("{name}_x")
        }
    };
    match op.rails_volts {
        Some((lo, hi)) => {
            let _ = writeln!(
                o,
                "Boa{name} {out} 0 V=min(max(V({x}),{}),{})",
                num(lo),
                num(hi)
            );
        }
        None => {
            let _ = writeln!(o, "Eoa{name} {out} 0 {x} 0 1");
        }
    }
}

fn opamp_params(op: &Opamp) -> String {
    let mut s = format!(
        "a0={} gbw={} vos={}",
        num(op.a0),
        num(op.gbw_hz.unwrap_or(0.0)),
        num(op.vos_volts)
    );
    if let Some((lo, hi)) = op.rails_volts {
        let _ = write!(s, " vmin={} vmax={}", num(lo), num(hi));
    }
    if let Some(sr) = op.slew_v_per_s {
        let _ = write!(s, " slew={}", num(sr));
    }
    s
}

fn periphery_summary(p: &super::Periphery) -> String {
    let bits = |b: u32, r: f64| {
        if b == 0 {
            "exact".to_string()
        } else {
            format!("{b} bit over +-{}", num(r))
        }
    };
    format!(
        "DAC {}, ADC {}, tanh mismatch sigma gain {} offset {} V, thermal noise {}",
        bits(p.dac_bits, p.dac_range),
        bits(p.adc_bits, p.adc_range),
        p.tanh_gain_sigma,
        num(p.tanh_offset_sigma_volts),
        if p.thermal_noise {
            format!("on ({} K)", p.temp_kelvin)
        } else {
            "off".into()
        }
    )
}

/// `[a b c]`, wrapped with `+` continuations every 16 nodes.
fn vector(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut s = String::from("[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % 16 == 0 { "\n+ " } else { " " });
        }
        s.push_str(it);
    }
    s.push(']');
    s
}

fn csv_row(v: &[f64]) -> String {
    let cells: Vec<String> = v.iter().map(|x| num(*x)).collect();
    format!("{}\n", cells.join(","))
}

fn csv_matrix(m: &Matrix) -> String {
    (0..m.rows)
        .map(|r| csv_row(&m.data[r * m.cols..(r + 1) * m.cols]))
        .collect()
}

/// Weights and sample in the reference fixture format (`--init` reads it back).
fn weights_json(net: &DfcNetwork, sample: &Sample) -> String {
    let mut map = serde_json::Map::new();
    let mat = |m: &Matrix| -> serde_json::Value {
        (0..m.rows)
            .map(|r| m.data[r * m.cols..(r + 1) * m.cols].to_vec())
            .collect::<Vec<_>>()
            .into()
    };
    for i in 0..net.layers() {
        map.insert(format!("W{}", i + 1), mat(&net.w[i]));
        map.insert(format!("b{}", i + 1), net.b[i].clone().into());
        map.insert(format!("Q{}", i + 1), mat(&net.q[i]));
    }
    map.insert("x".into(), vec![sample.x.clone()].into());
    map.insert("y".into(), vec![sample.y.clone()].into());
    map.insert("output_target".into(), vec![sample.target.clone()].into());
    serde_json::to_string_pretty(&serde_json::Value::Object(map)).expect("finite numbers") + "\n"
}
