//! Reading the password for `set-secret`: one line of standard input when
//! it is not a terminal, else asked for twice without echo. Never from the
//! command line, where other users could read it in `ps`.

use std::io::{BufRead, IsTerminal};

use crate::error::CliError;

/// The longest password accepted, in bytes.
pub const MAX_PASSWORD: usize = 1024;

/// The password from the first line of `reader`, the line end (`\n` or
/// `\r\n`) stripped.
pub fn read_line(reader: impl BufRead) -> Result<String, CliError> {
    let mut buf = Vec::new();
    reader
        .take(MAX_PASSWORD as u64 + 2)
        .read_until(b'\n', &mut buf)
        .map_err(|e| CliError::failed(format!("cannot read the password: {e}")))?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_PASSWORD {
        return Err(too_long());
    }
    let password = String::from_utf8(buf)
        .map_err(|_| CliError::usage("the password is not valid UTF-8 text"))?;
    check(password)
}

/// The error for a password over [`MAX_PASSWORD`].
fn too_long() -> CliError {
    CliError::usage(format!("the password is longer than {MAX_PASSWORD} bytes"))
}

/// Refuses an empty, overlong or control-character password.
fn check(password: String) -> Result<String, CliError> {
    if password.is_empty() {
        return Err(CliError::usage("no password given (the line is empty)"));
    }
    if password.len() > MAX_PASSWORD {
        return Err(too_long());
    }
    if password.chars().any(char::is_control) {
        return Err(CliError::usage("the password contains a control character"));
    }
    Ok(password)
}

/// The password typed twice: the same, or an error.
pub fn confirm(first: String, second: String) -> Result<String, CliError> {
    if first != second {
        return Err(CliError::usage("the passwords do not match"));
    }
    check(first)
}

/// Reads the password for `what`: from standard input when it is not a
/// terminal, else by asking twice on the terminal without echo. Blocks.
pub fn read(what: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_line(stdin.lock());
    }
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::failed(format!("cannot read the password: {e}")))
    };
    let first = ask(format!("Password for {what}: "))?;
    let second = ask("Once more: ".to_string())?;
    confirm(first, second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn from(input: &[u8]) -> Result<String, CliError> {
        read_line(input)
    }

    #[test]
    fn one_line_its_end_stripped() {
        assert_eq!(from(b"hunter2\n"), Ok("hunter2".into()));
        assert_eq!(from(b"hunter2\r\n"), Ok("hunter2".into()));
        assert_eq!(from(b"hunter2"), Ok("hunter2".into()));
        assert_eq!(
            from(b"two words \n"),
            Ok("two words ".into()),
            "spaces kept"
        );
        assert_eq!(from(b"first\nsecond\n"), Ok("first".into()));
        assert_eq!(from("pässwörd\n".as_bytes()), Ok("pässwörd".into()));
    }

    #[test]
    fn bad_input_is_refused() {
        for input in [&b""[..], b"\n", b"\r\n", b"a\tb\n", b"\xff\xfe\n"] {
            let e = from(input).expect_err("refused");
            assert_eq!(e.code, exit::USAGE, "{input:?}: {}", e.message);
        }
        let long = vec![b'x'; MAX_PASSWORD + 1];
        assert_eq!(from(&long).map_err(|e| e.code), Err(exit::USAGE));
        let mut just = vec![b'x'; MAX_PASSWORD];
        just.push(b'\n');
        assert_eq!(from(&just).map(|p| p.len()), Ok(MAX_PASSWORD));
    }

    #[test]
    fn typed_twice() {
        assert_eq!(confirm("a".into(), "a".into()), Ok("a".into()));
        assert_eq!(
            confirm("a".into(), "b".into()).map_err(|e| e.message),
            Err("the passwords do not match".into())
        );
        assert!(confirm(String::new(), String::new()).is_err());
    }
}
