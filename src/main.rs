//! The `spindle` command: see `spindle --help`, or [`spindle_apps::cli`].

fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(spindle_apps::cli::main(args));
}
