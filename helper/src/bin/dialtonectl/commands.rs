//! The commands: each talks to the daemon through [`Client`] and prints
//! either for people or, with `--json`, for scripts.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use dialtone_api::dbus::{LinkState, StateReason, LINK_INTERFACE, PROFILE_INTERFACE};
use dialtone_api::profile::{Profile, MAX_PROFILE_BYTES};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;
use zbus::{Message, MessageStream, OwnedVariant};

use crate::args::{Command, Global};
use crate::client::{decode, Client, Event, Signals, Stamp};
use crate::convert::{profile_to_settings, settings_to_profile};
use crate::error::{exit, CliError};
use crate::format;
use crate::json;
use crate::password;
use dialtone_api::objects::{leaf, LinkInfo, ProfileInfo};

/// How long `down` waits for the link to end.
const DOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `up` waits for the reason of a failure that came without one.
const REASON_GRACE: Duration = Duration::from_millis(500);

/// Where output goes, and in which form.
pub struct Out {
    /// `--json`.
    pub json: bool,
}

impl Out {
    /// Prints `text` (a whole line or several) on standard output. A
    /// closed pipe (`dialtonectl monitor | head`) ends the program.
    pub fn text(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|_| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    stdout.write_all(b"\n")
                }
            })
            .and_then(|_| stdout.flush());
        if written.is_err() {
            std::process::exit(exit::FAILED.into());
        }
    }

    /// Prints a JSON document.
    pub fn doc(&self, v: &Value) {
        self.text(&json::document(v));
    }

    /// Prints one JSON object on its own line (streams).
    pub fn json_line(&self, v: &Value) {
        self.text(&json::line(v));
    }

    /// A note for people on standard error (never in `--json` output).
    pub fn note(&self, text: &str) {
        eprintln!("dialtonectl: {text}");
    }
}

/// Reads and checks a profile file (`-` for standard input). Every
/// problem is a usage error naming the file.
pub fn load_profile(path: &Path) -> Result<Profile, CliError> {
    let name = path.display();
    let limit = MAX_PROFILE_BYTES as u64 + 1;
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_string(&mut text))
    };
    read.map_err(|e| CliError::usage(format!("{name}: cannot read: {e}")))?;
    Profile::from_ron(&text).map_err(|e| CliError::usage(format!("{name}: {e}")))
}

/// Runs `cmd`.
pub async fn run(global: &Global, cmd: Command) -> Result<(), CliError> {
    let out = Out { json: global.json };
    // Files first: a bad one is reported even without a daemon.
    let file = match &cmd {
        Command::Add { file } | Command::Edit { file, .. } => Some(load_profile(file)?),
        _ => None,
    };
    let c = Client::connect(global.bus_address.as_deref()).await?;
    match cmd {
        Command::List => list(&c, &out).await,
        Command::Show { profile } => show(&c, &out, &profile).await,
        Command::Add { .. } => add(&c, &out, file).await,
        Command::Edit { profile, .. } => edit(&c, &out, &profile, file).await,
        Command::Delete { profile } => delete(&c, &out, &profile).await,
        Command::SetSecret { profile } => set_secret(&c, &out, &profile).await,
        Command::Up {
            profile,
            wait,
            timeout,
        } => up(&c, &out, &profile, wait, timeout).await,
        Command::Down { profile } => down(&c, &out, &profile).await,
        Command::Status { profile } => status(&c, &out, profile.as_deref()).await,
        Command::Monitor => monitor(&c, &out).await,
        Command::Log { profile, follow } => log(&c, &out, &profile, follow).await,
        Command::Ports => ports(&c, &out).await,
        Command::ModemLink { port } => modem_link(&c, &out, port.as_deref()).await,
        Command::QueryModem { port } => query_modem(&c, &out, &port).await,
        Command::Permissions => permissions(&c, &out).await,
    }
}

