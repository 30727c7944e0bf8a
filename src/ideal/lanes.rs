//! Four samples' reference Euler dynamics in lock step ("lanes"), so that every operation
//! works on `[f64; 4]` and vectorises. Each lane performs exactly the operations of the
//! scalar path (`controller::euler_step`, `DfcAccumulator`) in the same order — including
//! the four partial sums of `linalg::dot` — so both paths give the same bits.

use super::controller::{ControllerParams, DfcAccumulator};
use super::dfc::FinalState;
use super::network::{ForwardState, Network};

pub const LANES: usize = 4;
type L = [f64; LANES];

const Z: L = [0.0; LANES];

/// Σ_k a[k]·x[k] per lane with `linalg::dot`'s summation order.
#[inline(always)]
fn dot_lanes(a: &[f64], x: &[L]) -> L {
    let n = a.len();
    let mut s = [Z; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        for l in 0..4 {
            let w = a[4 * c + l];
            let xv = &x[4 * c + l];
            for q in 0..LANES {
                s[l][q] += w * xv[q];
            }
        }
    }
    let mut tail = Z;
    for k in 4 * chunks..n {
        let w = a[k];
        for q in 0..LANES {
            tail[q] += w * x[k][q];
        }
    }
    let mut out = Z;
    for q in 0..LANES {
        out[q] = (s[0][q] + s[1][q]) + (s[2][q] + s[3][q]) + tail[q];
    }
    out
}

#[inline(always)]
fn matvec_lanes(a: &[f64], rows: usize, cols: usize, x: &[L], y: &mut [L]) {
    for (i, yi) in y.iter_mut().enumerate().take(rows) {
        *yi = dot_lanes(&a[i * cols..(i + 1) * cols], x);
    }
}

struct LaneState {
    vs: Vec<Vec<L>>,
    vb: Vec<Vec<L>>,
    va: Vec<Vec<L>>,
    r: Vec<Vec<L>>,
    u: Vec<L>,
    u_int: Vec<L>,
    u_next: Vec<L>,
    qu: Vec<L>,
    target: Vec<L>,
}

struct LaneAcc {
    sw: Vec<Vec<L>>,
    sb: Vec<Vec<L>>,
    sum_d0: Vec<L>,
    phi_vb0: Vec<L>,
    d: Vec<L>,
}

fn gather(vals: [&[f64]; LANES]) -> Vec<L> {
    (0..vals[0].len())
        .map(|j| std::array::from_fn(|q| vals[q][j]))
        .collect()
}

fn lane_of(v: &[L], q: usize) -> Vec<f64> {
    v.iter().map(|x| x[q]).collect()
}

/// Simulates up to four samples (`n_valid` of the arrays are real; the rest repeat a real
/// sample and are ignored), adding their DFC sums to `acc` in lane order.
pub fn simulate_lanes(
    net: &Network,
    xs: [&[f64]; LANES],
    ffs: [&ForwardState; LANES],
    targets: [&[f64]; LANES],
    p: &ControllerParams,
    n_valid: usize,
    acc: Option<&mut DfcAccumulator>,
) -> Vec<FinalState> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { simulate_lanes_avx2(net, xs, ffs, targets, p, n_valid, acc) };
    }
    simulate_lanes_body(net, xs, ffs, targets, p, n_valid, acc)
}

/// The same code compiled with 256-bit vectors. No FMA is enabled, so every lane still
/// rounds exactly as the scalar path does.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn simulate_lanes_avx2(
    net: &Network,
    xs: [&[f64]; LANES],
    ffs: [&ForwardState; LANES],
    targets: [&[f64]; LANES],
    p: &ControllerParams,
    n_valid: usize,
    acc: Option<&mut DfcAccumulator>,
) -> Vec<FinalState> {
    simulate_lanes_body(net, xs, ffs, targets, p, n_valid, acc)
}

