//! Minibatch-mean losses and their gradient with respect to the network output r_L.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean over all B·n_L entries of (r_L − y)² (torch MSELoss).
    Mse,
    /// Softmax cross-entropy on a linear output, mean over B; y is one-hot.
    CrossEntropy,
}

impl Loss {
    /// Loss of one sample as it enters the minibatch mean (i.e. summed over the outputs,
    /// before dividing by B); the minibatch loss is mean over samples of this, divided by
    /// n_L for MSE.
    pub fn sample_loss(self, r: &[f64], y: &[f64]) -> f64 {
        match self {
            Loss::Mse => {
                r.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / r.len() as f64
            }
            Loss::CrossEntropy => {
                let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                -r.iter().zip(y).map(|(ri, yi)| yi * (ri - lse)).sum::<f64>()
            }
        }
    }

    /// ∂ℒ/∂r_L for one sample, ℒ the minibatch mean over `batch` samples.
    pub fn gradient(self, r: &[f64], y: &[f64], batch: usize, g: &mut [f64]) {
        let b = batch as f64;
        match self {
            Loss::Mse => {
                let scale = 2.0 / (b * r.len() as f64);
                for k in 0..r.len() {
                    g[k] = scale * (r[k] - y[k]);
                }
            }
            Loss::CrossEntropy => {
                let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = r.iter().map(|v| (v - m).exp()).sum();
                for k in 0..r.len() {
                    g[k] = ((r[k] - m).exp() / z - y[k]) / b;
                }
            }
        }
    }

    pub fn is_classification(self) -> bool {
        matches!(self, Loss::CrossEntropy)
    }
}

/// Index of the largest entry.
pub fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = k;
        }
    }
    best
}