/// `list`.
async fn list(c: &Client, out: &Out) -> Result<(), CliError> {
    let manager = c.manager().await?;
    let profiles = c.profiles().await?;
    let problems = manager.profile_problems().await.map_err(CliError::bus)?;
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for p in &profiles {
        let configured = p.setting_str("line.device").unwrap_or_default();
        let (state, device) = match &p.active_link {
            Some(path) => match c.link(path).await {
                Ok((info, _)) if !info.device.is_empty() => (info.state, info.device),
                Ok((info, _)) => (info.state, configured),
                // Ended and gone between the two reads.
                Err(e) if e.code == exit::NOT_FOUND => {
                    (LinkState::Disconnected.to_string(), configured)
                }
                Err(e) => return Err(e),
            },
            None => (LinkState::Disconnected.to_string(), configured),
        };
        rows.push(vec![
            p.id.clone(),
            p.name.clone(),
            format::state_words(&state),
            device.clone(),
        ]);
        items.push(json!({
            "id": p.id,
            "name": p.name,
            "state": state,
            "device": device,
            "link": p.active_link,
            "has_secrets": p.has_secrets,
        }));
    }
    if out.json {
        let problems: Vec<Value> = problems
            .iter()
            .map(|(file, error)| json!({ "file": file, "error": error }))
            .collect();
        out.doc(&json!({ "profiles": items, "problems": problems }));
        return Ok(());
    }
    for (file, error) in &problems {
        out.note(&format!("warning: {file} is not loaded: {error}"));
    }
    if rows.is_empty() {
        out.text("no profiles (dialtonectl add FILE.ron adds one)");
    } else {
        out.text(&format::table(&["ID", "NAME", "STATE", "DEVICE"], &rows));
    }
    Ok(())
}

/// `show PROFILE`.
async fn show(c: &Client, out: &Out, wanted: &str) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    let profile = settings_to_profile(&p.settings)
        .map_err(|e| CliError::bad_reply(format!("the settings of {}: {e}", p.id)))?;
    if out.json {
        let settings = serde_json::to_value(&profile)
            .map_err(|e| CliError::failed(format!("cannot write the profile as JSON: {e}")))?;
        out.doc(&json!({
            "id": p.id,
            "name": p.name,
            "has_secrets": p.has_secrets,
            "profile": settings,
        }));
        return Ok(());
    }
    let secret = if p.has_secrets {
        "a password is stored (it is never shown)".to_string()
    } else {
        format!("no password is stored (dialtonectl set-secret {})", p.id)
    };
    out.text(&format!(
        "// profile {}: {secret}\n{}",
        p.id,
        profile.to_ron()
    ));
    Ok(())
}

/// `add FILE.ron`.
async fn add(c: &Client, out: &Out, profile: Option<Profile>) -> Result<(), CliError> {
    let profile = profile.ok_or_else(|| CliError::usage("add: no profile file"))?;
    let path = c
        .manager()
        .await?
        .add_profile(profile_to_settings(&profile))
        .await
        .map_err(CliError::bus)?;
    let path = path.as_str();
    let id = match c.profile_info(path).await {
        Ok(p) => p.id,
        Err(_) => leaf(path).to_string(),
    };
    if out.json {
        out.doc(&json!({ "id": id, "path": path }));
    } else {
        out.text(&id);
    }
    Ok(())
}

/// `edit PROFILE FILE.ron`.
async fn edit(
    c: &Client,
    out: &Out,
    wanted: &str,
    profile: Option<Profile>,
) -> Result<(), CliError> {
    let profile = profile.ok_or_else(|| CliError::usage("edit: no profile file"))?;
    let p = c.resolve(wanted).await?;
    c.profile(&p.path)
        .await?
        .update(profile_to_settings(&profile))
        .await
        .map_err(CliError::bus)?;
    done(out, &p, "updated");
    Ok(())
}

/// `delete PROFILE`.
async fn delete(c: &Client, out: &Out, wanted: &str) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    c.profile(&p.path)
        .await?
        .delete()
        .await
        .map_err(CliError::bus)?;
    done(out, &p, "deleted");
    Ok(())
}

/// `set-secret PROFILE`.
async fn set_secret(c: &Client, out: &Out, wanted: &str) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    let what = format!("{} ({})", p.name, p.id);
    let password = tokio::task::spawn_blocking(move || password::read(&what))
        .await
        .map_err(|e| CliError::failed(format!("cannot read the password: {e}")))??;
    let secrets = HashMap::from([("password".to_string(), password)]);
    c.profile(&p.path)
        .await?
        .set_secrets(secrets)
        .await
        .map_err(CliError::bus)?;
    done(out, &p, "password stored for");
    Ok(())
}

/// The output of a change to profile `p`: "updated isp" or
/// `{"id", "path"}`.
fn done(out: &Out, p: &ProfileInfo, what: &str) {
    if out.json {
        out.doc(&json!({ "id": p.id, "path": p.path }));
    } else {
        out.text(&format!("{what} {}", p.id));
    }
}

/// How a wait for a link ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Up (or, with demand dialing, ready for traffic).
    Up,
    /// Ended, or failed and waiting to redial.
    Failed,
}

/// Whether `up` is done waiting, and how.
fn up_outcome(info: &LinkInfo) -> Option<Outcome> {
    match info.link_state()? {
        LinkState::Connected | LinkState::WaitingForTraffic => Some(Outcome::Up),
        LinkState::WaitingToRedial | LinkState::Disconnected => Some(Outcome::Failed),
        _ => None,
    }
}

