//! The ideal (dimensionless) Deep Feedback Control model, reference-compatible.
