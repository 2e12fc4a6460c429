//! A week in the corner shop: three customers, a considerate policy, and every contact the
//! shop tries, allowed, deferred past quiet hours, or denied, each with its explanation. Then
//! one personalized decision: a customer's context, a few offers, what was picked and why.
//!
//! Run with `cargo run --example quickstart`.

use chrono::{Duration, TimeZone, Utc};
use cornershop::{
    Attempt, Channel, Clock, Consent, ContactLedger, Customer, Engine, Event, FrequencyPreference,
    IfBlocked, ManualClock, MemoryLedger, Policy, Request, Verdict, Window,
};

/// The shop's offers, on top of the same throttle rules.
const OFFERS: &str = r#"
    [attributes]
    tier = "text"

    [[offers]]
    id = "birthday-cake"
    categories = ["bakery"]
    moment = "birthday"
    value = 15.0
    eligibility = { moment = "birthday", within_days = 7 }
    cap = { limit = 1, window = "300d" }

    [[offers]]
    id = "coffee-club"
    categories = ["coffee"]
    value = 10.0
    eligibility = { all = [ { bought = "coffee", within = "60d" }, { attribute = "tier", in = ["gold", "silver"] } ] }

    [[offers]]
    id = "winter-boots"
    categories = ["footwear"]
    value = 40.0

    [[offers]]
    id = "newsletter"
    fallback = true
"#;

const POLICY: &str = r#"
    # Customers without a time zone of their own live in London.
    time_zone = "Europe/London"

    [[caps]]
    name = "two marketing emails a week"
    channel = "email"
    limit = 2
    window = "7d"

    [[caps]]
    name = "one marketing SMS a day"
    channel = "sms"
    limit = 1
    window = "calendar day"

    [[caps]]
    name = "four marketing contacts a month"
    limit = 4
    window = "calendar month"

    [[spacing]]
    name = "a breather between marketing contacts"
    min_gap = "20h"

    [[quiet_hours]]
    name = "night"
    start = "21:00"
    end = "08:00"

    [[quiet_hours]]
    name = "Sunday rest"
    start = "00:00"
    end = "24:00"
    days = ["sun"]
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Policy::from_toml_str(POLICY)?.compile()?;
    let ledger = MemoryLedger::new();

    let customers = [
        (
            "Ada (London, email + SMS)",
            Customer::new(1)
                .with_consent(Channel::Email, Consent::OptedIn)
                .with_consent(Channel::Sms, Consent::OptedIn),
        ),
        (
            "Bruno (New York, email only)",
            Customer::new(2)
                .with_time_zone(chrono_tz::America::New_York)
                .with_consent(Channel::Email, Consent::OptedIn),
        ),
        (
            "Chiara (Kolkata, one email a week, no promos)",
            Customer::new(3)
                .with_time_zone(chrono_tz::Asia::Kolkata)
                .with_consent(Channel::Email, Consent::OptedIn)
                .with_consent(Channel::Sms, Consent::OptedOut)
                .with_unsubscribed_topic("promo")
                .with_frequency_preference(FrequencyPreference {
                    channel: Some(Channel::Email),
                    limit: 1.try_into()?,
                    window: Window::Calendar(cornershop::CalendarPeriod::Week),
                }),
        ),
    ];

    // The shop tries twice a day for a week, starting Monday 2026-11-23 at 07:30 UTC.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0).unwrap());
    let plans = [
        (
            Attempt::marketing(Channel::Email).with_topic("newsletter"),
            Duration::hours(6),
        ),
        (
            Attempt::marketing(Channel::Sms).with_topic("promo"),
            Duration::hours(2),
        ),
    ];
    for _day in 0..7 {
        for _slot in 0..2 {
            let now = clock.now();
            println!("== {} UTC", now.format("%a %Y-%m-%d %H:%M"));
            for (name, customer) in &customers {
                for (attempt, worth_deferring_for) in plans {
                    let expires = Some(now + worth_deferring_for);
                    let outcome = ledger.reserve(
                        &policy,
                        customer,
                        attempt,
                        IfBlocked::Defer { expires },
                        now,
                    )?;
                    let what = format!("{} {}", attempt.channel, attempt.topic.unwrap_or(""));
                    match (&outcome.reservation, &outcome.verdict) {
                        (Some(reservation), Verdict::Allowed) => {
                            println!("  {name}: {what}: sent now");
                            ledger.commit(reservation)?;
                        }
                        (Some(reservation), verdict) => {
                            println!(
                                "  {name}: {what}: scheduled for {} UTC ({verdict})",
                                reservation.send_at().format("%a %H:%M")
                            );
                            // In a real app the send happens then; here it is committed at once.
                            ledger.commit(reservation)?;
                        }
                        (None, verdict) => println!("  {name}: {what}: not sent ({verdict})"),
                    }
                }
            }
            clock.advance(Duration::hours(12));
        }
    }

    // Service comes first: a reply to Bruno's question goes out at night, whatever the caps.
    let night = clock.now();
    let (name, bruno) = &customers[1];
    let reply = ledger.check(&policy, bruno, Attempt::service(Channel::Email), night)?;
    println!("== a service reply to {name} at {night}: {reply}");

    personalized_decision()
}

/// One decision for a regular: context in, picks and their explanation out.
fn personalized_decision() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Policy::from_toml_str(&format!("{POLICY}\n{OFFERS}"))?.compile()?);
    let ledger = MemoryLedger::new();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
    let mut dora = Customer::new(4)
        .with_consent(Channel::Email, Consent::OptedIn)
        .with_attribute("tier", "gold")
        .with_birthday(11, 27)
        .with_never_category("footwear")
        .with_note("Prefers to be called after 17:00.");
    for weeks_ago in 1..=6 {
        let at = now - Duration::weeks(weeks_ago);
        let purchase = Event::Purchase {
            at,
            category: "coffee".into(),
            product: Some("house blend".into()),
            amount: 12.5,
        };
        engine.observe(&mut dora, &purchase)?;
    }
    let request = Request::marketing([Channel::Email], 1);
    let decision = engine.decide(&dora, &ledger, &request, now)?;
    println!("\n== a personalized decision for Dora, a regular whose birthday is on Friday");
    print!("{decision}");
    for pick in &decision.picks {
        // The send went out: commit the slot the decision reserved.
        ledger.commit(&pick.reservation)?;
    }
    Ok(())
}