/// A future that never ends without a deadline.
fn sleep_until(deadline: Option<Instant>) -> Pin<Box<dyn Future<Output = ()>>> {
    match deadline {
        Some(d) => Box::pin(tokio::time::sleep_until(d)),
        None => Box::pin(std::future::pending()),
    }
}

/// Ctrl-C, as a future; if it cannot be caught, a future that never ends.
fn ctrl_c() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// Follows one link's state: applies the signals sent after `stamp`;
/// on a change of `State`, re-reads the other properties (a reason or an
/// address may come in a signal of its own), the signal's values winning.
struct LinkFollower {
    info: LinkInfo,
    stamp: Stamp,
}

impl LinkFollower {
    /// Takes in a signal; returns whether the state changed.
    async fn take(&mut self, c: &Client, msg: &Message) -> Result<bool, CliError> {
        if !self.stamp.is_before(msg) {
            return Ok(false);
        }
        let Ok(Event::LinkChanged {
            path,
            changed,
            invalidated,
        }) = decode(msg)
        else {
            return Ok(false);
        };
        if path != self.info.path {
            return Ok(false);
        }
        follow_change(c, &mut self.info, &changed, &invalidated).await
    }
}

/// Applies one PropertiesChanged to `info`; on a new `State` the rest is
/// re-read first. Returns whether the state changed.
async fn follow_change(
    c: &Client,
    info: &mut LinkInfo,
    changed: &HashMap<String, OwnedVariant>,
    invalidated: &[String],
) -> Result<bool, CliError> {
    let before = info.state.clone();
    let state_touched = changed.contains_key("State") || invalidated.iter().any(|n| n == "State");
    if state_touched {
        if let Ok((fresh, _)) = c.link(&info.path).await {
            let new_state = fresh.state.clone();
            *info = fresh;
            if !changed.contains_key("State") {
                info.state = new_state;
            }
        }
    } else {
        for name in invalidated {
            if let Ok(v) = c.get(&info.path, LINK_INTERFACE, name).await {
                info.apply(name, &v).map_err(CliError::bad_reply)?;
            }
        }
    }
    for (name, v) in changed {
        info.apply(name, v).map_err(CliError::bad_reply)?;
    }
    Ok(info.state != before)
}

/// The next signal, or an error when the subscription ended (the
/// connection closed).
async fn next_signal(signals: &mut MessageStream) -> Result<Option<Message>, CliError> {
    match signals.next().await {
        Some(Ok(msg)) => Ok(Some(msg)),
        Some(Err(_)) => Ok(None),
        None => Err(CliError::gone("the bus connection closed")),
    }
}

