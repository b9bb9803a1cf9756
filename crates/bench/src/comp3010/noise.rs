//! How busy the rest of the machine was while a figure was measured: the CPU time every other
//! process used, read as the machine's busy time (`/proc/stat`) minus this process's own
//! (`/proc/self/stat`). On a shared two-core machine that says how far a figure can be trusted
//! better than a load average does. Both files count in the kernel's clock ticks (`USER_HZ`,
//! 100 a second on Linux); where they cannot be read the figure is unknown, never zero.

use std::time::Instant;

/// Clock ticks a second in `/proc/stat` and `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// The machine's busy ticks (every CPU, everything but idle and I/O wait).
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(busy)
}

/// This process's user and system ticks.
fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A start point for [`CpuMeter::others`].
pub struct CpuMeter {
    machine: Option<u64>,
    own: Option<u64>,
    at: Instant,
}

impl CpuMeter {
    /// Starts measuring now.
    pub fn start() -> CpuMeter {
        CpuMeter {
            machine: machine_busy_ticks(),
            own: own_ticks(),
            at: Instant::now(),
        }
    }

    /// "other processes used X CPU-s in Y s (Z % of one core)" since the start, or a sentence
    /// saying it is unknown.
    pub fn others(&self) -> String {
        let wall = self.at.elapsed().as_secs_f64();
        let delta = || -> Option<f64> {
            let machine = machine_busy_ticks()?.checked_sub(self.machine?)?;
            let own = own_ticks()?.checked_sub(self.own?)?;
            Some(machine.saturating_sub(own) as f64 / TICKS_PER_S)
        };
        match delta() {
            Some(cpu_s) => format!(
                "other processes used {cpu_s:.1} CPU-s in these {wall:.1} s ({:.0} % of one core)",
                100.0 * cpu_s / wall.max(1e-9)
            ),
            None => format!("other processes' CPU time in these {wall:.1} s is unknown"),
        }
    }
}
