//! The `embedrock serve` command on its own, for working on the server
//! without building the whole CLI.
//!
//! Run with `cargo run -p embedrock-server --example serve -- --port 0`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../cli/src/serve.rs"]
mod serve;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: serve::ServeArgs,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = serve::run(cli.args).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
