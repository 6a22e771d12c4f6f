//! The `spindle` command: see `spindle --help`, or [`spindle::cli`].

fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(spindle::cli::main(args));
}