/// `up PROFILE`.
async fn up(
    c: &Client,
    out: &Out,
    wanted: &str,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    let profile = c.profile(&p.path).await?;
    if !wait {
        let link = profile.connect().await.map_err(CliError::bus)?;
        if out.json {
            out.doc(&json!({ "id": p.id, "link": link.as_str() }));
        } else {
            out.text(link.as_str());
        }
        return Ok(());
    }
    // Subscribed before Connect: the first states can beat its reply.
    let mut signals = c.signals(Signals::LinkProperties).await?;
    let mut owners = c.owner_changes().await?;
    let link = profile.connect().await.map_err(CliError::bus)?;
    let (info, stamp) = c.link(link.as_str()).await?;
    let mut follower = LinkFollower { info, stamp };
    let started = Instant::now();
    let mut deadline = sleep_until(timeout.map(|t| started + t));
    let mut interrupt = ctrl_c();
    let mut transitions: Vec<Value> = Vec::new();
    let mut shown = String::new();
    // A link that failed without (yet) a reason: the reason may follow in
    // a signal of its own, so it gets a moment before the failure is told.
    let mut grace: Option<Instant> = None;
    let mut grace_over = false;
    let finish = |info: &LinkInfo, result: &str, transitions: &[Value]| {
        if out.json {
            out.doc(&json!({
                "id": p.id,
                "result": result,
                "link": json::link(info, &p.id, &p.name),
                "transitions": transitions,
            }));
        }
    };
    loop {
        let info = &follower.info;
        let outcome = up_outcome(info);
        let no_reason = outcome == Some(Outcome::Failed) && info.reason == StateReason::none();
        if no_reason && grace.is_none() {
            grace = Some(Instant::now() + REASON_GRACE);
        }
        let hold = no_reason && !grace_over;
        // Each new line: a new state, or a new number dialed.
        let line = format::state_line(info);
        if !hold && line != shown {
            shown = line;
            if out.json {
                transitions.push(json!({
                    "time_usec": format::now_usec(),
                    "state": info.state,
                    "description": format::state_line(info),
                    "reason": json::reason(&info.reason),
                }));
            } else {
                out.text(&format::state_line(info));
            }
            match outcome {
                Some(Outcome::Up) => {
                    let result = if info.link_state() == Some(LinkState::Connected) {
                        "connected"
                    } else {
                        "waiting-for-traffic"
                    };
                    finish(info, result, &transitions);
                    return Ok(());
                }
                Some(Outcome::Failed) => {
                    finish(info, "failed", &transitions);
                    let mut message = format::failure_line(&info.reason);
                    if info.link_state() == Some(LinkState::WaitingToRedial) {
                        message.push_str(&format!(
                            "\nthe link will redial by itself (dialtonectl down {} stops it)",
                            p.id
                        ));
                    }
                    return Err(CliError::failed(message));
                }
                None => {}
            }
        }
        let waiting_for_reason = grace.is_some() && !grace_over;
        tokio::select! {
            msg = next_signal(&mut signals) => {
                if let Some(msg) = msg? {
                    follower.take(c, &msg).await?;
                }
            }
            _ = sleep_until(grace), if waiting_for_reason => grace_over = true,
            owner = owners.next() => {
                if let Some(None) = owner {
                    finish(&follower.info, "failed", &transitions);
                    return Err(CliError::gone("dialtoned left the bus (it stopped or crashed) while waiting"));
                }
            }
            _ = &mut interrupt => {
                finish(&follower.info, "interrupted", &transitions);
                let hung_up = match c.link_proxy(link.as_str()).await {
                    Ok(l) => l.disconnect().await.map_err(CliError::bus),
                    Err(e) => Err(e),
                };
                return Err(match hung_up {
                    Ok(()) => CliError::interrupted("interrupted: hanging up"),
                    Err(e) => CliError::interrupted(format!(
                        "interrupted, but could not hang up: {e}"
                    )),
                });
            }
            _ = &mut deadline => {
                finish(&follower.info, "timeout", &transitions);
                let waited = timeout.map(|t| format::duration(t.as_secs())).unwrap_or_default();
                return Err(CliError::failed(format!(
                    "gave up waiting after {waited}: {} is still {}; the link is left as it \
                     is (dialtonectl down {} hangs up)",
                    p.id,
                    format::state_words(&follower.info.state),
                    p.id
                )));
            }
        }
    }
}

/// `down PROFILE`.
async fn down(c: &Client, out: &Out, wanted: &str) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    let Some(link) = p.active_link.clone() else {
        if out.json {
            out.doc(&json!({ "id": p.id, "link": Value::Null }));
        } else {
            out.text(&format!("{} is not connected", p.id));
        }
        return Ok(());
    };
    let mut signals = c.signals(Signals::Object(&link)).await?;
    c.link_proxy(&link)
        .await?
        .disconnect()
        .await
        .map_err(CliError::bus)?;
    let (info, stamp) = c.link(&link).await?;
    let mut follower = LinkFollower { info, stamp };
    let mut deadline = sleep_until(Some(Instant::now() + DOWN_TIMEOUT));
    while !follower.info.is_disconnected() {
        tokio::select! {
            msg = next_signal(&mut signals) => {
                if let Some(msg) = msg? {
                    follower.take(c, &msg).await?;
                }
            }
            _ = &mut deadline => {
                return Err(CliError::failed(format!(
                    "{} is still {} after {} s",
                    p.id,
                    format::state_words(&follower.info.state),
                    DOWN_TIMEOUT.as_secs()
                )));
            }
        }
    }
    let info = follower.info;
    if out.json {
        out.doc(&json!({ "id": p.id, "link": json::link(&info, &p.id, &p.name) }));
    } else if info.reason.code != "user" && !format::reason_text(&info.reason).is_empty() {
        out.text(&format!(
            "disconnected: {}",
            format::reason_text(&info.reason)
        ));
    } else {
        out.text("disconnected");
    }
    Ok(())
}

/// Profile path → (id, name), for naming links.
type ProfileNames = HashMap<String, (String, String)>;

/// Every profile's (id, name) by object path.
async fn profile_names(c: &Client) -> Result<ProfileNames, CliError> {
    Ok(c.profiles()
        .await?
        .into_iter()
        .map(|p| (p.path, (p.id, p.name)))
        .collect())
}

/// (id, name) of the profile of `info`, or the path's last element.
fn names_of(names: &ProfileNames, info: &LinkInfo) -> (String, String) {
    names
        .get(&info.profile)
        .cloned()
        .unwrap_or_else(|| (leaf(&info.profile).to_string(), String::new()))
}

