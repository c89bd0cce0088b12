//! The live throughput graph: a history of a link's byte counters turned
//! into rates ([`History`]), drawn with cairo in a `gtk::DrawingArea`
//! ([`Graph`]).
//!
//! The daemon sends a link's `Statistics` about once a second while
//! traffic moves, and not at all while it does not; the history therefore
//! keeps the time of each sample, and a silent stretch draws as zero.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use relm4::gtk;
use relm4::gtk::prelude::*;

/// How far back the graph reaches.
pub const WINDOW: Duration = Duration::from_secs(300);

/// One rate sample: when, and bytes per second received and sent over the
/// interval that ended then.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The end of the interval.
    pub at: Instant,
    /// Bytes per second received.
    pub rx: f64,
    /// Bytes per second sent.
    pub tx: f64,
}

/// A link's rates over the last [`WINDOW`].
#[derive(Clone, Debug, Default)]
pub struct History {
    last: Option<(Instant, u64, u64)>,
    samples: VecDeque<Sample>,
}

impl History {
    /// Takes in the counters as read at `now`. Counters that went
    /// backwards (a new link) restart the history's reference point.
    pub fn push(&mut self, now: Instant, rx_total: u64, tx_total: u64) {
        if let Some((then, rx0, tx0)) = self.last {
            let dt = now.saturating_duration_since(then).as_secs_f64();
            if rx_total >= rx0 && tx_total >= tx0 && dt > 0.0 {
                self.samples.push_back(Sample {
                    at: now,
                    rx: (rx_total - rx0) as f64 / dt,
                    tx: (tx_total - tx0) as f64 / dt,
                });
            }
        }
        self.last = Some((now, rx_total, tx_total));
        while self
            .samples
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// The samples, oldest first.
    #[cfg(test)]
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// The current rates: the last sample's, or zero when the counters
    /// have not moved for over two seconds (the daemon only reports
    /// moving counters).
    pub fn current(&self, now: Instant) -> (f64, f64) {
        match self.samples.back() {
            Some(s) if now.saturating_duration_since(s.at) <= Duration::from_secs(2) => {
                (s.rx, s.tx)
            }
            _ => (0.0, 0.0),
        }
    }

    /// Points to draw: (seconds ago, rx, tx), from [`WINDOW`] ago to now,
    /// with zero where no sample came for over two seconds.
    pub fn points(&self, now: Instant) -> Vec<(f64, f64, f64)> {
        let mut points = Vec::new();
        let gap = 2.0;
        let mut prev_age: Option<f64> = None;
        for s in &self.samples {
            let age = now.saturating_duration_since(s.at).as_secs_f64();
            let interval_start = match prev_age {
                Some(p) if p - age <= gap => None,
                // A silent stretch before this sample: drop to zero.
                _ => Some((age + 1.0).min(WINDOW.as_secs_f64())),
            };
            if let Some(start) = interval_start {
                if let Some(p) = prev_age {
                    points.push(((p - 1.0).max(start), 0.0, 0.0));
                }
                points.push((start, 0.0, 0.0));
            }
            points.push((age, s.rx, s.tx));
            prev_age = Some(age);
        }
        if let Some(p) = prev_age {
            if p > gap {
                points.push(((p - 1.0).max(0.0), 0.0, 0.0));
                points.push((0.0, 0.0, 0.0));
            }
        }
        points
    }

    /// The largest rate in the window, at least 1 kB/s (the scale).
    pub fn peak(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.rx.max(s.tx))
            .fold(1000.0, f64::max)
    }
}

/// A scale top for `peak`: 1, 2 or 5 times a power of ten.
pub fn nice_ceiling(peak: f64) -> f64 {
    let peak = peak.max(1.0);
    let exp = peak.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 5.0, 10.0] {
        if peak <= m * base {
            return m * base;
        }
    }
    10.0 * base
}

/// The received and sent colours (GNOME's palette: blue 3 and green 4).
const RX_COLOUR: (f64, f64, f64) = (0.208, 0.518, 0.894);
const TX_COLOUR: (f64, f64, f64) = (0.180, 0.761, 0.494);

/// The graph widget. Clone it freely: clones share the drawing area.
#[derive(Clone)]
pub struct Graph {
    area: gtk::DrawingArea,
    data: Rc<RefCell<(History, Instant)>>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Graph")
    }
}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        let area: gtk::DrawingArea = gtk::glib::Object::builder()
            .property("accessible-role", gtk::AccessibleRole::Img)
            .build();
        area.set_content_height(140);
        area.set_hexpand(true);
        area.add_css_class("throughput-graph");
        let data = Rc::new(RefCell::new((History::default(), Instant::now())));
        let d = data.clone();
        area.set_draw_func(move |area, cr, w, h| {
            let (history, now) = &*d.borrow();
            draw(area, cr, w as f64, h as f64, history, *now);
        });
        Graph { area, data }
    }

    /// The widget.
    pub fn widget(&self) -> &gtk::DrawingArea {
        &self.area
    }

    /// Shows `history` as of `now`.
    pub fn show(&self, history: &History, now: Instant) {
        *self.data.borrow_mut() = (history.clone(), now);
        self.area.queue_draw();
    }
}

#[allow(deprecated)] // StyleContext::color is the GTK 4.8 way to read the theme's colour.
fn foreground(area: &gtk::DrawingArea) -> (f64, f64, f64) {
    let c = area.style_context().color();
    (c.red() as f64, c.green() as f64, c.blue() as f64)
}

