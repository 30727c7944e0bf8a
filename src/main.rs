use clap::{Parser, Subcommand};
use dfcsim::cli;

/// dfcsim: analog circuit co-simulator for Deep Feedback Control learning hardware.
#[derive(Parser, Debug)]
#[command(name = "dfcsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a netlist (.op, .tran) and write CSV, rawfile and summary.
    Run(cli::run::Args),
    /// Plot waveforms (.raw/.csv) or training curves (metrics.csv).
    Plot(cli::plot::Args),
    /// Train the ideal (mathematical) DFC model.
    Ideal(cli::ideal::Args),
    /// Sample pulse responses of a conductance device model.
    Device(cli::device::Args),
    /// Write the DFC learning-circuit netlist (array or --flat form).
    Gen(Box<cli::r#gen::Args>),
    /// Learning co-simulation of a generated DFC circuit.
    Train(cli::train::Args),
    /// Train the ideal model and the circuit under several presets; report and plots.
    Compare(cli::compare::Args),
}

/// `dfcsim run …` alone: building the parser of every subcommand costs a noticeable part
/// of a small simulation, so `run` (the command timed against ngspice) gets a parser of
/// its own with the same name, arguments, help and errors.
#[derive(Parser, Debug)]
#[command(name = "dfcsim", version, about)]
struct RunCli {
    #[command(subcommand)]
    command: RunOnly,
}

#[derive(Subcommand, Debug)]
enum RunOnly {
    /// Simulate a netlist (.op, .tran) and write CSV, rawfile and summary.
    Run(cli::run::Args),
}

fn main() {
    if std::env::args_os().nth(1).is_some_and(|a| a == "run") {
        let RunCli {
            command: RunOnly::Run(a),
        } = RunCli::parse();
        finish(cli::run::main(a));
        return;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cli::run::main(a),
        Command::Plot(a) => cli::plot::main(a),
        Command::Ideal(a) => cli::ideal::main(a),
        Command::Device(a) => cli::device::main(a),
        Command::Gen(a) => cli::r#gen::main(*a),
        Command::Train(a) => cli::train::main(a),
        Command::Compare(a) => cli::compare::main(a),
    };
    finish(result);
}

/// Reports an error and sets the exit status.
fn finish(result: Result<(), dfcsim::CliError>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
