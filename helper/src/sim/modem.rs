//! The simulated modem as a running thing: [`Hayes`] between a real DTE
//! (normally a [`Pty`](super::pty::Pty) master) and an ISP.
//!
//! [`run_modem`] pumps bytes between the DTE and the [`Hayes`] state
//! machine in real time: the engine's [`Instant`] is the time since the
//! modem started (`tokio::time::Instant`), and the task sleeps until the
//! modem's next deadline ([`Hayes::poll_timeout`]) and otherwise only on
//! I/O, so an idle modem never wakes up. Pacing ([`HayesConfig::baud`])
//! and latency ([`HayesConfig::latency`]) are the state machine's own: the
//! bytes it releases are written out as they become due.
//!
//! When a call comes up ([`HayesEvent::Online`] after a dial or an
//! answer), the modem creates a [`tokio::io::duplex`] pipe and hands one
//! end to the `on_call` callback: that is the ISP's end of the telephone
//! line. What the modem sends to the line is written into it; what the ISP
//! writes comes out of the modem to the DTE. The ISP closing its end is a
//! remote hang-up ([`Hayes::remote_hangup`], `NO CARRIER`); the modem
//! hanging up (`ATH`, `ATZ`, DTR, remote) drops its end, so the ISP reads
//! end of file.
//!
//! Line noise: [`ModemOptions::bit_error_rate`] flips each bit crossing an
//! online call, in both directions, with that probability, from a seeded
//! generator (reproducible for a given seed and the same chunking). The
//! modem's own escape detection sees the DTE's bytes before the noise.

use std::io;

use dialtone_ppp::Instant;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf,
};
use tokio::sync::mpsc;

use crate::hayes::{Hayes, HayesConfig, HayesEvent};

/// The capacity of each direction of a call's duplex pipe.
pub const LINE_BUFFER: usize = 64 * 1024;

/// Above this many bytes waiting for one side, the modem stops reading
/// from the other (flow control instead of unbounded buffering).
const MAX_PENDING: usize = 64 * 1024;

/// How the modem is set up.
#[derive(Clone, Debug, PartialEq)]
pub struct ModemOptions {
    /// The state machine's configuration: numbers, dial delay, pacing,
    /// latency, ...
    pub hayes: HayesConfig,
    /// The probability that a bit crossing an online call is flipped, in
    /// each direction; 0 (the default) for a clean line. Must be within
    /// `0.0..=1.0`.
    pub bit_error_rate: f64,
    /// The seed of the bit-error generator.
    pub seed: u64,
}

impl Default for ModemOptions {
    fn default() -> Self {
        ModemOptions {
            hayes: HayesConfig::default(),
            bit_error_rate: 0.0,
            seed: 0,
        }
    }
}

/// What the modem's owner can make happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModemCommand {
    /// The remote end hangs up ([`Hayes::remote_hangup`]): a call in
    /// progress ends with `NO CARRIER`, a ringing call stops.
    HangUp,
    /// A call comes in ([`Hayes::incoming_call`]): `RING`s until answered.
    Ring,
    /// DTR from the computer ([`Hayes::set_dtr`]). A pty has no modem
    /// control lines, so a harness that wants to simulate a DTR drop says
    /// so here.
    Dtr(bool),
}

/// Which way data crossed the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the DTE to the ISP.
    ToLine,
    /// From the ISP to the DTE.
    ToDte,
}

/// Something the modem reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModemEvent {
    /// An event of the state machine.
    Hayes(HayesEvent),
    /// Line noise flipped `bits` bits of one chunk of data going
    /// `direction`.
    BitErrors {
        /// Which way the damaged data was going.
        direction: Direction,
        /// How many bits were flipped in that chunk.
        bits: u64,
    },
}

/// Totals, returned when [`run_modem`] ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModemReport {
    /// Calls handed to the ISP.
    pub calls: u64,
    /// Bytes sent to the ISP.
    pub bytes_to_line: u64,
    /// Bytes received from the ISP while online.
    pub bytes_from_line: u64,
    /// Bits flipped on their way to the ISP.
    pub bits_flipped_to_line: u64,
    /// Bits flipped on their way to the DTE.
    pub bits_flipped_to_dte: u64,
}

/// SplitMix64: a tiny, good-enough, seeded generator.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        // 53 random bits: exactly representable.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Flips bits independently with probability `rate`, by drawing the
/// (geometrically distributed) gap to the next flip rather than a number
/// per bit.
#[derive(Clone, Debug)]
struct Noise {
    rate: f64,
    rng: SplitMix64,
    /// Clean bits to let through before the next flip.
    gap: u64,
}

impl Noise {
    fn new(rate: f64, seed: u64) -> Noise {
        let mut noise = Noise {
            rate,
            rng: SplitMix64(seed),
            gap: 0,
        };
        noise.gap = noise.draw_gap();
        noise
    }

