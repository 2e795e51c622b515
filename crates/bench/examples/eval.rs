//! Scores a TREC run file against relevance judgements and prints the JSON
//! that `embedrock bench eval` prints.
//!
//! ```text
//! cargo run -p embedrock-bench --example eval -- --qrels QRELS --run RUN \
//!     [--k 1,3,5,10,100] [--ignore-identical-ids] [--per-query]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use embedrock_bench::metrics::{
    evaluate, evaluation_json, parse_ks, read_qrels, read_run, EvalOptions, DEFAULT_KS,
};

const USAGE: &str = "usage: eval --qrels FILE --run FILE [--k 1,3,5,10,100] \
                     [--ignore-identical-ids] [--per-query]";

struct Args {
    qrels: PathBuf,
    run: PathBuf,
    options: EvalOptions,
    per_query: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut qrels, mut run) = (None, None);
    let mut ks = DEFAULT_KS.to_vec();
    let (mut ignore_identical_ids, mut per_query) = (false, false);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--qrels" => qrels = Some(PathBuf::from(value()?)),
            "--run" => run = Some(PathBuf::from(value()?)),
            "--k" => ks = parse_ks(&value()?).map_err(|e| e.to_string())?,
            "--ignore-identical-ids" => ignore_identical_ids = true,
            "--per-query" => per_query = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        qrels: qrels.ok_or("--qrels is required")?,
        run: run.ok_or("--run is required")?,
        options: EvalOptions {
            ks,
            ignore_identical_ids,
        },
        per_query,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let loaded = read_qrels(&args.qrels).and_then(|q| Ok((q, read_run(&args.run)?)));
    let (qrels, run) = match loaded {
        Ok(both) => both,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let evaluation = evaluate(&qrels, &run, &args.options);
    println!("{}", evaluation_json(&evaluation, args.per_query));
    ExitCode::SUCCESS
}
