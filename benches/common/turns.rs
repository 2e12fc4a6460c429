//! Ratios between two workloads measured in turns: a batch of one, then a batch of the other,
//! over and over, each ratio taken from batches run a fraction of a millisecond apart.
//!
//! Criterion times one benchmark after another, seconds apart; on a shared host whose load
//! shifts from one second to the next, the ratio of two such medians swings by tens of percent
//! although neither workload changed. Measured in turns, both sides of a ratio meet the same
//! load, so its median over many turns is what the workloads cost relative to each other.
//! Criterion's own figures stay the record of each workload's time; these are the ratios.
//!
//! Turns come in pairs, one with each side first (a side may run faster or slower after the
//! other, on the caches it leaves), and each pair gives one ratio: both sides' time per call
//! over the pair. The median of the pairs' ratios is reported with its quartiles.
//!
//! Runs only when criterion benchmarks (the `--bench` flag, without `--test`, `--list` or
//! `--profile-time`), and then only when no filter is given or the filter is a part of `turns`
//! or of a ratio's name (a plain substring, not a regex).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A batch of either side lasts at least this long (long enough that reading the clock twice
/// is noise, short enough that the host's load hardly changes within a pair of turns).
const BATCH: Duration = Duration::from_micros(200);

/// About how long each side of a ratio is warmed up before its batch is sized.
const WARM_UP: Duration = Duration::from_millis(100);

/// How long each ratio's turns take, about.
const MEASURE: Duration = Duration::from_millis(1500);

/// Flags of criterion's command line that take a value (so that the value is not taken for a
/// filter).
const FLAGS_WITH_VALUES: [&str; 19] = [
    "-s",
    "-b",
    "-c",
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--profile-time",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--nresamples",
    "--output-format",
    "--color",
    "--format",
    "--plotting-backend",
];

/// One measured ratio: `top` per call over `bottom` per call.
pub(crate) struct Ratio {
    /// What is divided by what, e.g. `decide/a / decide/b`.
    pub(crate) name: String,
    /// The median of the pairs of turns' ratios.
    pub(crate) median: f64,
    /// Their lower and upper quartiles.
    pub(crate) quartiles: (f64, f64),
    /// How many pairs of turns were taken.
    pub(crate) pairs: usize,
    /// The top side's mean time per call over all its batches, in nanoseconds.
    pub(crate) top_ns: f64,
    /// The bottom side's, likewise.
    pub(crate) bottom_ns: f64,
}

/// The ratios of one bench binary, measured when the command line asks for them.
pub(crate) struct Turns {
    bench: &'static str,
    enabled: bool,
    filter: Option<String>,
    ratios: Vec<Ratio>,
}

impl Turns {
    /// Reads the command line: measures only when criterion benchmarks (`--bench`, and not
    /// `--test`, `--list` or `--profile-time`), and only the ratios the filter (if any) names.
    pub(crate) fn from_args(bench: &'static str) -> Turns {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| args.iter().any(|arg| arg == flag);
        let profiling = args.iter().any(|arg| arg.starts_with("--profile-time"));
        let enabled = has("--bench") && !has("--test") && !has("--list") && !profiling;
        let mut filter = None;
        let mut skip_value = false;
        for arg in &args {
            if skip_value {
                skip_value = false;
            } else if FLAGS_WITH_VALUES.contains(&arg.as_str()) {
                skip_value = true;
            } else if !arg.starts_with('-') {
                filter = Some(arg.clone());
            }
        }
        Turns {
            bench,
            enabled,
            filter,
            ratios: Vec::new(),
        }
    }

    /// Whether the ratio of `top` over `bottom` is to be measured (for work to skip when not).
    // The decide bench builds its fixtures for criterion anyway, so only the throttle bench
    // asks.
    #[allow(dead_code)]
    pub(crate) fn wanted(&self, top: &str, bottom: &str) -> bool {
        self.wanted_by_name(&ratio_name(top, bottom))
    }

    /// Whether the ratio called `name` is to be measured.
    fn wanted_by_name(&self, name: &str) -> bool {
        self.enabled
            && match &self.filter {
                None => true,
                Some(filter) => "turns".contains(filter.as_str()) || name.contains(filter.as_str()),
            }
    }

