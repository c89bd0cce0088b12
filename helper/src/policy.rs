//! The link policies of a profile, as pure decisions on a caller-supplied
//! clock: when to redial after a drop (pppd's `persist`, `maxfail`,
//! `holdoff`, here with a holdoff that backs off), and when an up link is
//! hung up for being idle or connected too long (`idle`, `maxconnect`).
//! The runtime asks; nothing here sleeps or reads a clock.

use std::time::Duration;

use dialtone_api::profile::Policy;
use dialtone_ppp::{DownReason, Instant};

/// Why a connection (or an attempt at one) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The user hung up.
    User,
    /// No IP traffic for the idle time.
    Idle,
    /// The maximum connect time was reached.
    MaxConnect,
    /// The link failed or could not be set up, with a reason a person can
    /// read: the PPP engine's, or the dialer's and the line's (`permanent`
    /// when retrying cannot help, e.g. a missing device node is not, a
    /// refused password is).
    Failed {
        /// What happened, in words.
        reason: String,
        /// Whether retrying the same way is pointless.
        permanent: bool,
    },
}

impl Ending {
    /// The ending for a PPP engine's reason. Authentication refusals are
    /// permanent: redialing with the same password would only risk locking
    /// the account.
    pub fn from_ppp(reason: &DownReason) -> Ending {
        let permanent = matches!(
            reason,
            DownReason::AuthFailed { .. }
                | DownReason::NoCredentials
                | DownReason::NoCommonAuth { .. }
                | DownReason::ServerNotAuthenticated
                | DownReason::LoopedBack
        );
        match reason {
            DownReason::LocalClose => Ending::User,
            _ => Ending::Failed {
                reason: reason.to_string(),
                permanent,
            },
        }
    }
}

/// What to do after an ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing more: the session is over, for this reason.
    Stop(StopReason),
    /// Dial again at this time (the holdoff elapsed).
    RedialAt(Instant),
    /// Demand dialing: wait for the next outgoing packet.
    WaitForTraffic,
}

/// Why the session stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The user hung up.
    User,
    /// The link was idle and demand dialing is off.
    Idle,
    /// Persist is off and the link ended (or never came up).
    NoPersist,
    /// A failure that redialing cannot fix.
    Permanent,
    /// `max_fail` attempts failed in a row.
    TooManyFailures(u32),
}

/// The redial logic of one session.
#[derive(Clone, Debug)]
pub struct Redial {
    policy: Policy,
    failures: u32,
    holdoff: Duration,
}

impl Redial {
    /// A session following `policy`.
    pub fn new(policy: &Policy) -> Redial {
        Redial {
            policy: policy.clone(),
            failures: 0,
            holdoff: Duration::from_secs(u64::from(policy.holdoff)),
        }
    }

    /// Failed attempts in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Decides what follows `ending`. `was_up`: the link had come up
    /// (a success resets the failure count and the holdoff).
    pub fn after(&mut self, ending: &Ending, was_up: bool, now: Instant) -> Next {
        let base = Duration::from_secs(u64::from(self.policy.holdoff));
        let max = Duration::from_secs(u64::from(self.policy.holdoff_max.max(self.policy.holdoff)));
        if was_up {
            self.failures = 0;
            self.holdoff = base;
        }
        match ending {
            Ending::User => return Next::Stop(StopReason::User),
            Ending::Idle if self.policy.demand => return Next::WaitForTraffic,
            Ending::Idle => return Next::Stop(StopReason::Idle),
            Ending::Failed {
                permanent: true, ..
            } => return Next::Stop(StopReason::Permanent),
            Ending::Failed { .. } if !was_up => self.failures += 1,
            Ending::Failed { .. } | Ending::MaxConnect => {}
        }
        if self.policy.max_fail > 0 && self.failures >= self.policy.max_fail {
            return Next::Stop(StopReason::TooManyFailures(self.failures));
        }
        if self.policy.demand {
            return Next::WaitForTraffic;
        }
        if !self.policy.persist {
            return Next::Stop(StopReason::NoPersist);
        }
        let wait = if was_up { base } else { self.holdoff };
        if !was_up {
            // Back off: double the wait after each failure, up to the max.
            self.holdoff = (self.holdoff * 2).clamp(base, max);
        }
        Next::RedialAt(now + wait)
    }
}

/// The idle and connect-time limits of an up link.
#[derive(Clone, Debug)]
pub struct Limits {
    idle: Option<Duration>,
    max_connect: Option<Duration>,
    up_since: Instant,
    last_traffic: Instant,
}

impl Limits {
    /// Limits for a link that came up at `now`.
    pub fn new(policy: &Policy, now: Instant) -> Limits {
        let secs = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
        Limits {
            idle: secs(policy.idle),
            max_connect: secs(policy.max_connect),
            up_since: now,
            last_traffic: now,
        }
    }

    /// An IP packet crossed the link (either way).
    pub fn traffic(&mut self, now: Instant) {
        self.last_traffic = self.last_traffic.max(now);
    }

    /// When [`Limits::check`] may next have something to say; `None` with
    /// no limits (no timer needed, no periodic wake-ups).
    pub fn deadline(&self) -> Option<Instant> {
        let idle = self.idle.map(|d| self.last_traffic + d);
        let max = self.max_connect.map(|d| self.up_since + d);
        idle.into_iter().chain(max).min()
    }