    fn draw_gap(&mut self) -> u64 {
        if self.rate.is_nan() || self.rate <= 0.0 {
            return u64::MAX;
        }
        if self.rate >= 1.0 {
            return 0;
        }
        // In (0, 1], so the logarithm is finite.
        let u = 1.0 - self.rng.unit();
        let gap = (u.ln() / (-self.rate).ln_1p()).floor();
        if gap.is_finite() && gap >= 0.0 && gap < u64::MAX as f64 {
            gap as u64
        } else {
            u64::MAX
        }
    }

    /// Damages `data` in place; returns the number of bits flipped.
    fn apply(&mut self, data: &mut [u8]) -> u64 {
        let bits = (data.len() as u64).saturating_mul(8);
        let mut pos = 0u64;
        let mut flipped = 0;
        loop {
            let left = bits - pos;
            if self.gap >= left {
                self.gap -= left;
                return flipped;
            }
            pos += self.gap;
            if let Some(byte) = usize::try_from(pos / 8).ok().and_then(|i| data.get_mut(i)) {
                *byte ^= 1 << (pos % 8);
                flipped += 1;
            }
            pos += 1;
            self.gap = self.draw_gap();
        }
    }
}

/// Waits for a read on an optional stream; never completes without one.
async fn read_opt<R: AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut [u8]) -> io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Waits for a write on an optional stream; never completes without one.
async fn write_opt<W: AsyncWrite + Unpin>(w: &mut Option<W>, buf: &[u8]) -> io::Result<usize> {
    match w {
        Some(w) => w.write(buf).await,
        None => std::future::pending().await,
    }
}

/// Everything but the I/O futures.
struct Core<F> {
    hayes: Hayes,
    start: tokio::time::Instant,
    on_call: F,
    events: mpsc::UnboundedSender<ModemEvent>,
    /// The modem's end of the call's line, if a call is up.
    line_r: Option<ReadHalf<DuplexStream>>,
    line_w: Option<WriteHalf<DuplexStream>>,
    /// Bytes released for the line, not yet written to it.
    line_out: Vec<u8>,
    /// Bytes released for the DTE, not yet written to it.
    dte_out: Vec<u8>,
    /// The number of the call being set up ("" for an answered call).
    number: String,
    noise_to_line: Noise,
    noise_to_dte: Noise,
    report: ModemReport,
}

impl<F: FnMut(&str, DuplexStream)> Core<F> {
    fn now(&self) -> Instant {
        Instant::from_duration(self.start.elapsed())
    }

