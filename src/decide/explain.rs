//! Decisions in words, for the marketer who asks "why did (or didn't) they get this?".

use std::fmt;

use super::trace::{Candidate, Decision, Pick, Stop};
use crate::throttle::Verdict;

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::OpenComplaint => {
                f.write_str("a complaint is open: no marketing until it is resolved")
            }
            Stop::NotYetValid { from } => write!(f, "not valid before {}", when(*from)),
            Stop::Expired { until } => write!(f, "expired at {}", when(*until)),
            Stop::NoChannel => f.write_str("none of the requested channels is one the offer uses"),
            Stop::DoNotContact => f.write_str("the customer asked not to be contacted"),
            Stop::NoConsent { channels } => {
                let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
                write!(f, "no marketing consent on {}", names.join(", "))
            }
            Stop::Unsubscribed { topic } => write!(f, "the customer unsubscribed from {topic:?}"),
            Stop::NeverCategory { category } => {
                write!(f, "the customer never wants offers in {category:?}")
            }
            Stop::Ineligible { rule } => write!(f, "not eligible: {rule}"),
            Stop::JustBought { product, at } => {
                write!(f, "the customer bought {product:?} on {}", when(*at))
            }
            Stop::Cooldown { until } => write!(
                f,
                "the customer turned it down; it rests until {}",
                when(*until)
            ),
            Stop::SameCategory { category, by } => {
                write!(f, "{by} was picked in {category:?} (one per category)")
            }
            Stop::Outscored { by } => write!(f, "outscored by {by}"),
            Stop::Throttled { channel, verdict } => match verdict {
                Verdict::Deferred { until, .. } => write!(
                    f,
                    "held back on {channel} until {}, later than the request accepts: {verdict}",
                    when(*until)
                ),
                _ => write!(f, "held back on {channel}: {verdict}"),
            },
            Stop::FallbackNotNeeded => f.write_str("a fallback, not needed"),
        }
    }
}

fn write_pick(f: &mut fmt::Formatter<'_>, pick: &Pick, decision: &Decision) -> fmt::Result {
    let what = pick.offer.as_deref().unwrap_or("the message");
    let timing = if pick.send_at == decision.at {
        "now".to_owned()
    } else {
        format!("at {} (deferred)", when(pick.send_at))
    };
    write!(f, "  picked {what} on {} {timing}", pick.channel)?;
    let score = pick
        .offer
        .as_deref()
        .and_then(|id| decision.candidate(id))
        .and_then(|c| c.score);
    if let Some(score) = score {
        write!(f, ", score {score}")?;
    }
    writeln!(f)
}

fn write_candidate(f: &mut fmt::Formatter<'_>, candidate: &Candidate) -> fmt::Result {
    let Some(stop) = &candidate.stop else {
        return Ok(());
    };
    write!(f, "  - {}: {stop}", candidate.offer)?;
    if let Some(score) = &candidate.score {
        write!(f, " (score {score})")?;
    }
    writeln!(f)
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} decision for customer {} at {}:",
            self.class,
            self.customer,
            when(self.at)
        )?;
        if !self.open_complaints.is_empty() {
            writeln!(
                f,
                "  open complaint(s): {} (no marketing until resolved)",
                self.open_complaints.join(", ")
            )?;
        }
        if self.picks.is_empty() {
            let why = if self.no_channel {
                "no channel to send on"
            } else {
                "nothing to send"
            };
            writeln!(f, "  {why}")?;
        }
        for pick in &self.picks {
            write_pick(f, pick, self)?;
        }
        if self.trace.iter().any(|c| c.stop.is_some()) {
            writeln!(f, "  not sent:")?;
            for candidate in &self.trace {
                write_candidate(f, &candidate)?;
            }
        }
        for note in &self.notes {
            writeln!(f, "  note for whoever calls: {note}")?;
        }
        Ok(())
    }
}