/// "isp (Example ISP)".
fn profile_label(id: &str, name: &str) -> String {
    if name.is_empty() || name == id {
        id.to_string()
    } else {
        format!("{id} ({name})")
    }
}

/// `status [PROFILE]`.
async fn status(c: &Client, out: &Out, wanted: Option<&str>) -> Result<(), CliError> {
    let names = profile_names(c).await?;
    let mut links = Vec::new();
    match wanted {
        Some(w) => {
            let p = c.resolve(w).await?;
            match p.active_link.or(p.last_link) {
                Some(path) => links.push(c.link(&path).await?.0),
                None => {
                    if out.json {
                        out.doc(&json!({ "links": [] }));
                    } else {
                        out.text(&format!(
                            "{} has not been connected since dialtoned started",
                            p.id
                        ));
                    }
                    return Ok(());
                }
            }
        }
        None => {
            let paths = c
                .manager()
                .await?
                .list_links()
                .await
                .map_err(CliError::bus)?;
            for path in paths {
                match c.link(path.as_str()).await {
                    Ok((info, _)) if !info.is_disconnected() => links.push(info),
                    Ok(_) => {}
                    Err(e) if e.code == exit::NOT_FOUND => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if out.json {
        let items: Vec<Value> = links
            .iter()
            .map(|l| {
                let (id, name) = names_of(&names, l);
                json::link(l, &id, &name)
            })
            .collect();
        out.doc(&json!({ "links": items }));
        return Ok(());
    }
    if links.is_empty() {
        out.text("no active links");
        return Ok(());
    }
    let now = format::now_usec();
    let blocks: Vec<String> = links
        .iter()
        .map(|l| {
            let (id, name) = names_of(&names, l);
            format::status_block(l, &profile_label(&id, &name), now)
        })
        .collect();
    out.text(&blocks.join("\n"));
    Ok(())
}

/// What `monitor` knows of each link.
struct Monitor<'a> {
    c: &'a Client,
    out: &'a Out,
    names: ProfileNames,
    links: HashMap<String, LinkInfo>,
    /// The reason last printed for each link.
    shown_reason: HashMap<String, StateReason>,
    stamp: Stamp,
}

impl Monitor<'_> {
    /// (Re)reads every object; prints the links that are not over.
    async fn load(&mut self) -> Result<(), CliError> {
        let om = self.c.object_manager().await?;
        let reply = om
            .inner()
            .call_method("GetManagedObjects", &())
            .await
            .map_err(CliError::bus)?;
        self.stamp = Stamp::of(&reply);
        let objects: zbus::fdo::ManagedObjects = reply
            .body()
            .deserialize()
            .map_err(|e| CliError::bad_reply(format!("GetManagedObjects: {e}")))?;
        self.links.clear();
        let mut found = Vec::new();
        for (path, ifaces) in &objects {
            for (iface, props) in ifaces {
                if iface.as_str() == PROFILE_INTERFACE {
                    if let Ok(p) = ProfileInfo::from_props(path.as_str(), props) {
                        self.names.insert(p.path, (p.id, p.name));
                    }
                } else if iface.as_str() == LINK_INTERFACE {
                    let info =
                        LinkInfo::from_props(path.as_str(), props).map_err(CliError::bad_reply)?;
                    found.push(info);
                }
            }
        }
        found.sort_by_key(|l| l.number_of_link().parse::<u64>().unwrap_or(u64::MAX));
        for info in found {
            if !info.is_disconnected() {
                self.print("present", &info).await;
            }
            self.links.insert(info.path.clone(), info);
        }
        Ok(())
    }

    /// Prints a line about `info`.
    async fn print(&mut self, event: &str, info: &LinkInfo) {
        if !self.names.contains_key(&info.profile) && !info.profile.is_empty() {
            if let Ok(p) = self.c.profile_info(&info.profile).await {
                self.names.insert(p.path, (p.id, p.name));
            }
        }
        let (id, name) = names_of(&self.names, info);
        self.shown_reason
            .insert(info.path.clone(), info.reason.clone());
        let now = format::now_usec();
        if self.out.json {
            self.out.json_line(&json!({
                "time_usec": now,
                "event": event,
                "link": json::link(info, &id, &name),
            }));
            return;
        }
        let what = match event {
            "added" => format!("new link: {}", format::state_line(info)),
            "removed" => "removed".to_string(),
            _ => format::state_line(info),
        };
        self.out.text(&format!(
            "{} link {} {id}: {what}",
            format::local_clock(now),
            info.number_of_link()
        ));
    }

    /// A daemon coming or going.
    fn daemon(&self, event: &str, text: &str) {
        let now = format::now_usec();
        if self.out.json {
            self.out
                .json_line(&json!({ "time_usec": now, "event": event }));
        } else {
            self.out
                .text(&format!("{} {text}", format::local_clock(now)));
        }
    }

    /// Takes in one signal.
    async fn take(&mut self, msg: &Message) -> Result<(), CliError> {
        if !self.stamp.is_before(msg) {
            return Ok(());
        }
        match decode(msg) {
            Ok(Event::LinkAdded { path, properties }) => {
                let info = LinkInfo::from_props(&path, &properties).map_err(CliError::bad_reply)?;
                self.print("added", &info).await;
                self.links.insert(path, info);
            }
            Ok(Event::LinkRemoved { path }) => {
                if let Some(info) = self.links.remove(&path) {
                    self.print("removed", &info).await;
                }
                self.shown_reason.remove(&path);
            }
            Ok(Event::LinkChanged {
                path,
                changed,
                invalidated,
            }) => {
                let mut info = self
                    .links
                    .remove(&path)
                    .unwrap_or_else(|| LinkInfo::new(&path));
                let state_changed =
                    follow_change(self.c, &mut info, &changed, &invalidated).await?;
                let reason_changed = self.shown_reason.get(&path) != Some(&info.reason);
                if state_changed {
                    self.print("state", &info).await;
                } else if reason_changed && changed.contains_key("StateReason") {
                    self.print("reason", &info).await;
                }
                self.links.insert(path, info);
            }
            Ok(_) => {}
            Err(e) => self.out.note(&format!("warning: a malformed signal: {e}")),
        }
        Ok(())
    }
}

/// `monitor`.
async fn monitor(c: &Client, out: &Out) -> Result<(), CliError> {
    let mut signals = c.signals(Signals::All).await?;
    let mut owners = c.owner_changes().await?;
    let mut m = Monitor {
        c,
        out,
        names: HashMap::new(),
        links: HashMap::new(),
        shown_reason: HashMap::new(),
        stamp: Stamp::default(),
    };
    m.load().await?;
    let mut interrupt = ctrl_c();
    loop {
        tokio::select! {
            msg = next_signal(&mut signals) => {
                if let Some(msg) = msg? {
                    m.take(&msg).await?;
                }
            }
            owner = owners.next() => match owner {
                Some(None) => m.daemon("daemon-left", "dialtoned left the bus"),
                Some(Some(_)) => {
                    m.daemon("daemon-started", "dialtoned started");
                    m.load().await?;
                }
                None => return Err(CliError::gone("the bus connection closed")),
            },
            _ = &mut interrupt => return Ok(()),
        }
    }
}

/// Skips transcript lines already printed from the backlog.
struct Dedupe {
    seen: HashSet<(u64, String)>,
    newest: u64,
}

impl Dedupe {
    /// Remembers the backlog's lines.
    fn new(backlog: &[dialtone_api::dbus::TranscriptEntry]) -> Self {
        Dedupe {
            seen: backlog
                .iter()
                .map(|e| (e.time_usec, e.text.clone()))
                .collect(),
            newest: backlog.iter().map(|e| e.time_usec).max().unwrap_or(0),
        }
    }

    /// Whether `e` is new. Once a line newer than the whole backlog came,
    /// the backlog is forgotten.
    fn is_new(&mut self, e: &dialtone_api::dbus::TranscriptEntry) -> bool {
        if self.seen.is_empty() {
            return true;
        }
        if self.seen.contains(&(e.time_usec, e.text.clone())) {
            return false;
        }
        if e.time_usec > self.newest {
            self.seen.clear();
        }
        true
    }
}

/// `log PROFILE [-f]`.
async fn log(c: &Client, out: &Out, wanted: &str, follow: bool) -> Result<(), CliError> {
    let p = c.resolve(wanted).await?;
    let Some(link) = p.active_link.clone().or(p.last_link.clone()) else {
        return Err(CliError::not_found(format!(
            "{} has no link: it has not been connected since dialtoned started",
            p.id
        )));
    };
    let mut signals = if follow && p.active_link.is_some() {
        Some(c.signals(Signals::Object(&link)).await?)
    } else {
        None
    };
    let (info, stamp) = c.link(&link).await?;
    let backlog = c
        .link_proxy(&link)
        .await?
        .get_transcript()
        .await
        .map_err(CliError::bus)?;
    if info.is_disconnected() {
        signals = None;
    }
    if follow && signals.is_none() && !out.json {
        out.note("the link has ended; there is nothing to follow");
    }
    let offset = format::local_offset(format::now_usec());
    let Some(signals) = signals.as_mut() else {
        if out.json {
            let entries: Vec<Value> = backlog.iter().map(json::transcript_entry).collect();
            out.doc(&json!({ "id": p.id, "link": link, "entries": entries }));
        } else if backlog.is_empty() {
            out.note("the transcript is empty");
        } else {
            let lines: Vec<String> = backlog
                .iter()
                .map(|e| format::transcript_line(e, offset))
                .collect();
            out.text(&lines.join("\n"));
        }
        return Ok(());
    };
    let print = |e: &dialtone_api::dbus::TranscriptEntry| {
        if out.json {
            out.json_line(&json::transcript_entry(e));
        } else {
            out.text(&format::transcript_line(e, offset));
        }
    };
    for e in &backlog {
        print(e);
    }
    let mut dedupe = Dedupe::new(&backlog);
    let mut interrupt = ctrl_c();
    loop {
        tokio::select! {
            msg = next_signal(signals) => {
                let Some(msg) = msg? else { continue };
                match decode(&msg) {
                    Ok(Event::Transcript { path, entry })
                        if path == link && dedupe.is_new(&entry) =>
                    {
                        print(&entry);
                    }
                    Ok(Event::LinkChanged { path, changed, .. })
                        if path == link && stamp.is_before(&msg) =>
                    {
                        let mut state = LinkInfo::new(&link);
                        if let Some(v) = changed.get("State") {
                            state.apply("State", v).map_err(CliError::bad_reply)?;
                            if state.is_disconnected() {
                                return Ok(());
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ = &mut interrupt => return Ok(()),
        }
    }
}

/// `ports`.
async fn ports(c: &Client, out: &Out) -> Result<(), CliError> {
    let m = c.manager().await?;
    let ports = m.serial_ports().await.map_err(CliError::bus)?;
    let modem_link = m.modem_link().await.map_err(CliError::bus)?;
    if out.json {
        let items: Vec<Value> = ports.iter().map(json::port).collect();
        out.doc(&json!({ "ports": items, "modem_link": json::or_null(&modem_link) }));
        return Ok(());
    }
    if ports.is_empty() {
        out.text("no serial ports found");
    } else {
        let rows: Vec<Vec<String>> = ports
            .iter()
            .map(|p| {
                let path = if p.modem_link {
                    format!("{} (/dev/modem)", p.path)
                } else {
                    p.path.clone()
                };
                let busy = match (p.busy_program.is_empty(), p.busy_pid) {
                    (true, 0) => String::new(),
                    (false, 0) => p.busy_program.clone(),
                    (true, pid) => format!("pid {pid}"),
                    (false, pid) => format!("{} (pid {pid})", p.busy_program),
                };
                vec![path, p.description.clone(), p.by_id.clone(), busy]
            })
            .collect();
        out.text(&format::table(
            &["PATH", "DESCRIPTION", "BY-ID", "IN USE BY"],
            &rows,
        ));
    }
    if !modem_link.is_empty() && !ports.iter().any(|p| p.modem_link) {
        out.text(&format!(
            "/dev/modem points at {modem_link}, which is not among them"
        ));
    }
    Ok(())
}

/// `modem-link [PORT]`.
async fn modem_link(c: &Client, out: &Out, port: Option<&str>) -> Result<(), CliError> {
    let m = c.manager().await?;
    let target = match port {
        Some(port) => {
            m.set_modem_link(port).await.map_err(CliError::bus)?;
            port.to_string()
        }
        None => m.modem_link().await.map_err(CliError::bus)?,
    };
    if out.json {
        out.doc(&json!({ "modem_link": json::or_null(&target) }));
    } else if target.is_empty() {
        out.text("/dev/modem is not set (dialtonectl modem-link PORT sets it)");
    } else {
        out.text(&format!("/dev/modem → {target}"));
    }
    Ok(())
}

/// `query-modem PORT`.
async fn query_modem(c: &Client, out: &Out, port: &str) -> Result<(), CliError> {
    let answers = c
        .manager()
        .await?
        .query_modem(port)
        .await
        .map_err(CliError::bus)?;
    if out.json {
        let items: Vec<Value> = answers
            .iter()
            .map(|(command, answer)| json!({ "command": command, "answer": answer }))
            .collect();
        out.doc(&json!({ "port": port, "answers": items }));
        return Ok(());
    }
    out.text(&query_table(&answers));
    Ok(())
}

/// The modem's answers, one command per block, continuation lines
/// indented under the first.
fn query_table(answers: &[(String, String)]) -> String {
    let width = answers
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for (command, answer) in answers {
        let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
        let first = lines.next().unwrap_or("(no answer)");
        s.push_str(&format!("{command:<width$}  {}\n", first.trim_end()));
        for l in lines {
            s.push_str(&format!("{:width$}  {}\n", "", l.trim_end()));
        }
    }
    s
}

/// `permissions`.
async fn permissions(c: &Client, out: &Out) -> Result<(), CliError> {
    let answers = c
        .manager()
        .await?
        .get_permissions()
        .await
        .map_err(CliError::bus)?;
    let mut sorted: Vec<(String, String)> = answers.into_iter().collect();
    sorted.sort();
    if out.json {
        let map: serde_json::Map<String, Value> = sorted
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        out.doc(&json!({ "permissions": map }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|(action, answer)| {
            let meaning = match answer.as_str() {
                dialtone_api::dbus::PERMISSION_YES => "allowed",
                dialtone_api::dbus::PERMISSION_AUTH => "allowed after authenticating",
                dialtone_api::dbus::PERMISSION_NO => "not allowed",
                _ => "",
            };
            vec![action.clone(), answer.clone(), meaning.to_string()]
        })
        .collect();
    out.text(&format::table(&["ACTION", "ANSWER", "MEANING"], &rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::dbus::TranscriptEntry;

    #[test]
    fn a_bad_profile_file_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("bad.ron");
        std::fs::write(
            &path,
            "Profile(version: 1, name: \"x\", line: (speed: 12345))",
        )
        .expect("written");
        let e = load_profile(&path).expect_err("refused");
        assert_eq!(e.code, exit::USAGE);
        assert!(
            e.message.starts_with(&path.display().to_string()),
            "{}",
            e.message
        );
        assert!(e.message.contains("line.speed"), "{}", e.message);

        let e = load_profile(&dir.path().join("missing.ron")).expect_err("refused");
        assert_eq!(e.code, exit::USAGE);
        assert!(e.message.contains("cannot read"), "{}", e.message);

        std::fs::write(
            &path,
            "Profile(version: 1, name: \"Example ISP\", line: (device: \"/dev/ttyS1\"))",
        )
        .expect("written");
        assert_eq!(
            load_profile(&path).map(|p| p.name),
            Ok("Example ISP".into())
        );
    }

    #[test]
    fn when_up_stops_waiting() {
        let at = |state: LinkState| LinkInfo {
            state: state.as_str().into(),
            ..LinkInfo::default()
        };
        assert_eq!(up_outcome(&at(LinkState::Connected)), Some(Outcome::Up));
        assert_eq!(
            up_outcome(&at(LinkState::WaitingForTraffic)),
            Some(Outcome::Up)
        );
        assert_eq!(
            up_outcome(&at(LinkState::WaitingToRedial)),
            Some(Outcome::Failed)
        );
        assert_eq!(
            up_outcome(&at(LinkState::Disconnected)),
            Some(Outcome::Failed)
        );
        for s in [
            LinkState::Opening,
            LinkState::Dialing,
            LinkState::ModemConnected,
            LinkState::Negotiating,
            LinkState::Authenticating,
            LinkState::GettingAddress,
            LinkState::Disconnecting,
        ] {
            assert_eq!(up_outcome(&at(s)), None, "{s}");
        }
        assert_eq!(up_outcome(&LinkInfo::default()), None, "unknown words wait");
    }

    #[test]
    fn transcript_lines_from_the_backlog_are_not_repeated() {
        let e = |t: u64, text: &str| TranscriptEntry {
            time_usec: t,
            source: "modem".into(),
            direction: "in".into(),
            text: text.into(),
        };
        let backlog = [e(1, "ATZ"), e(2, "OK")];
        let mut d = Dedupe::new(&backlog);
        assert!(!d.is_new(&e(2, "OK")));
        assert!(d.is_new(&e(2, "RING")));
        assert!(d.is_new(&e(3, "CONNECT")));
        assert!(d.is_new(&e(2, "OK")), "forgotten once past the backlog");
        assert!(Dedupe::new(&[]).is_new(&e(1, "ATZ")));
    }

    #[test]
    fn modem_answers_line_up() {
        let answers = vec![
            (
                "ATI".to_string(),
                "\r\nU.S. Robotics 56K\r\nOK\r\n".to_string(),
            ),
            ("AT+GMM".to_string(), String::new()),
        ];
        assert_eq!(
            query_table(&answers),
            "ATI     U.S. Robotics 56K\n        OK\nAT+GMM  (no answer)\n"
        );
    }

    #[test]
    fn profile_labels() {
        assert_eq!(profile_label("isp", "Example ISP"), "isp (Example ISP)");
        assert_eq!(profile_label("isp", "isp"), "isp");
        assert_eq!(profile_label("isp", ""), "isp");
    }
}
