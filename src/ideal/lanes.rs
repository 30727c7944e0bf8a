//! Four samples' reference Euler dynamics in lock step ("lanes"): every quantity of a unit
//! is one AVX2 vector holding the four samples' values. Each lane performs exactly the
//! operations of the scalar path (`controller::euler_step`, `DfcAccumulator`,
//! `feedback::feedback_gradients`) in the same order — the four partial sums of
//! `linalg::dot`, `fast_tanh`'s polynomial, no FMA contraction — so both paths give the
//! same bits. Machines without AVX2 use the scalar path ([`available`] is false).
//!
//! Speed: one step touches each weight once per four samples; the basal input of the
//! first layer (constant input) is never recomputed; the DFC sums Σ_t d_i r_{i−1}ᵀ are
//! taken in blocks of [`BLOCK`] time points (d and r are buffered, then added row tile by
//! row tile in time order), so the accumulators are read and written once per block
//! instead of once per step. Nothing is allocated inside the step loop.

use rand::Rng;

use super::controller::{ApicalNoise, ControllerParams, DfcAccumulator};
use super::dfc::FinalState;
use super::network::{ForwardState, Network};

pub const LANES: usize = 4;

/// Time points per block of the buffered DFC accumulation.
pub const BLOCK: usize = 16;

/// Whether the lane kernels can run on this CPU.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Simulates up to four samples of the forward ("wake") phase (`n_valid` of the arrays are
/// real; the rest repeat a real sample and are ignored), adding their DFC sums to `acc` in
/// lane order. Requires `p.inst_transmission`; None if the CPU lacks AVX2.
pub fn simulate_lanes(
    net: &Network,
    xs: [&[f64]; LANES],
    ffs: [&ForwardState; LANES],
    targets: [&[f64]; LANES],
    p: &ControllerParams,
    n_valid: usize,
    acc: Option<&mut DfcAccumulator>,
) -> Option<Vec<FinalState>> {
    debug_assert!(p.inst_transmission);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return Some(unsafe { avx::simulate_forward(net, xs, ffs, targets, p, n_valid, acc) });
    }
    let _ = (net, xs, ffs, targets, p, n_valid, acc);
    None
}

