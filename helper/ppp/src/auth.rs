//! Authentication, as the authenticated peer (dialer) and as the
//! authenticator (answerer): PAP (RFC 1334 §2), CHAP with MD5 (RFC 1994,
//! including re-challenges while the link is up) and MS-CHAPv2 (RFC 2759,
//! including the check of the server's authenticator response).

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::{AuthMethod, Credentials, SecretLookup};
use crate::crypto::{self, mschapv2};
use crate::reason::DownReason;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{self, protocol, Packet};

/// PAP codes (RFC 1334 §2.2).
#[allow(missing_docs)]
pub mod pap {
    pub const AUTHENTICATE_REQUEST: u8 = 1;
    pub const AUTHENTICATE_ACK: u8 = 2;
    pub const AUTHENTICATE_NAK: u8 = 3;
}

/// CHAP codes (RFC 1994 §4).
#[allow(missing_docs)]
pub mod chap {
    pub const CHALLENGE: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;
}

/// The length of an MS-CHAPv2 Response value (RFC 2759 §4).
const MSCHAPV2_RESPONSE_LEN: usize = 49;

/// Splits `Value-Size | Value | Name` (CHAP Challenge and Response).
pub fn split_value_name(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&size, rest) = data.split_first()?;
    let size = usize::from(size);
    (rest.len() >= size).then(|| rest.split_at(size))
}

/// Splits PAP's `Peer-ID-Length | Peer-ID | Passwd-Length | Password`.
pub fn split_pap_request(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&ulen, rest) = data.split_first()?;
    let user = rest.get(..usize::from(ulen))?;
    let rest = &rest[usize::from(ulen)..];
    let (&plen, rest) = rest.split_first()?;
    let password = rest.get(..usize::from(plen))?;
    Some((user, password))
}

/// PAP's `Msg-Length | Message` (Authenticate-Ack/Nak).
pub fn pap_message(data: &[u8]) -> &[u8] {
    match data.split_first() {
        Some((&len, rest)) => &rest[..usize::from(len).min(rest.len())],
        None => &[],
    }
}

fn len_prefixed(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = &bytes[..bytes.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Constant-time equality, so that a peer cannot time our comparisons.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Text for an MS-CHAP error code (RFC 2759 §6).
fn mschap_error_text(code: u32) -> &'static str {
    match code {
        646 => "logon outside the permitted hours",
        647 => "account disabled",
        648 => "password expired",
        649 => "no dial-in permission",
        691 => "authentication failure",
        709 => "error changing the password",
        _ => "unknown error",
    }
}

/// The message of an MS-CHAPv2 Failure packet, "E=691 R=0 C=.. V=3 M=..",
/// turned into words (RFC 2759 §6).
pub fn mschapv2_failure_text(message: &str) -> String {
    let code = message
        .split_whitespace()
        .find_map(|w| w.strip_prefix("E="))
        .and_then(|e| e.parse::<u32>().ok());
    let text = message.find("M=").map(|i| message[i + 2..].trim());
    match (code, text) {
        (Some(c), Some(t)) if !t.is_empty() => format!("{t} (error {c}: {})", mschap_error_text(c)),
        (Some(c), _) => format!("error {c}: {}", mschap_error_text(c)),
        (None, _) => message.to_string(),
    }
}

/// What an authentication step came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing decided yet.
    Pending,
    /// Authentication succeeded; for the authenticator, the peer's name.
    Success {
        /// The name the peer authenticated as (authenticator only).
        peer_name: Option<String>,
    },
    /// Authentication failed: the link must go down.
    Failure(DownReason),
}

