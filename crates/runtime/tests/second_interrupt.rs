//! A second Ctrl-C during a shutdown exits at once with 130, whatever the shutdown is waiting
//! for. Tested at the level where it is implemented, `signals::shutdown_on_signals`, because a
//! real peer's clean shutdown takes milliseconds: a test that tried to land a second SIGINT
//! inside it would race, and slowing the peer down on purpose would need a test-only hook in
//! the binary. Here the shutdown is made to never finish by itself — the honest worst case of
//! a hung shutdown — so only the forced exit can end the process.
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

/// The child: signal handlers, a readiness line, then a shutdown that never ends. When
/// `console_first`, the first interrupt is the console's (Ctrl-C typed at the prompt).
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

fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -INT: {status}");
}

/// Runs `test` as a child playing its part and returns its exit code after: the first
/// interrupt (a SIGINT, or the console's), then a second SIGINT.
fn second_interrupt_exit_code(test: &str, console_first: bool) -> Option<i32> {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, if console_first { "console" } else { "signal" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-running the test binary");
    let lines = stdout_lines(&mut child);
    wait_line(&lines, "child ready");
    if !console_first {
        sigint(&child);
    }
    wait_line(&lines, "child shutting down slowly");
    // The shutdown now hangs for good; a second interrupt must end it.
    sigint(&child);
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
        std::thread::sleep(Duration::from_millis(20));
    }
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
