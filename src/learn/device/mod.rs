//! Pulsed conductance device models with aihwkit-compatible parameters.
