//! `serial::SerialLine` on real pseudo-terminals: the test opens a pty pair,
//! hands the slave's path (`/dev/pts/N`) to `SerialLine::open` and plays
//! the modem on the master.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dialtone_api::profile::{Carrier, FlowControl, Line};
use dialtone_helper::serial::{
    carrier_lost, hang_up, CarrierMonitor, CarrierState, FakeModemLines, HangUpMethod,
    ModemControl, SerialError, SerialLine, Unsupported, NO_MODEM_LINES_NOTICE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A pty pair: the master (the "modem" side) and the slave, kept open so
/// its termios can be inspected.
struct Pty {
    master: File,
    slave: OwnedFd,
    path: PathBuf,
}

fn open_pty() -> Pty {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors; the other arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned here.
    let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    assert!(path.starts_with("/dev/pts/"), "{}", path.display());
    Pty {
        master,
        slave,
        path,
    }
}

fn profile_line(device: &Path, speed: u32, carrier: Carrier) -> Line {
    Line {
        device: device.to_str().unwrap().into(),
        speed,
        flow_control: FlowControl::Hardware,
        carrier,
    }
}

/// Waits up to `timeout` for `fd` to become readable.
fn readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
    r > 0 && pfd.revents & libc::POLLIN != 0
}

/// Reads from the master, on a thread, until `want` bytes came or
/// `timeout` passed; each byte comes with the time it arrived.
fn read_master(
    master: &File,
    want: usize,
    timeout: Duration,
) -> std::thread::JoinHandle<Vec<(Instant, u8)>> {
    let mut master = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !readable(master.as_raw_fd(), left) {
                break;
            }
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let now = Instant::now();
                    got.extend(buf[..n].iter().map(|&b| (now, b)));
                }
            }
        }
        got
    })
}

fn bytes(timed: &[(Instant, u8)]) -> Vec<u8> {
    timed.iter().map(|&(_, b)| b).collect()
}

