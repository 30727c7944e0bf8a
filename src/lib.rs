//! dfcsim: a SPICE-style analog circuit co-simulator for networks that learn through a
//! feedback controller, first of all Deep Feedback Control (DFC).
//!
//! Data flow (one module per box): `parse` → `elaborate` → `circuit` → `engine`
//! (with `devices`) → `waveform` → `output` / `plot`; `learn` turns waveforms into
//! conductance updates; `ideal` is the mathematical DFC model every circuit is compared with.

pub mod circuit;
pub mod cli;
pub mod compare;
pub mod devices;
pub mod elaborate;
pub mod engine;
pub mod expr;
pub mod r#gen;
pub mod ideal;
pub mod learn;
pub mod noise;
pub mod output;
pub mod parse;
pub mod plot;
pub mod span;
pub mod waveform;

/// Error type of the command-line layer; every module keeps its own typed errors.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
