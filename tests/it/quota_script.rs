//! The quota script against a real redis-server: its arithmetic equals the pure model's
//! (`livebatch::quota::model`), call for call, with the clock the script itself read.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::quota::RedisServer;
use livebatch::quota::QuotaKey;
use livebatch::quota::model::{Model, Params, Runner, Schedule};
use livebatch::quota::store::{invocation, parse_booking, parse_slowed, parse_status};
use proptest::prelude::*;
use redis::{Commands, Value};

fn stored(con: &mut redis::Connection, key: &QuotaKey) -> Model {
    let s: HashMap<String, i64> = con.hgetall(key.schedule()).unwrap();
    let r: HashMap<String, String> = con.hgetall(key.runners()).unwrap();
    Model {
        schedule: Schedule {
            tat: s.get("tat").copied(),
            base: s.get("base").copied(),
            since: s.get("since").copied(),
            last_decrease: s.get("lastdec").copied(),
            throttles: s.get("thr").copied().unwrap_or(0),
            gc: s.get("gc").copied().unwrap_or(0),
        },
        runners: r
            .into_iter()
            .map(|(k, v)| (k, Runner::decode(&v).expect("a well-formed runner record")))
            .collect(),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Reserve(u8),
    Throttle,
    Leave(u8),
}

fn op() -> impl Strategy<Value = (Op, u64)> {
    (
        prop_oneof![
            6 => (0u8..3).prop_map(Op::Reserve),
            2 => Just(Op::Throttle),
            1 => (0u8..3).prop_map(Op::Leave),
        ],
        0u64..2500,
    )
}

/// Time runs in milliseconds here (a 1000/s cap, a 2-ms cooldown, fast recovery), so a few
/// real sleeps cover slot reuse, the cooldown, recovery to the cap and the floor. The server is
/// owned by the test (a static would outlive it and leak the process), so the runner is explicit.
#[test]
fn the_script_computes_exactly_what_the_model_does() {
    let server = RedisServer::start();
    let con = std::cell::RefCell::new(server.client().get_connection().unwrap());
    let case = std::cell::Cell::new(0u32);
    let strategy = (
        100_000i64..=1_000_000,
        300i64..=900,
        proptest::collection::vec(op(), 1..40),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(cap, factor, ops)| {
            case.set(case.get() + 1);
            check(&mut con.borrow_mut(), case.get(), cap, factor, ops)
        })
        .unwrap();
}

fn check(
    con: &mut redis::Connection,
    case: u32,
    cap: i64,
    factor: i64,
    ops: Vec<(Op, u64)>,
) -> Result<(), TestCaseError> {
    let p = Params {
        cap,
        floor: cap / 10,
        increase: cap * 5,
        cooldown_us: 2_000,
        factor_permille: factor,
        lease_us: 20_000,
    };
    let key = QuotaKey::new(&format!("acct{case}"), "Op").unwrap();
    let mut model = Model::default();
    for (op, gap_us) in ops {
        std::thread::sleep(Duration::from_micros(gap_us));
        match op {
            Op::Reserve(r) => {
                let id = format!("r{r}");
                let v: Value = invocation(&key, "reserve", &id, &p).invoke(con).unwrap();
                let got = parse_booking(&v).unwrap();
                prop_assert_eq!(got, model.reserve(got.now, &id, &p));
            }
            Op::Throttle => {
                let v: Value = invocation(&key, "throttle", "r0", &p).invoke(con).unwrap();
                let got = parse_slowed(&v).unwrap();
                prop_assert_eq!(got, model.throttle(got.now, &p));
            }
            Op::Leave(r) => {
                let id = format!("r{r}");
                let _: Value = invocation(&key, "leave", &id, &p).invoke(con).unwrap();
                model.leave(&id);
            }
        }
        prop_assert_eq!(&stored(con, &key), &model);
    }
    let v: Value = invocation(&key, "status", "", &p).invoke(con).unwrap();
    let st = parse_status(&v).unwrap();
    prop_assert!(st.rate >= p.floor && st.rate <= p.cap);
    prop_assert_eq!(st.throttles, model.schedule.throttles);
    let live: Vec<&String> = model
        .runners
        .iter()
        .filter(|(_, r)| r.lease_until >= st.now)
        .map(|(k, _)| k)
        .collect();
    prop_assert_eq!(st.runners.iter().map(|r| &r.id).collect::<Vec<_>>(), live);
    Ok(())
}
