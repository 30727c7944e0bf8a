//! Plasticity: learning rules over waveforms and the conductance device models.
pub mod cosim;
pub mod device;
pub mod plasticity;
pub mod sleep;
