//! Draws every report of a `results.json` again, as
//! `embedrock bench report --results FILE --out DIR` does:
//!
//! ```sh
//! cargo run -p embedrock-bench --example report -- --results results.json --out report/
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use embedrock_bench::report;

const USAGE: &str = "usage: report --results FILE --out DIR";

fn parse(args: &[String]) -> Result<(PathBuf, PathBuf), String> {
    let (mut results, mut out) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--results" => results = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    match (results, out) {
        (Some(r), Some(o)) => Ok((r, o)),
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (results, out) = match parse(&args) {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let written = report::read_results(&results).and_then(|r| report::write_all(&r, &out));
    match written {
        Ok(w) => {
            println!(
                "wrote {}, {}, {} and {} MTEB files",
                w.results_json.display(),
                w.summary_md.display(),
                w.report_html.display(),
                w.mteb.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
