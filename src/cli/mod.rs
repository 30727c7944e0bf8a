//! Command-line subcommands; each file holds its clap `Args` and its `main`.
pub mod compare;
pub mod device;
pub mod r#gen;
pub mod ideal;
pub mod plot;
pub mod run;
pub mod train;
