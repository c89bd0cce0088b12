"""Small AT-SPI driver for Dialtone's whole-system GUI tests (GTK 4.8, Xvfb).

Run it with the system interpreter (``/usr/bin/python3``; it needs the Debian
package python3-pyatspi) as the SAME user and with the SAME
``DBUS_SESSION_BUS_ADDRESS`` and ``DISPLAY`` as the application under test.
See README-atspi.md next to this file for the environment recipe.

No third-party dependencies beyond pyatspi; ``xdotool`` and ImageMagick
``import`` are run as subprocesses for the keyboard/mouse fallbacks and for
screenshots.

What GTK 4.8.3 + libadwaita 1.2 give us (measured under Xvfb, no window
manager) and what this module does about it:

* Buttons, switches, check buttons: ``Action.doAction`` works ("click",
  "toggle") -> ``click()`` uses it; no pointer or focus needed.
* Entry, PasswordEntry, AdwEntryRow: ``EditableText.setTextContents`` and
  ``insertText`` work and emit ``changed`` -> ``set_text()`` uses it and reads
  the text back; ``type_text()`` is the real-keyboard alternative.
* ``Text.getText(0, -1)`` returns "" in GTK 4.8 -> ``text_of()`` asks for
  ``(0, characterCount)``.
* Children never carry the SHOWING state (only the toplevel does) and widgets
  that are not on screen (the unused layout of an AdwSqueezer, for example
  the second copy of every AdwMessageDialog button) still say VISIBLE, but
  report a 0x0 size -> ``find()`` skips 0x0 nodes unless ``onscreen=False``.
* Buttons with a mnemonic label are named "_Cancel Cancel" (the raw label
  plus the rendered text) -> names are matched both raw and cleaned
  ("Cancel"); see ``names_of()``.
* Unnamed widgets are named after their GType ("GtkImage", "GtkListBox",
  "AdwGizmo"); an icon-only button without an accessible label is called
  "GtkImage" (its tooltip becomes the *description*).
* ``Component.grabFocus`` fails (GError) and extents are relative to the
  window's content (GTK ignores DESKTOP/SCREEN coordinates and warns
  "Screen coordinates not supported") -> ``mouse_click()`` adds the X
  window origin and the client-side-decoration border itself.
* ListBox rows and AdwActionRows have no actions; the list implements
  ``Selection`` -> ``select_row()``. gtk::CheckButton has no action either
  -> ``click()`` falls back to a pointer click for it.
* pyatspi.setCacheLevel()/clearCache() are no-ops in pyatspi 2.46; the real
  call is ``Accessible.clearCache()`` (``atspi_accessible_clear_cache``),
  which every polling helper here calls before reading.
"""

import os
import re
import subprocess
import sys
import time

import pyatspi
from gi.repository import GLib

__all__ = [
    "DriverError", "DEFAULT_TIMEOUT", "app", "window", "find", "find_all",
    "try_find", "click", "mouse_click", "set_text", "type_text", "key",
    "text_of", "names_of", "states_of", "has_state", "is_onscreen",
    "extents", "select_row", "wait_until", "wait_text", "wait_state",
    "wait_gone", "dump", "screenshot", "focus_window", "x_window_of",
    "toplevel_of",
]

DEFAULT_TIMEOUT = float(os.environ.get("ATSPI_TIMEOUT", "10"))
POLL = 0.1

# Roles of top-level windows as GTK 4.8 reports them.
TOPLEVEL_ROLES = ("frame", "dialog", "window", "alert", "file chooser")


class DriverError(AssertionError):
    """A GUI expectation failed. The message says what was looked for and,
    where useful, carries a dump of the relevant accessibility tree."""


# --------------------------------------------------------------------------
# small helpers


