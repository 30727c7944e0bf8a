//! Training loop, optimisers and the BP/DFA baselines.

use super::dfc::BatchForward;
use super::linalg::{add_outer, matvec};
use super::network::{Network, ParamGrads};

/// DFA update: output layer gets the true error signal δ_L = g ⊙ φ'_L, hidden layer i gets
/// (Q_i g) ⊙ φ'_i through its fixed direct feedback matrix Q_i.
pub fn dfa_gradient(net: &Network, xs: &[&[f64]], bf: &BatchForward) -> ParamGrads {
    let mut g = ParamGrads::zeros_like(net);
    let depth = net.depth();
    let n_l = net.n_out();
    for s in 0..xs.len() {
        let ff = &bf.ff[s];
        let go = &bf.grad_out[s];
        for (i, l) in net.layers.iter().enumerate() {
            let n = l.n_out();
            let mut delta = vec![0.0; n];
            if i + 1 == depth {
                delta.copy_from_slice(go);
            } else {
                matvec(&l.q.data, n, n_l, go, &mut delta);
            }
            for j in 0..n {
                delta[j] *= l.act.derivative(ff.v[i][j]);
            }
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            add_outer(&mut g.w[i].data, &delta, input);
            g.b[i].iter_mut().zip(&delta).for_each(|(a, d)| *a += d);
        }
    }
    g
}