#[derive(Debug)]
enum Side {
    PapPeer {
        credentials: Credentials,
    },
    PapAuthenticator,
    ChapPeer {
        credentials: Credentials,
        /// The id and value of our last Response, resent for a duplicate
        /// Challenge, and the MS-CHAPv2 inputs to check the Success with.
        last: Option<(u8, Vec<u8>)>,
        mschap: Option<MsChapExchange>,
        /// Challenges answered before the last one in this session (a
        /// delayed or reordered Challenge makes us answer twice): a
        /// Success or Failure may name any of them.
        earlier: VecDeque<(u8, Option<MsChapExchange>)>,
    },
    ChapAuthenticator {
        challenge: Vec<u8>,
        /// The reply to the Response with this id, resent for duplicates.
        answered: Option<(u8, Vec<u8>, bool)>,
    },
}

/// Earlier answers of a session a Success or Failure may still name.
const EARLIER_ANSWERS: usize = 4;

/// Takes the MS-CHAPv2 exchange of the answer with identifier `id`.
fn earlier_exchange(current: &mut Option<MsChapExchange>, id: u8) -> Option<MsChapExchange> {
    current.take().filter(|x| x.id == id)
}

#[derive(Debug)]
struct MsChapExchange {
    id: u8,
    auth_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    nt_response: [u8; 24],
}

/// One authentication exchange in one direction.
#[derive(Debug)]
pub struct Auth {
    method: AuthMethod,
    side: Side,
    our_name: String,
    rng: Rng,
    restart: Duration,
    max_transmits: u32,
    transmits: u32,
    id: u8,
    deadline: Option<Instant>,
    rechallenge: Option<Duration>,
    done: bool,
    out: VecDeque<(u16, Vec<u8>)>,
}

impl Auth {
    /// The authenticated peer's half (the dialer).
    pub(crate) fn peer(
        method: AuthMethod,
        credentials: Credentials,
        restart: Duration,
        max_transmits: u32,
        rng: Rng,
    ) -> Self {
        let side = match method {
            AuthMethod::Pap => Side::PapPeer { credentials },
            AuthMethod::ChapMd5 | AuthMethod::MsChapV2 => Side::ChapPeer {
                credentials,
                last: None,
                mschap: None,
                earlier: VecDeque::new(),
            },
        };
        Auth::new(
            method,
            side,
            String::new(),
            restart,
            max_transmits,
            None,
            rng,
        )
    }

    /// The authenticator's half (the answerer).
    pub(crate) fn authenticator(
        method: AuthMethod,
        our_name: String,
        restart: Duration,
        max_transmits: u32,
        rechallenge: Option<Duration>,
        rng: Rng,
    ) -> Self {
        let side = match method {
            AuthMethod::Pap => Side::PapAuthenticator,
            AuthMethod::ChapMd5 | AuthMethod::MsChapV2 => Side::ChapAuthenticator {
                challenge: Vec::new(),
                answered: None,
            },
        };
        Auth::new(
            method,
            side,
            our_name,
            restart,
            max_transmits,
            rechallenge,
            rng,
        )
    }

    fn new(
        method: AuthMethod,
        side: Side,
        our_name: String,
        restart: Duration,
        max_transmits: u32,
        rechallenge: Option<Duration>,
        rng: Rng,
    ) -> Self {
        Auth {
            method,
            side,
            our_name,
            rng,
            restart,
            max_transmits: max_transmits.max(1),
            transmits: 0,
            id: 0,
            deadline: None,
            rechallenge,
            done: false,
            out: VecDeque::new(),
        }
    }

    /// Starts this session's identifiers after `last`, the last one the
    /// link's previous session used.
    pub(crate) fn continue_ids_from(&mut self, last: u8) {
        self.id = last;
    }

    /// The last identifier this session used (or was given to start from).
    pub(crate) fn last_id(&self) -> u8 {
        self.id
    }

    /// The method in use.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The protocol number its packets travel in.
    pub fn protocol(&self) -> u16 {
        match self.method {
            AuthMethod::Pap => protocol::PAP,
            _ => protocol::CHAP,
        }
    }