fn slave_termios(pty: &Pty) -> libc::termios {
    // SAFETY: termios is plain old data; tcgetattr fills it in.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and pointer.
    assert_eq!(unsafe { libc::tcgetattr(pty.slave.as_raw_fd(), &mut t) }, 0);
    t
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_flows_both_ways_with_every_byte_value() {
    let pty = open_pty();
    // The device from the profile itself, no override.
    let mut line =
        SerialLine::open(&profile_line(&pty.path, 115_200, Carrier::Modem), None).unwrap();
    assert_eq!(line.path(), pty.path.as_path());

    // Line → master: all 256 values, twice.
    let payload: Vec<u8> = all_bytes().into_iter().chain(all_bytes()).collect();
    let reader = read_master(&pty.master, payload.len(), Duration::from_secs(5));
    line.write_all(&payload).await.unwrap();
    line.flush().await.unwrap();
    assert_eq!(bytes(&reader.join().unwrap()), payload);

    // Master → line: all 256 values, reversed.
    let payload: Vec<u8> = all_bytes().into_iter().rev().collect();
    (&pty.master).write_all(&payload).unwrap();
    let mut got = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(5), line.read_exact(&mut got))
        .await
        .expect("the bytes arrive")
        .unwrap();
    assert_eq!(got, payload);

    // Raw: no echo of what the "modem" sent.
    assert!(!readable(
        pty.master.as_raw_fd(),
        Duration::from_millis(200)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_and_raw_mode_are_set() {
    let pty = open_pty();
    let mut line = SerialLine::open(
        &profile_line(Path::new("/dev/modem"), 57_600, Carrier::Modem),
        Some(&pty.path),
    )
    .unwrap();
    assert_eq!(line.path(), pty.path.as_path());
    assert_eq!(line.line().device, "/dev/modem");

    let t = slave_termios(&pty);
    // SAFETY: valid pointer to an initialised termios.
    let (ospeed, ispeed) = unsafe { (libc::cfgetospeed(&t), libc::cfgetispeed(&t)) };
    assert_eq!(ospeed, libc::B57600);
    assert_eq!(ispeed, libc::B57600);
    assert_eq!(t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0);
    assert_eq!(t.c_oflag & libc::OPOST, 0);
    assert_eq!(t.c_iflag & (libc::ICRNL | libc::INLCR | libc::IGNCR), 0);
    assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8);
    assert_eq!(t.c_cflag & (libc::PARENB | libc::CSTOPB), 0);
    assert_ne!(t.c_cflag & libc::CRTSCTS, 0, "hardware flow control");

    // No output processing: "\n" is not turned into "\r\n".
    let reader = read_master(&pty.master, 4, Duration::from_secs(2));
    line.write_all(b"a\nb\n").await.unwrap();
    line.flush().await.unwrap();
    let got = reader.join().unwrap();
    assert_eq!(bytes(&got), b"a\nb\n");
    assert!(!readable(
        pty.master.as_raw_fd(),
        Duration::from_millis(100)
    ));

    // No input processing: "\r" stays "\r", and nothing echoes.
    (&pty.master).write_all(b"x\r\ny\n").unwrap();
    let mut got = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(2), line.read_exact(&mut got))
        .await
        .expect("the bytes arrive")
        .unwrap();
    assert_eq!(&got, b"x\r\ny\n");
    assert!(!readable(
        pty.master.as_raw_fd(),
        Duration::from_millis(200)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_speeds_and_software_flow_control() {
    for (speed, constant) in [(9600, libc::B9600), (115_200, libc::B115200)] {
        let pty = open_pty();
        let mut profile = profile_line(&pty.path, speed, Carrier::Local);
        profile.flow_control = FlowControl::Software;
        let _line = SerialLine::open(&profile, None).unwrap();
        let t = slave_termios(&pty);
        // SAFETY: valid pointer to an initialised termios.
        assert_eq!(unsafe { libc::cfgetospeed(&t) }, constant);
        assert_eq!(t.c_cflag & libc::CRTSCTS, 0);
        assert_ne!(t.c_iflag & libc::IXON, 0, "XON/XOFF");
        assert_eq!(t.c_lflag & (libc::ICANON | libc::ECHO), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modem_control_on_a_pty_is_unsupported_not_an_error() {
    let pty = open_pty();
    let mut line =
        SerialLine::open(&profile_line(&pty.path, 57_600, Carrier::Modem), None).unwrap();
    assert_eq!(line.has_modem_lines(), None);
    assert_eq!(line.carrier(), Err(Unsupported));
    assert_eq!(line.has_modem_lines(), Some(false));
    assert_eq!(line.carrier(), Err(Unsupported));
    assert_eq!(line.set_dtr(false), Err(Unsupported));
    assert_eq!(line.set_dtr(true), Err(Unsupported));
    assert_eq!(line.carrier_state(), CarrierState::Unsupported);

    // The separate handle finds the same.
    let mut lines = line.modem_lines().unwrap();
    assert_eq!(lines.has_modem_lines(), Some(false));
    assert_eq!(lines.carrier_state(), CarrierState::Unsupported);

    // A fresh handle that has to ask the kernel itself.
    let pty2 = open_pty();
    let line2 = SerialLine::open(&profile_line(&pty2.path, 57_600, Carrier::Modem), None).unwrap();
    let mut lines2 = line2.modem_lines().unwrap();
    assert_eq!(lines2.has_modem_lines(), None);
    assert_eq!(lines2.set_dtr(true), Err(Unsupported));
    assert_eq!(lines2.has_modem_lines(), Some(false));

    // The rule: a modem line without lines is taken as up, and said once.
    let mut monitor = CarrierMonitor::new(Carrier::Modem);
    let first = monitor.poll(&mut line);
    assert!(first.up);
    assert_eq!(first.state, Some(CarrierState::Unsupported));
    assert_eq!(first.notice, Some(NO_MODEM_LINES_NOTICE));
    let second = monitor.poll(&mut line);
    assert!(second.up);
    assert_eq!(second.notice, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_up_on_a_pty_sends_the_escape_after_guard_silences() {
    let pty = open_pty();
    let mut line =
        SerialLine::open(&profile_line(&pty.path, 57_600, Carrier::Modem), None).unwrap();
    let guard = Duration::from_millis(300);
    let reader = read_master(&pty.master, 7, Duration::from_secs(5));
    let start = Instant::now();
    let method = hang_up(&mut line, guard).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(method, HangUpMethod::Escape);
    assert!(elapsed >= guard * 2, "{elapsed:?}");

    let got = reader.join().unwrap();
    assert_eq!(bytes(&got), b"+++ATH\r");
    let plus = got[0].0;
    let ath = got[3].0;
    // A guard of silence before "+++" and between "+++" and "ATH".
    let slack = Duration::from_millis(50);
    assert!(plus.duration_since(start) + slack >= guard, "{plus:?}");
    assert_eq!(got[2].0, plus, "\"+++\" goes out in one piece");
    assert!(ath.duration_since(plus) + slack >= guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_is_busy() {
    let pty = open_pty();
    let profile = profile_line(&pty.path, 57_600, Carrier::Modem);
    let first = SerialLine::open(&profile, None).unwrap();
    let err = SerialLine::open(&profile, None).unwrap_err();
    assert!(matches!(err, SerialError::Busy { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{} is in use", pty.path.display())));
    // Free again once the first is closed.
    drop(first);
    SerialLine::open(&profile, None).unwrap();
}

#[tokio::test]
async fn fake_lines_drive_the_carrier_state() {
    let fake = FakeModemLines::new();
    let mut lines = fake.clone();
    assert_eq!(lines.carrier_state(), CarrierState::Down);
    fake.set_carrier(true);
    assert_eq!(lines.carrier_state(), CarrierState::Up);
    fake.set_carrier(false);
    assert_eq!(lines.carrier_state(), CarrierState::Down);
    assert_eq!(fake.carrier_polls(), 3);

    // Modem: the carrier is what DCD says.
    let mut modem = CarrierMonitor::new(Carrier::Modem);
    let reading = modem.poll(&mut lines);
    assert_eq!(reading.state, Some(CarrierState::Down));
    assert!(!reading.up);
    fake.set_carrier(true);
    assert!(modem.poll(&mut lines).up);

    // Local: always up, and the lines are not even asked.
    let polls = fake.carrier_polls();
    fake.set_carrier(false);
    let mut local = CarrierMonitor::new(Carrier::Local);
    let reading = local.poll(&mut lines);
    assert!(reading.up);
    assert_eq!(reading.state, None);
    assert_eq!(reading.notice, None);
    assert_eq!(fake.carrier_polls(), polls);

    // Without lines: Unsupported, taken as up, noticed once.
    let mut bare = FakeModemLines::without_lines();
    assert_eq!(bare.carrier_state(), CarrierState::Unsupported);
    assert_eq!(bare.set_dtr(false), Err(Unsupported));
    let mut modem = CarrierMonitor::new(Carrier::Modem);
    let notices: Vec<_> = (0..3)
        .filter_map(|_| modem.poll(&mut bare).notice)
        .collect();
    assert_eq!(notices, vec![NO_MODEM_LINES_NOTICE]);
    let mut local = CarrierMonitor::new(Carrier::Local);
    assert_eq!(local.poll(&mut bare).notice, None);
}

#[tokio::test]
async fn carrier_lost_returns_when_dcd_drops() {
    let fake = FakeModemLines::new();
    fake.set_carrier(true);
    let mut lines = fake.clone();
    let toggler = {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fake.set_carrier(false);
        })
    };
    let mut monitor = CarrierMonitor::new(Carrier::Modem);
    let start = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(5),
        carrier_lost(&mut lines, &mut monitor, Duration::from_millis(10), |n| {
            panic!("unexpected notice {n}")
        }),
    )
    .await
    .expect("carrier loss is noticed");
    assert!(start.elapsed() >= Duration::from_millis(100));
    toggler.await.unwrap();

    // A local line never loses carrier, nor does a port without lines; the
    // latter says so once and stops polling.
    let mut local = CarrierMonitor::new(Carrier::Local);
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        carrier_lost(&mut lines, &mut local, Duration::from_millis(10), |_| {}),
    )
    .await;
    assert!(waited.is_err());

    let mut bare = FakeModemLines::without_lines();
    let mut modem = CarrierMonitor::new(Carrier::Modem);
    let mut notices = Vec::new();
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        carrier_lost(&mut bare, &mut modem, Duration::from_millis(10), |n| {
            notices.push(n)
        }),
    )
    .await;
    assert!(waited.is_err());
    assert_eq!(notices, vec![NO_MODEM_LINES_NOTICE]);
    assert_eq!(bare.carrier_polls(), 1);
}

#[tokio::test]
async fn hang_up_with_fake_lines_drops_dtr() {
    let mut fake = FakeModemLines::new();
    let method = hang_up(&mut fake, Duration::from_millis(10)).await.unwrap();
    assert_eq!(method, HangUpMethod::Dtr);
    assert_eq!(fake.dtr_changes(), vec![false, true]);
    assert!(fake.written().is_empty());
}

fn open_err(path: &Path) -> SerialError {
    SerialLine::open(
        &profile_line(Path::new("/dev/ttyS1"), 57_600, Carrier::Modem),
        Some(path),
    )
    .unwrap_err()
}

#[tokio::test]
async fn a_missing_device() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ttyS1");
    let err = open_err(&path);
    assert!(matches!(err, SerialError::NoSuchDevice { .. }), "{err:?}");
    assert_eq!(err.path(), path.as_path());
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not exist: is the modem plugged in? (`ls -l /dev/serial/by-id` lists the serial ports by name)",
            path.display()
        )
    );

    // A dangling symlink, like /dev/modem pointing at a pulled-out adapter.
    let link = dir.path().join("modem");
    std::os::unix::fs::symlink(dir.path().join("ttyUSB0"), &link).unwrap();
    let err = open_err(&link);
    assert!(matches!(err, SerialError::NoSuchDevice { .. }), "{err:?}");
}

#[tokio::test]
async fn a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostname");
    std::fs::copy("/etc/hostname", &path).unwrap();
    let err = open_err(&path);
    assert!(matches!(err, SerialError::NotATty { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a serial port (it is a regular file)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, SerialError::NotATty { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a serial port (it is a directory)",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn dev_null() {
    let err = open_err(Path::new("/dev/null"));
    assert!(matches!(err, SerialError::NotATty { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "/dev/null is not a serial port (it is a device but not a terminal)"
    );
}

#[test]
fn open_outside_a_runtime_is_an_error_not_a_panic() {
    let pty = open_pty();
    let err = SerialLine::open(&profile_line(&pty.path, 57_600, Carrier::Modem), None).unwrap_err();
    assert!(matches!(err, SerialError::Setup { .. }), "{err:?}");
    assert!(err.to_string().contains("tokio runtime"));
}
