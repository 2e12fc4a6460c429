//! Ratios between two workloads measured in turns: a batch of one, then a batch of the other,
//! over and over, each turn's ratio taken from batches run a fraction of a millisecond apart.
//!
//! Criterion times one benchmark after another, seconds apart; on a shared host whose load
//! shifts from one second to the next, the ratio of two such medians swings by tens of percent
//! although neither workload changed. Measured in turns, both sides of a ratio meet the same
//! load, so its median over many turns is what the workloads cost relative to each other.
//! Criterion's own figures stay the record of each workload's time; these are the ratios.
//!
//! Runs only under `cargo bench` (the `--bench` flag), and then only when no filter is given or
//! the filter is a part of `turns` or of a ratio's name (a plain substring, not a regex).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A batch of either side lasts about this long (long enough that reading the clock twice is
/// noise, short enough that the host's load hardly changes within a turn).
const BATCH: Duration = Duration::from_micros(200);

/// What each ratio is given: about this long for warming up and sizing the batches, and this
/// long for the turns.
const WARM_UP: Duration = Duration::from_millis(200);
const MEASURE: Duration = Duration::from_millis(1500);

/// Flags of criterion's command line that take a value (so that the value is not taken for a
/// filter).
const FLAGS_WITH_VALUES: [&str; 16] = [
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
    /// The median of the turns' ratios.
    pub(crate) median: f64,
    /// The lower and upper quartiles of the turns' ratios.
    pub(crate) quartiles: (f64, f64),
    /// How many turns were taken.
    pub(crate) turns: usize,
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
    /// Reads the command line: measures only under `--bench`, and only the ratios the filter
    /// (if any) names.
    pub(crate) fn from_args(bench: &'static str) -> Turns {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let enabled = args.iter().any(|arg| arg == "--bench");
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
            "turns: {} = {:.3}x (quartiles {:.3}x to {:.3}x, {} turns; {} and {} per call)",
            ratio.name,
            ratio.median,
            ratio.quartiles.0,
            ratio.quartiles.1,
            ratio.turns,
            nanoseconds(ratio.top_ns),
            nanoseconds(ratio.bottom_ns),
        );
        self.ratios.push(ratio);
    }

    /// Writes the ratios measured to `<target>/criterion/turns/<bench>.json` (beside
    /// criterion's own results), for scripts that gather a run's figures.
    pub(crate) fn save(&self) {
        if self.ratios.is_empty() {
            return;
        }
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
        let dir = std::path::Path::new(&target)
            .join("criterion")
            .join("turns");
        let mut json = String::from("{\n");
        for (index, ratio) in self.ratios.iter().enumerate() {
            let comma = if index + 1 < self.ratios.len() {
                ","
            } else {
                ""
            };
            // The names are the benches' own ASCII labels: nothing in them needs escaping.
            let _ = writeln!(
                json,
                "  \"{}\": {{\"median\": {}, \"lower_quartile\": {}, \"upper_quartile\": {}, \"turns\": {}, \"top_ns\": {}, \"bottom_ns\": {}}}{comma}",
                ratio.name, ratio.median, ratio.quartiles.0, ratio.quartiles.1, ratio.turns, ratio.top_ns, ratio.bottom_ns,
            );
        }
        json.push_str("}\n");
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

/// Warms both sides up, sizes each side's batch to [`BATCH`], then takes turns for
/// [`MEASURE`], each turn a batch of each side, the order swapped every turn (so that neither
/// side always runs on the other's leftovers in the caches).
fn measure(name: String, mut top: impl FnMut(), mut bottom: impl FnMut()) -> Ratio {
    let top_batch = batch_size(&mut top);
    let bottom_batch = batch_size(&mut bottom);
    let mut ratios = Vec::new();
    let (mut top_total, mut bottom_total) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    while started.elapsed() < MEASURE {
        let (top_time, bottom_time) = if ratios.len() % 2 == 0 {
            let top_time = time(&mut top, top_batch);
            (top_time, time(&mut bottom, bottom_batch))
        } else {
            let bottom_time = time(&mut bottom, bottom_batch);
            (time(&mut top, top_batch), bottom_time)
        };
        top_total += top_time;
        bottom_total += bottom_time;
        let per_call = |time: Duration, calls: u32| time.as_secs_f64() / f64::from(calls);
        ratios.push(per_call(top_time, top_batch) / per_call(bottom_time, bottom_batch));
    }
    ratios.sort_by(f64::total_cmp);
    let at = |fraction: f64| ratios[((ratios.len() - 1) as f64 * fraction).round() as usize];
    let turns = ratios.len();
    let per_call_ns =
        |total: Duration, batch: u32| total.as_secs_f64() * 1e9 / (f64::from(batch) * turns as f64);
    Ratio {
        name,
        median: at(0.5),
        quartiles: (at(0.25), at(0.75)),
        turns,
        top_ns: per_call_ns(top_total, top_batch),
        bottom_ns: per_call_ns(bottom_total, bottom_batch),
    }
}

/// Runs `work` for half of [`WARM_UP`] and returns how many calls take about [`BATCH`].
fn batch_size(work: &mut impl FnMut()) -> u32 {
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < WARM_UP / 2 {
        work();
        calls += 1;
    }
    let per_call = started.elapsed().as_secs_f64() / calls as f64;
    (BATCH.as_secs_f64() / per_call).clamp(1.0, 1e6) as u32
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