    /// The next packet to send, as (protocol, control packet).
    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.out.pop_front()
    }

    /// When a retransmission or re-challenge is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn send(&mut self, code: u8, id: u8, data: &[u8]) {
        let proto = self.protocol();
        self.out.push_back((proto, wire::build(code, id, data)));
    }

    /// Starts the exchange: the PAP peer sends its request, the CHAP
    /// authenticator its challenge; the others wait.
    pub fn start(&mut self, now: Instant) {
        self.transmits = 0;
        match self.side {
            Side::PapPeer { .. } => {
                self.id = self.id.wrapping_add(1);
                self.send_pap_request(now);
            }
            Side::ChapAuthenticator { .. } => self.send_new_challenge(now),
            _ => {}
        }
    }

    fn send_pap_request(&mut self, now: Instant) {
        let Side::PapPeer { credentials } = &self.side else {
            return;
        };
        let mut data = Vec::new();
        len_prefixed(credentials.user.as_bytes(), &mut data);
        len_prefixed(credentials.password.as_bytes(), &mut data);
        let id = self.id;
        self.send(pap::AUTHENTICATE_REQUEST, id, &data);
        self.transmits += 1;
        self.deadline = Some(now + self.restart);
    }

    fn send_new_challenge(&mut self, now: Instant) {
        let len = 16;
        let value: Vec<u8> = self.rng.bytes::<16>()[..len].to_vec();
        self.id = self.id.wrapping_add(1);
        if let Side::ChapAuthenticator {
            challenge,
            answered,
        } = &mut self.side
        {
            *challenge = value;
            *answered = None;
        }
        self.transmits = 0;
        self.resend_challenge(now);
    }

    fn resend_challenge(&mut self, now: Instant) {
        let Side::ChapAuthenticator { challenge, .. } = &self.side else {
            return;
        };
        let mut data = Vec::new();
        len_prefixed(challenge, &mut data);
        data.extend_from_slice(self.our_name.as_bytes());
        let id = self.id;
        self.send(chap::CHALLENGE, id, &data);
        self.transmits += 1;
        self.deadline = Some(now + self.restart);
    }

    /// The retransmission and re-challenge timer.
    pub fn handle_timeout(&mut self, now: Instant) -> Outcome {
        match self.deadline {
            Some(d) if d <= now => self.deadline = None,
            _ => return Outcome::Pending,
        }
        if self.done {
            // Only the authenticator's re-challenge timer runs after success.
            if matches!(self.side, Side::ChapAuthenticator { .. }) {
                self.send_new_challenge(now);
            }
            return Outcome::Pending;
        }
        if self.transmits >= self.max_transmits {
            return Outcome::Failure(DownReason::AuthTimeout);
        }
        match self.side {
            Side::PapPeer { .. } => self.send_pap_request(now),
            Side::ChapAuthenticator { .. } => self.resend_challenge(now),
            Side::ChapPeer { .. } => self.resend_response(now),
            Side::PapAuthenticator => {}
        }
        Outcome::Pending
    }

    /// Sends (again) our Response to the latest Challenge. The Success may
    /// be lost, so the peer repeats its Response until a verdict arrives;
    /// the authenticator answers repeats with the same verdict
    /// (RFC 1994 §4.1, implementation note).
    fn resend_response(&mut self, now: Instant) {
        let Side::ChapPeer {
            last: Some((id, data)),
            ..
        } = &self.side
        else {
            return;
        };
        let (id, data) = (*id, data.clone());
        self.send(chap::RESPONSE, id, &data);
        self.transmits += 1;
        self.deadline = Some(now + self.restart);
    }

    /// A received PAP or CHAP packet.
    pub fn handle_packet(
        &mut self,
        packet: Packet<'_>,
        secrets: Option<&dyn SecretLookup>,
        now: Instant,
    ) -> Outcome {
        match &mut self.side {
            Side::PapPeer { .. } => self.pap_peer(packet),
            Side::PapAuthenticator => self.pap_authenticator(packet, secrets),
            Side::ChapPeer { .. } => self.chap_peer(packet, now),
            Side::ChapAuthenticator { .. } => self.chap_authenticator(packet, secrets, now),
        }
    }

    fn pap_peer(&mut self, packet: Packet<'_>) -> Outcome {
        if packet.id != self.id || self.done {
            return Outcome::Pending;
        }
        let message = wire::printable(pap_message(packet.data));
        match packet.code {
            pap::AUTHENTICATE_ACK => {
                self.done = true;
                self.deadline = None;
                Outcome::Success { peer_name: None }
            }
            pap::AUTHENTICATE_NAK => {
                self.deadline = None;
                Outcome::Failure(DownReason::AuthFailed {
                    method: AuthMethod::Pap,
                    message,
                })
            }
            _ => Outcome::Pending,
        }
    }

    fn pap_authenticator(
        &mut self,
        packet: Packet<'_>,
        secrets: Option<&dyn SecretLookup>,
    ) -> Outcome {
        if packet.code != pap::AUTHENTICATE_REQUEST {
            return Outcome::Pending;
        }
        let Some((user, password)) = split_pap_request(packet.data) else {
            return Outcome::Pending;
        };
        let user_text = String::from_utf8_lossy(user).into_owned();
        let expected = secrets.and_then(|s| s.secret(&user_text));
        let ok = matches!(&expected, Some(secret) if ct_eq(secret.as_bytes(), password));
        let mut data = Vec::new();
        if ok {
            len_prefixed(b"Login ok", &mut data);
            self.send(pap::AUTHENTICATE_ACK, packet.id, &data);
            if self.done {
                // A retransmitted request after success: Ack again.
                return Outcome::Pending;
            }
            self.done = true;
            self.deadline = None;
            Outcome::Success {
                peer_name: Some(wire::printable(user)),
            }
        } else {
            len_prefixed(b"Login incorrect", &mut data);
            self.send(pap::AUTHENTICATE_NAK, packet.id, &data);
            Outcome::Failure(DownReason::PeerAuthFailed {
                method: AuthMethod::Pap,
                user: wire::printable(user),
            })
        }
    }

    fn chap_peer(&mut self, packet: Packet<'_>, now: Instant) -> Outcome {
        let method = self.method;
        let Side::ChapPeer {
            credentials,
            last,
            mschap,
            earlier,
        } = &mut self.side
        else {
            return Outcome::Pending;
        };
        match packet.code {
            chap::CHALLENGE => {
                let Some((value, _name)) = split_value_name(packet.data) else {
                    return Outcome::Pending;
                };
                // A retransmitted (or duplicated) challenge: the same answer
                // again, never a new one: a fresh MS-CHAPv2 peer challenge
                // would not match the verdict the authenticator repeats.
                if let Some((id, response)) = last {
                    if *id == packet.id {
                        if self.done {
                            let data = response.clone();
                            self.send(chap::RESPONSE, packet.id, &data);
                        } else {
                            self.resend_response(now);
                        }
                        return Outcome::Pending;
                    }
                }
                let mut data = Vec::new();
                let mut new_exchange = None;
                match method {
                    AuthMethod::MsChapV2 => {
                        let Ok(auth_challenge) = <[u8; 16]>::try_from(value) else {
                            return Outcome::Pending;
                        };
                        let peer_challenge = self.rng.bytes::<16>();
                        let nt_response = mschapv2::generate_nt_response(
                            &auth_challenge,
                            &peer_challenge,
                            &credentials.user,
                            &credentials.password,
                        );
                        data.push(MSCHAPV2_RESPONSE_LEN as u8);
                        data.extend_from_slice(&peer_challenge);
                        data.extend_from_slice(&[0; 8]);
                        data.extend_from_slice(&nt_response);
                        data.push(0);
                        new_exchange = Some(MsChapExchange {
                            id: packet.id,
                            auth_challenge,
                            peer_challenge,
                            nt_response,
                        });
                    }
                    _ => {
                        let digest = crypto::chap_md5_response(
                            packet.id,
                            credentials.password.as_bytes(),
                            value,
                        );
                        len_prefixed(&digest, &mut data);
                    }
                }
                data.extend_from_slice(credentials.user.as_bytes());
                if let Some((previous, _)) = last.take() {
                    let exchange = if method == AuthMethod::MsChapV2 {
                        earlier_exchange(mschap, previous)
                    } else {
                        None
                    };
                    earlier.push_back((previous, exchange));
                    if earlier.len() > EARLIER_ANSWERS {
                        earlier.pop_front();
                    }
                }
                *last = Some((packet.id, data.clone()));
                if new_exchange.is_some() {
                    *mschap = new_exchange;
                }
                // A new challenge while up is a re-challenge (RFC 1994 §2).
                self.done = false;
                self.transmits = 0;
                self.resend_response(now);
                Outcome::Pending
            }
            chap::SUCCESS => {
                let Some((id, _)) = last else {
                    return Outcome::Pending;
                };
                let current = *id == packet.id;
                if self.done || !(current || earlier.iter().any(|(e, _)| *e == packet.id)) {
                    return Outcome::Pending;
                }
                if method == AuthMethod::MsChapV2 {
                    let message = String::from_utf8_lossy(packet.data);
                    let received = message.split_whitespace().next().unwrap_or("");
                    let exchange = if current {
                        mschap.as_ref()
                    } else {
                        earlier
                            .iter()
                            .find(|(e, _)| *e == packet.id)
                            .and_then(|(_, x)| x.as_ref())
                    };
                    let verified = exchange.is_some_and(|x| {
                        x.id == packet.id
                            && mschapv2::check_authenticator_response(
                                &credentials.password,
                                &x.nt_response,
                                &x.peer_challenge,
                                &x.auth_challenge,
                                &credentials.user,
                                received,
                            )
                    });
                    if !verified {
                        return Outcome::Failure(DownReason::ServerNotAuthenticated);
                    }
                }
                self.done = true;
                self.deadline = None;
                Outcome::Success { peer_name: None }
            }
            chap::FAILURE => {
                let Some((id, _)) = last else {
                    return Outcome::Pending;
                };
                if *id != packet.id && !earlier.iter().any(|(e, _)| *e == packet.id) {
                    return Outcome::Pending;
                }
                self.deadline = None;
                let text = wire::printable(packet.data);
                let message = if method == AuthMethod::MsChapV2 {
                    mschapv2_failure_text(&text)
                } else {
                    text
                };
                Outcome::Failure(DownReason::AuthFailed { method, message })
            }
            _ => Outcome::Pending,
        }
    }

    fn chap_authenticator(
        &mut self,
        packet: Packet<'_>,
        secrets: Option<&dyn SecretLookup>,
        now: Instant,
    ) -> Outcome {
        let method = self.method;
        let current_id = self.id;
        let Side::ChapAuthenticator {
            challenge,
            answered,
        } = &mut self.side
        else {
            return Outcome::Pending;
        };
        if packet.code != chap::RESPONSE || packet.id != current_id {
            return Outcome::Pending;
        }
        if let Some((id, reply, success)) = answered {
            // A retransmitted Response: repeat our verdict (RFC 1994 §4.2).
            if *id == packet.id {
                let (code, data) = (
                    if *success {
                        chap::SUCCESS
                    } else {
                        chap::FAILURE
                    },
                    reply.clone(),
                );
                self.send(code, packet.id, &data);
            }
            return Outcome::Pending;
        }
        let Some((value, name)) = split_value_name(packet.data) else {
            return Outcome::Pending;
        };
        let user = String::from_utf8_lossy(name).into_owned();
        let secret = secrets.and_then(|s| s.secret(&user));
        let (ok, reply) = match (method, secret) {
            (AuthMethod::MsChapV2, Some(secret)) => {
                match (
                    <[u8; 16]>::try_from(challenge.as_slice()),
                    value.len() == MSCHAPV2_RESPONSE_LEN,
                ) {
                    (Ok(auth_challenge), true) => {
                        let peer_challenge: [u8; 16] = value[..16].try_into().unwrap_or([0; 16]);
                        let nt: [u8; 24] = value[24..48].try_into().unwrap_or([0; 24]);
                        let expected = mschapv2::generate_nt_response(
                            &auth_challenge,
                            &peer_challenge,
                            &user,
                            &secret,
                        );
                        if ct_eq(&expected, &nt) {
                            let s = mschapv2::generate_authenticator_response(
                                &secret,
                                &nt,
                                &peer_challenge,
                                &auth_challenge,
                                &user,
                            );
                            (true, format!("{s} M=Access granted").into_bytes())
                        } else {
                            (false, mschapv2_failure(&auth_challenge))
                        }
                    }
                    (Ok(auth_challenge), false) => (false, mschapv2_failure(&auth_challenge)),
                    _ => (false, b"Access denied".to_vec()),
                }
            }
            (AuthMethod::MsChapV2, None) => (
                false,
                <[u8; 16]>::try_from(challenge.as_slice())
                    .map(|c| mschapv2_failure(&c))
                    .unwrap_or_else(|_| b"Access denied".to_vec()),
            ),
            (_, Some(secret)) => {
                let expected = crypto::chap_md5_response(packet.id, secret.as_bytes(), challenge);
                if ct_eq(&expected, value) {
                    (true, b"Access granted".to_vec())
                } else {
                    (false, b"Access denied".to_vec())
                }
            }
            (_, None) => (false, b"Access denied".to_vec()),
        };
        *answered = Some((packet.id, reply.clone(), ok));
        let code = if ok { chap::SUCCESS } else { chap::FAILURE };
        self.send(code, packet.id, &reply);
        self.deadline = None;
        if ok {
            let first = !self.done;
            self.done = true;
            if let Some(every) = self.rechallenge {
                self.deadline = Some(now + every);
            }
            if first {
                return Outcome::Success {
                    peer_name: Some(wire::printable(name)),
                };
            }
            Outcome::Pending
        } else {
            Outcome::Failure(DownReason::PeerAuthFailed {
                method,
                user: wire::printable(name),
            })
        }
    }
}