    /// Measures `top`'s time per call over `bottom`'s, in turns, and prints it; skipped when the
    /// command line does not ask for it. Each closure makes one call of its workload (and
    /// should pass its result through `black_box`).
    pub(crate) fn ratio(
        &mut self,
        top_name: &str,
        bottom_name: &str,
        top: impl FnMut(),
        bottom: impl FnMut(),
    ) {
        let name = ratio_name(top_name, bottom_name);
        if !self.wanted_by_name(&name) {
            return;
        }
        let ratio = measure(name, top, bottom);
        println!(
            "turns: {} = {:.3}x (quartiles {:.3}x to {:.3}x, {} pairs of turns; {} and {} per call)",
            ratio.name,
            ratio.median,
            ratio.quartiles.0,
            ratio.quartiles.1,
            ratio.pairs,
            nanoseconds(ratio.top_ns),
            nanoseconds(ratio.bottom_ns),
        );
        self.ratios.push(ratio);
    }

    /// Writes the ratios measured to `turns/<bench>.json` in criterion's output directory
    /// (`$CRITERION_HOME`, or `criterion` in `$CARGO_TARGET_DIR` or `target`), for scripts that
    /// gather a run's figures; a run that measures none leaves the file as it was.
    pub(crate) fn save(&self) {
        if self.ratios.is_empty() {
            return;
        }
        let home = std::env::var_os("CRITERION_HOME").map_or_else(
            || {
                let target =
                    std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
                PathBuf::from(target).join("criterion")
            },
            PathBuf::from,
        );
        let dir = home.join("turns");
        let ratios: serde_json::Map<String, serde_json::Value> = self
            .ratios
            .iter()
            .map(|ratio| {
                let figures = serde_json::json!({
                    "median": ratio.median,
                    "lower_quartile": ratio.quartiles.0,
                    "upper_quartile": ratio.quartiles.1,
                    "pairs": ratio.pairs,
                    "top_ns": ratio.top_ns,
                    "bottom_ns": ratio.bottom_ns,
                });
                (ratio.name.clone(), figures)
            })
            .collect();
        let json = serde_json::Value::Object(ratios).to_string();
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(format!("{}.json", self.bench)), json));
        if let Err(error) = written {
            eprintln!(
                "turns: could not save the ratios in {}: {error}",
                dir.display()
            );
        }
    }
}

/// The name of the ratio of `top` over `bottom`.
fn ratio_name(top: &str, bottom: &str) -> String {
    format!("{top} / {bottom}")
}

/// Warms both sides up, sizes each side's batch to [`BATCH`], then takes pairs of turns for
/// [`MEASURE`]: a batch of each side, then a batch of each in the other order.
fn measure(name: String, mut top: impl FnMut(), mut bottom: impl FnMut()) -> Ratio {
    let top_batch = batch_size(&mut top);
    let bottom_batch = batch_size(&mut bottom);
    let per_call = |time: Duration, calls: u32| time.as_secs_f64() / f64::from(calls);
    let mut ratios = Vec::new();
    let (mut top_total, mut bottom_total) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    while started.elapsed() < MEASURE {
        let top_first = time(&mut top, top_batch);
        let bottom_second = time(&mut bottom, bottom_batch);
        let bottom_first = time(&mut bottom, bottom_batch);
        let top_second = time(&mut top, top_batch);
        let (top_time, bottom_time) = (top_first + top_second, bottom_first + bottom_second);
        top_total += top_time;
        bottom_total += bottom_time;
        ratios.push(per_call(top_time, top_batch) / per_call(bottom_time, bottom_batch));
    }
    ratios.sort_by(f64::total_cmp);
    // At least one pair was taken: the loop's test passes when it starts.
    let at = |fraction: f64| ratios[((ratios.len() - 1) as f64 * fraction).round() as usize];
    let pairs = ratios.len();
    // Each side ran its batch twice per pair.
    let calls = |batch: u32| 2.0 * f64::from(batch) * pairs as f64;
    Ratio {
        name,
        median: at(0.5),
        quartiles: (at(0.25), at(0.75)),
        pairs,
        top_ns: top_total.as_secs_f64() * 1e9 / calls(top_batch),
        bottom_ns: bottom_total.as_secs_f64() * 1e9 / calls(bottom_batch),
    }
}

/// Runs `work` for about [`WARM_UP`], then returns how many calls take at least [`BATCH`]: the
/// first of 1, 2, 4, ... calls, each count timed in one piece (the clock read around the
/// piece, not around each call), that takes that long.
fn batch_size(work: &mut impl FnMut()) -> u32 {
    let started = Instant::now();
    while started.elapsed() < WARM_UP {
        work();
    }
    let mut calls = 1u32;
    while time(work, calls) < BATCH && calls < 1 << 24 {
        calls *= 2;
    }
    calls
}

/// The time of `calls` calls of `work`.
fn time(work: &mut impl FnMut(), calls: u32) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        work();
    }
    started.elapsed()
}

/// `ns` as criterion prints times.
fn nanoseconds(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.3} µs", ns / 1000.0)
    } else {
        format!("{ns:.2} ns")
    }
}