fn draw(
    area: &gtk::DrawingArea,
    cr: &gtk::cairo::Context,
    w: f64,
    h: f64,
    history: &History,
    now: Instant,
) {
    let fg = foreground(area);
    let top = nice_ceiling(history.peak());
    let window = WINDOW.as_secs_f64();
    let (left, right, upper, lower) = (4.0, w - 4.0, 14.0, h - 4.0);
    let plot_w = (right - left).max(1.0);
    let plot_h = (lower - upper).max(1.0);
    let x = |age: f64| right - age / window * plot_w;
    let y = |v: f64| lower - (v / top).min(1.0) * plot_h;

    // Grid: quarter lines and the scale's top.
    cr.set_line_width(1.0);
    cr.set_source_rgba(fg.0, fg.1, fg.2, 0.12);
    for i in 0..=4 {
        let gy = (upper + plot_h * i as f64 / 4.0).round() + 0.5;
        cr.move_to(left, gy);
        cr.line_to(right, gy);
    }
    for minute in 1..5 {
        let gx = x(minute as f64 * 60.0).round() + 0.5;
        cr.move_to(gx, upper);
        cr.line_to(gx, lower);
    }
    let _ = cr.stroke();
    cr.set_source_rgba(fg.0, fg.1, fg.2, 0.55);
    cr.set_font_size(10.0);
    cr.move_to(left, upper - 3.0);
    let _ = cr.show_text(&crate::text::rate(top));

    let points = history.points(now);
    for (colour, pick) in [
        (RX_COLOUR, 0usize), // received
        (TX_COLOUR, 1usize), // sent
    ] {
        if points.is_empty() {
            break;
        }
        let value = |p: &(f64, f64, f64)| if pick == 0 { p.1 } else { p.2 };
        cr.move_to(x(points[0].0), lower);
        for p in &points {
            cr.line_to(x(p.0), y(value(p)));
        }
        if let Some(last) = points.last() {
            cr.line_to(x(last.0), lower);
        }
        cr.close_path();
        cr.set_source_rgba(colour.0, colour.1, colour.2, 0.22);
        let _ = cr.fill();
        cr.move_to(x(points[0].0), y(value(&points[0])));
        for p in &points[1..] {
            cr.line_to(x(p.0), y(value(p)));
        }
        cr.set_source_rgb(colour.0, colour.1, colour.2);
        cr.set_line_width(1.5);
        let _ = cr.stroke();
    }
}

/// The received colour as CSS, for the legend.
pub fn rx_css() -> String {
    css(RX_COLOUR)
}

/// The sent colour as CSS, for the legend.
pub fn tx_css() -> String {
    css(TX_COLOUR)
}

fn css(c: (f64, f64, f64)) -> String {
    let byte = |v: f64| (v * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(c.0), byte(c.1), byte(c.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_counters() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.push(t0, 1000, 500);
        assert_eq!(h.samples().count(), 0, "one reading is no rate yet");
        h.push(t0 + Duration::from_secs(2), 5000, 1500);
        let s: Vec<&Sample> = h.samples().collect();
        assert_eq!((s[0].rx, s[0].tx), (2000.0, 500.0));
        assert_eq!(h.current(t0 + Duration::from_secs(3)), (2000.0, 500.0));
        assert_eq!(
            h.current(t0 + Duration::from_secs(10)),
            (0.0, 0.0),
            "silence is zero"
        );
    }

    #[test]
    fn counters_going_back_restart() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.push(t0, 9000, 9000);
        h.push(t0 + Duration::from_secs(1), 100, 100);
        assert_eq!(h.samples().count(), 0, "no negative rate");
        h.push(t0 + Duration::from_secs(2), 1100, 100);
        assert_eq!(h.samples().next().map(|s| s.rx), Some(1000.0));
    }

    #[test]
    fn old_samples_leave_the_window() {
        let t0 = Instant::now();
        let mut h = History::default();
        for i in 0..400u64 {
            h.push(t0 + Duration::from_secs(i), i * 1000, 0);
        }
        let oldest = h.samples().next().expect("samples").at;
        assert!(t0 + Duration::from_secs(399) - oldest <= WINDOW);
        assert!(h.samples().count() <= 301);
    }

    #[test]
    fn silence_draws_as_zero() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.push(t0, 0, 0);
        h.push(t0 + Duration::from_secs(1), 1000, 0);
        h.push(t0 + Duration::from_secs(2), 2000, 0);
        // Nothing for 20 s, then traffic again.
        h.push(t0 + Duration::from_secs(22), 3000, 0);
        h.push(t0 + Duration::from_secs(23), 4000, 0);
        let now = t0 + Duration::from_secs(30);
        let points = h.points(now);
        // Somewhere between the bursts the received rate is zero.
        assert!(points.iter().any(|p| p.0 > 8.0 && p.0 < 27.0 && p.1 == 0.0));
        // And it ends at zero now, since the last sample is 7 s old.
        assert_eq!(points.last().map(|p| (p.0, p.1)), Some((0.0, 0.0)));
        // Ages never increase along the points.
        assert!(points.windows(2).all(|w| w[0].0 >= w[1].0), "{points:?}");
    }

    #[test]
    fn legend_colours_are_pango_colours() {
        assert_eq!(rx_css(), "#3584e4");
        assert_eq!(tx_css(), "#2ec27e");
    }

    #[test]
    fn scale_tops() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(1001.0), 2000.0);
        assert_eq!(nice_ceiling(3500.0), 5000.0);
        assert_eq!(nice_ceiling(7200.0), 10_000.0);
    }
}