    fn emit(&self, event: ModemEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    /// Runs the due timers and moves everything the modem has to say to
    /// where it goes.
    fn pump(&mut self) {
        let now = self.now();
        self.hayes.handle_timeout(now);
        while let Some(event) = self.hayes.poll_event() {
            match &event {
                HayesEvent::Dialed { number } => self.number.clone_from(number),
                HayesEvent::Answered => self.number.clear(),
                HayesEvent::Online { .. } => {
                    // `ATO` returns online to a call that is already up.
                    if self.line_w.is_none() {
                        self.start_call();
                    }
                }
                HayesEvent::HungUp { .. } => self.end_call(),
                HayesEvent::Ring => {}
            }
            self.emit(ModemEvent::Hayes(event));
        }
        while let Some(bytes) = self.hayes.poll_dte() {
            self.dte_out.extend_from_slice(&bytes);
        }
        while let Some(mut bytes) = self.hayes.poll_line() {
            if self.line_w.is_none() {
                continue;
            }
            let bits = self.noise_to_line.apply(&mut bytes);
            if bits > 0 {
                self.report.bits_flipped_to_line += bits;
                self.emit(ModemEvent::BitErrors {
                    direction: Direction::ToLine,
                    bits,
                });
            }
            self.report.bytes_to_line += bytes.len() as u64;
            self.line_out.extend_from_slice(&bytes);
        }
    }

    fn start_call(&mut self) {
        let (ours, theirs) = tokio::io::duplex(LINE_BUFFER);
        let (r, w) = tokio::io::split(ours);
        self.line_r = Some(r);
        self.line_w = Some(w);
        self.line_out.clear();
        self.report.calls += 1;
        (self.on_call)(&self.number, theirs);
    }

    fn end_call(&mut self) {
        self.line_r = None;
        self.line_w = None;
        self.line_out.clear();
    }

    /// The ISP closed its end (or it broke): a remote hang-up.
    fn line_closed(&mut self) {
        self.line_r = None;
        let now = self.now();
        self.hayes.remote_hangup(now);
        // If the modem was not in a call any more, nothing hung up: drop
        // the line anyway.
        if !self.hayes.carrier() {
            self.end_call();
        }
    }

    fn line_input(&mut self, data: &mut [u8]) {
        let now = self.now();
        if self.hayes.is_online() {
            let bits = self.noise_to_dte.apply(data);
            if bits > 0 {
                self.report.bits_flipped_to_dte += bits;
                self.emit(ModemEvent::BitErrors {
                    direction: Direction::ToDte,
                    bits,
                });
            }
            self.report.bytes_from_line += data.len() as u64;
        }
        self.hayes.handle_line_input(data, now);
    }

    fn command(&mut self, command: ModemCommand) {
        let now = self.now();
        match command {
            ModemCommand::HangUp => self.hayes.remote_hangup(now),
            ModemCommand::Ring => self.hayes.incoming_call(now),
            ModemCommand::Dtr(on) => self.hayes.set_dtr(on, now),
        }
    }
}

/// Runs a simulated modem on `dte` until the DTE side ends (end of file or
/// an error, which is returned) or every sender of `commands` is dropped;
/// dropping the future stops it too.
///
/// `on_call(number, line)` is called each time a call comes up, with the
/// number dialled (modifiers dropped; empty for an answered incoming call)
/// and the ISP's end of the line; it must not block (spawn a task to serve
/// the call). Events (the state machine's, and bit errors) go to `events`;
/// it does not matter whether anybody receives them, but a receiver that
/// is kept must be drained (the channel is unbounded).
///
/// Fails at once with [`io::ErrorKind::InvalidInput`] if
/// [`ModemOptions::bit_error_rate`] is not within `0.0..=1.0`.
pub async fn run_modem<D, F>(
    dte: D,
    options: ModemOptions,
    on_call: F,
    mut commands: mpsc::Receiver<ModemCommand>,
    events: mpsc::UnboundedSender<ModemEvent>,
) -> io::Result<ModemReport>
where
    D: AsyncRead + AsyncWrite,
    F: FnMut(&str, DuplexStream) + Send,
{
    let rate = options.bit_error_rate;
    if !(0.0..=1.0).contains(&rate) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bit error rate {rate} is not a probability (0 to 1)"),
        ));
    }
    let (mut dte_r, mut dte_w) = tokio::io::split(dte);
    let start = tokio::time::Instant::now();
    let mut core = Core {
        hayes: Hayes::new(options.hayes),
        start,
        on_call,
        events,
        line_r: None,
        line_w: None,
        line_out: Vec::new(),
        dte_out: Vec::new(),
        number: String::new(),
        noise_to_line: Noise::new(rate, options.seed),
        noise_to_dte: Noise::new(rate, options.seed ^ 0x5bd1_e995_d1a1_0700),
        report: ModemReport::default(),
    };
    let mut dte_buf = vec![0u8; 4096];
    let mut line_buf = vec![0u8; 4096];
    let sleep = tokio::time::sleep_until(start);
    tokio::pin!(sleep);

    loop {
        core.pump();
        let deadline = core.hayes.poll_timeout();
        if let Some(t) = deadline {
            // A deadline already passed fires at once; `pump` then runs it
            // and the modem's timers always move forward.
            sleep.as_mut().reset(start + t.as_duration());
        }
        let read_dte = core.line_out.len() < MAX_PENDING;
        let read_line = core.line_r.is_some() && core.dte_out.len() < MAX_PENDING;
        let write_line = core.line_w.is_some() && !core.line_out.is_empty();
        let write_dte = !core.dte_out.is_empty();

        tokio::select! {
            r = dte_r.read(&mut dte_buf), if read_dte => match r {
                Ok(0) => return Ok(core.report),
                Ok(n) => {
                    let now = core.now();
                    if let Some(bytes) = dte_buf.get(..n) {
                        core.hayes.handle_dte_input(bytes, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            },
            r = dte_w.write(&core.dte_out), if write_dte => match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    core.dte_out.drain(..n.min(core.dte_out.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            },
            r = read_opt(&mut core.line_r, &mut line_buf), if read_line => match r {
                Ok(0) | Err(_) => core.line_closed(),
                Ok(n) => {
                    if let Some(bytes) = line_buf.get_mut(..n) {
                        core.line_input(bytes);
                    }
                }
            },
            r = write_opt(&mut core.line_w, &core.line_out), if write_line => match r {
                Ok(0) | Err(_) => core.line_closed(),
                Ok(n) => {
                    core.line_out.drain(..n.min(core.line_out.len()));
                }
            },
            c = commands.recv() => match c {
                Some(command) => core.command(command),
                None => return Ok(core.report),
            },
            () = &mut sleep, if deadline.is_some() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_off_and_full() {
        let mut clean = Noise::new(0.0, 1);
        let mut data = vec![0xa5u8; 1000];
        assert_eq!(clean.apply(&mut data), 0);
        assert!(data.iter().all(|&b| b == 0xa5));
        let mut full = Noise::new(1.0, 1);
        assert_eq!(full.apply(&mut data), 8000);
        assert!(data.iter().all(|&b| b == 0x5a));
    }

    #[test]
    fn noise_rate_is_about_right_and_seeded() {
        let count = |seed| {
            let mut n = Noise::new(0.01, seed);
            let mut total = 0;
            let mut data = vec![0u8; 100];
            for _ in 0..1000 {
                data.fill(0);
                let flipped = n.apply(&mut data);
                let ones: u32 = data.iter().map(|b| b.count_ones()).sum();
                assert_eq!(u64::from(ones), flipped);
                total += flipped;
            }
            total
        };
        // 800 000 bits at 1%: 8000, standard deviation about 89.
        let a = count(7);
        assert!((7500..8500).contains(&a), "{a}");
        assert_eq!(a, count(7));
        assert_ne!(a, count(8));
    }
}
