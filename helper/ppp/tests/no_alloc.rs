//! The data path allocates nothing per frame: once a link is up and its
//! buffers have grown to their working size, sending and receiving IP
//! packets (framing, escaping, FCS, queueing, delivery) makes no heap
//! allocation. Checked with a counting global allocator, so this test is in
//! its own binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

use dialtone_ppp::{Config, Event, Instant, Link, Role};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn shuttle(from: &mut Link, to: &mut Link, buf: &mut [u8], now: Instant) {
    while let Some(n) = from.poll_transmit(buf) {
        to.handle_input(&buf[..n], now);
    }
}

#[test]
fn data_path_does_not_allocate() {
    let mut server_cfg = Config::default();
    server_cfg.auth.methods.clear();
    server_cfg.ipcp.local = Some(Ipv4Addr::new(10, 0, 0, 1));
    server_cfg.ipcp.remote = Some(Ipv4Addr::new(10, 0, 0, 2));
    let mut a = Link::new(
        Config::default(),
        Role::Dialer { credentials: None },
        [1; 32],
    );
    let mut b = Link::new(
        server_cfg,
        Role::Answerer {
            secrets: Box::new(|_: &str| None),
        },
        [2; 32],
    );
    let now = Instant::from_millis(1);
    a.open(now);
    b.open(now);
    let mut buf = vec![0u8; 8192];
    for _ in 0..20 {
        shuttle(&mut a, &mut b, &mut buf, now);
        shuttle(&mut b, &mut a, &mut buf, now);
    }
    let mut up = 0;
    for link in [&mut a, &mut b] {
        while let Some(e) = link.poll_event() {
            if matches!(e, Event::Up(ref i) if i.ipv4.is_some()) {
                up += 1;
            }
        }
    }
    assert!(up >= 2, "link did not come up");

    // Packets with every byte value, so escaping is exercised.
    let mut packet = vec![0x45u8, 0, 0x05, 0xdc];
    packet.extend((0..1496u32).map(|i| (i * 7) as u8));
    let round = |a: &mut Link, b: &mut Link, buf: &mut [u8]| -> usize {
        a.send_ip(&packet, now).unwrap();
        b.send_ip(&packet, now).unwrap();
        shuttle(a, b, buf, now);
        shuttle(b, a, buf, now);
        let mut got = 0;
        while let Some(p) = a.poll_packet() {
            assert_eq!(p.len(), packet.len());
            got += 1;
        }
        while let Some(p) = b.poll_packet() {
            assert_eq!(p.len(), packet.len());
            got += 1;
        }
        got
    };
    // Warm up: buffers grow to their working size.
    for _ in 0..10 {
        round(&mut a, &mut b, &mut buf);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut delivered = 0;
    for _ in 0..2000 {
        delivered += round(&mut a, &mut b, &mut buf);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(delivered, 4000);
    assert_eq!(after - before, 0, "allocations on the data path");
}