/// Sleep-phase sums Σ_t v^A_i[t−1] u[t]ᵀ of up to four samples (`n_valid` real), each
/// sample's terms added to `acc[i]` (row-major n_i × n_L) in lane order, one term at a
/// time as the scalar path does. Apical noise from one generator per lane. Keeps the
/// trajectory of v^A and u: N·(Σn_i + n_L)·32 bytes. None without AVX2.
pub fn feedback_lanes<R: Rng>(
    net: &Network,
    ffs: [&ForwardState; LANES],
    p: &ControllerParams,
    noise: ApicalNoise,
    rngs: &mut [R; LANES],
    n_valid: usize,
    acc: &mut [Vec<f64>],
) -> Option<()> {
    debug_assert!(p.inst_transmission);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU supports AVX2 (checked above).
        unsafe { avx::simulate_feedback(net, ffs, p, noise, rngs, n_valid, acc) };
        return Some(());
    }
    let _ = (net, ffs, p, noise, rngs, n_valid, acc);
    None
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    use rand::{Rng, RngExt};
    use rand_distr::StandardNormal;

    use super::{BLOCK, LANES};
    use crate::ideal::controller::{ApicalNoise, ControllerParams, DfcAccumulator};
    use crate::ideal::dfc::FinalState;
    use crate::ideal::network::{Activation, ForwardState, Network, exp_consts};

    type V = __m256d;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: f64) -> V {
        _mm256_set1_pd(x)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn zero() -> V {
        _mm256_setzero_pd()
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: V, b: V) -> V {
        _mm256_add_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sub(a: V, b: V) -> V {
        _mm256_sub_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul(a: V, b: V) -> V {
        _mm256_mul_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn to_arr(v: V) -> [f64; LANES] {
        // SAFETY: __m256d and [f64; 4] have the same size and every bit pattern is valid.
        unsafe { std::mem::transmute::<V, [f64; LANES]>(v) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn from_arr(a: [f64; LANES]) -> V {
        // SAFETY: as in `to_arr`.
        unsafe { std::mem::transmute::<[f64; LANES], V>(a) }
    }

    /// `network::fast_tanh` per lane on N vectors at once: the stages are interleaved so
    /// that the long dependency chain of the polynomial overlaps across vectors.
    /// `max_pd(v, −20)` returns −20 for NaN like f64::max.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tanh_n<const N: usize>(v: [V; N]) -> [V; N] {
        use exp_consts::*;
        // e^{2x} as in `network::fast_exp`.
        let x = v.map(|v| {
            mul(
                splat(2.0),
                _mm256_min_pd(_mm256_max_pd(v, splat(-20.0)), splat(20.0)),
            )
        });
        let kf = x.map(|x| add(mul(x, splat(LOG2E)), splat(SHIFT)));
        let mut r = [zero(); N];
        for m in 0..N {
            let kr = sub(kf[m], splat(SHIFT));
            r[m] = sub(sub(x[m], mul(kr, splat(LN2_HI))), mul(kr, splat(LN2_LO)));
        }
        let mut p = [splat(TAYLOR[0]); N];
        for &c in &TAYLOR[1..] {
            for m in 0..N {
                p[m] = add(mul(p[m], r[m]), splat(c));
            }
        }
        let mut out = [zero(); N];
        for m in 0..N {
            let k = _mm256_slli_epi64::<52>(_mm256_castpd_si256(kf[m]));
            let scale = _mm256_add_epi64(k, _mm256_set1_epi64x(BIAS as i64));
            let e = mul(p[m], _mm256_castsi256_pd(scale));
            out[m] = _mm256_div_pd(sub(e, splat(1.0)), add(e, splat(1.0)));
        }
        out
    }

    /// φ on every unit; activations other than tanh and linear go lane by lane through the
    /// scalar function.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply(act: Activation, v: &[V], r: &mut [V]) {
        match act {
            Activation::Tanh => {
                let mut rc = r.chunks_exact_mut(4);
                let mut vc = v.chunks_exact(4);
                for (r4, v4) in (&mut rc).zip(&mut vc) {
                    r4.copy_from_slice(&tanh_n([v4[0], v4[1], v4[2], v4[3]]));
                }
                for (ri, &vi) in rc.into_remainder().iter_mut().zip(vc.remainder()) {
                    *ri = tanh_n([vi])[0];
                }
            }
            Activation::Linear => r.copy_from_slice(v),
            _ => {
                for (ri, &vi) in r.iter_mut().zip(v) {
                    *ri = from_arr(to_arr(vi).map(|x| act.apply(x)));
                }
            }
        }
    }

    /// M rows' dots sharing the loads of x, each row per lane with `linalg::dot`'s
    /// summation order (four partial sums, then the tail).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn dot_rows<const M: usize>(a: &[f64], cols: usize, x: &[V]) -> [V; M] {
        let a = &a[..M * cols];
        let x = &x[..cols];
        let mut s = [[zero(); 4]; M];
        let chunks = cols / 4;
        for c in 0..chunks {
            let k = 4 * c;
            for l in 0..4 {
                let xv = x[k + l];
                for m in 0..M {
                    s[m][l] = add(s[m][l], mul(splat(a[m * cols + k + l]), xv));
                }
            }
        }
        let mut tail = [zero(); M];
        for k in 4 * chunks..cols {
            for m in 0..M {
                tail[m] = add(tail[m], mul(splat(a[m * cols + k]), x[k]));
            }
        }
        std::array::from_fn(|m| add(add(add(s[m][0], s[m][1]), add(s[m][2], s[m][3])), tail[m]))
    }

    /// y = A x per lane (A row-major y.len() × cols), rows four at a time.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn matvec(a: &[f64], cols: usize, x: &[V], y: &mut [V]) {
        let mut yc = y.chunks_exact_mut(4);
        let mut ac = a.chunks_exact(4 * cols);
        for (y4, a4) in (&mut yc).zip(&mut ac) {
            y4.copy_from_slice(&dot_rows::<4>(a4, cols, x));
        }
        for (j, yj) in yc.into_remainder().iter_mut().enumerate() {
            *yj = dot_rows::<1>(&ac.remainder()[j * cols..], cols, x)[0];
        }
    }

    /// Lane-major state of four samples' controlled dynamics, layers concatenated
    /// (layer i's units at `off[i]..off[i+1]`).
    struct State {
        off: Vec<usize>,
        vs: Vec<V>,
        vb: Vec<V>,
        va: Vec<V>,
        r: Vec<V>,
        u: Vec<V>,
        u_int: Vec<V>,
        u_next: Vec<V>,
        target: Vec<V>,
        /// Q_i u[t] of the layer being updated.
        qu: Vec<V>,
        /// Apical noise of the layer being updated.
        xi: Vec<V>,
    }

    fn gather(vals: [&[f64]; LANES]) -> Vec<V> {
        (0..vals[0].len())
            .map(|j| {
                let a: [f64; LANES] = std::array::from_fn(|q| vals[q][j]);
                // SAFETY: as in `to_arr`.
                unsafe { std::mem::transmute::<[f64; LANES], V>(a) }
            })
            .collect()
    }

    fn lane(v: &[V], q: usize) -> Vec<f64> {
        v.iter()
            .map(|x| {
                // SAFETY: as in `to_arr`.
                let a = unsafe { std::mem::transmute::<V, [f64; LANES]>(*x) };
                a[q]
            })
            .collect()
    }

    impl State {
        /// Feed-forward point: v = v^B = v^-, r = r^-, v^A = u = u_int = 0.
        fn new(net: &Network, ffs: [&ForwardState; LANES], target: [&[f64]; LANES]) -> Self {
            let mut off = vec![0];
            for l in &net.layers {
                off.push(off.last().unwrap() + l.n_out());
            }
            let flat = |f: &dyn Fn(&ForwardState, usize) -> &[f64]| -> Vec<V> {
                (0..net.depth())
                    .flat_map(|i| gather(std::array::from_fn(|q| f(ffs[q], i))))
                    .collect()
            };
            let total = *off.last().unwrap();
            let n_l = net.n_out();
            let max_n = net.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
            // SAFETY: all-zero bits are 0.0 in every lane.
            let z: V = unsafe { std::mem::zeroed() };
            State {
                vs: flat(&|f, i| &f.v[i]),
                vb: flat(&|f, i| &f.v[i]),
                va: vec![z; total],
                r: flat(&|f, i| &f.r[i]),
                u: vec![z; n_l],
                u_int: vec![z; n_l],
                u_next: vec![z; n_l],
                target: gather(target),
                qu: vec![z; max_n],
                xi: vec![z; max_n],
                off,
            }
        }

        fn finals(&self, n_valid: usize) -> Vec<FinalState> {
            let layers = |v: &[V], q: usize| -> Vec<Vec<f64>> {
                self.off
                    .windows(2)
                    .map(|w| lane(&v[w[0]..w[1]], q))
                    .collect()
            };
            (0..n_valid)
                .map(|q| FinalState {
                    vs: layers(&self.vs, q),
                    vb: layers(&self.vb, q),
                    r: layers(&self.r, q),
                    u: lane(&self.u, q),
                })
                .collect()
        }

        /// One Euler step t → t+1 (`controller::euler_step`, layer-ordered transmission),
        /// with apical noise drawn lane by lane in the scalar path's order.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn step<R: Rng>(
            &mut self,
            net: &Network,
            p: &ControllerParams,
            mut noise: Option<(ApicalNoise, &mut [R; LANES])>,
        ) {
            let depth = net.depth();
            let n_l = self.u.len();
            let o_l = self.off[depth - 1];
            let (dt, alpha, k_p) = (splat(p.dt), splat(p.alpha), splat(p.k_p));
            for k in 0..n_l {
                let e = sub(self.target[k], self.r[o_l + k]);
                self.u_int[k] = add(self.u_int[k], mul(dt, sub(e, mul(alpha, self.u[k]))));
                self.u_next[k] = add(self.u_int[k], mul(k_p, e));
            }
            let gain = splat(p.dt / p.ratio);
            for (i, l) in net.layers.iter().enumerate() {
                let (o, n) = (self.off[i], l.n_out());
                // The first layer's basal input W_1 x + b_1 is constant.
                if i > 0 {
                    let (lo, hi) = self.r.split_at(o);
                    let _ = hi;
                    let input = &lo[self.off[i - 1]..];
                    let vb = &mut self.vb[o..o + n];
                    matvec(&l.w.data, l.n_in(), input, vb);
                    for (vbj, &bj) in vb.iter_mut().zip(&l.b) {
                        *vbj = add(*vbj, splat(bj));
                    }
                }
                let qu = &mut self.qu[..n];
                matvec(&l.q.data, n_l, &self.u, qu);
                let noisy = noise.as_mut().map(|(ns, rngs)| {
                    let sigma = if i == depth - 1 {
                        ns.sigma_out
                    } else {
                        ns.sigma
                    };
                    let tau = p.apical_tau.unwrap_or(p.dt);
                    for x in self.xi[..n].iter_mut() {
                        *x = from_arr(std::array::from_fn(|q| {
                            rngs[q].sample::<f64, _>(StandardNormal)
                        }));
                    }
                    splat(sigma * p.dt.sqrt() / tau)
                });
                let a = p.apical_tau.map(|tau| splat(p.dt / tau));
                for j in 0..n {
                    let mut va = match a {
                        None => qu[j],
                        Some(a) => {
                            let v = self.va[o + j];
                            add(v, mul(a, sub(qu[j], v)))
                        }
                    };
                    if let Some(scale) = noisy {
                        va = add(va, mul(scale, self.xi[j]));
                    }
                    self.va[o + j] = va;
                    let vs = self.vs[o + j];
                    self.vs[o + j] = add(vs, mul(gain, sub(add(va, self.vb[o + j]), vs)));
                }
                apply(l.act, &self.vs[o..o + n], &mut self.r[o..o + n]);
            }
            std::mem::swap(&mut self.u, &mut self.u_next);
        }
    }

    /// Per-lane DFC sums of the current four samples, with the time-block buffers.
    struct Accum {
        /// Σ_t d_i r_{i−1}ᵀ per layer (row-major; empty for layer 0).
        sw: Vec<Vec<V>>,
        /// Σ_t d_i, all layers concatenated.
        sb: Vec<V>,
        /// Σ_t d_1 (layer 0's input x is constant: its outer product is taken once).
        sum_d0: Vec<V>,
        /// φ(v^B_1) = r_1^-, constant.
        phi_vb0: Vec<V>,
        /// d and r of the buffered time points: [slot][unit], layers concatenated.
        dbuf: Vec<V>,
        rbuf: Vec<V>,
        filled: usize,
    }

    impl Accum {
        fn new(net: &Network, st: &State) -> Self {
            let total = st.vs.len();
            let n0 = net.layers[0].n_out();
            // SAFETY: all-zero bits are 0.0 in every lane.
            let z: V = unsafe { std::mem::zeroed() };
            Accum {
                sw: net
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        if i == 0 {
                            Vec::new()
                        } else {
                            vec![z; l.w.data.len()]
                        }
                    })
                    .collect(),
                sb: vec![z; total],
                sum_d0: vec![z; n0],
                phi_vb0: st.r[..n0].to_vec(),
                dbuf: vec![z; BLOCK * total],
                rbuf: vec![z; BLOCK * total],
                filled: 0,
            }
        }

        /// Adds the current time point (`DfcAccumulator::add`): d_i = r_i − φ(v^B_i).
        #[inline]
        #[target_feature(enable = "avx2")]
        fn record(&mut self, net: &Network, st: &State) {
            let total = st.vs.len();
            let slot = self.filled * total;
            let d = &mut self.dbuf[slot..slot + total];
            for (i, l) in net.layers.iter().enumerate() {
                let (o, n) = (st.off[i], l.n_out());
                let d = &mut d[o..o + n];
                if i == 0 {
                    d.copy_from_slice(&self.phi_vb0);
                } else {
                    apply(l.act, &st.vb[o..o + n], d);
                }
                for j in 0..n {
                    d[j] = sub(st.r[o + j], d[j]);
                    self.sb[o + j] = add(self.sb[o + j], d[j]);
                }
                if i == 0 {
                    for (s, &dj) in self.sum_d0.iter_mut().zip(d.iter()) {
                        *s = add(*s, dj);
                    }
                }
            }
            self.rbuf[slot..slot + total].copy_from_slice(&st.r);
            self.filled += 1;
            if self.filled == BLOCK {
                self.flush(net, &st.off);
            }
        }

        /// sw_i[j][k] += d_i[t][j]·r_{i−1}[t][k] for the buffered t in time order, in tiles
        /// of up to two rows × four columns whose accumulators stay in registers.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn flush(&mut self, net: &Network, off: &[usize]) {
            let total = *off.last().unwrap();
            let slots = self.filled;
            for (i, l) in net.layers.iter().enumerate().skip(1) {
                let (od, or) = (off[i], off[i - 1]);
                let (n, c) = (l.n_out(), l.n_in());
                let sw = &mut self.sw[i];
                let mut j = 0;
                while j < n {
                    let rows = (n - j).min(2);
                    let mut k = 0;
                    while k < c {
                        let cols = (c - k).min(4);
                        if rows == 2 && cols == 4 {
                            tile::<2, 4>(sw, c, j, k, &self.dbuf, &self.rbuf, total, od, or, slots);
                        } else {
                            for jj in j..j + rows {
                                for kk in k..k + cols {
                                    tile::<1, 1>(
                                        sw, c, jj, kk, &self.dbuf, &self.rbuf, total, od, or, slots,
                                    );
                                }
                            }
                        }
                        k += cols;
                    }
                    j += rows;
                }
            }
            self.filled = 0;
        }

        /// Hands lane q's sums to `acc` for q < n_valid, as `DfcAccumulator::end_sample`.
        fn finish(
            &mut self,
            net: &Network,
            off: &[usize],
            xs: [&[f64]; LANES],
            n_valid: usize,
            acc: &mut DfcAccumulator,
        ) {
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
                        let d0 = lane(&self.sum_d0, q);
                        for j in 0..l.n_out() {
                            for k in 0..c {
                                sw[0][j * c + k] = 0.0 + d0[j] * xs[q][k];
                            }
                        }
                    } else {
                        sw[i] = lane(&self.sw[i], q);
                    }
                    sb[i] = lane(&self.sb[off[i]..off[i + 1]], q);
                }
                acc.add_sample(&sw, &sb);
            }
        }
    }

    /// One R × C tile of `Accum::flush`: sw[j+a][k+b] += Σ_s d[s][j+a]·r[s][k+b], terms
    /// added in slot (time) order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tile<const R: usize, const C: usize>(
        sw: &mut [V],
        c: usize,
        j: usize,
        k: usize,
        dbuf: &[V],
        rbuf: &[V],
        total: usize,
        od: usize,
        or: usize,
        slots: usize,
    ) {
        let mut acc = [[zero(); C]; R];
        for a in 0..R {
            acc[a].copy_from_slice(&sw[(j + a) * c + k..(j + a) * c + k + C]);
        }
        for s in 0..slots {
            let d = &dbuf[s * total + od + j..s * total + od + j + R];
            let r = &rbuf[s * total + or + k..s * total + or + k + C];
            for a in 0..R {
                for b in 0..C {
                    acc[a][b] = add(acc[a][b], mul(d[a], r[b]));
                }
            }
        }
        for a in 0..R {
            sw[(j + a) * c + k..(j + a) * c + k + C].copy_from_slice(&acc[a]);
        }
    }

    /// See [`super::simulate_lanes`].
    #[target_feature(enable = "avx2")]
    pub(super) fn simulate_forward(
        net: &Network,
        xs: [&[f64]; LANES],
        ffs: [&ForwardState; LANES],
        targets: [&[f64]; LANES],
        p: &ControllerParams,
        n_valid: usize,
        acc: Option<&mut DfcAccumulator>,
    ) -> Vec<FinalState> {
        let mut st = State::new(net, ffs, targets);
        let mut la = acc.is_some().then(|| Accum::new(net, &st));
        if let Some(la) = la.as_mut() {
            la.record(net, &st);
        }
        for _ in 1..p.steps {
            st.step::<rand::rngs::ChaCha8Rng>(net, p, None);
            if let Some(la) = la.as_mut() {
                la.record(net, &st);
            }
        }
        if let (Some(la), Some(acc)) = (la.as_mut(), acc) {
            la.flush(net, &st.off);
            la.finish(net, &st.off, xs, n_valid, acc);
        }
        st.finals(n_valid)
    }

    /// See [`super::feedback_lanes`].
    #[target_feature(enable = "avx2")]
    pub(super) fn simulate_feedback<R: Rng>(
        net: &Network,
        ffs: [&ForwardState; LANES],
        p: &ControllerParams,
        noise: ApicalNoise,
        rngs: &mut [R; LANES],
        n_valid: usize,
        acc: &mut [Vec<f64>],
    ) {
        let depth = net.depth();
        let targets: [&[f64]; LANES] = std::array::from_fn(|q| ffs[q].r[depth - 1].as_slice());
        let mut st = State::new(net, ffs, targets);
        let n_l = net.n_out();
        let total = st.vs.len();
        // Per-lane accumulators cannot reproduce the scalar path's order (samples added
        // one after the other into one sum), so keep the whole trajectory of v^A and u
        // (N·(Σn_i + n_L) vectors, small for the sleep phase's few steps).
        let steps = p.steps;
        // SAFETY: all-zero bits are 0.0 in every lane.
        let z: V = unsafe { std::mem::zeroed() };
        let mut va_hist = vec![z; steps * total];
        let mut u_hist = vec![z; steps * n_l];
        for t in 1..steps {
            st.step(net, p, Some((noise, &mut *rngs)));
            va_hist[t * total..(t + 1) * total].copy_from_slice(&st.va);
            u_hist[t * n_l..(t + 1) * n_l].copy_from_slice(&st.u);
        }
        // The t = 0 state has v^A = 0 (slot 0 of va_hist stays zero).
        let mut u = vec![0.0; n_l];
        for q in 0..n_valid {
            for (i, l) in net.layers.iter().enumerate() {
                let o = st.off[i];
                let a = &mut acc[i];
                for t in 1..steps {
                    for (uk, &h) in u.iter_mut().zip(&u_hist[t * n_l..(t + 1) * n_l]) {
                        *uk = to_arr(h)[q];
                    }
                    for j in 0..l.n_out() {
                        let vj = to_arr(va_hist[(t - 1) * total + o + j])[q];
                        for (ak, uk) in a[j * n_l..(j + 1) * n_l].iter_mut().zip(&u) {
                            *ak += vj * uk;
                        }
                    }
                }
            }
        }
    }
}
