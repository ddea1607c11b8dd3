//! `livebatch diff`.

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _g: &Global) -> u8 {
    eprintln!("error: `livebatch diff` is not built yet");
    crate::exit::FAILURE
}
