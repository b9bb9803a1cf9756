//! A second Ctrl-C during a shutdown exits at once with 130, whatever the shutdown is waiting
//! for. Tested at the level where it is implemented, `signals::shutdown_on_signals`, because a
//! real peer's clean shutdown takes milliseconds: a test that tried to land a second SIGINT
//! inside it would race, and slowing the peer down on purpose would need a test-only hook in
//! the binary. Here the shutdown is made to never finish by itself — the honest worst case of
//! a hung shutdown — so only the forced exit can end the process.
//!
//! A stop delivered twice at once (`timeout` signals its child and then the child's process
//! group) is one stop: the repeat inside `REPEAT_WINDOW` is ignored and the clean shutdown goes
//! on.
//!
//! Each test runs itself again as a child process (`current_exe`, selected with `--exact`,
//! told by an environment variable to play the child): the forced exit ends the whole process,
//! which must not be the test runner.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Tells the re-run test binary which child to play.
const CHILD: &str = "VOTECHAIN_SIGNALS_CHILD";

/// Generous: each step takes milliseconds; the deadline only bounds a hang.
const DEADLINE: Duration = Duration::from_secs(30);

/// The child: signal handlers, a readiness line, then a shutdown that never ends (it says, after
/// twice the repeat window, that it is still running). When `console_first`, the first
/// interrupt is the console's (Ctrl-C typed at the prompt).
fn play_child(console_first: bool) {
    let runtime = votechain_runtime::tokio_runtime(votechain_runtime::Flavor::MultiThread)
        .expect("a runtime");
    runtime.block_on(async {
        let token = votechain_runtime::shutdown_on_signals().expect("signal handlers");
        println!("child ready");
        if console_first {
            votechain_runtime::interrupt();
        }
        token.cancelled().await;
        println!("child shutting down slowly");
        // Long enough for a repeat sent right after the first signal to arrive and act.
        tokio::time::sleep(Duration::from_millis(500).max(2 * votechain_runtime::REPEAT_WINDOW))
            .await;
        println!("child still shutting down");
        std::future::pending::<()>().await;
    });
}

/// Lines of the child's stdout, read on a thread so each wait has a deadline.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(lines: &mpsc::Receiver<String>, wanted: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return,
            Ok(_) => {}
            Err(_) => panic!("the child never printed {wanted:?}"),
        }
    }
}

/// Sends `signal` to the child.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal}: {status}");
}

/// Waits for the child to exit, sending SIGINT every 100 ms when `press` (a user pressing Ctrl-C
/// again until it stops); its exit code.
fn exit_code(child: &mut Child, press: bool) -> Option<i32> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child still ran after the second interrupt");
        }
        if press {
            signal(child, "INT");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_child(test: &str, part: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, part)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-running the test binary")
}

/// Runs `test` as a child playing its part and returns its exit code after: the first
/// interrupt (a SIGINT, or the console's), then SIGINTs until it exits.
fn second_interrupt_exit_code(test: &str, console_first: bool) -> Option<i32> {
    let mut child = spawn_child(test, if console_first { "console" } else { "signal" });
    let lines = stdout_lines(&mut child);
    wait_line(&lines, "child ready");
    if !console_first {
        signal(&child, "INT");
    }
    wait_line(&lines, "child shutting down slowly");
    // The shutdown now hangs for good; a second interrupt must end it.
    exit_code(&mut child, true)
}

#[test]
fn a_second_sigint_during_a_hung_shutdown_exits_at_once_with_130() {
    match std::env::var(CHILD).as_deref() {
        Ok("signal") => return play_child(false),
        Ok(_) => return,
        Err(_) => {}
    }
    let code = second_interrupt_exit_code(
        "a_second_sigint_during_a_hung_shutdown_exits_at_once_with_130",
        false,
    );
    assert_eq!(code, Some(votechain_runtime::FORCED_EXIT));
}

#[test]
fn ctrl_c_at_the_prompt_counts_as_the_first_interrupt() {
    match std::env::var(CHILD).as_deref() {
        Ok("console") => return play_child(true),
        Ok(_) => return,
        Err(_) => {}
    }
    let code =
        second_interrupt_exit_code("ctrl_c_at_the_prompt_counts_as_the_first_interrupt", true);
    assert_eq!(code, Some(votechain_runtime::FORCED_EXIT));
}

#[test]
fn a_stop_delivered_twice_at_once_is_one_stop() {
    const TEST: &str = "a_stop_delivered_twice_at_once_is_one_stop";
    match std::env::var(CHILD).as_deref() {
        Ok("twice") => return play_child(false),
        Ok(_) => return,
        Err(_) => {}
    }
    let mut child = spawn_child(TEST, "twice");
    let lines = stdout_lines(&mut child);
    wait_line(&lines, "child ready");
    // As `timeout` does: the child, then its process group, so a second SIGTERM right after
    // the first. (Sent once the first is seen: two at once would merge in the signal stream
    // and test nothing.)
    signal(&child, "TERM");
    wait_line(&lines, "child shutting down slowly");
    signal(&child, "TERM");
    wait_line(&lines, "child still shutting down");
    assert_eq!(
        child.try_wait().expect("waiting for the child"),
        None,
        "the repeat ended the clean shutdown"
    );
    // A real second Ctrl-C still forces the exit.
    assert_eq!(
        exit_code(&mut child, true),
        Some(votechain_runtime::FORCED_EXIT)
    );
}