#[inline(always)]
fn simulate_lanes_body(
    net: &Network,
    xs: [&[f64]; LANES],
    ffs: [&ForwardState; LANES],
    targets: [&[f64]; LANES],
    p: &ControllerParams,
    n_valid: usize,
    acc: Option<&mut DfcAccumulator>,
) -> Vec<FinalState> {
    let depth = net.depth();
    let n_l = net.n_out();
    let max_n = net.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
    let per_layer = |i: usize| gather(std::array::from_fn(|q| ffs[q].v[i].as_slice()));
    let mut st = LaneState {
        vs: (0..depth).map(per_layer).collect(),
        vb: (0..depth).map(per_layer).collect(),
        va: net.layers.iter().map(|l| vec![Z; l.n_out()]).collect(),
        r: (0..depth)
            .map(|i| gather(std::array::from_fn(|q| ffs[q].r[i].as_slice())))
            .collect(),
        u: vec![Z; n_l],
        u_int: vec![Z; n_l],
        u_next: vec![Z; n_l],
        qu: vec![Z; max_n],
        target: gather(targets),
    };
    let track = acc.is_some();
    let mut la = LaneAcc {
        sw: net
            .layers
            .iter()
            .map(|l| {
                if track {
                    vec![Z; l.w.data.len()]
                } else {
                    Vec::new()
                }
            })
            .collect(),
        sb: net.layers.iter().map(|l| vec![Z; l.n_out()]).collect(),
        sum_d0: vec![Z; net.layers[0].n_out()],
        phi_vb0: gather(std::array::from_fn(|q| ffs[q].r[0].as_slice())),
        d: vec![Z; max_n],
    };
    let gain = p.dt / p.ratio;
    if track {
        accumulate(net, &st, &mut la);
    }
    for _ in 1..p.steps {
        for k in 0..n_l {
            for q in 0..LANES {
                let e = st.target[k][q] - st.r[depth - 1][k][q];
                st.u_int[k][q] += p.dt * (e - p.alpha * st.u[k][q]);
                st.u_next[k][q] = st.u_int[k][q] + p.k_p * e;
            }
        }
        for i in 0..depth {
            let l = &net.layers[i];
            let n = l.n_out();
            if i > 0 {
                let (before, after) = st.vb.split_at_mut(i);
                let _ = before;
                matvec_lanes(&l.w.data, n, l.n_in(), &st.r[i - 1], &mut after[0]);
                for (vbj, bj) in after[0].iter_mut().zip(&l.b) {
                    for q in 0..LANES {
                        vbj[q] += bj;
                    }
                }
            }
            let qu = &mut st.qu[..n];
            matvec_lanes(&l.q.data, n, n_l, &st.u, qu);
            let va = &mut st.va[i];
            match p.apical_tau {
                None => va.copy_from_slice(qu),
                Some(tau) => {
                    let a = p.dt / tau;
                    for j in 0..n {
                        for q in 0..LANES {
                            va[j][q] += a * (-va[j][q] + qu[j][q]);
                        }
                    }
                }
            }
            let vs = &mut st.vs[i];
            let vb = &st.vb[i];
            for j in 0..n {
                for q in 0..LANES {
                    vs[j][q] += gain * (va[j][q] + vb[j][q] - vs[j][q]);
                }
            }
            l.act.apply_lanes(vs, &mut st.r[i]);
        }
        std::mem::swap(&mut st.u, &mut st.u_next);
        if track {
            accumulate(net, &st, &mut la);
        }
    }
    if let Some(acc) = acc {
        let mut sw: Vec<Vec<f64>> = net
            .layers
            .iter()
            .map(|l| vec![0.0; l.w.data.len()])
            .collect();
        let mut sb: Vec<Vec<f64>> = net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect();
        for q in 0..n_valid {
            for (i, l) in net.layers.iter().enumerate() {
                if i == 0 {
                    let c = l.n_in();
                    for j in 0..l.n_out() {
                        for k in 0..c {
                            sw[0][j * c + k] = 0.0 + la.sum_d0[j][q] * xs[q][k];
                        }
                    }
                } else {
                    for (dst, src) in sw[i].iter_mut().zip(&la.sw[i]) {
                        *dst = src[q];
                    }
                }
                for (dst, src) in sb[i].iter_mut().zip(&la.sb[i]) {
                    *dst = src[q];
                }
            }
            acc.add_sample(&sw, &sb);
        }
    }
    (0..n_valid)
        .map(|q| FinalState {
            vs: st.vs.iter().map(|v| lane_of(v, q)).collect(),
            vb: st.vb.iter().map(|v| lane_of(v, q)).collect(),
            r: st.r.iter().map(|v| lane_of(v, q)).collect(),
            u: lane_of(&st.u, q),
        })
        .collect()
}

#[inline(always)]
fn accumulate(net: &Network, st: &LaneState, la: &mut LaneAcc) {
    for (i, l) in net.layers.iter().enumerate() {
        let n = l.n_out();
        let d = &mut la.d[..n];
        if i == 0 {
            d.copy_from_slice(&la.phi_vb0);
        } else {
            l.act.apply_lanes(&st.vb[i], d);
        }
        for j in 0..n {
            for q in 0..LANES {
                d[j][q] = st.r[i][j][q] - d[j][q];
            }
        }
        for (bj, dj) in la.sb[i].iter_mut().zip(d.iter()) {
            for q in 0..LANES {
                bj[q] += dj[q];
            }
        }
        if i == 0 {
            for (s, dj) in la.sum_d0.iter_mut().zip(d.iter()) {
                for q in 0..LANES {
                    s[q] += dj[q];
                }
            }
        } else {
            let rp = &st.r[i - 1];
            let c = rp.len();
            for (j, dj) in d.iter().enumerate() {
                let row = &mut la.sw[i][j * c..(j + 1) * c];
                for (w, rk) in row.iter_mut().zip(rp) {
                    for q in 0..LANES {
                        w[q] += dj[q] * rk[q];
                    }
                }
            }
        }
    }
}
