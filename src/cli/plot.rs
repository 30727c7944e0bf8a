//! `dfcsim plot`.

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn main(_args: Args) -> Result<(), crate::CliError> {
    Err("`dfcsim plot` is not built yet".into())
}
