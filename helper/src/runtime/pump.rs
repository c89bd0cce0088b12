//! The event-driven I/O loop under a session: one task, no busy polling.
//!
//! [`LineIo`] owns the line (a serial port, a pty, an in-memory duplex) and
//! the bytes waiting to be written to it; [`LineIo::wait`] sleeps until one
//! thing needs attention — bytes from the line, a packet from the TUN, a
//! timer, a command, the carrier poll — while making write progress in the
//! background, so that a full line never stops us from reading (two ends
//! that both block on writing would deadlock).
//!
//! [`PppLoop`] runs the PPP engine on it: line bytes in, frames out, IP
//! packets between the engine and the TUN device, protocol timers, and the
//! engine's events turned into [`SessionEvent`]s. The few events that need
//! the owner (the link came up, went down, a limit was reached) are returned
//! from [`PppLoop::step`].

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::SystemTime;

use dialtone_ppp::{DownReason, Event, Link, LinkInfo, Phase, SendError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Clock, Command, Progress, SessionEvent, Statistics, Transcript, TranscriptSource};
use crate::demand::AddressRewriter;
use crate::net::{TunBatch, TunDevice, TunPackets};
use crate::policy::{Ending, Limits};

/// Read size from the line.
const READ_SIZE: usize = 16 * 1024;
/// Bytes queued for the line before we stop taking more from the engine.
const OUT_HIGH: usize = 32 * 1024;
/// Bytes waiting (ours and the engine's) above which the TUN is not read:
/// the kernel queues, then drops, and TCP slows down.
const TUN_BACKLOG: usize = 16 * 1024;
/// Bytes taken from the line in one go (more reads when the first did not
/// empty it): the packets they carry go to the TUN together, which lets
/// the kernel take a flow's segments as one (see [`TunDevice`]). Well
/// below the engine's limit of received packets waiting.
const LINE_BATCH: usize = 64 * 1024;
/// Reads taken from the TUN in one go.
const TUN_BATCH: usize = 32;
/// How long after the last IP packet the TUN buffers are given back.
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Why [`LineIo::wait`] returned.
#[derive(Debug)]
pub(crate) enum Wake {
    /// This many bytes from the line are in [`LineIo::input`].
    Line(usize),
    /// The line reported end of file or an error.
    LineClosed(String),
    /// This many packets from one TUN read are in the caller's
    /// [`TunPackets`] (a super-packet gives many, a bad read none).
    Tun(usize),
    /// Reading the TUN failed.
    TunError(io::Error),
    /// The deadline passed.
    Timer,
    /// A command arrived.
    Command(Command),
    /// Every command sender is gone.
    CommandsClosed,
    /// The carrier poll is due.
    CarrierTick,
    /// Everything queued was written and the caller said it has more.
    Drained,
}

/// What to wait for besides the line.
pub(crate) struct WaitFor<'a> {
    pub tun: Option<(&'a TunDevice, &'a mut TunPackets)>,
    pub deadline: Option<tokio::time::Instant>,
    pub commands: Option<&'a mut UnboundedReceiver<Command>>,
    pub carrier: Option<&'a mut tokio::time::Interval>,
    /// The caller has more to write once the queue drains.
    pub refill: bool,
}

impl<'a> WaitFor<'a> {
    pub(crate) fn new(commands: Option<&'a mut UnboundedReceiver<Command>>) -> Self {
        WaitFor {
            tun: None,
            deadline: None,
            commands,
            carrier: None,
            refill: false,
        }
    }
}

/// A line and its output queue.
pub(crate) struct LineIo<L> {
    /// The line.
    pub line: L,
    input: Box<[u8]>,
    out: Vec<u8>,
    out_pos: usize,
    /// Alternates which source is polled first, so a busy line cannot
    /// starve the TUN or the other way round.
    flip: bool,
    closed: bool,
}

impl<L: AsyncRead + AsyncWrite + Unpin> LineIo<L> {
    pub(crate) fn new(line: L) -> Self {
        LineIo {
            line,
            input: vec![0; READ_SIZE].into_boxed_slice(),
            out: Vec::with_capacity(OUT_HIGH * 2),
            out_pos: 0,
            flip: false,
            closed: false,
        }
    }

    /// The bytes of the last [`Wake::Line`].
    pub(crate) fn input(&self, n: usize) -> &[u8] {
        &self.input[..n]
    }