/// The Failure message of an MS-CHAPv2 authenticator (RFC 2759 §6): error
/// 691, no retry, version 3 (password change not offered).
fn mschapv2_failure(challenge: &[u8; 16]) -> Vec<u8> {
    let mut hex = wire::hex(challenge);
    hex.make_ascii_uppercase();
    format!("E=691 R=0 C={hex} V=3 M=Access denied").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pap_request_fixture() {
        // RFC 1334 §2.2.1: Peer-ID-Length, Peer-ID, Passwd-Length, Password.
        let data = [3, b'p', b'p', b'p', 2, b'p', b'w'];
        assert_eq!(split_pap_request(&data), Some((&b"ppp"[..], &b"pw"[..])));
        assert_eq!(split_pap_request(&[3, b'p']), None);
        assert_eq!(split_pap_request(&[1, b'p', 5, b'x']), None);
        assert_eq!(split_pap_request(&[]), None);
    }

    #[test]
    fn pap_message_fixture() {
        assert_eq!(pap_message(&[2, b'o', b'k']), b"ok");
        assert_eq!(pap_message(&[9, b'o']), b"o");
        assert_eq!(pap_message(&[]), b"");
    }

    #[test]
    fn chap_value_name_fixture() {
        let data = [2, 0xaa, 0xbb, b'i', b's', b'p'];
        assert_eq!(
            split_value_name(&data),
            Some((&[0xaa, 0xbb][..], &b"isp"[..]))
        );
        assert_eq!(split_value_name(&[4, 1]), None);
    }

    #[test]
    fn mschap_failure_is_readable() {
        assert_eq!(
            mschapv2_failure_text("E=691 R=0 C=00 V=3 M=Bad password"),
            "Bad password (error 691: authentication failure)"
        );
        assert_eq!(
            mschapv2_failure_text("E=648 R=0"),
            "error 648: password expired"
        );
        assert_eq!(mschapv2_failure_text("nope"), "nope");
    }
}