    /// Whether the link must be hung up now, and why.
    pub fn check(&self, now: Instant) -> Option<Ending> {
        if self.max_connect.is_some_and(|d| now >= self.up_since + d) {
            return Some(Ending::MaxConnect);
        }
        if self.idle.is_some_and(|d| now >= self.last_traffic + d) {
            return Some(Ending::Idle);
        }
        None
    }

    /// How long the link has been up.
    pub fn connected_for(&self, now: Instant) -> Duration {
        now - self.up_since
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_ppp::AuthMethod;

    fn policy(persist: bool) -> Policy {
        Policy {
            persist,
            max_fail: 4,
            holdoff: 5,
            holdoff_max: 30,
            ..Policy::default()
        }
    }

    fn fail() -> Ending {
        Ending::Failed {
            reason: "the line is busy".into(),
            permanent: false,
        }
    }

    fn at(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn without_persist_one_attempt_is_all() {
        let mut r = Redial::new(&policy(false));
        assert_eq!(
            r.after(&fail(), false, at(0)),
            Next::Stop(StopReason::NoPersist)
        );
    }

    #[test]
    fn holdoff_backs_off_up_to_the_max_and_max_fail_stops() {
        let mut p = policy(true);
        p.max_fail = 6;
        let mut r = Redial::new(&p);
        let waits: Vec<_> = (0..5)
            .map(|_| match r.after(&fail(), false, at(100)) {
                Next::RedialAt(t) => (t - at(100)).as_secs(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 30, 30]);
        assert_eq!(
            r.after(&fail(), false, at(100)),
            Next::Stop(StopReason::TooManyFailures(6))
        );
    }

    #[test]
    fn a_connection_resets_the_count_and_the_holdoff() {
        let mut r = Redial::new(&policy(true));
        r.after(&fail(), false, at(0));
        r.after(&fail(), false, at(0));
        assert_eq!(r.failures(), 2);
        // It came up, then dropped: redial after the base holdoff.
        assert_eq!(r.after(&fail(), true, at(50)), Next::RedialAt(at(55)));
        assert_eq!(r.failures(), 0);
        assert_eq!(r.after(&fail(), false, at(60)), Next::RedialAt(at(65)));
    }

    #[test]
    fn max_fail_zero_never_gives_up() {
        let mut p = policy(true);
        p.max_fail = 0;
        let mut r = Redial::new(&p);
        for _ in 0..100 {
            assert!(matches!(r.after(&fail(), false, at(0)), Next::RedialAt(_)));
        }
    }

    #[test]
    fn user_hangup_and_refused_passwords_are_never_redialed() {
        let mut r = Redial::new(&policy(true));
        assert_eq!(
            r.after(&Ending::User, true, at(0)),
            Next::Stop(StopReason::User)
        );
        let refused = Ending::from_ppp(&DownReason::AuthFailed {
            method: AuthMethod::Pap,
            message: "Login incorrect".into(),
        });
        assert_eq!(
            r.after(&refused, false, at(0)),
            Next::Stop(StopReason::Permanent)
        );
        assert_eq!(Ending::from_ppp(&DownReason::LocalClose), Ending::User);
        assert!(matches!(
            Ending::from_ppp(&DownReason::EchoTimeout { missed: 4 }),
            Ending::Failed {
                permanent: false,
                ..
            }
        ));
    }

    #[test]
    fn idle_stops_or_waits_for_traffic_with_demand() {
        let mut r = Redial::new(&policy(true));
        assert_eq!(
            r.after(&Ending::Idle, true, at(0)),
            Next::Stop(StopReason::Idle)
        );
        let mut p = policy(false);
        p.demand = true;
        let mut r = Redial::new(&p);
        assert_eq!(r.after(&Ending::Idle, true, at(0)), Next::WaitForTraffic);
        assert_eq!(r.after(&fail(), true, at(0)), Next::WaitForTraffic);
    }

    #[test]
    fn max_connect_redials_with_persist() {
        let mut r = Redial::new(&policy(true));
        assert_eq!(
            r.after(&Ending::MaxConnect, true, at(10)),
            Next::RedialAt(at(15))
        );
    }

    #[test]
    fn limits_idle_and_max_connect() {
        let p = Policy {
            idle: 60,
            max_connect: 3600,
            ..Policy::default()
        };
        let mut l = Limits::new(&p, at(0));
        assert_eq!(l.deadline(), Some(at(60)));
        assert_eq!(l.check(at(59)), None);
        l.traffic(at(50));
        assert_eq!(l.deadline(), Some(at(110)));
        assert_eq!(l.check(at(100)), None);
        assert_eq!(l.check(at(110)), Some(Ending::Idle));
        l.traffic(at(3590));
        assert_eq!(l.check(at(3600)), Some(Ending::MaxConnect));
        assert_eq!(l.connected_for(at(90)), Duration::from_secs(90));
    }

    #[test]
    fn no_limits_means_no_timer() {
        let l = Limits::new(&Policy::default(), at(0));
        assert_eq!(l.deadline(), None);
        assert_eq!(l.check(at(1_000_000)), None);
    }
}