def _log(msg):
    if os.environ.get("ATSPI_DEBUG"):
        print(f"[atspi {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fresh(node):
    """Drop libatspi's cached name/role/states/children for node (recursive)."""
    try:
        node.clearCache()
    except Exception:  # defunct object, or an old libatspi
        pass
    return node


def _children(node):
    try:
        return [c for c in node if c is not None]
    except Exception:
        return []


def _role(node):
    try:
        return node.getRoleName()
    except Exception:
        return "?"


def _describe(role, name):
    parts = []
    if role is not None:
        parts.append(f"role={role!r}" if isinstance(role, str) else f"role={pyatspi.Role(role)}")
    if name is not None:
        parts.append(f"name={_name_spec(name)}")
    return " ".join(parts) or "any node"


def _name_spec(name):
    if isinstance(name, re.Pattern):
        return f"re({name.pattern!r})"
    if callable(name):
        return getattr(name, "__name__", "predicate")
    return repr(name)


def _strip_mnemonic(text):
    """"Use modem _speaker" -> "Use modem speaker" ("__" is a literal "_")."""
    return text.replace("__", "\0").replace("_", "").replace("\0", "_")


def _clean_mnemonic(name):
    """GTK 4.8 names a button made with a mnemonic label "_Cancel Cancel"
    (raw label + space + rendered text) and a check button made with one
    "Use modem _speaker" (raw label). Return the rendered text, or None if
    name shows no mnemonic."""
    if "_" not in name:
        return None
    for i, ch in enumerate(name):
        if ch == " ":
            raw, shown = name[:i], name[i + 1:]
            if _strip_mnemonic(raw) == shown:
                return shown
    stripped = _strip_mnemonic(name)
    return stripped if stripped != name else None


def names_of(node):
    """All names node can be matched by: the accessible name as reported and,
    if it carries a mnemonic ("_Cancel Cancel" for buttons, "Use modem
    _speaker" for check buttons in GTK 4.8), the rendered text ("Cancel",
    "Use modem speaker")."""
    try:
        name = _fresh(node).name or ""
    except Exception:
        return []
    out = [name]
    clean = _clean_mnemonic(name)
    if clean is not None:
        out.append(clean)
    return out


def _name_matches(node, name):
    if name is None:
        return True
    cands = names_of(node)
    if isinstance(name, re.Pattern):
        return any(name.fullmatch(c) for c in cands)
    if callable(name):
        return any(name(c) for c in cands)
    return name in cands


def _role_matches(node, role):
    if role is None:
        return True
    try:
        if isinstance(role, str):
            return node.getRoleName() == role
        return node.getRole() == role
    except Exception:
        return False


def states_of(node):
    """Set of state names, e.g. {"sensitive", "visible", "checked", "focused"}."""
    try:
        return {pyatspi.stateToString(s) for s in _fresh(node).getState().getStates()}
    except Exception:
        return set()


def has_state(node, state):
    """state: a name like "checked" / "sensitive" / "selected" / "focused"."""
    return state in states_of(node)


def extents(node):
    """(x, y, width, height) relative to the node's window content (GTK 4.8
    reports window-relative numbers whatever coordinate type is asked for)."""
    e = node.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
    return (e.x, e.y, e.width, e.height)


def is_onscreen(node):
    """GTK 4.8 never sets SHOWING on children; VISIBLE plus a non-empty size
    is the usable proxy (unmapped widgets report 0x0)."""
    try:
        if "visible" not in states_of(node):
            return False
        _, _, w, h = extents(node)
        return w > 0 and h > 0
    except Exception:
        return False


def _walk(node, depth=0, max_depth=60):
    yield node
    if depth >= max_depth:
        return
    for c in _children(node):
        yield from _walk(c, depth + 1, max_depth)


def toplevel_of(node):
    """The frame/dialog/window that contains node (or node itself)."""
    n = node
    while n is not None:
        if _role(n) in TOPLEVEL_ROLES:
            return n
        try:
            p = n.parent
        except Exception:
            p = None
        if p is None or _role(p) == "application":
            return n
        n = p
    return node


# --------------------------------------------------------------------------
# waiting


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, what="condition", diagnose=None):
    """Poll predicate() every 0.1 s until it returns a truthy value, which is
    returned. Exceptions raised by predicate count as "not yet" (AT-SPI calls
    on objects that are being created/destroyed raise GLib.GError). On timeout
    raise DriverError naming `what`, the last exception, and diagnose() output
    (e.g. a tree dump) if given."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # GLib.GError from AT-SPI calls included
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    msg = f"timed out after {timeout:g}s waiting for {what}"
    if last_exc is not None:
        msg += f"\n  last error: {type(last_exc).__name__}: {last_exc}"
    if diagnose is not None:
        try:
            msg += "\n" + diagnose()
        except Exception as e:
            msg += f"\n  (diagnostics failed: {e})"
    raise DriverError(msg)


# --------------------------------------------------------------------------
# finding


def _desktop_apps():
    desktop = pyatspi.Registry.getDesktop(0)
    _fresh(desktop)
    out = []
    for a in _children(desktop):
        try:
            out.append((a, a.name, a.get_process_id()))
        except Exception:
            pass
    return out


def app(name=None, timeout=DEFAULT_TIMEOUT, pid=None):
    """Wait for an application on the AT-SPI desktop and return it.

    name: exact string or re.Pattern (fullmatch). GTK 4.8 names the
    application after g_get_prgname(), i.e. the binary's basename (e.g.
    "dialtone"); glib::set_application_name() does not change it.
    pid: match the process id instead /
    as well. An app only appears once its first window exists (about 0.3-1 s
    after exec for a debug build under Xvfb)."""
    def pred():
        for a, n, p in _desktop_apps():
            if pid is not None and p != pid:
                continue
            if name is not None:
                if isinstance(name, re.Pattern):
                    if not name.fullmatch(n or ""):
                        continue
                elif n != name:
                    continue
            return a
        return None

    def diag():
        apps = _desktop_apps()
        return "  applications on the AT-SPI desktop: " + (
            ", ".join(f"{n!r} (pid {p})" for _, n, p in apps) or "none")

    what = "application " + " ".join(
        x for x in ((f"name={_name_spec(name)}" if name is not None else ""),
                    (f"pid={pid}" if pid is not None else "")) if x)
    a = wait_until(pred, timeout, what, diag)
    _log(f"found app {a.name!r}")
    return a


def find_all(root, role=None, name=None, onscreen=True, max_depth=60):
    """All descendants of root (root included) matching role/name, in
    depth-first order, without waiting. role: role name as getRoleName()
    returns it ("push button", "text", "password text", "label",
    "check box", "list item", "list", "dialog", "frame") or a pyatspi.ROLE_*
    constant. name: exact string (raw or mnemonic-cleaned, see names_of),
    re.Pattern (fullmatch) or a callable(str) -> bool. onscreen: skip nodes
    that are not visible or have a 0x0 size."""
    _fresh(root)
    out = []
    for n in _walk(root, max_depth=max_depth):
        if _role_matches(n, role) and _name_matches(n, name):
            if not onscreen or is_onscreen(n):
                out.append(n)
    return out


def try_find(root, role=None, name=None, onscreen=True):
    """First match or None, no waiting."""
    found = find_all(root, role, name, onscreen)
    return found[0] if found else None


def find(root, role=None, name=None, timeout=DEFAULT_TIMEOUT, onscreen=True, index=0):
    """Wait until a descendant of root matching role/name exists (re-walking
    the tree with a fresh cache each time) and return it; index picks among
    several matches. On timeout raise DriverError with a dump of root."""
    def pred():
        found = find_all(root, role, name, onscreen)
        return found[index] if len(found) > index else None

    where = _short(root)
    what = f"{_describe(role, name)}{' #'+str(index) if index else ''} under {where}"
    n = wait_until(pred, timeout, what, lambda: "tree at timeout:\n" + dump(root, out=None))
    _log(f"found {_short(n)}")
    return n


def window(application, name=None, role=None, timeout=DEFAULT_TIMEOUT):
    """Wait for a top-level window of application and return it. GTK 4.8
    roles: "frame" for (Adw)ApplicationWindow and for a plain gtk::Window,
    even a modal transient one (it gets the "modal" state); "dialog" for
    adw::MessageDialog. role=None accepts any top-level role. name: the
    window title (exact, re.Pattern or callable), None for any."""
    roles = (role,) if role else TOPLEVEL_ROLES

    def pred():
        _fresh(application)
        for w in _children(application):
            if _role(w) in roles and _name_matches(w, name):
                return w
        return None

    what = f"window {_describe(role, name)} of {_short(application)}"
    return wait_until(pred, timeout, what, lambda: "tree at timeout:\n" + dump(application, out=None, max_depth=1))


def wait_gone(root, role=None, name=None, timeout=DEFAULT_TIMEOUT):
    """Wait until no on-screen node under root matches role/name (e.g. a
    dialog closed). root may be the application."""
    wait_until(lambda: not find_all(root, role, name), timeout,
               f"{_describe(role, name)} to disappear from {_short(root)}",
               lambda: "tree at timeout:\n" + dump(root, out=None))


# --------------------------------------------------------------------------
# reading


def text_of(node):
    """Current text of node: the Text interface content for labels/entries
    (GTK 4.8 needs getText(0, characterCount); getText(0, -1) returns ""),
    otherwise the accessible name."""
    _fresh(node)
    try:
        t = node.queryText()
    except NotImplementedError:
        return node.name or ""
    n = t.characterCount
    return t.getText(0, n) if n > 0 else ""


def wait_text(node, expected, timeout=DEFAULT_TIMEOUT):
    """Wait until text_of(node) equals expected (str) or fullmatches it
    (re.Pattern); return the text. Labels that change text also change their
    accessible name, so a label found by its old name keeps working."""
    if isinstance(expected, re.Pattern):
        def ok(t):
            return expected.fullmatch(t)
    else:
        def ok(t):
            return t == expected
    seen = []

    def pred():
        t = text_of(node)
        if not seen or seen[-1] != t:
            seen.append(t)
        return ok(t) and (t or True)

    try:
        wait_until(pred, timeout, f"text of {_short(node)} to become {_name_spec(expected)}")
    except DriverError as e:
        raise DriverError(f"{e}\n  texts seen meanwhile: {seen!r}") from None
    return text_of(node)


def wait_state(node, state, present=True, timeout=DEFAULT_TIMEOUT):
    """Wait until state ("checked", "sensitive", "selected", ...) is
    present (or absent with present=False)."""
    wait_until(lambda: (state in states_of(node)) == present, timeout,
               f"{_short(node)} to {'have' if present else 'lose'} state {state!r}",
               lambda: f"  states now: {sorted(states_of(node))}")


# --------------------------------------------------------------------------
# acting

# GTK 4.8 action names: buttons "click", switches "toggle", entries
# "activate" (= Enter) and "peek" (PasswordEntry), toplevels "window.close"
# etc., labels only clipboard/link/menu actions; check buttons, list rows and
# AdwActionRow have none.
_CLICK_ACTIONS = ("click", "toggle", "press", "jump", "open", "activate")


def click(node, timeout=DEFAULT_TIMEOUT):
    """Activate node: wait until it is sensitive, then run its AT-SPI action
    ("click" for buttons, "toggle" for switches; on an entry "activate",
    i.e. Enter). No pointer, focus or window manager needed. Nodes without
    such an action (gtk::CheckButton, list rows, labels) get a real pointer
    click through mouse_click()."""
    wait_until(lambda: "sensitive" in states_of(node), timeout,
               f"{_short(node)} to become sensitive before clicking",
               lambda: f"  states now: {sorted(states_of(node))}")
    try:
        act = node.queryAction()
        names = [act.getName(i) for i in range(act.nActions)]
    except NotImplementedError:
        names = []
    for wanted in _CLICK_ACTIONS:
        if wanted in names:
            _log(f"doAction {wanted!r} on {_short(node)}")
            if not act.doAction(names.index(wanted)):
                raise DriverError(f"action {wanted!r} on {_short(node)} returned False")
            return
    _log(f"no action on {_short(node)} (actions {names}); using the pointer")
    mouse_click(node)


def _run(args, check=True):
    _log("run " + " ".join(args))
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise DriverError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def x_window_of(node):
    """(xid, x, y, width, height) of the X11 window showing node's toplevel,
    found by the application's pid (_NET_WM_PID) and the window title."""
    top = toplevel_of(node)
    title = top.name or ""
    try:
        pid = top.get_application().get_process_id()
    except Exception:
        pid = None
    args = ["xdotool", "search", "--onlyvisible"] + (["--pid", str(pid)] if pid else ["--name", "."])
    ids = _run(args, check=False).stdout.split()
    best = None
    _, _, aw, ah = extents(top)
    for xid in ids:
        if _run(["xdotool", "getwindowname", xid], check=False).stdout.rstrip("\n") != title:
            continue
        geo = dict(l.split("=", 1) for l in
                   _run(["xdotool", "getwindowgeometry", "--shell", xid]).stdout.split())
        cand = (int(xid), int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"]))
        # Prefer the window whose size best fits the accessible's size.
        score = abs(cand[3] - aw) + abs(cand[4] - ah)
        if best is None or score < best[0]:
            best = (score, cand)
    if best is None:
        raise DriverError(f"no visible X window titled {title!r} (pid {pid}) for {_short(node)}; "
                          f"xdotool found {ids!r}")
    return best[1]


def _screen_center(node):
    xid, wx, wy, ww, wh = x_window_of(node)
    _, _, aw, ah = extents(toplevel_of(node))
    # GTK's CSD adds an invisible border around the content (5 px each side
    # without a compositing WM); AT-SPI coordinates start inside it.
    ox, oy = max(0, (ww - aw) // 2), max(0, (wh - ah) // 2)
    x, y, w, h = extents(node)
    if w <= 0 or h <= 0:
        raise DriverError(f"{_short(node)} has no on-screen extents ({x},{y},{w},{h}); cannot point at it")
    return xid, wx + ox + x + w // 2, wy + oy + y + h // 2


def focus_window(node):
    """Give X keyboard focus to node's window (xdotool windowfocus; without a
    window manager windowactivate fails with "_NET_ACTIVE_WINDOW not
    supported", windowfocus works)."""
    xid = x_window_of(node)[0]
    _run(["xdotool", "windowfocus", "--sync", str(xid)])
    return xid


_last_click = [None, None, 0.0]  # x, y, monotonic time
DOUBLE_CLICK_GAP = 0.6  # GTK's gtk-double-click-time is 400 ms


def mouse_click(node, button=1):
    """Real pointer click (XTEST) in the middle of node. A second click at
    the same spot within GTK's double-click time would be a double click
    (in an entry: select a word, which the next typed key replaces), so it
    waits that out first."""
    xid, x, y = _screen_center(node)
    lx, ly, lt = _last_click
    gap = time.monotonic() - lt
    if lx is not None and abs(lx - x) <= 5 and abs(ly - y) <= 5 and gap < DOUBLE_CLICK_GAP:
        time.sleep(DOUBLE_CLICK_GAP - gap)
    # Without a window manager nothing raises a window that is clicked, and
    # new windows open at (0,0) on top of each other: raise it ourselves.
    _run(["xdotool", "windowraise", str(xid)], check=False)
    _run(["xdotool", "windowfocus", "--sync", str(xid)])
    # No --sync on mousemove: it waits for a motion event, which never comes
    # (for ~15 s) when the pointer already is at that spot.
    _run(["xdotool", "mousemove", str(x), str(y)])
    time.sleep(0.05)
    _run(["xdotool", "click", str(button)])
    _last_click[:] = [x, y, time.monotonic()]


def key(*keys):
    """Send key presses to the focused window, e.g. key("ctrl+a", "BackSpace")."""
    _run(["xdotool", "key", "--clearmodifiers", *keys])


def type_text(node, text, replace=True, timeout=DEFAULT_TIMEOUT):
    """Real keyboard input: click into node, select all (ctrl+a) if replace,
    else go to the end (End), type text with xdotool, then wait until node's
    text is the result.

    Printable ASCII only: under Xvfb xdotool types non-ASCII characters by
    remapping a spare keycode on the fly, and GTK drops or mixes them up
    ("aäöß€b" arrived as "ab" or "aß€b"). Use set_text() for such text."""
    bad = [c for c in text if not (" " <= c <= "~")]
    if bad:
        raise DriverError(f"type_text({text!r}): xdotool cannot reliably type {bad!r} "
                          "under Xvfb; use set_text() for non-ASCII text")
    before = text_of(node)
    mouse_click(node)
    # Entry/PasswordEntry report FOCUSED after the click; AdwEntryRow never
    # does (its inner GtkText is not in the tree), so this is only a grace
    # wait; the read-back below is what proves the text arrived.
    try:
        wait_until(lambda: any("focused" in states_of(n) for n in _walk(node, max_depth=4)),
                   min(2.0, timeout), "focus")
    except DriverError:
        _log(f"{_short(node)} shows no FOCUSED state after the click; typing anyway")
    # The click puts the caret where it lands, possibly mid-text.
    key("ctrl+a" if replace else "End")
    _run(["xdotool", "type", "--clearmodifiers", "--delay", "20", "--", text])
    expected = text if replace else None
    if expected is not None:
        return wait_text(node, expected, timeout)
    wait_until(lambda: text_of(node).endswith(text) and text_of(node) != before, timeout,
               f"typed text {text!r} to arrive in {_short(node)}")
    return text_of(node)


def set_text(node, text, timeout=DEFAULT_TIMEOUT):
    """Replace the text of an entry (gtk::Entry, gtk::PasswordEntry,
    adw::EntryRow) through EditableText.setTextContents (fires the widget's
    "changed" signal like typing does) and wait until it reads back. Falls
    back to type_text() if the node has no EditableText."""
    wait_until(lambda: "sensitive" in states_of(node), timeout,
               f"{_short(node)} to become sensitive before setting text")
    try:
        et = node.queryEditableText()
    except NotImplementedError:
        return type_text(node, text, replace=True, timeout=timeout)
    if not et.setTextContents(text):
        raise DriverError(f"setTextContents({text!r}) on {_short(node)} returned False")
    return wait_text(node, text, timeout)


def select_row(lst, which, timeout=DEFAULT_TIMEOUT):
    """Select a row of a list (gtk::ListBox, role "list") through the
    Selection interface. which: child index, or the text of a label inside
    the row (exact string or re.Pattern). Returns the row. (GTK 4.8 list rows
    have no actions, so this is the way to pick one without the pointer.)"""
    def rows():
        return [r for r in _children(_fresh(lst)) if _role(r) in ("list item", "row")]
    if isinstance(which, int):
        idx = which
    else:
        def pred():
            for i, r in enumerate(rows()):
                if _name_matches(r, which) or find_all(r, "label", which):
                    return (i,)
            return None
        idx = wait_until(pred, timeout, f"row {_name_spec(which)} in {_short(lst)}",
                         lambda: "tree at timeout:\n" + dump(lst, out=None))[0]
    if not lst.querySelection().selectChild(idx):
        raise DriverError(f"selectChild({idx}) on {_short(lst)} returned False")
    row = rows()[idx]
    wait_state(row, "selected", True, timeout)
    return row


# --------------------------------------------------------------------------
# diagnostics


def _short(node):
    try:
        return f"[{node.getRoleName()}] {node.name!r}"
    except Exception as e:
        return f"<defunct accessible: {e}>"


def dump(node, out=sys.stdout, max_depth=60, with_extents=True):
    """Render the tree under node, one line per accessible:
    ``[role] 'name' (x,y wxh) {states} desc='...'``. Printed to `out` (None:
    only returned) and returned as a string."""
    lines = []

    def rec(n, depth):
        try:
            _fresh(n)
            role, name = n.getRoleName(), n.name
            desc = n.description
            st = ",".join(sorted(states_of(n)))
            ext = ""
            if with_extents:
                try:
                    x, y, w, h = extents(n)
                    ext = f" ({x},{y} {w}x{h})"
                except Exception:
                    pass
            line = f"{'  ' * depth}[{role}] {name!r}{ext} {{{st}}}"
            if desc:
                line += f" desc={desc!r}"
            lines.append(line)
        except Exception as e:
            lines.append(f"{'  ' * depth}<defunct: {e}>")
            return
        if depth < max_depth:
            for c in _children(n):
                rec(c, depth + 1)

    rec(node, 0)
    text = "\n".join(lines)
    if out is not None:
        print(text, file=out, flush=True)
    return text


def screenshot(path, display=None):
    """Save a PNG of the whole X screen (ImageMagick `import -window root`;
    falls back to xwd | convert). The directory must be writable by the
    user running the driver. Returns path."""
    display = display or os.environ.get("DISPLAY")
    if not display:
        raise DriverError("screenshot: DISPLAY is not set")
    r = _run(["import", "-display", display, "-window", "root", path], check=False)
    if r.returncode != 0 or not os.path.exists(path):
        xwd = subprocess.run(["xwd", "-display", display, "-root", "-silent"],
                             stdout=subprocess.PIPE, check=False)
        if xwd.returncode != 0:
            raise DriverError(f"screenshot {path}: import failed ({r.stderr.strip()}) and xwd failed")
        subprocess.run(["convert", "xwd:-", path], input=xwd.stdout, check=True)
    return path