    /// Queues bytes for the line.
    pub(crate) fn queue(&mut self, bytes: &[u8]) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        self.out.extend_from_slice(bytes);
    }

    /// Bytes queued and not yet written.
    pub(crate) fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Reads what the line has ready into [`LineIo::input`] without
    /// waiting: the number of bytes, or `None` when nothing is ready (end
    /// of file and errors are left for [`LineIo::wait`] to report: a line
    /// repeats them).
    pub(crate) fn try_read(&mut self) -> Option<usize> {
        if self.closed {
            return None;
        }
        // A no-op waker: the next `wait` polls the line again with the
        // task's own.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut rb = ReadBuf::new(&mut self.input);
        match Pin::new(&mut self.line).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if !rb.filled().is_empty() => Some(rb.filled().len()),
            _ => None,
        }
    }

    /// Whether the line has reported end of file or an error.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes everything queued, waiting as long as it takes.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_write_out(cx)).await?;
        poll_fn(|cx| Pin::new(&mut self.line).poll_flush(cx)).await
    }

    fn poll_write_out(&mut self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            match Pin::new(&mut self.line).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the line takes no more bytes",
                    )))
                }
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Sleeps until something needs attention (see [`Wake`]), writing
    /// queued bytes meanwhile.
    pub(crate) async fn wait(&mut self, mut w: WaitFor<'_>) -> Wake {
        let sleep = w.deadline.map(tokio::time::sleep_until);
        tokio::pin!(sleep);
        self.flip = !self.flip;
        let tun_first = self.flip;
        poll_fn(|cx| {
            let had_output = self.pending() > 0;
            match self.poll_write_out(cx) {
                Poll::Ready(Err(e)) if !self.closed => {
                    self.closed = true;
                    return Poll::Ready(Wake::LineClosed(describe_io(&e)));
                }
                Poll::Ready(Ok(())) if had_output && w.refill => {
                    return Poll::Ready(Wake::Drained);
                }
                _ => {}
            }
            if let Some(commands) = w.commands.as_deref_mut() {
                match commands.poll_recv(cx) {
                    Poll::Ready(Some(c)) => return Poll::Ready(Wake::Command(c)),
                    Poll::Ready(None) => {
                        w.commands = None;
                        return Poll::Ready(Wake::CommandsClosed);
                    }
                    Poll::Pending => {}
                }
            }
            for turn in 0..2 {
                if (turn == 0) == tun_first {
                    if let Some((tun, rx)) = w.tun.as_mut() {
                        match tun.poll_recv_packets(cx, rx) {
                            Poll::Ready(Ok(n)) => return Poll::Ready(Wake::Tun(n)),
                            Poll::Ready(Err(e)) => return Poll::Ready(Wake::TunError(e)),
                            Poll::Pending => {}
                        }
                    }
                } else if !self.closed {
                    let mut rb = ReadBuf::new(&mut self.input);
                    match Pin::new(&mut self.line).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            if n == 0 {
                                self.closed = true;
                                return Poll::Ready(Wake::LineClosed(
                                    "end of file on the line (the other end closed it)".into(),
                                ));
                            }
                            return Poll::Ready(Wake::Line(n));
                        }
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                            cx.waker().wake_by_ref();
                        }
                        Poll::Ready(Err(e)) => {
                            self.closed = true;
                            return Poll::Ready(Wake::LineClosed(describe_io(&e)));
                        }
                        Poll::Pending => {}
                    }
                }
            }
            if let Some(s) = sleep.as_mut().as_pin_mut() {
                if s.poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            if let Some(interval) = w.carrier.as_deref_mut() {
                if interval.poll_tick(cx).is_ready() {
                    return Poll::Ready(Wake::CarrierTick);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// An I/O error as part of a sentence.
pub(crate) fn describe_io(e: &io::Error) -> String {
    if e.raw_os_error() == Some(libc::EIO) {
        return "input/output error (the device was unplugged or the other end closed)".into();
    }
    crate::lock::describe_io(e)
}

/// What [`PppLoop::step`] hands back to the owner.
#[derive(Debug)]
pub(crate) enum LoopEvent {
    /// Network protocols are up (or changed): configure the interface.
    Up(LinkInfo),
    /// The link is down, for this reason; the engine is finished.
    Down(DownReason),
    /// A command arrived.
    Command(Command),
    /// The idle or connect-time limit was reached.
    Limit(Ending),
    /// The carrier poll is due.
    CarrierTick,
    /// Reading the TUN failed (the interface was deleted under us).
    TunFailed(String),
    /// A network protocol failed while the link goes on with others.
    NcpFailed(DownReason),
    /// The line reported end of file or an error (the engine was told:
    /// `Down` follows).
    LineClosed(String),
}

/// Things the owner lends to each step.
pub(crate) struct StepCtx<'a> {
    pub tun: Option<&'a TunDevice>,
    pub commands: Option<&'a mut UnboundedReceiver<Command>>,
    pub carrier: Option<&'a mut tokio::time::Interval>,
    pub limits: Option<&'a mut Limits>,
    pub rewriter: Option<&'a mut AddressRewriter>,
}

/// The PPP engine on a line.
pub(crate) struct PppLoop {
    pub link: Link,
    clock: Clock,
    events: tokio::sync::mpsc::UnboundedSender<SessionEvent>,
    stats: Arc<Mutex<Statistics>>,
    frame: Box<[u8]>,
    /// The packets of the last TUN read.
    tun_rx: TunPackets,
    /// Packets from the link for the TUN, sent together after each step.
    tun_tx: TunBatch,
    pending: VecDeque<LoopEvent>,
    finished: bool,
    /// IP packets came from the link since the last step (idle timer).
    delivered_traffic: bool,
    /// When to give the TUN batch buffers back, once IP traffic stops.
    trim_at: Option<tokio::time::Instant>,
}

impl PppLoop {
    pub(crate) fn new(
        link: Link,
        clock: Clock,
        events: tokio::sync::mpsc::UnboundedSender<SessionEvent>,
        stats: Arc<Mutex<Statistics>>,
    ) -> PppLoop {
        PppLoop {
            link,
            clock,
            events,
            stats,
            frame: vec![0; OUT_HIGH].into_boxed_slice(),
            tun_rx: TunPackets::new(),
            tun_tx: TunBatch::new(),
            pending: VecDeque::new(),
            finished: false,
            delivered_traffic: false,
            trim_at: None,
        }
    }

    /// Gives the TUN buffers back after a burst: a bulk transfer grows
    /// them (GRO batches coalesce into 64 KiB buffers), and an idle link
    /// should not keep megabytes it does not use.
    fn trim(&mut self) {
        self.tun_tx = TunBatch::new();
        self.tun_rx = TunPackets::new();
        self.trim_at = None;
        // SAFETY: malloc_trim only returns free heap memory to the system.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Opens the engine and feeds it what the chat left over.
    pub(crate) fn open(&mut self, remainder: &[u8]) {
        let now = self.clock.now();
        self.link.open(now);
        if !remainder.is_empty() {
            self.link.handle_input(remainder, now);
        }
        self.process(None, None);
    }

    /// Sends an IP packet (demand dialing's queued ones).
    pub(crate) fn send_ip(&mut self, pkt: &[u8]) -> Result<(), SendError> {
        let now = self.clock.now();
        self.link.send_ip(pkt, now)
    }

    /// Runs until something needs the owner.
    pub(crate) async fn step<L: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut LineIo<L>,
        ctx: &mut StepCtx<'_>,
    ) -> LoopEvent {
        loop {
            self.fill(io);
            if let Some(ev) = self.pending.pop_front() {
                return ev;
            }
            let mut deadline = self.link.poll_timeout().map(|t| self.clock.at(t));
            if let Some(limit) = ctx.limits.as_deref().and_then(Limits::deadline) {
                let limit = self.clock.at(limit);
                deadline = Some(deadline.map_or(limit, |d| d.min(limit)));
            }
            if let Some(trim) = self.trim_at {
                deadline = Some(deadline.map_or(trim, |d| d.min(trim)));
            }
            let read_tun =
                io.pending() + self.link.pending_transmit() < TUN_BACKLOG && !self.finished;
            let wait = WaitFor {
                tun: match ctx.tun {
                    Some(tun) if read_tun => Some((tun, &mut self.tun_rx)),
                    _ => None,
                },
                deadline,
                commands: ctx.commands.as_deref_mut(),
                carrier: ctx.carrier.as_deref_mut(),
                refill: self.link.pending_transmit() > 0,
            };
            let wake = io.wait(wait).await;
            let now = self.clock.now();
            match wake {
                Wake::Line(mut n) => {
                    let mut taken = 0;
                    loop {
                        self.link.handle_input(io.input(n), now);
                        taken += n;
                        if taken >= LINE_BATCH {
                            break;
                        }
                        match io.try_read() {
                            Some(more) => n = more,
                            None => break,
                        }
                    }
                }
                Wake::LineClosed(why) => {
                    if !self.finished {
                        self.pending.push_back(LoopEvent::LineClosed(why));
                        self.link.lower_down(now);
                    }
                }
                Wake::Tun(mut n) => {
                    self.trim_at = Some(tokio::time::Instant::now() + TRIM_AFTER);
                    if let Some(limits) = ctx.limits.as_deref_mut() {
                        limits.traffic(now);
                    }
                    // Take what else the kernel has queued, so that one
                    // write to the line carries many frames (fewer wake-ups
                    // and system calls per byte), as long as the line keeps
                    // up.
                    for _ in 0..TUN_BATCH {
                        for i in 0..n {
                            let pkt = self.tun_rx.packet_mut(i);
                            if let Some(rw) = ctx.rewriter.as_deref_mut() {
                                rw.outbound(pkt, now);
                            }
                            // Refusals are counted by the engine (Busy) or
                            // are packets the link cannot carry (an IPv6
                            // packet with IPV6CP closed): dropped, as a
                            // router does.
                            let _ = self.link.send_ip(pkt, now);
                            if n > 1 {
                                // A super-packet carries up to 64 KiB: move
                                // frames to the line's queue as they come,
                                // so that the engine's stays short and takes
                                // every segment.
                                self.fill(io);
                            }
                        }
                        if io.pending() + self.link.pending_transmit() >= TUN_BACKLOG {
                            break;
                        }
                        match ctx.tun.map(|t| t.try_recv_packets(&mut self.tun_rx)) {
                            Some(Ok(more)) => n = more,
                            _ => break,
                        }
                    }
                }
                Wake::TunError(e) => {
                    self.pending
                        .push_back(LoopEvent::TunFailed(describe_io(&e)));
                }
                Wake::Timer => {
                    if self
                        .trim_at
                        .is_some_and(|t| t <= tokio::time::Instant::now())
                    {
                        self.trim();
                    }
                    self.link.handle_timeout(now);
                    if let Some(ending) = ctx.limits.as_deref().and_then(|l| l.check(now)) {
                        self.pending.push_back(LoopEvent::Limit(ending));
                    }
                }
                Wake::Command(c) => self.pending.push_back(LoopEvent::Command(c)),
                Wake::CommandsClosed => ctx.commands = None,
                Wake::CarrierTick => self.pending.push_back(LoopEvent::CarrierTick),
                Wake::Drained => {}
            }
            self.process(ctx.tun, ctx.rewriter.as_deref_mut());
            if let Some(limits) = ctx.limits.as_deref_mut() {
                if self.delivered_traffic {
                    limits.traffic(now);
                }
            }
            if self.delivered_traffic {
                self.trim_at = Some(tokio::time::Instant::now() + TRIM_AFTER);
            }
            self.delivered_traffic = false;
        }
    }

    /// Moves the engine's frames to the line's queue.
    fn fill<L: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut LineIo<L>) {
        while io.pending() < OUT_HIGH {
            match self.link.poll_transmit(&mut self.frame) {
                Some(n) => io.queue(&self.frame[..n]),
                None => break,
            }
        }
    }

    /// Handles the engine's packets and events.
    fn process(&mut self, tun: Option<&TunDevice>, mut rewriter: Option<&mut AddressRewriter>) {
        let now = self.clock.now();
        while let Some(pkt) = self.link.poll_packet() {
            self.delivered_traffic = true;
            if let Some(tun) = tun {
                if pkt.is_empty() {
                    continue;
                }
                let buf = self.tun_tx.push(pkt);
                if let Some(rw) = rewriter.as_deref_mut() {
                    rw.inbound(buf, now);
                }
                if self.tun_tx.is_full() {
                    tun.send_packets(&mut self.tun_tx);
                }
            }
        }
        // Together, so that the segments of a TCP flow go to the kernel as
        // one super-packet (with offloads). A full TUN queue drops packets,
        // as a full router queue would.
        if let Some(tun) = tun {
            tun.send_packets(&mut self.tun_tx);
        }
        while let Some(ev) = self.link.poll_event() {
            match ev {
                Event::Phase(Phase::Dead) => {}
                Event::Phase(phase) => {
                    let _ = self
                        .events
                        .send(SessionEvent::Progress(Progress::Phase(phase)));
                }
                Event::Trace(entry) => {
                    let _ = self.events.send(SessionEvent::Transcript(Transcript {
                        source: TranscriptSource::Ppp,
                        direction: entry.direction,
                        text: entry.text,
                        at: SystemTime::now(),
                    }));
                }
                Event::Up(info) => self.pending.push_back(LoopEvent::Up(info)),
                Event::NetworkProtocolFailed(reason) => {
                    self.pending.push_back(LoopEvent::NcpFailed(reason));
                }
                Event::Down(reason) => {
                    self.finished = true;
                    self.pending.push_back(LoopEvent::Down(reason));
                }
            }
        }
        if let Ok(mut stats) = self.stats.lock() {
            stats.link = *self.link.stats();
        }
    }
}
